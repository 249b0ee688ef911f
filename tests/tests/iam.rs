//! Each function's role as the template resolves it, against what the functions really call.
//!
//! * The inventory (`tests/data/iam-calls.txt`) is every request the local IAM authorized while
//!   the tested paths ran (happy path with release tags, every event withheld so the reconciler
//!   drives each step, a distribution retried with RetryImage, AppStream import mode, a malformed
//!   request that ends at the on-failure destination): principal, action, resource, context.
//!   The end-to-end test regenerates it and fails when it changed
//!   (`UPDATE_IAM_INVENTORY=1` writes it).
//! * The static tests (no servers) check every inventoried request against the roles as SAM's
//!   translator resolves `template.yaml` now, and report every grant that no inventoried request
//!   uses: each one must be justified in the template ("Not exercised locally: <action>").
//! * One statement removed from the template makes the release fail at that step, naming the
//!   action and the resource.

use release_tests::root;
use runner::stack::Stack;
use runner::{Report, Scenario, run};
use std::collections::BTreeSet;
use std::path::Path;

const INVENTORY: &str = "tests/data/iam-calls.txt";

use runner::inventory::line;

/// The mark of an inventory line that only some runs make (a tick that lands between two
/// writes of the CLI): the stale-line check does not require it.
const SOMETIMES: &str = "? ";

fn inventory() -> Vec<String> {
    marked_inventory().into_iter().map(|(l, _)| l).collect()
}

/// Each line of the inventory, and whether it is marked [`SOMETIMES`].
fn marked_inventory() -> Vec<(String, bool)> {
    std::fs::read_to_string(root().join(INVENTORY))
        .unwrap_or_else(|e| {
            panic!("{INVENTORY}: {e} (UPDATE_IAM_INVENTORY=1 cargo test --test iam writes it)")
        })
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix(SOMETIMES) {
            Some(line) => (line.to_owned(), true),
            None => (l.to_owned(), false),
        })
        .collect()
}

/// The stack as the static tests see it: the template's defaults, the local account, and the
/// placeholders the inventory uses.
fn local_stack(template: &Path) -> Stack {
    local_stack_with(template, &[])
}

/// [`local_stack`] with some parameters set.
fn local_stack_with(template: &Path, parameters: &[(&str, &str)]) -> Stack {
    let mut values = runner::local_values(
        "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden",
        "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden",
        &["eu-west-1".to_owned(), "ap-southeast-2".to_owned()],
        "DISTRIBUTION",
        "d111111abcdef8.cloudfront.net",
    );
    values.set("AdditionalPipelineArns", "");
    for (k, v) in parameters {
        values.set(k, *v);
    }
    Stack::load(template, values).unwrap_or_else(|e| panic!("{e}"))
}

