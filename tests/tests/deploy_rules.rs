//! Deploy-time rules that no linter checks (cfn-lint, `sam validate --lint` and checkov all passed
//! a template that CloudFormation rolls back or that leaves the alarms silent), each learnt the
//! day it was found, checked on the stack as SAM's translator and CloudFormation make it.

use iam::evaluate::{Caller, Request, evaluate};
use release_tests::root;
use runner::stack::Stack;
use serde_json::Value;

fn stack(parameters: &[(&str, &str)]) -> Stack {
    let emails = [
        ("NotificationEmail", "ops@example.com"),
        ("ReleaseEventsEmail", "releases@example.com"),
    ];
    release_tests::local_template(&[&emails[..], parameters].concat())
        .unwrap_or_else(|e| panic!("{e}"))
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

/// The list of what only AWS can confirm is about this stack: each entry names (in backticks)
/// something the template or the code has, so an entry about a grant, a role or a call that
/// is gone shows here instead of staying in the guide.
#[test]
fn when_the_docs_list_what_is_checked_locally_should_name_what_only_aws_can_confirm() {
    let deploy = std::fs::read_to_string(root().join("docs/src/deploy.md")).unwrap();
    let heading = "## What only a real deployment can confirm";
    let section = deploy
        .split_once(heading)
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or_default())
        .expect("docs/src/deploy.md: section missing");
    let mut corpus = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    // The stack's own code and its local Lambda; not the local emulator or IAM, which name
    // AWS's actions anyway.
    for dir in ["shared/src", "functions", "cli/src", "local/runner/src"] {
        corpus.push_str(&release_tests::read_tree(&root().join(dir), "rs"));
    }
    let entries: Vec<&str> = section
        .split("\n* ")
        .skip(1)
        .map(|e| e.split("\n\n").next().unwrap_or_default())
        .collect();
    assert!(entries.len() >= 8, "{} entries: {section}", entries.len());
    for entry in entries {
        let named: Vec<&str> = entry
            .split('`')
            .skip(1)
            .step_by(2)
            .filter(|n| n.len() > 3)
            .collect();
        let unbacked = named.is_empty() || !named.iter().any(|n| corpus.contains(n));
        let title = entry.lines().next().unwrap_or_default();
        assert!(
            !unbacked,
            "{title}: names nothing the stack has ({named:?})"
        );
    }
}

/// Every resource a value of `node` names: `Ref`, `Fn::GetAtt`, `Fn::Sub`'s `${X}` / `${X.Attr}`
/// (not its own variables), of the resources in `ids`.
fn references(node: &Value, ids: &std::collections::BTreeSet<String>, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            for (k, v) in map {
                match k.as_str() {
                    "Ref" => {
                        if let Some(name) = v.as_str().filter(|n| ids.contains(*n)) {
                            out.push(name.to_owned());
                        }
                    }
                    "Fn::GetAtt" => {
                        let name = match v {
                            Value::Array(parts) => parts[0].as_str().unwrap_or_default().to_owned(),
                            Value::String(path) => {
                                path.split('.').next().unwrap_or_default().to_owned()
                            }
                            _ => String::new(),
                        };
                        if ids.contains(&name) {
                            out.push(name);
                        }
                    }
                    "Fn::Sub" => {
                        let (text, vars) = match v {
                            Value::String(t) => (t.as_str(), None),
                            Value::Array(parts) => (
                                parts[0].as_str().unwrap_or_default(),
                                parts.get(1).and_then(Value::as_object),
                            ),
                            _ => ("", None),
                        };
                        let mut rest = text;
                        while let Some(start) = rest.find("${") {
                            let Some(end) = rest[start..].find('}') else {
                                break;
                            };
                            let name = rest[start + 2..start + end]
                                .split('.')
                                .next()
                                .unwrap_or_default();
                            if ids.contains(name) && !vars.is_some_and(|m| m.contains_key(name)) {
                                out.push(name.to_owned());
                            }
                            rest = &rest[start + end + 1..];
                        }
                        if let Some(vars) = vars {
                            for value in vars.values() {
                                references(value, ids, out);
                            }
                        }
                    }
                    _ => references(v, ids, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, ids, out)),
        _ => {}
    }
}

