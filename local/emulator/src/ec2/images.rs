//! DescribeImages and EnableImageDeprecation (EC2 API Reference; EC2 User Guide, "Deprecate an
//! AMI").

use super::query::{Filter, Page, filters, unknown_filter};
use super::{esc, invalid, list, ok, own_ami};
use crate::world::World;
use axum::response::Response;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The filters of DescribeImages the emulator answers (EC2 API Reference, DescribeImages,
/// `Filter.N`), besides `tag:<key>`.
const FILTERS: [&str; 16] = [
    "image-id",
    "state",
    "name",
    "owner-id",
    "tag-key",
    "is-public",
    "architecture",
    "image-type",
    "platform",
    "root-device-type",
    "root-device-name",
    "block-device-mapping.encrypted",
    "block-device-mapping.device-name",
    "boot-mode",
    "ena-support",
    "creation-date",
];

/// The other filters the model documents: AWS takes them, the emulator does not model what they
/// compare, and says so instead of answering as if nothing matched.
const UNMODELLED: [&str; 36] = [
    "block-device-mapping.delete-on-termination",
    "block-device-mapping.snapshot-id",
    "block-device-mapping.volume-size",
    "block-device-mapping.volume-type",
    "description",
    "free-tier-eligible",
    "hypervisor",
    "image-allowed",
    "image-watermark.source-image-creation-time",
    "image-watermark.source-image-id",
    "image-watermark.source-image-region",
    "image-watermark.watermark-creation-time",
    "image-watermark.watermark-key",
    "instance-type-specification.supported-instance-type",
    "instance-type-specification.unsupported-instance-type",
    "kernel-id",
    "manifest-location",
    "owner-alias",
    "product-code",
    "product-code.type",
    "public-ssm-parameter-name",
    "ramdisk-id",
    "scan-result.critical-fix-available-since",
    "scan-result.finding-scan-date",
    "scan-result.high-fix-available-since",
    "scan-result.highest-finding-severity-label",
    "scan-result.informational-fix-available-since",
    "scan-result.low-fix-available-since",
    "scan-result.medium-fix-available-since",
    "source-image-id",
    "source-image-region",
    "source-instance-id",
    "state-reason-code",
    "state-reason-message",
    "sriov-net-support",
    "virtualization-type",
];

/// One AMI as DescribeImages shows it.
struct Ami<'a> {
    id: &'a str,
    state: &'a str,
    name: String,
    public: bool,
    created: Option<String>,
    tags: BTreeMap<String, String>,
}

impl Ami<'_> {
    /// The AMI's values for the filter `name` (none: the filter cannot match it).
    fn values(&self, world: &World, name: &str) -> Vec<String> {
        let windows = world.config.amis_windows;
        let one = |v: &str| vec![v.to_owned()];
        if let Some(key) = name.strip_prefix("tag:") {
            return self.tags.get(key).cloned().into_iter().collect();
        }
        match name {
            "image-id" => one(self.id),
            "state" => one(self.state),
            "name" => vec![self.name.clone()],
            "owner-id" => vec![world.config.account.clone()],
            "tag-key" => self.tags.keys().cloned().collect(),
            "is-public" => one(if self.public { "true" } else { "false" }),
            "architecture" => one("x86_64"),
            "image-type" => one("machine"),
            "platform" if windows => one("windows"),
            "root-device-type" => one("ebs"),
            "root-device-name" | "block-device-mapping.device-name" => one("/dev/xvda"),
            "block-device-mapping.encrypted" => vec![world.config.amis_encrypted.to_string()],
            "boot-mode" => one(if windows { "uefi" } else { "uefi-preferred" }),
            "ena-support" => one("true"),
            "creation-date" => self.created.clone().into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn matches(&self, world: &World, filter: &Filter) -> bool {
        self.values(world, &filter.name)
            .iter()
            .any(|v| filter.matches(v))
    }
}

/// The creation time of `ami`: that of the Image Builder image that made it.
fn created(world: &World, ami: &str) -> Option<String> {
    world
        .images
        .values()
        .find(|i| i.amis.iter().any(|(_, a)| a == ami))
        .map(|i| i.created.clone())
}

/// Seconds since the epoch of an ISO 8601 date-time.
fn epoch(at: &str) -> Option<i64> {
    aws_sdk_s3::primitives::DateTime::from_str(
        at,
        aws_sdk_s3::primitives::DateTimeFormat::DateTimeWithOffset,
    )
    .ok()
    .map(|d| d.secs())
}

fn iso(secs: i64) -> String {
    aws_sdk_s3::primitives::DateTime::from_secs(secs)
        .fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime)
        .unwrap_or_default()
}

