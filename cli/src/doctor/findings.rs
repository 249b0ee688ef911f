//! What `doctor` concludes from AWS's answers: each a pure function, unit-tested without AWS.

use serde::Serialize;
use serde_json::Value;
use shared::domain::RegionName;

/// The service principal VM Import/Export assumes the role as (VM Import/Export user guide,
/// "Required service role").
pub const VM_IMPORT_PRINCIPAL: &str = "vmie.amazonaws.com";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    /// `None` when the check passed; else the problem and its fix.
    pub problem: Option<String>,
    pub detail: String,
    /// AWS could not be asked (unreachable, or the caller may not ask): nothing is known, so
    /// no fix is offered but the access.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

pub(super) fn ok(check: &'static str, detail: impl Into<String>) -> Finding {
    Finding {
        check,
        problem: None,
        detail: detail.into(),
        unknown: false,
    }
}

pub(super) fn bad(check: &'static str, problem: impl Into<String>) -> Finding {
    Finding {
        check,
        problem: Some(problem.into()),
        detail: String::new(),
        unknown: false,
    }
}

/// Why `what` could not be checked at all, when the answer says nothing about it: the
/// service could not be reached, or refused the caller. `None` when AWS answered about the
/// thing itself (then the check's own judgement and fix apply).
pub fn unchecked(
    check: &'static str,
    service: &str,
    what: &str,
    reached: bool,
    code: Option<&str>,
    cause: &str,
) -> Option<Finding> {
    let problem = if !reached {
        format!(
            "could not check {what}: {service} cannot be reached ({cause}); fix: the network, \
             the endpoint (AWS_ENDPOINT_URL_*) or --region, then run doctor again"
        )
    } else if code.is_some_and(|c| c.contains("AccessDenied") || c == "UnauthorizedOperation") {
        format!(
            "could not check {what}: {service} refused these credentials ({cause}); fix: run \
             doctor under the stack's OperatorReadOnlyPolicyArn policy, or as a principal that may \
             read it"
        )
    } else {
        return None;
    };
    Some(Finding {
        check,
        problem: Some(problem),
        detail: String::new(),
        unknown: true,
    })
}

/// The distribution's regions against what the release needs: the export region (the stack's)
/// must be one of them, and its AMIs unencrypted when export is required (VM Export cannot
/// export encrypted snapshots).
pub fn distribution_findings(
    home: &str,
    regions: &[(String, Option<String>)],
    export_required: bool,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let listed: Vec<&str> = regions.iter().map(|(r, _)| r.as_str()).collect();
    match regions.iter().find(|(r, _)| r == home) {
        None => findings.push(bad(
            "export region",
            format!(
                "{home} is not among the distribution's regions ({}); fix: add {home} to the \
                 distribution configuration",
                listed.join(", ")
            ),
        )),
        Some((_, Some(kms))) if export_required => findings.push(bad(
            "export region",
            format!(
                "the AMI in {home} is encrypted with {kms}, which VM Export cannot export; fix: \
                 remove kmsKeyId from {home}'s amiDistributionConfiguration, or set RequiredSteps \
                 without export"
            ),
        )),
        Some(_) => findings.push(ok(
            "export region",
            format!(
                "{home} is among the distribution's regions ({})",
                listed.join(", ")
            ),
        )),
    }
    findings
}

/// Whether the role's trust policy lets VM Import/Export assume it.
pub fn trust_problem(policy: &Value) -> Option<String> {
    let statements = match &policy["Statement"] {
        Value::Array(list) => list.clone(),
        one @ Value::Object(_) => vec![one.clone()],
        _ => Vec::new(),
    };
    let listed = |v: &Value, want: &str| match v {
        Value::String(s) => s == want,
        Value::Array(list) => list.iter().any(|s| s == want),
        _ => false,
    };
    let trusted = statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && listed(&s["Principal"]["Service"], VM_IMPORT_PRINCIPAL)
            && (listed(&s["Action"], "sts:AssumeRole") || listed(&s["Action"], "sts:*"))
    });
    (!trusted).then(|| {
        format!(
            "its trust policy does not allow {VM_IMPORT_PRINCIPAL} to sts:AssumeRole; fix: set \
             the trust policy of the VM Import/Export user guide's \"Required service role\", or \
             deploy with CreateVmImportRole=true"
        )
    })
}

