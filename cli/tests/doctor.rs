//! `doctor` against the local stack, under the operators' own policy: the reader's principal
//! (the template's OperatorReadOnlyPolicy, `runner::stack::OPERATORS[0]`) asks every question
//! through the local IAM, CloudFormation, IAM and SNS included (the authorizing proxy in front
//! of moto), so a read doctor needs and the policy lacks fails here as it would on AWS. The
//! stack, its VM export role and its alarm topic are made in moto from the names the template
//! resolves to (`runner::kept::deploy_stand_ins`, as `local-release --keep` makes them), as
//! CloudFormation would have made them.

mod support;

use runner::OnFailure;
use std::process::Output;
use std::sync::{Arc, Mutex};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_doctor_runs_under_the_operators_read_only_policy_should_every_check_pass_and_a_narrower_principal_be_told_so()
 {
    let mut s = scenario();
    let outputs = Arc::new(Mutex::new(Vec::new()));
    let seen = outputs.clone();
    s.on_published = Some(OnFailure(Arc::new(move |live| {
        tokio::runtime::Handle::current()
            .block_on(runner::kept::deploy_stand_ins(&live))
            .expect("the stack's stand-ins in moto");
        let stack = runner::kept::stack_name(&live);
        let emulator = live.emulator.endpoint();
        let reader = runner::stack::OPERATORS[0].access_key;
        let doctor = |key: &str, extra: &[&str]| -> Output {
            let mut args = vec!["doctor", "--stack", &stack, "--release", ID];
            args.extend_from_slice(extra);
            cli_as(key, &live.s3_authorized, &emulator, &args)
        };
        let mut out = vec![
            ("reader", doctor(reader, &[])),
            // The policy reads the stack's own VM export role, no other.
            (
                "reader, another role",
                doctor(reader, &["--vm-import-role", "vmimport"]),
            ),
            (
                "neighbour",
                doctor(runner::stack::NEIGHBOUR_ACCESS_KEY, &[]),
            ),
        ];
        out.push((
            "reader, flags only",
            cli_as(
                reader,
                &live.s3_authorized,
                &emulator,
                &[
                    "doctor",
                    "--pipeline",
                    live.stack.get("PipelineArn").unwrap(),
                    "--vm-import-role",
                    live.stack.get("VmExportRoleName").unwrap(),
                    "--alarm-topic",
                    live.stack.get("AlarmTopicArn").unwrap(),
                    "--appstream-regions",
                    live.stack.get("AppStreamDestinationRegions").unwrap(),
                ],
            ),
        ));
        *seen.lock().unwrap() = out;
    })));
    let report = published_with(s).await;
    let outputs = std::mem::take(&mut *outputs.lock().unwrap());
    let get = |name: &str| output(&outputs, name);

    let reader = get("reader");
    let decided: Vec<String> = report
        .iam
        .iter()
        .filter(|r| r.principal.contains(runner::stack::OPERATORS[0].role))
        .map(|r| format!("{} {} {}", r.action, r.resource, r.allowed))
        .collect();
    assert_eq!(
        reader.status.code(),
        Some(0),
        "{}\n{decided:#?}",
        text(reader)
    );
    let stdout = String::from_utf8_lossy(&reader.stdout);
    for check in [
        "stack",
        "pipeline",
        "distribution",
        "export region",
        "VM Import role",
        "bucket",
        "AppStream region",
        "AppStream source",
        "alarm topic",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("ok    {check:<17}"))),
            "{check}: {stdout}"
        );
    }
    assert!(stdout.lines().all(|l| l.starts_with("ok")), "{stdout}");
    // Every call was authorized as the reader, by the local IAM.
    let asked: Vec<String> = report
        .iam
        .iter()
        .filter(|r| r.principal.contains(runner::stack::OPERATORS[0].role) && r.allowed)
        .map(|r| r.action.clone())
        .collect();
    for action in [
        "cloudformation:DescribeStacks",
        "iam:GetRole",
        "sns:ListSubscriptionsByTopic",
        "s3:ListBucket",
        "imagebuilder:GetImagePipeline",
        "imagebuilder:GetDistributionConfiguration",
        "appstream:DescribeImages",
    ] {
        assert!(
            asked.iter().any(|a| a == action),
            "{action} not authorized: {asked:?}"
        );
    }

    let other = get("reader, another role");
    assert_eq!(other.status.code(), Some(1), "{}", text(other));
    assert!(
        text(other).contains(
            "?     VM Import role    could not check vmimport: IAM refused these credentials"
        ),
        "{}",
        text(other)
    );
    let neighbour = get("neighbour");
    assert_eq!(neighbour.status.code(), Some(1), "{}", text(neighbour));
    assert!(
        text(neighbour).contains("CloudFormation refused these credentials"),
        "{}",
        text(neighbour)
    );
    let flags = get("reader, flags only");
    assert_eq!(flags.status.code(), Some(0), "{}", text(flags));
    inventory(
        "when_doctor_runs_under_the_operators_read_only_policy_should_every_check_pass_and_a_narrower_principal_be_told_so",
        &report,
    );
}
