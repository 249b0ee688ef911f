//! Deterministic client tokens: a UUID v5 over the step name and the inputs that define the call.
//! A redelivered event repeats the same call with the same token, and AWS returns the first result.

use uuid::Uuid;

/// The namespace of this project's tokens (a fixed, random UUID: changing it changes every token).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_2c4e_8b7a_4d3f_9e21_5a6b_7c8d_9e0f);

/// A 36-character token (fits the 1–36 limit of StartImagePipelineExecution and every longer one).
pub fn derive(step: &str, inputs: &[&str]) -> String {
    let mut material =
        String::with_capacity(64 + inputs.iter().map(|s| s.len() + 1).sum::<usize>());
    material.push_str(step);
    for input in inputs {
        // A separator that cannot appear in ARNs, ids or names keeps ("a","bc") apart from ("ab","c").
        material.push('\u{1f}');
        material.push_str(input);
    }
    Uuid::new_v5(&NAMESPACE, material.as_bytes())
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_inputs_are_equal_should_derive_the_same_token() {
        assert_eq!(derive("s", &["a", "b"]), derive("s", &["a", "b"]));
        assert_eq!(derive("s", &["a"]).len(), 36);
    }

    #[test]
    fn when_inputs_differ_should_derive_different_tokens() {
        assert_ne!(derive("s", &["ab", "c"]), derive("s", &["a", "bc"]));
        assert_ne!(derive("s", &["a"]), derive("t", &["a"]));
    }
}
