//! Reading a function's configuration from its environment, once, at init.
//!
//! Each function has a `Config` struct with `from_lookup(get)`; `main.rs` calls it with
//! [`process_env`], tests with a map. Every error names the variable and the rule it broke.

use crate::error::{ConfigError, ValidationError};

/// Looks variables up in the process environment; empty values count as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads a variable through `get`, for one `Config::from_lookup` call.
pub struct Env<F: Fn(&str) -> Option<String>> {
    get: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn new(get: F) -> Self {
        Self { get }
    }

    pub fn raw(&self, var: &'static str) -> Option<String> {
        (self.get)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A required variable, parsed by `parse(field, value)`.
    pub fn required<T>(
        &self,
        var: &'static str,
        parse: impl Fn(&str, &str) -> Result<T, ValidationError>,
    ) -> Result<T, ConfigError> {
        let raw = self.raw(var).ok_or(ConfigError::Missing(var))?;
        parse(var, &raw).map_err(|source| ConfigError::Invalid { var, source })
    }

    /// An optional variable, parsed when set.
    pub fn optional<T>(
        &self,
        var: &'static str,
        parse: impl Fn(&str, &str) -> Result<T, ValidationError>,
    ) -> Result<Option<T>, ConfigError> {
        self.raw(var)
            .map(|raw| parse(var, &raw).map_err(|source| ConfigError::Invalid { var, source }))
            .transpose()
    }

    /// An optional variable with a default used when unset.
    pub fn or_default<T>(
        &self,
        var: &'static str,
        default: &str,
        parse: impl Fn(&str, &str) -> Result<T, ValidationError>,
    ) -> Result<T, ConfigError> {
        let raw = self.raw(var).unwrap_or_else(|| default.to_owned());
        parse(var, &raw).map_err(|source| ConfigError::Invalid { var, source })
    }

    /// A comma-separated list; each element parsed; empty elements are an error.
    pub fn list<T>(
        &self,
        var: &'static str,
        parse: impl Fn(&str, &str) -> Result<T, ValidationError>,
    ) -> Result<Vec<T>, ConfigError> {
        let Some(raw) = self.raw(var) else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .enumerate()
            .map(|(i, item)| {
                let item = item.trim();
                if item.is_empty() {
                    return Err(ConfigError::Invalid {
                        var,
                        source: ValidationError::new(
                            format!("{var}[{i}]"),
                            "must not be empty",
                            item,
                        ),
                    });
                }
                parse(&format!("{var}[{i}]"), item)
                    .map_err(|source| ConfigError::Invalid { var, source })
            })
            .collect()
    }

    /// `true`/`false` (also `1`/`0`, `yes`/`no`).
    pub fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self
            .raw(var)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(other) => Err(ConfigError::Invalid {
                var,
                source: ValidationError::new(var, "must be true or false", other),
            }),
        }
    }
}

/// `REQUIRED_STEPS`: the steps a release needs before it is published. export-image and
/// copy-appstream-image skip a step that is not required; publish-release waits only for those.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequiredSteps {
    pub export: bool,
    pub appstream: bool,
}

impl RequiredSteps {
    pub const VAR: &'static str = "REQUIRED_STEPS";
    pub const DEFAULT: &'static str = "export,appstream";

    /// A comma-separated list of steps among `export` and `appstream`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .try_fold(
                Self {
                    export: false,
                    appstream: false,
                },
                |steps, step| match step {
                    "export" => Ok(Self {
                        export: true,
                        ..steps
                    }),
                    "appstream" => Ok(Self {
                        appstream: true,
                        ..steps
                    }),
                    other => Err(ValidationError::new(
                        field,
                        "must list steps among export, appstream",
                        other,
                    )),
                },
            )
    }

    /// `REQUIRED_STEPS` from `env` (default: both).
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        env.or_default(Self::VAR, Self::DEFAULT, Self::parse)
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// `KEY=VALUE,…` tags for Image Builder, leaving room for the `reserved` tags a function adds
    /// to each release (at most 50 in all, Image Builder's limit).
    pub fn tags(
        &self,
        var: &'static str,
        reserved: usize,
    ) -> Result<crate::domain::ImageTags, ConfigError> {
        use crate::domain::ImageTags;
        let pairs = self.optional(var, parse_pairs)?.unwrap_or_default();
        let tags =
            ImageTags::parse(var, pairs).map_err(|source| ConfigError::Invalid { var, source })?;
        let room = ImageTags::MAX_TAGS - reserved;
        if tags.len() > room {
            return Err(ConfigError::Invalid {
                var,
                source: ValidationError::new(
                    var,
                    match reserved {
                        1 => format!("at most {room} tags (one more is added per release)"),
                        2 => format!("at most {room} tags (two more are added per release)"),
                        n => format!("at most {room} tags ({n} more are added per release)"),
                    },
                    "",
                ),
            });
        }
        Ok(tags)
    }
}

/// Parses `KEY=VALUE,KEY=VALUE` (tags in configuration).
pub fn parse_pairs(
    field: &str,
    raw: &str,
) -> Result<std::collections::BTreeMap<String, String>, ValidationError> {
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                ValidationError::new(field, "must be KEY=VALUE pairs separated by commas", pair)
            })?;
            Ok((k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RegionName;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Env::new(move |k| map.get(k).cloned())
    }

    #[test]
    fn when_required_var_is_missing_should_name_it() {
        let err = env(&[])
            .required("PIPELINE_ARN", |_, v| Ok(v.to_owned()))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable PIPELINE_ARN is required but not set"
        );
    }

    #[test]
    fn when_list_element_is_invalid_should_name_its_index() {
        let err = env(&[("REGIONS", "eu-west-1, nowhere")])
            .list("REGIONS", RegionName::parse)
            .unwrap_err();
        assert!(err.to_string().contains("REGIONS[1]"), "{err}");
    }

    #[test]
    fn when_pairs_are_malformed_should_fail() {
        assert_eq!(
            parse_pairs("T", "a=1, b = 2").unwrap().get("b").unwrap(),
            "2"
        );
        assert!(parse_pairs("T", "a").is_err());
    }
}