/// The alarm topic's subscriptions (their ARNs; `PendingConfirmation` until confirmed).
pub fn subscription_finding(topic: &str, subscriptions: &[String]) -> Finding {
    let confirmed = subscriptions
        .iter()
        .filter(|s| s.starts_with("arn:"))
        .count();
    match (confirmed, subscriptions.len()) {
        (0, 0) => bad(
            "alarm topic",
            format!(
                "{topic} has no subscription: nobody hears a failed release; fix: deploy with \
                 NotificationEmail, or aws sns subscribe --topic-arn {topic}"
            ),
        ),
        (0, n) => bad(
            "alarm topic",
            format!(
                "{topic} has {n} subscription(s), none confirmed; fix: confirm the subscription \
                 (the e-mail AWS sent)"
            ),
        ),
        (n, _) => ok(
            "alarm topic",
            format!("{topic} has {n} confirmed subscription(s)"),
        ),
    }
}

/// Each destination region offers AppStream 2.0 (botocore's endpoint data, as the functions
/// check at start) and is not the home region.
pub fn appstream_region_findings(home: &str, regions: &[String]) -> Vec<Finding> {
    regions
        .iter()
        .map(|region| {
            if region == home {
                bad(
                    "AppStream region",
                    format!("{region} is the stack's own region; fix: list only other regions"),
                )
            } else if RegionName::parse("region", region).is_err()
                || !shared::domain::appstream_regions().any(|r| r == region)
            {
                bad(
                    "AppStream region",
                    format!(
                        "AppStream 2.0 is not offered in {region}; fix: remove it from \
                         AppStreamDestinationRegions"
                    ),
                )
            } else {
                ok(
                    "AppStream region",
                    format!("AppStream 2.0 is offered in {region}"),
                )
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn when_the_export_region_is_missing_or_encrypted_should_name_the_fix() {
        let regions = vec![("eu-west-1".to_owned(), None)];
        let f = distribution_findings("us-east-1", &regions, true);
        assert!(f[0].problem.as_deref().unwrap().contains("add us-east-1"));
        let regions = vec![("us-east-1".to_owned(), Some("arn:aws:kms:key".to_owned()))];
        let f = distribution_findings("us-east-1", &regions, true);
        assert!(f[0].problem.as_deref().unwrap().contains("remove kmsKeyId"));
        assert_eq!(
            distribution_findings("us-east-1", &regions, false)[0].problem,
            None
        );
    }

    #[test]
    fn when_the_trust_policy_names_vmie_should_pass() {
        let documented = json!({
            "Version": "2012-10-17",
            "Statement": [{ "Effect": "Allow", "Principal": { "Service": "vmie.amazonaws.com" },
                "Action": "sts:AssumeRole",
                "Condition": { "StringEquals": { "sts:Externalid": "vmimport" } } }]
        });
        assert_eq!(trust_problem(&documented), None);
        let ec2 = json!({ "Statement": { "Effect": "Allow",
            "Principal": { "Service": ["ec2.amazonaws.com"] }, "Action": ["sts:AssumeRole"] } });
        assert!(trust_problem(&ec2).unwrap().contains("vmie.amazonaws.com"));
    }

    #[test]
    fn when_the_topic_has_no_confirmed_subscription_should_fail() {
        let topic = "arn:aws:sns:us-east-1:123456789012:alarms";
        assert!(subscription_finding(topic, &[]).problem.is_some());
        let pending = ["PendingConfirmation".to_owned()];
        assert!(
            subscription_finding(topic, &pending)
                .problem
                .unwrap()
                .contains("confirm")
        );
        let confirmed = [format!("{topic}:0b3c")];
        assert_eq!(subscription_finding(topic, &confirmed).problem, None);
    }

    #[test]
    fn when_a_destination_offers_no_appstream_should_name_it() {
        let f = appstream_region_findings(
            "us-east-1",
            &[
                "eu-west-1".into(),
                "us-east-1".into(),
                "mars-north-1".into(),
            ],
        );
        assert_eq!(f[0].problem, None);
        assert!(f[1].problem.as_deref().unwrap().contains("own region"));
        assert!(
            f[2].problem
                .as_deref()
                .unwrap()
                .contains("not offered in mars-north-1")
        );
    }
}
