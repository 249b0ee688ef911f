//! Image Builder tags.

use super::*;

/// The tag key pattern of DistributeImage and StartImagePipelineExecution (seed document
/// `DistributeImage`, and Image Builder's model `TagKey`): `^(?!aws:)[a-zA-Z0-9\s_.:/=+\-@]*$`.
/// regex-lite has no look-ahead, so the `aws:` prefix is checked on its own; `\s` is ASCII
/// whitespace as in Java's regex, which the service uses.
const TAG_KEY: &str = r"^[a-zA-Z0-9\s_.:/=+\-@]*$";
const TAG_KEY_DOCUMENTED: &str = r"^(?!aws:)[a-zA-Z0-9\s_.:/=+\-@]*$";
static TAG_KEY_RE: LazyLock<Regex> = LazyLock::new(|| regex(TAG_KEY));

/// Image Builder tags: at most 50; keys 1–128 characters matching
/// `^(?!aws:)[a-zA-Z0-9\s_.:/=+\-@]*$`; values at most 256 characters (lengths in characters).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct ImageTags(BTreeMap<String, String>);

impl ImageTags {
    pub const MAX_TAGS: usize = 50;

    pub fn parse(field: &str, tags: BTreeMap<String, String>) -> Result<Self, ValidationError> {
        if tags.len() > Self::MAX_TAGS {
            return Err(ValidationError::new(
                field,
                format!("at most {} tags, got {}", Self::MAX_TAGS, tags.len()),
                "",
            ));
        }
        for (key, value) in &tags {
            let key_field = format!("{field}.{key}");
            check_len(&key_field, key, 1, 128)?;
            if key.starts_with("aws:") {
                return Err(ValidationError::new(
                    &key_field,
                    "tag keys must not start with \"aws:\"",
                    key,
                ));
            }
            check_pattern(&key_field, key, &TAG_KEY_RE, TAG_KEY_DOCUMENTED)?;
            check_len(&key_field, value, 0, 256)?;
        }
        Ok(Self(tags))
    }

    /// Adds the tags of `other` over these ones, checking the limits again.
    pub fn merged(
        &self,
        field: &str,
        other: &BTreeMap<String, String>,
    ) -> Result<Self, ValidationError> {
        let mut all = self.0.clone();
        all.extend(other.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self::parse(field, all)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