/// Two years, as EC2 counts a public AMI's deprecation limit (730 days).
const TWO_YEARS: i64 = 730 * 86_400;

/// DescribeImages: the AMIs named (each must exist, or have been deregistered recently) or all
/// of the account's in the region, narrowed by `Owners` and `Filter.N`, in pages of `MaxResults`
/// (5 to 1000: EC2 refuses a value below 5 with "Expecting a value greater than 5", which
/// clients read as accepting 5 itself; the model states no bound).
pub(super) fn describe_images(
    world: &World,
    region: &str,
    params: &BTreeMap<String, String>,
) -> Response {
    let page = match Page::of(params, "images", 5, 1000) {
        Ok(page) => page,
        Err(e) => return e,
    };
    let filters = filters(params);
    for filter in &filters {
        let known = FILTERS.contains(&filter.name.as_str()) || filter.name.starts_with("tag:");
        if UNMODELLED.contains(&filter.name.as_str()) {
            return invalid(
                "UnsupportedOperation",
                format!(
                    "The emulator does not model the DescribeImages filter '{}' (EC2 accepts it)",
                    filter.name
                ),
            );
        }
        if !known {
            return unknown_filter(&filter.name);
        }
    }
    // Owners: the emulated account's AMIs are its own (`self` or its id); none is Amazon's or
    // a marketplace's.
    let owners = list(params, "Owner");
    let owned = owners
        .iter()
        .any(|o| o == "self" || *o == world.config.account);
    if !owners.is_empty() && !owned {
        return ok("DescribeImages", "<imagesSet></imagesSet>");
    }
    let ids = list(params, "ImageId");
    for id in &ids {
        // "Recently deregistered images appear in the returned results for a short interval
        // and then return empty results" (DescribeImages): empty, not an error, as moto answers.
        let deregistered = world
            .deregistered
            .contains(&(id.clone(), region.to_owned()));
        if world.amis.get(id).is_none_or(|r| r != region) && !deregistered {
            return invalid(
                "InvalidAMIID.NotFound",
                format!("The image id '[{id}]' does not exist"),
            );
        }
    }
    // A disabled AMI does not appear unless asked for (EC2 API Reference, DisableImage).
    let include_disabled = params.get("IncludeDisabled").is_some_and(|v| v == "true");
    let amis: Vec<Ami> = world
        .amis
        .iter()
        .filter(|(ami, r)| *r == region && (ids.is_empty() || ids.contains(ami)))
        .map(|(ami, ami_region)| Ami {
            id: ami,
            state: world
                .ami_states
                .get(ami)
                .map_or("available", String::as_str),
            // The name Image Builder gave it (GetImage's outputResources say the same).
            name: world
                .images
                .values()
                .find(|i| i.amis.iter().any(|(_, a)| a == ami))
                .map_or_else(|| format!("{ami}-{ami_region}"), |i| i.ami_name()),
            public: world
                .launch_permissions
                .get(ami)
                .is_some_and(|l| l.iter().any(|a| a == "all")),
            created: created(world, ami),
            tags: world.tags.get(ami).cloned().unwrap_or_default(),
        })
        .filter(|ami| include_disabled || ami.state != "disabled")
        .filter(|ami| filters.iter().all(|f| ami.matches(world, f)))
        .collect();
    let (shown, next) = page.cut(&amis);
    let mut items = String::new();
    for ami in shown {
        item(world, ami, &mut items);
    }
    ok(
        "DescribeImages",
        &format!("<imagesSet>{items}</imagesSet>{next}"),
    )
}

