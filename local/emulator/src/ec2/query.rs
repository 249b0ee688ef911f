//! What every EC2 describe and tagging call shares: `Filter.N` (EC2 API Reference, "Filtering":
//! several values of one filter are ORed, several filters ANDed; `*` matches zero or more
//! characters, `?` exactly one, `\` escapes), `MaxResults`/`NextToken` paging, and the `Tag`
//! constraints of the model ("Tag keys ... accept a maximum of 127 Unicode characters. May not
//! begin with aws:"; values at most 256).

use super::invalid;
use axum::response::Response;
use std::collections::BTreeMap;

/// One `Filter.N`: its name and its values.
pub(super) struct Filter {
    pub name: String,
    pub values: Vec<String>,
}

impl Filter {
    /// Whether one of the filter's values matches `actual` (EC2's wildcards).
    pub fn matches(&self, actual: &str) -> bool {
        self.values.iter().any(|pattern| glob(pattern, actual))
    }
}

/// The request's `Filter.N.Name` / `Filter.N.Value.M`, in order.
pub(super) fn filters(params: &BTreeMap<String, String>) -> Vec<Filter> {
    (1..)
        .map_while(|i| {
            let name = params.get(&format!("Filter.{i}.Name"))?.clone();
            let values = (1..)
                .map_while(|j| params.get(&format!("Filter.{i}.Value.{j}")).cloned())
                .collect();
            Some(Filter { name, values })
        })
        .collect()
}

/// EC2's answer to a filter name the action does not know.
pub(super) fn unknown_filter(name: &str) -> Response {
    invalid(
        "InvalidParameterValue",
        format!("The filter '{name}' is invalid"),
    )
}

/// EC2's filter wildcards: `*` zero or more characters, `?` exactly one, `\` escapes the next
/// character.
pub(super) fn glob(pattern: &str, value: &str) -> bool {
    enum Token {
        Char(char),
        Any,
        One,
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            '*' => Token::Any,
            '?' => Token::One,
            c => Token::Char(c),
        });
    }
    let value: Vec<char> = value.chars().collect();
    // matched[j]: the tokens so far match value[..j].
    let mut matched = vec![false; value.len() + 1];
    matched[0] = true;
    for token in &tokens {
        let mut next = vec![false; value.len() + 1];
        for j in 0..=value.len() {
            next[j] = match token {
                Token::Any => matched[j] || (j > 0 && next[j - 1]),
                Token::One => j > 0 && matched[j - 1],
                Token::Char(c) => j > 0 && matched[j - 1] && value[j - 1] == *c,
            };
        }
        matched = next;
    }
    matched[value.len()]
}

/// A page of a describe call: where it starts and how many items it holds.
pub(super) struct Page {
    kind: &'static str,
    start: usize,
    max: usize,
}

impl Page {
    /// `MaxResults` within `min..=max` (absent: every item) and a `NextToken` this emulator
    /// issued for `kind`; else EC2's errors (`InvalidParameterValue`, `InvalidPaginationToken`).
    pub fn of(
        params: &BTreeMap<String, String>,
        kind: &'static str,
        min: usize,
        max: usize,
    ) -> Result<Self, Response> {
        let size = match params.get("MaxResults") {
            None => usize::MAX,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (min..=max).contains(&n) => n,
                Ok(n) if n > max => {
                    return Err(invalid(
                        "InvalidParameterValue",
                        format!(
                            "Value ( {raw} ) for parameter maxResults is invalid. Expecting a value less than or equal to {max}."
                        ),
                    ));
                }
                _ => {
                    return Err(invalid(
                        "InvalidParameterValue",
                        format!(
                            "Value ( {raw} ) for parameter maxResults is invalid. Expecting a value greater than {}.",
                            min - 1
                        ),
                    ));
                }
            },
        };
        let start = match params.get("NextToken") {
            None => 0,
            Some(token) => token
                .strip_prefix(kind)
                .and_then(|rest| rest.strip_prefix('-'))
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    invalid(
                        "InvalidPaginationToken",
                        "The specified pagination token is not valid or is expired.".into(),
                    )
                })?,
        };
        Ok(Self {
            kind,
            start,
            max: size,
        })
    }

    /// This page's items of `all`, and the `<nextToken>` element when more follow.
    pub fn cut<'a, T>(&self, all: &'a [T]) -> (&'a [T], String) {
        let start = self.start.min(all.len());
        let end = start.saturating_add(self.max).min(all.len());
        let next = if end < all.len() {
            format!("<nextToken>{}-{end}</nextToken>", self.kind)
        } else {
            String::new()
        };
        (&all[start..end], next)
    }
}

/// Why EC2 refuses a tag (the model's `Tag` constraints), in its words where known: a key
/// beginning `aws:` is answered "Value ( aws:… ) for parameter key is invalid. Tag keys starting
/// with 'aws:' are reserved for internal use" by CreateTags.
pub(super) fn tag_refused(key: &str, value: &str) -> Option<Response> {
    if key.starts_with("aws:") {
        return Some(invalid(
            "InvalidParameterValue",
            format!(
                "Value ( {key} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use"
            ),
        ));
    }
    if key.is_empty() || key.chars().count() > 127 {
        return Some(invalid(
            "InvalidParameterValue",
            format!(
                "Value ( {key} ) for parameter key is invalid. Tag keys must be 1 to 127 Unicode characters"
            ),
        ));
    }
    if value.chars().count() > 256 {
        return Some(invalid(
            "InvalidParameterValue",
            format!(
                "Value for tag {key} is invalid. Tag values accept a maximum of 256 Unicode characters"
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn when_a_filter_value_has_wildcards_should_match_as_ec2_documents() {
        assert!(glob("golden*", "golden 1.0.0 1"));
        assert!(glob("*", ""));
        assert!(glob("ami-?", "ami-1"));
        assert!(!glob("ami-?", "ami-"));
        assert!(!glob("ami-?", "ami-12"));
        assert!(glob(r"\*a\?", "*a?"));
        assert!(!glob(r"\*a", "xa"));
        assert!(!glob("golden", "golden-2"));
    }
}
