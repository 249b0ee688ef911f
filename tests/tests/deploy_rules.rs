//! Deploy-time rules that no linter checks (cfn-lint, `sam validate --lint` and checkov all passed
//! a template that CloudFormation rolls back or that leaves the alarms silent), each learnt the
//! day it was found, checked on the stack as SAM's translator and CloudFormation make it.

use iam::evaluate::{Caller, Request, evaluate};
use release_tests::root;
use runner::stack::Stack;
use serde_json::Value;

fn stack(parameters: &[(&str, &str)]) -> Stack {
    let mut values = runner::local_values(
        "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden",
        "arn:aws:imagebuilder:us-east-1:123456789012:distribution-configuration/golden",
        &["eu-west-1".to_owned()],
        "E2QWRUHEXAMPLE",
        "d111111abcdef8.cloudfront.net",
    );
    values.set("NotificationEmail", "ops@example.com");
    values.set("ReleaseEventsEmail", "releases@example.com");
    for (k, v) in parameters {
        values.set(k, *v);
    }
    Stack::load(&root().join("template.yaml"), values).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn when_an_alarm_uses_metric_math_should_not_search_and_stay_within_ten_metrics() {
    // CloudWatch refuses an alarm whose expression contains SEARCH ("You can't create an alarm
    // based on the SEARCH expression"), and an alarm's math may use at most 10 metrics of one
    // period (CloudWatch user guide, "Creating a CloudWatch alarm based on a metric math
    // expression").
    let stack = stack(&[]);
    let mut checked = 0;
    for (id, alarm) in stack.of_type("AWS::CloudWatch::Alarm") {
        let Some(metrics) = alarm["Properties"]["Metrics"].as_array() else {
            continue;
        };
        checked += 1;
        for m in metrics {
            let expression = m["Expression"].as_str().unwrap_or_default();
            assert!(
                !expression.to_ascii_uppercase().contains("SEARCH("),
                "{id}: {expression}"
            );
        }
        let stats: Vec<&Value> = metrics.iter().filter_map(|m| m.get("MetricStat")).collect();
        assert!(stats.len() <= 10, "{id}: {} metrics", stats.len());
        let periods: std::collections::BTreeSet<String> =
            stats.iter().map(|s| s["Period"].to_string()).collect();
        assert!(periods.len() <= 1, "{id}: periods {periods:?}");
        let returned = metrics.iter().filter(|m| m["ReturnData"] != false).count();
        assert_eq!(returned, 1, "{id}: an alarm's math returns one time series");
    }
    assert!(checked > 0, "FunctionErrorsAlarm uses metric math");
}

#[test]
fn when_no_concurrency_is_asked_for_should_reserve_none_and_else_reserve_it_for_each_function() {
    // Lambda keeps at least 100 of an account's concurrency unreserved; new accounts often have a
    // quota of 10, where reserving any fails the stack.
    for (id, f) in stack(&[]).of_type("AWS::Lambda::Function") {
        assert!(
            f["Properties"]
                .get("ReservedConcurrentExecutions")
                .is_none(),
            "{id}"
        );
    }
    for (id, f) in stack(&[("ReservedConcurrency", "3")]).of_type("AWS::Lambda::Function") {
        assert_eq!(
            f["Properties"]["ReservedConcurrentExecutions"]
                .to_string()
                .trim_matches('"'),
            "3",
            "{id}"
        );
    }
}

/// The key policy of the KMS key `key` (a `Ref` resolved to the key's logical id) names, if it is
/// one of the stack's keys.
fn key_policy(stack: &Stack, key: &str) -> Option<iam::Policy> {
    let (id, resource) = stack
        .of_type("AWS::KMS::Key")
        .find(|(id, _)| key.ends_with(id.as_str()))?;
    Some(iam::Policy::parse(id, &resource["Properties"]["KeyPolicy"]).unwrap())
}

/// Whether AWS service `service` may use the key to publish into what it encrypts.
fn service_may_use(stack: &Stack, key: &str, service: &str) -> Result<(), String> {
    let policy = key_policy(stack, key).ok_or_else(|| {
        format!("{key} is not a customer managed key of the stack (an AWS managed key's policy cannot let {service} use it)")
    })?;
    for action in ["kms:GenerateDataKey", "kms:Decrypt"] {
        let request = Request::new(Caller::Service(service.into()), action, "*");
        if !evaluate(&request, &[], Some(&policy)).is_allowed() {
            return Err(format!(
                "the policy of {key} does not let {service} {action}"
            ));
        }
    }
    Ok(())
}

#[test]
fn when_an_aws_service_publishes_to_a_topic_or_queue_should_its_key_let_that_service() {
    let stack = stack(&[]);
    let topics: Vec<(String, Value)> = stack
        .of_type("AWS::SNS::Topic")
        .map(|(id, t)| (id.clone(), t.clone()))
        .collect();
    let topic_key = |arn: &str| -> Option<String> {
        topics
            .iter()
            .find(|(id, _)| arn.ends_with(id.as_str()))
            .and_then(|(_, t)| {
                t["Properties"]["KmsMasterKeyId"]
                    .as_str()
                    .map(str::to_owned)
            })
    };
    let mut problems = Vec::new();
    // CloudWatch publishes each alarm's actions.
    for (id, alarm) in stack.of_type("AWS::CloudWatch::Alarm") {
        for action in alarm["Properties"]["AlarmActions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(key) = topic_key(action.as_str().unwrap_or_default())
                && let Err(why) = service_may_use(&stack, &key, "cloudwatch.amazonaws.com")
            {
                problems.push(format!("{id}: {why}"));
            }
        }
    }
    // EventBridge delivers to each rule's targets and dead-letter queues.
    let queues: Vec<(String, Value)> = stack
        .of_type("AWS::SQS::Queue")
        .map(|(id, q)| (id.clone(), q.clone()))
        .collect();
    for (id, rule) in stack.of_type("AWS::Events::Rule") {
        for target in rule["Properties"]["Targets"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let arn = target["Arn"].as_str().unwrap_or_default();
            if let Some(key) = topic_key(arn)
                && let Err(why) = service_may_use(&stack, &key, "events.amazonaws.com")
            {
                problems.push(format!("{id}: {why}"));
            }
            let dlq = target["DeadLetterConfig"]["Arn"]
                .as_str()
                .unwrap_or_default();
            for (qid, queue) in queues
                .iter()
                .filter(|(qid, _)| !dlq.is_empty() && dlq.ends_with(qid.as_str()))
            {
                let p = &queue["Properties"];
                match p["KmsMasterKeyId"].as_str() {
                    // SSE-SQS needs no KMS permission from any sender.
                    None if p["SqsManagedSseEnabled"] == true => {}
                    None => problems.push(format!("{qid}: unencrypted (use SqsManagedSseEnabled)")),
                    Some(key) => {
                        if let Err(why) = service_may_use(&stack, key, "events.amazonaws.com") {
                            problems.push(format!("{id} → {qid}: {why}"));
                        }
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn when_the_readme_lists_what_is_checked_locally_should_name_what_only_aws_can_confirm() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(
        readme.contains("## What only a real deployment can confirm"),
        "README section missing"
    );
}