/// One `<item>` of DescribeImages' `imagesSet`.
fn item(world: &World, ami: &Ami, items: &mut String) {
    // A Windows AMI here meets AppStream's import requirements (UEFI, TPM 2.0, ENA, one root
    // volume); a Linux one does not.
    let platform = if world.config.amis_windows {
        "<platform>windows</platform><platformDetails>Windows</platformDetails><bootMode>uefi</bootMode><tpmSupport>v2.0</tpmSupport><enaSupport>true</enaSupport>"
    } else {
        "<platformDetails>Linux/UNIX</platformDetails><bootMode>uefi-preferred</bootMode><enaSupport>true</enaSupport>"
    };
    let mut tag_xml = String::new();
    for (k, v) in &ami.tags {
        let _ = write!(
            tag_xml,
            "<item><key>{}</key><value>{}</value></item>",
            esc(k),
            esc(v)
        );
    }
    // "By default, the deprecation date of all public AMIs is set to two years from the AMI
    // creation date" (EC2 User Guide, "Deprecate an AMI").
    let deprecation = world.ami_deprecations.get(ami.id).cloned().or_else(|| {
        let created = ami.created.as_deref().and_then(epoch)?;
        ami.public.then(|| iso(created + TWO_YEARS))
    });
    let deprecation = deprecation
        .map(|at| format!("<deprecationTime>{}</deprecationTime>", esc(&at)))
        .unwrap_or_default();
    let created = ami
        .created
        .as_ref()
        .map(|at| format!("<creationDate>{}</creationDate>", esc(at)))
        .unwrap_or_default();
    let _ = write!(
        items,
        "<item><imageId>{id}</imageId><imageState>{state}</imageState>{created}{deprecation}<imageOwnerId>{}</imageOwnerId><isPublic>{}</isPublic><architecture>x86_64</architecture><imageType>machine</imageType><name>{}</name>{platform}<rootDeviceName>/dev/xvda</rootDeviceName><rootDeviceType>ebs</rootDeviceType>\
         <blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs><snapshotId>snap-{}</snapshotId><volumeSize>8</volumeSize><deleteOnTermination>true</deleteOnTermination><volumeType>gp3</volumeType><encrypted>{}</encrypted></ebs></item></blockDeviceMapping><tagSet>{tag_xml}</tagSet></item>",
        world.config.account,
        ami.public,
        esc(&ami.name),
        &ami.id[4..],
        world.config.amis_encrypted,
        id = ami.id,
        state = ami.state,
    );
}

/// EnableImageDeprecation: `DeprecateAt` (`YYYY-MM-DDTHH:MM:SSZ`) rounded to the nearest
/// minute, not in the past; "The upper limit for DeprecateAt is 10 years from now, except for
/// public AMIs, where the upper limit is 2 years from the creation date" (EC2 API Reference).
/// The codes of the refusals are not documented (`InvalidParameterValue` is a stand-in).
pub(super) fn enable_deprecation(
    world: &mut World,
    region: &str,
    params: &BTreeMap<String, String>,
) -> Response {
    let id = match own_ami(world, region, params) {
        Ok(id) => id.clone(),
        Err(e) => return e,
    };
    let Some(raw) = params.get("DeprecateAt") else {
        return invalid(
            "MissingParameter",
            "The request must contain the parameter DeprecateAt".into(),
        );
    };
    let Ok(at) = aws_sdk_s3::primitives::DateTime::from_str(
        raw,
        aws_sdk_s3::primitives::DateTimeFormat::DateTimeWithOffset,
    ) else {
        return invalid(
            "InvalidParameterValue",
            format!("Invalid value '{raw}' for DeprecateAt"),
        );
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let secs = (at.secs() + 30) / 60 * 60;
    if secs < now {
        return invalid(
            "InvalidParameterValue",
            format!("DeprecateAt {raw} is in the past"),
        );
    }
    if secs > now + 3_652 * 86_400 {
        return invalid(
            "InvalidParameterValue",
            format!("DeprecateAt {raw} is more than 10 years from now"),
        );
    }
    let public = world
        .launch_permissions
        .get(&id)
        .is_some_and(|l| l.iter().any(|a| a == "all"));
    // An AMI the emulator did not build has no creation time: counted from now.
    let created = created(world, &id)
        .as_deref()
        .and_then(epoch)
        .unwrap_or(now);
    if public && secs > created + TWO_YEARS {
        return invalid(
            "InvalidParameterValue",
            format!(
                "DeprecateAt {raw} is more than 2 years after the creation date of the public image {id} ({}); make it private to deprecate it later",
                iso(created)
            ),
        );
    }
    world.ami_deprecations.insert(id, iso(secs));
    world.counts.effect("deprecation");
    ok("EnableImageDeprecation", "<return>true</return>")
}
