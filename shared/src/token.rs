//! Deterministic client tokens: a UUID v5 over the step name and the inputs that define the call.
//! A redelivered event repeats the same call with the same token, and AWS returns the first result.

use uuid::Uuid;

/// The namespace of this project's tokens (a fixed, random UUID: changing it changes every token).
const NAMESPACE: Uuid = Uuid::from_u128(0x6f1d_2c4e_8b7a_4d3f_9e21_5a6b_7c8d_9e0f);

/// The step names every token is derived under: changing one changes every token of that step
/// across a deploy (a redelivered event would then repeat its call with a new token), so each is
/// pinned by a test to the tokens it gives.
pub const START_PIPELINE: &str = "start-pipeline";
pub const DISTRIBUTE_IMAGE: &str = "distribute-image";
pub const EXPORT_IMAGE: &str = "export-image";
pub const RETRY_IMAGE: &str = "retry-image";

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

    /// Tokens pinned to the values an independent UUID v5 implementation gives (Python's
    /// `uuid.uuid5(UUID(int=0x6f1d2c4e8b7a4d3f9e215a6b7c8d9e0f), step + "".join("\x1f" + i
    /// for i in inputs))`): a change of namespace, separator, encoding or step name fails here
    /// instead of changing every token across a deploy.
    #[test]
    fn when_a_step_derives_its_token_should_give_the_pinned_value() {
        let image = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1";
        let cases = [
            (
                START_PIPELINE,
                vec![
                    "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden",
                    "schedule-2026-12-07T00:00:00Z",
                ],
                "febce71f-1107-5236-ae90-4da7dc57df6a",
            ),
            (
                DISTRIBUTE_IMAGE,
                vec![
                    image,
                    "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden",
                ],
                "b224fe19-9e88-5d2b-b98a-58c139950f82",
            ),
            (
                EXPORT_IMAGE,
                vec![
                    "ami-0abcdef1234567890",
                    "VMDK",
                    "image-release-artifacts",
                    "releases/golden-1.0.0-1/",
                ],
                "db4d5459-1c01-5368-bb0a-72b5222a1623",
            ),
            (
                EXPORT_IMAGE,
                vec![
                    "ami-0abcdef1234567890",
                    "VMDK",
                    "image-release-artifacts",
                    "releases/golden-1.0.0-1/",
                    "1",
                ],
                "01879173-14b4-57c5-9ac7-b04d181f5864",
            ),
            (
                RETRY_IMAGE,
                vec![image, "1"],
                "3a03cc99-e561-5816-bae3-c1e655c7f921",
            ),
        ];
        for (step, inputs, pinned) in cases {
            assert_eq!(derive(step, &inputs), pinned, "{step} {inputs:?}");
        }
    }

    #[test]
    fn when_inputs_differ_should_derive_different_tokens() {
        assert_ne!(derive("s", &["ab", "c"]), derive("s", &["a", "bc"]));
        assert_ne!(derive("s", &["a"]), derive("t", &["a"]));
    }
}
