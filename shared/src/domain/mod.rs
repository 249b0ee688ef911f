//! Validated domain types. Every value that reaches an AWS request passes through one of these,
//! so the documented patterns and length limits are enforced at the edge, once.
//!
//! Patterns are the ones in the API references (Image Builder, EC2, AppStream), anchored as there.

use crate::error::ValidationError;
use regex_lite::Regex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

fn regex(pattern: &str) -> Regex {
    // The patterns are literals of this module, covered by its tests.
    #[allow(clippy::expect_used)]
    Regex::new(pattern).expect("static pattern compiles")
}

fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), ValidationError> {
    let len = value.chars().count();
    if len < min || len > max {
        return Err(ValidationError::new(
            field,
            format!("length must be {min} to {max} characters, was {len}"),
            value,
        ));
    }
    Ok(())
}

fn check_pattern(
    field: &str,
    value: &str,
    re: &Regex,
    pattern: &str,
) -> Result<(), ValidationError> {
    if !re.is_match(value) {
        return Err(ValidationError::new(
            field,
            format!("must match {pattern}"),
            value,
        ));
    }
    Ok(())
}

macro_rules! string_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                $name::parse(stringify!($name), &raw).map_err(|e| serde::de::Error::custom(e.detail()))
            }
        }
    };
}

mod arns;
mod names;
mod regions;
mod tags;

pub use arns::*;
pub use names::*;
pub use regions::*;
pub use tags::*;

#[cfg(test)]
mod tests;
