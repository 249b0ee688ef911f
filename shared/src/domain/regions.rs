//! Regions, and where AppStream 2.0 is offered.

use super::*;

const REGION: &str = r"^[a-z]{2}(?:-[a-z]+)+-[0-9]+$";
static REGION_RE: LazyLock<Regex> = LazyLock::new(|| regex(REGION));

string_type!(
    /// An AWS Region code (`DestinationRegion` of CopyImage: 1–32 characters).
    RegionName
);

impl RegionName {
    pub fn parse(field: &str, value: &str) -> Result<Self, ValidationError> {
        check_len(field, value, 1, 32)?;
        check_pattern(field, value, &REGION_RE, REGION)?;
        Ok(Self(value.to_owned()))
    }
}

/// The regions that offer AppStream 2.0, generated from botocore's endpoint data by
/// `scripts/appstream-regions.py` (checked in CI against the pinned botocore).
pub const APPSTREAM_REGIONS_FILE: &str = include_str!("../../data/appstream-regions.txt");

/// Every region of [`APPSTREAM_REGIONS_FILE`].
pub fn appstream_regions() -> impl Iterator<Item = &'static str> {
    APPSTREAM_REGIONS_FILE
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
}

impl RegionName {
    /// Whether AppStream 2.0 is offered in this region (botocore's endpoint data).
    pub fn offers_appstream(&self) -> bool {
        appstream_regions().any(|r| r == self.0)
    }

    /// This region, if AppStream 2.0 is offered there; otherwise an error naming the field.
    pub fn with_appstream(self, field: &str) -> Result<Self, ValidationError> {
        if self.offers_appstream() {
            Ok(self)
        } else {
            Err(ValidationError::new(
                field,
                format!(
                    "must be a region that offers AppStream 2.0 ({}; from botocore's endpoint data)",
                    appstream_regions().collect::<Vec<_>>().join(", ")
                ),
                &self.0,
            ))
        }
    }

    /// Parses a region that offers AppStream 2.0.
    pub fn parse_appstream(field: &str, value: &str) -> Result<Self, ValidationError> {
        Self::parse(field, value)?.with_appstream(field)
    }
}