/// CloudFormation refuses a template whose resources depend on each other in a circle
/// ("Circular dependency between resources"), and no linter here sees one that only SAM's
/// translation makes (a generated role's policy naming a resource whose own policy names the
/// role). The dependency graph of the template as SAM's translator makes it has no cycle.
#[test]
fn when_sam_translates_the_template_should_no_resource_depend_on_itself_through_others() {
    let translated =
        runner::cfn::translate(&root().join("template.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let resources = translated["Resources"].as_object().unwrap();
    let ids: std::collections::BTreeSet<String> = resources.keys().cloned().collect();
    let mut edges: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (id, resource) in resources {
        let mut out = Vec::new();
        references(&resource["Properties"], &ids, &mut out);
        match &resource["DependsOn"] {
            Value::String(d) => out.push(d.clone()),
            Value::Array(ds) => out.extend(ds.iter().filter_map(|d| d.as_str().map(str::to_owned))),
            _ => {}
        }
        out.sort();
        out.dedup();
        edges.insert(id.clone(), out);
    }
    // Depth-first search; a node met again while on the stack closes a cycle.
    fn visit(
        node: &str,
        edges: &std::collections::BTreeMap<String, Vec<String>>,
        state: &mut std::collections::BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(1) => {
                let from = path.iter().position(|p| p == node).unwrap_or(0);
                return Some(path[from..].to_vec());
            }
            Some(2) => return None,
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = Default::default();
    for id in edges.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(id, &edges, &mut state, &mut path) {
            panic!("circular dependency: {}", cycle.join(" → "));
        }
    }
}

/// The logical ids `value` names with `Fn::GetAtt` (list or dotted form), anywhere inside it.
fn get_att_ids(value: &Value, out: &mut std::collections::BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(target) = map.get("Fn::GetAtt") {
                let id = match target {
                    Value::Array(parts) => parts.first().and_then(Value::as_str).map(str::to_owned),
                    Value::String(dotted) => dotted.split('.').next().map(str::to_owned),
                    _ => None,
                };
                out.extend(id);
            }
            map.values().for_each(|v| get_att_ids(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| get_att_ids(v, out)),
        _ => {}
    }
}

/// The dead-letter queue and the alarm topic accept only this stack's rules and alarms
/// (`aws:SourceArn`), not any of the account's: and no rule that dead-letters to the queue, no
/// alarm that notifies the topic, is missing from them (its deliveries would be refused).
#[test]
fn when_a_rule_or_an_alarm_delivers_should_the_queue_and_topic_policies_name_exactly_the_stacks() {
    let translated = runner::cfn::translate(&root().join("template.yaml")).unwrap();
    let resources = translated["Resources"].as_object().unwrap();
    let names = |resource: &Value, id: &str| {
        let mut ids = std::collections::BTreeSet::new();
        get_att_ids(resource, &mut ids);
        ids.contains(id)
    };
    let senders = |kind: &str, reaches: &dyn Fn(&Value) -> bool| {
        resources
            .iter()
            .filter(|(_, r)| r["Type"] == kind && reaches(&r["Properties"]))
            .map(|(id, _)| id.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let rules = senders("AWS::Events::Rule", &|p| {
        p["Targets"].as_array().is_some_and(|targets| {
            targets
                .iter()
                .any(|t| names(&t["DeadLetterConfig"], "DeadLetterQueue"))
        })
    });
    let alarms = senders("AWS::CloudWatch::Alarm", &|p| {
        p["AlarmActions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["Ref"] == "AlarmTopic"))
    });
    assert!(
        rules.len() >= 5 && alarms.len() >= 5,
        "{rules:?} {alarms:?}"
    );
    for (policy, sid, expected) in [
        (
            "DeadLetterQueuePolicy",
            "EventBridgeRulesDeliverFailures",
            &rules,
        ),
        ("AlarmTopicPolicy", "OnlyThisStacksAlarms", &alarms),
    ] {
        let statement = resources[policy]["Properties"]["PolicyDocument"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("{policy} has no {sid}"));
        let mut named = std::collections::BTreeSet::new();
        get_att_ids(
            &statement["Condition"]["ArnEquals"]["aws:SourceArn"],
            &mut named,
        );
        assert_eq!(&named, expected, "{policy}'s aws:SourceArn");
        assert!(
            statement["Condition"]["StringEquals"]["aws:SourceAccount"].is_object(),
            "{policy}: {statement}"
        );
    }
}