fn account(stack: &Stack) -> iam::Account {
    stack
        .account(&stack.functions(), runner::process::access_key)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `principal action resource key=value…` of an inventory line. A value may hold spaces
/// (`events:detail-type=Release Requested`): a word that is not `<service>:<key>=…` goes on
/// the value before it.
fn parse(line: &str) -> (String, String, String, Vec<(String, String)>) {
    let mut parts = line.split(' ');
    let principal = parts.next().unwrap_or_default().to_owned();
    let action = parts.next().unwrap_or_default().to_owned();
    let resource = parts.next().unwrap_or_default().to_owned();
    let mut context: Vec<(String, String)> = Vec::new();
    for word in parts {
        match word.split_once('=') {
            Some((k, v)) if k.contains(':') => context.push((k.to_owned(), v.to_owned())),
            _ => {
                if let Some((_, value)) = context.last_mut() {
                    value.push(' ');
                    value.push_str(word);
                }
            }
        }
    }
    (principal, action, resource, context)
}

#[test]
fn when_the_template_resolves_each_role_should_allow_every_call_the_functions_make() {
    let account = account(&local_stack(&root().join("template.yaml")));
    let mut denied = Vec::new();
    for entry in inventory()
        .into_iter()
        .chain(runner::inventory::operator_lines())
    {
        let (principal, action, resource, context) = parse(&entry);
        match account.evaluate(&principal, &action, &resource, &context) {
            Some(decision) if decision.is_allowed() => {}
            other => denied.push(format!("{entry}: {other:?}")),
        }
    }
    assert!(
        denied.is_empty(),
        "template.yaml no longer allows:\n{}",
        denied.join("\n")
    );
}

/// The comment lines right above line `at` of the template.
fn comment_above(lines: &[&str], at: usize) -> String {
    lines[..at]
        .iter()
        .rev()
        .take_while(|l| l.trim_start().starts_with('#'))
        .map(|l| l.trim())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn when_a_grant_serves_no_tested_call_should_be_justified_in_the_template() {
    let template = root().join("template.yaml");
    let text = std::fs::read_to_string(&template).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let account = account(&local_stack(&template));
    // The functions' inventory and the operator CLI's (written by the CLI's tests, which run
    // every command under its operator's policies).
    let calls: Vec<_> = inventory()
        .into_iter()
        .chain(runner::inventory::operator_lines())
        .map(|l| parse(&l))
        .collect();
    let mut unjustified = Vec::new();
    // (policy, statement, action) → (used, Sid).
    let mut grants: std::collections::BTreeMap<(String, String, String), (bool, Option<String>)> =
        std::collections::BTreeMap::new();
    // The neighbour is not the stack's: its broad grant is the point of it.
    for principal in account
        .principals
        .values()
        .filter(|p| p.name != runner::stack::NEIGHBOUR_ROLE)
    {
        for policy in &principal.policies {
            for statement in policy
                .statements
                .iter()
                .filter(|s| s.effect == iam::policy::Effect::Allow)
            {
                for action in &statement.action.items {
                    let used = calls.iter().any(|(p, a, r, ctx)| {
                        p == &principal.name
                            && iam::evaluate::glob(
                                &action.to_ascii_lowercase(),
                                &a.to_ascii_lowercase(),
                            )
                            && iam::evaluate::applies(
                                statement,
                                &account.request(principal, a, r, "us-east-1", ctx),
                                false,
                            )
                    });
                    // A managed policy (the operators') is used when any principal it is
                    // attached to made a call it applies to.
                    let grant = (policy.name.clone(), statement.label(), action.clone());
                    let entry = grants
                        .entry(grant)
                        .or_insert((false, statement.sid.clone()));
                    entry.0 |= used;
                }
            }
        }
    }
    for ((policy, label, action), (used, sid)) in grants {
        if used {
            continue;
        }
        // A statement of ours carries its Sid; SAM's on-failure policy comes from Globals'
        // EventInvokeConfig.
        let anchor = match &sid {
            Some(sid) => format!("- Sid: {sid}"),
            None if policy.contains("EventInvokeConfigOnFailure") => {
                "EventInvokeConfig:".to_owned()
            }
            None => format!("(no Sid in {policy})"),
        };
        let justified = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim() == anchor)
            .any(|(i, _)| {
                let comment = comment_above(&lines, i);
                comment.contains("Not exercised locally") && comment.contains(action.as_str())
            });
        if !justified {
            unjustified.push(format!("{policy}: {label} {action}"));
        }
    }
    assert!(
        unjustified.is_empty(),
        "grants no tested call uses (remove them, or say above the statement \"Not exercised locally: <action> (why)\"):\n{}",
        unjustified.join("\n")
    );
}

/// The release tags are set in every scenario, so that whichever of the racing paths (event,
/// reconciler) performs a step, its call carries the same tags as the inventory's.
fn scenario() -> Scenario {
    let mut s = Scenario::new(&root());
    s.parameters
        .push(("ReleaseTags".into(), "team=platform".into()));
    s.progress = false;
    s.step = std::time::Duration::from_millis(200);
    s.publish_interval = std::time::Duration::from_millis(300);
    s.timeout = std::time::Duration::from_secs(90);
    s
}

async fn released(s: Scenario) -> Report {
    let report = run(s).await.unwrap();
    assert_eq!(
        report.state,
        "published",
        "{:?} {:?} denied {:?} logs {}",
        report.failure(),
        report.init_errors,
        report.denied(),
        report.log_dir.display()
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_tested_path_runs_should_make_only_inventoried_calls() {
    let mut calls = BTreeSet::new();
    let mut keep = |report: &Report| {
        assert!(report.denied().is_empty(), "denied: {:?}", report.denied());
        calls.extend(report.iam.iter().map(line));
    };
    // The event path, with release tags (the tagging dependent actions).
    keep(&released(scenario()).await);
    // No Image Builder event at all: the reconciler drives every step.
    let mut s = scenario();
    s.distribution_events = false;
    s.pipeline_events = false;
    keep(&released(s).await);
    // A distribution that times out in one region once: RetryImage.
    let mut s = scenario();
    s.distribution_failure = Some(emulator::DistributionFailure {
        region: "eu-west-1".into(),
        status: "TIMED_OUT".into(),
        message: "timed out".into(),
        times: 1,
    });
    keep(&released(s).await);
    // AppStream import mode: CreateImportedImage from a Windows AMI, by copy-appstream-image and
    // (its event withheld) by the reconciler.
    for events in [true, false] {
        let mut s = scenario();
        s.amis_windows = true;
        s.distribution_events = events;
        for (k, v) in [
            ("AppStreamSourceMode", "import"),
            ("RequiredSteps", "appstream"),
            (
                "AppStreamImportRoleArn",
                "arn:aws:iam::123456789012:role/AppStreamImport",
            ),
            ("AppStreamImageName", "imported-{release}"),
        ] {
            s.parameters.push((k.into(), v.into()));
        }
        keep(&released(s).await);
    }
    // A malformed request: start-pipeline fails it three times, then Lambda sends it to the
    // on-failure destination with the function's role.
    let mut s = scenario();
    s.extra_events.push(
        serde_json::from_str(include_str!(
            "../../events/malformed-release-requested.json"
        ))
        .unwrap(),
    );
    let report = released(s).await;
    assert_eq!(report.dead_letters.len(), 1, "{:?}", report.dead_letters);
    keep(&report);

    // A revocation, with every option, recorded as `image-release revoke` records it and
    // driven to its end by publish-release's ticks.
    let mut s = scenario();
    s.on_published = Some(runner::OnFailure(std::sync::Arc::new(|live| {
        let s3 = live.s3;
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(revoke(&s3));
    })));
    keep(&released(s).await);

    // Retention's scheduled run: everything is due, and once the operator empties the one
    // channel that protects the release, publish-release deletes it (AMIs with their
    // snapshots, disks, AppStream copies) under its own role.
    let mut s = scenario();
    for (k, v) in [
        ("RetentionKeepNewest", "0"),
        ("RetentionKeepChannelDays", "0"),
        ("RetentionDeprecateAfterDays", "0"),
        ("RetentionDeleteAfterDays", "0"),
        ("RetentionInterval", "1s"),
    ] {
        s.parameters.push((k.into(), v.into()));
    }
    s.on_published = Some(runner::OnFailure(std::sync::Arc::new(|live| {
        let (s3, emulator) = (live.s3, live.emulator.endpoint());
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(retire(&s3, &emulator));
    })));
    keep(&released(s).await);

    let path = root().join(INVENTORY);
    if std::env::var_os("UPDATE_IAM_INVENTORY").is_some() {
        // Merged with what is there, marks kept: the event path and the reconciler race for
        // some steps, so one run may make a call another does not (delete the file to start
        // afresh; the stale-line check below names what no run makes any more).
        let mut all: std::collections::BTreeMap<String, bool> = if path.exists() {
            marked_inventory().into_iter().collect()
        } else {
            Default::default()
        };
        for call in &calls {
            all.entry(call.clone()).or_insert(false);
        }
        let header = "# Every request the local IAM authorized on the tested paths (tests/tests/iam.rs merges new ones\n# in with UPDATE_IAM_INVENTORY=1): principal action resource [context]. A line marked \"? \" is made\n# only on some runs (a tick between two writes of the CLI); every other line must be made by each run.\n";
        let lines: Vec<String> = all
            .into_iter()
            .map(|(line, sometimes)| {
                if sometimes {
                    format!("{SOMETIMES}{line}")
                } else {
                    line
                }
            })
            .collect();
        std::fs::write(&path, format!("{header}{}\n", lines.join("\n"))).unwrap();
    }
    // Every line is still made: a line no path produced is stale (it could justify a grant
    // nothing uses). The event path and the reconciler race for some steps, so a line made by
    // one function's role counts as made when this run made the same request (action,
    // resource, context) under another role.
    let marked = marked_inventory();
    let expected = inventory();
    let request = |l: &str| {
        l.split_once(' ')
            .map_or(String::new(), |(_, r)| r.to_owned())
    };
    let requests: BTreeSet<String> = calls.iter().map(|l| request(l)).collect();
    let stale: Vec<&String> = marked
        .iter()
        .filter(|(_, sometimes)| !sometimes)
        .map(|(l, _)| l)
        .filter(|l| !calls.contains(*l) && !requests.contains(&request(l)))
        .collect();
    assert!(
        stale.is_empty(),
        "lines of {INVENTORY} no tested path made (delete them, or the file and run with UPDATE_IAM_INVENTORY=1):\n- {}",
        stale
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n- ")
    );
    // Every call the functions made is inventoried, so the static tests above judge it.
    let added: Vec<&String> = calls.iter().filter(|l| !expected.contains(l)).collect();
    assert!(
        added.is_empty(),
        "calls not in {INVENTORY} (UPDATE_IAM_INVENTORY=1 to add them):\n+ {}",
        added
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n+ ")
    );
}

/// A local release with the template `text` instead of the project's.
async fn run_with_template(text: &str) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("template.yaml");
    std::fs::write(&template, text).unwrap();
    let mut s = scenario();
    s.template = template;
    run(s).await.unwrap()
}

/// `template` without every statement whose `Sid` is `sid` (the lines from `- Sid:` to the next
/// item of the same list).
fn without_statement(template: &str, sid: &str) -> String {
    let mut out = Vec::new();
    let mut skipping: Option<usize> = None;
    for line in template.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(at) = skipping {
            let next_item = indent == at && line.trim_start().starts_with("- ");
            if next_item || (indent < at && !line.trim().is_empty()) {
                skipping = None;
            } else {
                continue;
            }
        }
        if line.trim() == format!("- Sid: {sid}") {
            skipping = Some(indent);
            // The statement's comment lines above it go too.
            while out
                .last()
                .is_some_and(|l: &String| l.trim_start().starts_with('#'))
            {
                out.pop();
            }
            continue;
        }
        out.push(line.to_owned());
    }
    out.join("\n") + "\n"
}

/// A release run with the template's statement `sid` removed: it must fail at the export step;
/// the report and the failure's reason.
async fn export_fails_without(sid: &str) -> (Report, String) {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let edited = without_statement(&text, sid);
    assert!(!edited.contains(&format!("Sid: {sid}")) && edited.len() < text.len());
    let report = run_with_template(&edited).await;
    assert_eq!(report.state, "failed", "logs {}", report.log_dir.display());
    let (step, reason) = report.failure().unwrap();
    assert_eq!(step, "export", "{reason}");
    (report, reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_statement_is_removed_from_the_template_should_fail_at_that_step_naming_action_and_resource()
 {
    let (report, reason) = export_fails_without("ExportAmis").await;
    assert!(
        reason.contains("ec2:ExportImage") && reason.contains("arn:aws:ec2:us-east-1::image/ami-"),
        "{reason}"
    );
    // A routine failure: recorded and alarmed once, not retried by Lambda or dead-lettered.
    assert!(report.dead_letters.is_empty(), "{:?}", report.dead_letters);
    assert_eq!(
        report.fired().unwrap(),
        ["ReleaseFailedAlarm"],
        "{:?}",
        report.alarms
    );
}

/// The VM Import/Export guide's caller permissions beside ec2:ExportImage: without
/// s3:GetBucketLocation on the bucket the export is refused, naming the action and the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_exporter_cannot_locate_the_bucket_should_fail_at_export_naming_the_guides_permission()
 {
    let (_, reason) = export_fails_without("ExportIntoTheBucket").await;
    assert!(
        reason.contains("s3:GetBucketLocation")
            && reason.contains("arn:aws:s3:::image-release-artifacts"),
        "{reason}"
    );
}

/// The guide's service-role policy lets VM Export check the bucket (location, ACL, listing)
/// before it writes: a role without those checks fails the export task, naming the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_vm_import_role_cannot_check_the_bucket_should_the_export_task_fail_naming_it() {
    let (_, reason) = export_fails_without("VmExportChecksTheBucket").await;
    assert!(
        reason.contains("cannot check s3://image-release-artifacts")
            && reason.contains("AccessDenied"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_vm_import_roles_trust_policy_refuses_vm_export_should_fail_at_export_naming_the_role()
 {
    // A trust policy whose external id is not the one VM Import/Export sends.
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let edited = text.replace("sts:Externalid: vmimport", "sts:Externalid: not-vmimport");
    assert_ne!(edited, text);
    let report = run_with_template(&edited).await;
    assert_eq!(report.state, "failed", "logs {}", report.log_dir.display());
    let (step, reason) = report.failure().unwrap();
    assert_eq!(step, "export", "{reason}");
    assert!(
        // The stack's own role, whose name IAM generated (no fixed RoleName).
        reason.contains("image-release-VmImportRole") && reason.contains("trust policy"),
        "{reason}"
    );
}

/// What the downloads distribution may read of a published release: the page, the catalog, and
/// the release's manifest, `SHA256SUMS` and disk, nothing else.
fn assert_serves_only_the_publication(report: &Report) {
    let id = report.release_id.clone().unwrap();
    let readable: BTreeSet<&str> = report
        .served
        .iter()
        .filter(|s| s.readable)
        .map(|s| s.key.as_str())
        .collect();
    let disk = report
        .export_object
        .as_ref()
        .map(|(k, _)| k.as_str())
        .unwrap();
    let manifest = format!("releases/{id}/manifest.json");
    let sums = format!("releases/{id}/SHA256SUMS");
    let (manifest_sig, sums_sig) = (format!("{manifest}.sig"), format!("{sums}.sig"));
    let page = &report.index.as_ref().unwrap()["images"]["golden"]["history"][0];
    let (page_json, page_html) = (
        page["json"].as_str().unwrap(),
        page["html"].as_str().unwrap(),
    );
    let expected = BTreeSet::from([
        page_json,
        page_html,
        "index.html",
        "catalog/index.json",
        "catalog/index.json.sig",
        "catalog/latest.json",
        "catalog/latest.json.sig",
        "catalog/signing-key.pem",
        manifest.as_str(),
        manifest_sig.as_str(),
        sums.as_str(),
        sums_sig.as_str(),
        disk,
    ]);
    assert_eq!(readable, expected, "{:#?}", report.served);
    // Every record is there, and none is readable.
    for prefix in ["state/", "pending/", "distributed/"] {
        assert!(
            report
                .served
                .iter()
                .filter(|s| s.key.starts_with(prefix))
                .all(|s| !s.readable),
            "{prefix}: {:#?}",
            report.served
        );
    }
    assert!(
        report
            .served
            .iter()
            .any(|s| s.key == format!("state/{id}/status.json"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_releases_publish_or_fail_should_let_the_distribution_read_only_what_was_published() {
    let report = released(scenario()).await;
    assert_serves_only_the_publication(&report);
    // What a user downloads is what the distribution may read: the disk and SHA256SUMS.
    assert_eq!(report.downloaded.len(), 2, "{:?}", report.downloaded);

    // A release that fails at AppStream while its export runs: whatever it exported stays
    // unreadable, and so do its records.
    let mut s = scenario();
    s.parameters
        .push(("AppStreamImageName".into(), "missing-{release}".into()));
    let report = run(s).await.unwrap();
    assert_eq!(report.state, "failed", "{:?}", report.failure());
    let id = report.release_id.clone().unwrap();
    // The export did write its disk: the test is about an object that exists.
    let disk = format!("releases/{id}/export-ami-");
    assert!(
        report.served.iter().any(|s| s.key.starts_with(&disk)),
        "{:#?}",
        report.served
    );
    let unpublished: Vec<_> = report
        .served
        .iter()
        .filter(|s| s.key.contains(&id) && s.readable)
        .collect();
    assert!(unpublished.is_empty(), "{unpublished:#?}");
    assert!(report.downloaded.is_empty(), "{:?}", report.downloaded);
}

/// The bucket policy as the template resolves it, for keys of every kind: only the page, the
/// catalog and objects under `releases/` tagged published are readable, and only by this
/// distribution. A record is unreadable even when tagged.
#[test]
fn when_the_distribution_asks_for_any_key_should_the_bucket_policy_serve_only_published_objects() {
    let account = account(&local_stack(&root().join("template.yaml")));
    let ours = "arn:aws:cloudfront::123456789012:distribution/DISTRIBUTION";
    let other = "arn:aws:cloudfront::123456789012:distribution/EOTHER";
    let may = |key: &str, source: &str, published: bool| {
        let mut context = vec![("aws:SourceArn".to_owned(), source.to_owned())];
        if published {
            context.push((
                format!("s3:ExistingObjectTag/{}", shared::release::TAG_PUBLISHED),
                "true".to_owned(),
            ));
        }
        account
            .service_may(
                "cloudfront.amazonaws.com",
                "s3:GetObject",
                &format!("arn:aws:s3:::image-release-artifacts/{key}"),
                &context,
            )
            .is_allowed()
    };
    for key in ["index.html", "catalog/index.json", "catalog/latest.json"] {
        assert!(may(key, ours, false), "{key}");
        assert!(!may(key, other, false), "{key} for another distribution");
    }
    for key in [
        "releases/golden-1.0.0-1/manifest.json",
        "releases/golden-1.0.0-1/SHA256SUMS",
        "releases/golden-1.0.0-1/export-ami-0a.vmdk",
    ] {
        assert!(may(key, ours, true), "{key} published");
        assert!(!may(key, ours, false), "{key} not published");
        assert!(!may(key, other, true), "{key} for another distribution");
    }
    for key in [
        "state/golden-1.0.0-1/status.json",
        "state/golden-1.0.0-1/appstream-mark.json",
        "pending/golden-1.0.0-1.json",
        "distributed/golden-1.0.0-2.json",
        "template.yaml",
    ] {
        assert!(!may(key, ours, true), "{key}");
    }
}

/// Every object write S3 authorizes (Service Authorization Reference, object resource type).
const OBJECT_WRITES: [&str; 17] = [
    "s3:PutObject",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
    "s3:AbortMultipartUpload",
    "s3:RestoreObject",
    "s3:ReplicateObject",
    "s3:ReplicateDelete",
    "s3:ReplicateTags",
    "s3:BypassGovernanceRetention",
];

/// The bucket policy as the template resolves it: only the stack writes its bucket. The
/// neighbour (broad S3 rights of its own) and any other principal of the account may not
/// write, tag or delete any key, whatever their IAM policies allow; each function's role, the
/// VM export role and the operators named in `ReleaseOperatorArns` are not stopped by it.
#[test]
fn when_a_neighbour_writes_any_key_should_the_bucket_policy_deny_it() {
    let template = root().join("template.yaml");
    let keys = [
        "pending/golden-1.0.0-9.json",
        "state/golden-1.0.0-9/distribution.json",
        "releases/golden-1.0.0-9/manifest.json",
        "releases/golden-1.0.0-9/SHA256SUMS",
        "releases/golden-1.0.0-9/export-ami-0a.vmdk",
        "channels/golden/stable.json",
        "pending-channels/golden/stable/00000000000000000009.json",
        "pending-revocations/golden-1.0.0-1.json",
        "catalog/history/golden/2026-12.json",
        "catalog/latest.json",
        "index.html",
        "distributed/golden-1.0.0-2.json",
        "leases/golden/0.json",
        "anything/else",
    ];
    let object = |key: &str| format!("arn:aws:s3:::image-release-artifacts/{key}");
    let ours = account(&local_stack(&template));
    for key in keys {
        for action in OBJECT_WRITES {
            let decision = ours
                .evaluate(runner::stack::NEIGHBOUR_ROLE, action, &object(key), &[])
                .expect("the local account has its neighbour");
            assert!(
                !decision.is_allowed(),
                "the neighbour's {action} on {key}: {decision:?}"
            );
            let stranger = ours.stranger_may(
                "arn:aws:iam::123456789012:role/SomeoneElse",
                action,
                &object(key),
                &[],
            );
            assert!(!stranger.is_allowed(), "{action} on {key}: {stranger:?}");
        }
        // The neighbour still reads what its own IAM allows: the policy denies writes only.
        let read = ours
            .evaluate(
                runner::stack::NEIGHBOUR_ROLE,
                "s3:GetObject",
                &object(key),
                &[],
            )
            .unwrap();
        assert!(read.is_allowed(), "reading {key}: {read:?}");
    }
    // The stack's own principals are not in the deny (their roles decide what each may write).
    let roles = local_stack(&template).roles().unwrap();
    let vmimport = &roles["VmImportRole"].0;
    for role in [
        roles["StartPipelineFunctionRole"].0.as_str(),
        roles["PublishReleaseFunctionRole"].0.as_str(),
        roles["ExportImageFunctionRole"].0.as_str(),
        vmimport.as_str(),
    ] {
        let decision = ours.stranger_may(role, "s3:PutObject", &object("releases/x"), &[]);
        assert!(decision.is_allowed(), "{role}: {decision:?}");
    }
    // Operators named in ReleaseOperatorArns write too (retry, revoke, promote); nobody else.
    let with_operators = account(&local_stack_with(
        &template,
        &[(
            "ReleaseOperatorArns",
            "arn:aws:iam::123456789012:role/release-ci-*,arn:aws:iam::123456789012:user/alice",
        )],
    ));
    for (who, allowed) in [
        ("arn:aws:iam::123456789012:role/release-ci-main", true),
        ("arn:aws:iam::123456789012:user/alice", true),
        ("arn:aws:iam::123456789012:user/bob", false),
        ("arn:aws:iam::123456789012:role/neighbour", false),
    ] {
        for action in ["s3:PutObject", "s3:DeleteObject", "s3:PutObjectTagging"] {
            let decision = with_operators.stranger_may(who, action, &object("state/x"), &[]);
            assert_eq!(
                decision.is_allowed(),
                allowed,
                "{who} {action}: {decision:?}"
            );
        }
    }
}

/// The release bus's policy as the template resolves it: in a shared account every sender has
/// our account id, so an IAM allow-all must not be enough to put a Release Requested (starting
/// builds) or a forged Release Published (mailed to subscribers). Only publish-release's role and
/// the operators named in `ReleaseOperatorArns` may put.
#[test]
fn when_someone_else_in_the_account_puts_on_the_release_bus_should_the_bus_policy_deny_it() {
    let template = root().join("template.yaml");
    let stack = local_stack(&template);
    let bus = format!(
        "arn:aws:events:us-east-1:123456789012:event-bus/{}",
        stack.release_bus()
    );
    assert_ne!(stack.release_bus(), "default", "the stack has its own bus");
    let put = |source: &str, detail_type: &str| {
        vec![
            ("events:source".to_owned(), source.to_owned()),
            ("events:detail-type".to_owned(), detail_type.to_owned()),
        ]
    };
    let ours = account(&stack);
    for (source, detail_type) in [
        ("image-release", "Release Requested"),
        ("image-release", "Release Published"),
        ("image-release", "Release Failed"),
    ] {
        let decision = ours.stranger_may(
            "arn:aws:iam::123456789012:role/SomeoneElse",
            "events:PutEvents",
            &bus,
            &put(source, detail_type),
        );
        assert!(!decision.is_allowed(), "{detail_type}: {decision:?}");
    }
    // publish-release's own role, with its own policies, may put its events.
    let decision = ours
        .evaluate(
            "publish-release",
            "events:PutEvents",
            &bus,
            &put("image-release", "Release Published"),
        )
        .expect("publish-release is a principal of the stack");
    assert!(decision.is_allowed(), "{decision:?}");

    // Operators named in ReleaseOperatorArns (wildcards allowed) may put, nobody else.
    let with_operators = account(&local_stack_with(
        &template,
        &[(
            "ReleaseOperatorArns",
            "arn:aws:iam::123456789012:role/release-ci-*,arn:aws:iam::123456789012:user/alice",
        )],
    ));
    for (who, allowed) in [
        ("arn:aws:iam::123456789012:role/release-ci-main", true),
        ("arn:aws:iam::123456789012:user/alice", true),
        ("arn:aws:iam::123456789012:user/bob", false),
        ("arn:aws:iam::123456789012:role/SomeoneElse", false),
    ] {
        let decision = with_operators.stranger_may(
            who,
            "events:PutEvents",
            &bus,
            &put("image-release", "Release Requested"),
        );
        assert_eq!(decision.is_allowed(), allowed, "{who}: {decision:?}");
    }
    // Operators request releases; only publish-release announces them.
    for detail_type in ["Release Published", "Release Failed"] {
        let decision = with_operators.stranger_may(
            "arn:aws:iam::123456789012:role/release-ci-main",
            "events:PutEvents",
            &bus,
            &put("image-release", detail_type),
        );
        assert!(
            !decision.is_allowed(),
            "an operator's {detail_type}: {decision:?}"
        );
    }
}

/// Only publish-release may sign with the stack's key (its policy denies `kms:Sign` to every
/// other principal, whatever their IAM policies allow); with `SigningKeyArn` given, no key is
/// created, publish-release signs with that one, and its role grants exactly that key.
#[test]
fn when_someone_else_in_the_account_signs_should_the_key_policy_deny_it() {
    let template = root().join("template.yaml");
    let stack = local_stack(&template);
    let key = stack.signing_keys().pop().expect("the stack's signing key");
    // What KMS puts in every request on the key: its aliases (kms:ResourceAliases).
    let aliases: Vec<(String, String)> = stack
        .key_aliases()
        .into_iter()
        .filter(|(_, k)| *k == key)
        .map(|(alias, _)| ("kms:ResourceAliases".to_owned(), alias))
        .collect();
    assert!(!aliases.is_empty(), "the key has its alias");
    let ours = account(&stack);
    let sign = |who: &str| {
        ours.stranger_may(who, "kms:Sign", &key, &aliases)
            .is_allowed()
    };
    assert!(!sign("arn:aws:iam::123456789012:role/SomeoneElse"));
    let decision = ours
        .evaluate("publish-release", "kms:Sign", &key, &aliases)
        .expect("publish-release is a principal of the stack");
    assert!(decision.is_allowed(), "{decision:?}");
    for other in [
        "start-pipeline",
        "distribute-image",
        "export-image",
        "copy-appstream-image",
    ] {
        let decision = ours.evaluate(other, "kms:Sign", &key, &aliases).unwrap();
        assert!(!decision.is_allowed(), "{other}: {decision:?}");
    }

    let given = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
    let with_given = local_stack_with(&template, &[("SigningKeyArn", given)]);
    assert!(with_given.signing_keys().is_empty(), "no key is created");
    let publish = with_given
        .functions()
        .into_iter()
        .find(|f| f.binary == "publish-release")
        .unwrap();
    assert_eq!(publish.environment["SIGNING_KEY_ID"], given);
    let decision = account(&with_given)
        .evaluate("publish-release", "kms:Sign", given, &[])
        .unwrap();
    assert!(decision.is_allowed(), "{decision:?}");
}

/// Revokes golden-1.0.0-1 (disable, delete AppStream copies, purge) and waits for the ticks to
/// finish it.
async fn revoke(s3: &str) {
    let id = "golden-1.0.0-1";
    runner::put_json(
        s3,
        &format!("pending-revocations/{id}.json"),
        &serde_json::json!({}),
    )
    .await
    .unwrap();
    let record = serde_json::json!({
        "schema_version": 1, "release_id": id, "reason": "CVE-2026-0001",
        "at": "2026-11-30T00:00:00Z", "by": "arn:aws:iam::123456789012:user/operator",
        "disable": true, "delete_appstream": true, "purge": true,
    });
    runner::put_json(s3, &format!("state/{id}/revocation.json"), &record)
        .await
        .unwrap();
    let key = format!("state/{id}/revocation-progress.json");
    for _ in 0..200 {
        if let Some(progress) = runner::read_json(s3, &key).await
            && progress["finished_at"].is_string()
        {
            // Purged: every version of the disks and of SHA256SUMS is gone, not only the
            // current one (the bucket is versioned), as the AWS CLI lists them.
            assert_no_versions_left(s3, &format!("releases/{id}/"));
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!(
        "the revocation did not finish: {:?}",
        runner::read_json(s3, &key).await
    );
}

/// Every version and delete marker under `prefix` of the artifact bucket, as the AWS CLI lists
/// them: none may be left of a disk or of `SHA256SUMS` (the manifest stays, as the record of
/// what was published).
fn assert_no_versions_left(s3: &str, prefix: &str) {
    let out = release_tests::aws_as(
        "AKIDTEST",
        s3,
        &[
            "s3api",
            "list-object-versions",
            "--bucket",
            "image-release-artifacts",
            "--prefix",
            prefix,
            "--output",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", release_tests::described(&out));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let left: Vec<String> = ["Versions", "DeleteMarkers"]
        .iter()
        .flat_map(|k| listed[k].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v["Key"].as_str().map(str::to_owned))
        .filter(|k| !k.ends_with("/manifest.json") && !k.ends_with("/manifest.json.sig"))
        .collect();
    assert!(left.is_empty(), "versions left under {prefix}: {left:?}");
}

/// Empties golden's testing channel (as an operator could) and waits for publish-release's
/// retention run to deregister the release's AMIs, both regions'.
async fn retire(s3: &str, emulator: &str) {
    // The channel's SSM parameters first, as the mirror of an emptied channel deletes them:
    // while one names an AMI, DescribeImageReferences reports it in use (as on AWS) and
    // retention keeps it. Before the record, so that no retention run sees one region's gone
    // and the other's still there.
    let name = format!("{}/golden/testing", runner::PARAMETER_PREFIX);
    for region in ["us-east-1", "eu-west-1"] {
        let out = release_tests::aws_as(
            "AKIDTEST",
            emulator,
            &[
                "ssm",
                "delete-parameter",
                "--name",
                &name,
                "--region",
                region,
            ],
        );
        assert!(out.status.success(), "{}", release_tests::described(&out));
    }
    let key = "channels/golden/testing.json";
    let mut channel = runner::read_json(s3, key)
        .await
        .expect("the testing channel");
    channel["release_id"] = serde_json::Value::Null;
    channel["amis"] = serde_json::json!([]);
    runner::put_json(s3, key, &channel).await.unwrap();
    for _ in 0..200 {
        if let Some(run) = runner::read_json(s3, "state/retention.json").await
            && run["applied"]["deregistered"].as_u64().unwrap_or(0) >= 2
        {
            // Everything is due: the disks went too, every version of each.
            assert!(
                run["applied"]["objects_deleted"].as_u64().unwrap_or(0) >= 1,
                "{run}"
            );
            assert_no_versions_left(s3, "releases/golden-1.0.0-1/");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!(
        "retention did not run: {:?}",
        runner::read_json(s3, "state/retention.json").await
    );
}
