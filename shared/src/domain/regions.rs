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
/// `scripts/botocore-data.py` (checked in CI against the pinned botocore).
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

/// The AWS partitions, generated from botocore's endpoint data by `scripts/botocore-data.py`:
/// `<partition> <region code pattern> <known regions>` per line.
pub const PARTITIONS_FILE: &str = include_str!("../../data/partitions.txt");

struct Partition {
    name: &'static str,
    pattern: Regex,
    regions: Vec<&'static str>,
}

static PARTITIONS: LazyLock<Vec<Partition>> = LazyLock::new(|| {
    PARTITIONS_FILE
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let name = parts.next()?;
            let pattern = Regex::new(parts.next()?).ok()?;
            let regions = parts.next().unwrap_or_default().split(',').collect();
            Some(Partition {
                name,
                pattern,
                regions,
            })
        })
        .collect()
});

/// The partition of a region code (`aws`, `aws-cn`, `aws-us-gov`, the ISO partitions…): the
/// partition that lists it, else the one whose region pattern it matches, else `aws`.
pub fn partition_of(region: &str) -> &'static str {
    PARTITIONS
        .iter()
        .find(|p| p.regions.contains(&region))
        .or_else(|| PARTITIONS.iter().find(|p| p.pattern.is_match(region)))
        .map_or("aws", |p| p.name)
}

impl RegionName {
    /// Parses a region code that belongs to an AWS partition: listed in botocore's endpoint
    /// data, or of a partition's region pattern (a region launched since is accepted).
    /// `mars-north-1` and `US-EAST-1` are refused, where the SDK would sign for them and fail
    /// at the network.
    pub fn parse_known(field: &str, value: &str) -> Result<Self, ValidationError> {
        let region = Self::parse(field, value)?;
        let known = PARTITIONS
            .iter()
            .any(|p| p.regions.contains(&value) || p.pattern.is_match(value));
        if known {
            Ok(region)
        } else {
            Err(ValidationError::new(
                field,
                format!(
                    "must be a region of an AWS partition ({}; from botocore's endpoint data)",
                    PARTITIONS
                        .iter()
                        .map(|p| format!("{} {}", p.name, p.pattern.as_str()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                value,
            ))
        }
    }

    /// The partition this region belongs to (botocore's endpoint data).
    pub fn partition(&self) -> &'static str {
        partition_of(&self.0)
    }
}

#[cfg(test)]
mod partition_tests {
    use super::*;

    #[test]
    fn when_a_region_is_given_should_name_its_partition_from_botocore_data() {
        assert_eq!(partition_of("us-east-1"), "aws");
        assert_eq!(partition_of("eu-west-1"), "aws");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-iso-east-1"), "aws-iso");
        assert_eq!(partition_of("us-isob-east-1"), "aws-iso-b");
        // Not yet listed, but of the pattern of the commercial partition.
        assert_eq!(partition_of("ap-southeast-9"), "aws");
    }

    #[test]
    fn when_a_region_is_of_no_partition_should_refuse_it_naming_the_patterns() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "ap-southeast-9",
            "us-gov-west-1",
            "cn-north-1",
        ] {
            assert!(RegionName::parse_known("--region", ok).is_ok(), "{ok}");
        }
        for bad in [
            "mars-north-1",
            "zz-north-1",
            "US-EAST-1",
            "bad region",
            "",
            "us-east",
        ] {
            let err = RegionName::parse_known("--region", bad)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("--region: "), "{err}");
            assert!(err.contains(&format!("(got {bad:?})")), "{err}");
        }
        // Of the shape of a region, but of no partition.
        let err = RegionName::parse_known("--region", "zz-north-1").unwrap_err();
        assert!(err.rule.contains("AWS partition"), "{err}");
    }
}
