//! Which of the stack's CloudWatch alarms a local run would have fired, judged from what the
//! run saw, with the alarm's own definition from the stack:
//! * a metric of a log metric filter (`AWS::Logs::MetricFilter`): the filter's pattern counted
//!   over the log of the function that writes that log group;
//! * `AWS/Lambda` `Errors` of a function (alone or summed in metric math): its failed attempts;
//! * `AWS/SQS` `ApproximateNumberOfMessagesVisible` of a queue: the events Lambda sent there.
//!
//! An alarm fires when its count passes its `Threshold` (all of the stack's alarms compare with
//! `GreaterThanThreshold`). An alarm the runner cannot judge says so instead of guessing.

use crate::Report;
use crate::lambda::Running;
use crate::runtime_api::Outcome;
use crate::stack::Stack;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct AlarmState {
    /// The alarm's logical id.
    pub name: String,
    /// Whether the runner could count what the alarm counts; an alarm it cannot judge is
    /// never reported as quiet (see [`crate::Report::fired`]).
    pub judged: bool,
    pub fired: bool,
    /// What was counted, against what threshold.
    pub reason: String,
}

/// `{ $.a.b = "value" }`: the only form of JSON filter pattern the stack uses.
fn json_filter(pattern: &str) -> Option<(Vec<String>, String)> {
    let inner = pattern.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    let (path, value) = inner.split_once('=')?;
    let path = path.trim().strip_prefix("$.")?;
    let value = value.trim().trim_matches('"').to_owned();
    Some((path.split('.').map(str::to_owned).collect(), value))
}

/// Lines of `log` (JSON, one event a line) that match `pattern`.
fn count_matches(log: &str, pattern: &str) -> Option<usize> {
    let (path, value) = json_filter(pattern)?;
    Some(
        log.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|event| {
                let found = path.iter().try_fold(event, |v, key| v.get(key));
                found.and_then(Value::as_str) == Some(value.as_str())
            })
            .count(),
    )
}

fn number(v: &Value) -> f64 {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0.0)
}

fn dimension(metric: &Value, name: &str) -> Option<String> {
    metric["Dimensions"]
        .as_array()?
        .iter()
        .find(|d| d["Name"] == name)
        .and_then(|d| d["Value"].as_str().map(str::to_owned))
}

struct Counter<'a> {
    stack: &'a Stack,
    running: &'a [Running],
    report: &'a Report,
}

impl Counter<'_> {
    fn errors_of(&self, function_name: &str) -> usize {
        let binary = self
            .running
            .iter()
            .find(|r| r.spec.name == function_name)
            .map(|r| r.spec.binary.as_str());
        self.report
            .invocations
            .iter()
            .filter(|i| {
                Some(i.function.as_str()) == binary && matches!(i.outcome, Outcome::Error { .. })
            })
            .count()
    }

    fn messages_in(&self, queue_name: &str) -> usize {
        self.report
            .dead_letters
            .iter()
            .flat_map(|d| d.delivered_to.iter())
            .filter(|t| {
                t.sent_to()
                    .is_some_and(|arn| arn.rsplit(':').next() == Some(queue_name))
            })
            .count()
    }

    /// A log metric: every filter that produces it (one per function's log group), each
    /// counted over its function's log, summed.
    fn log_metric(&self, namespace: &str, metric: &str) -> Option<Result<usize, String>> {
        let filters: Vec<(&String, &Value)> = self
            .stack
            .of_type("AWS::Logs::MetricFilter")
            .filter(|(_, f)| {
                f["Properties"]["MetricTransformations"]
                    .as_array()
                    .is_some_and(|ts| {
                        ts.iter()
                            .any(|t| t["MetricName"] == metric && t["MetricNamespace"] == namespace)
                    })
            })
            .collect();
        if filters.is_empty() {
            return None;
        }
        let mut total = 0;
        for (filter_id, filter) in filters {
            let group = &filter["Properties"]["LogGroupName"];
            let Some(function) = self
                .stack
                .of_type("AWS::Lambda::Function")
                .find(|(_, f)| &f["Properties"]["LoggingConfig"]["LogGroup"] == group)
                .and_then(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"].as_str())
            else {
                return Some(Err(format!(
                    "{filter_id}: no function writes log group {group}"
                )));
            };
            let pattern = filter["Properties"]["FilterPattern"]
                .as_str()
                .unwrap_or_default();
            let log = std::fs::read_to_string(self.report.log_dir.join(format!("{function}.log")))
                .unwrap_or_default();
            match count_matches(&log, pattern) {
                Some(n) => total += n,
                None => {
                    return Some(Err(format!(
                        "{filter_id}: the runner cannot read the pattern {pattern}"
                    )));
                }
            }
        }
        Some(Ok(total))
    }

    /// The count one metric of an alarm stands for.
    fn metric(&self, namespace: &str, name: &str, metric: &Value) -> Result<usize, String> {
        match (namespace, name) {
            ("AWS/Lambda", "Errors") => {
                let function =
                    dimension(metric, "FunctionName").ok_or("Errors without a FunctionName")?;
                Ok(self.errors_of(&function))
            }
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible") => {
                let queue =
                    dimension(metric, "QueueName").ok_or("a queue metric without a QueueName")?;
                Ok(self.messages_in(&queue))
            }
            _ => self.log_metric(namespace, name).unwrap_or_else(|| {
                Err(format!(
                    "the runner does not know the metric {namespace}/{name}"
                ))
            }),
        }
    }
}

/// The ids a metric-math alarm adds up: its one returned expression must be a sum of its
/// MetricStats' ids (`a + b + c`), the only form the runner judges.
fn sum_of_metrics(metrics: &[Value]) -> Result<Vec<&str>, String> {
    let returned: Vec<&Value> = metrics
        .iter()
        .filter(|m| m["ReturnData"] != false)
        .collect();
    let [expression] = returned.as_slice() else {
        return Err(format!("{} series returned, not one", returned.len()));
    };
    let text = expression["Expression"]
        .as_str()
        .ok_or("the returned series is not an expression")?;
    let stats: Vec<&str> = metrics
        .iter()
        .filter(|m| m.get("MetricStat").is_some())
        .filter_map(|m| m["Id"].as_str())
        .collect();
    let ids: Vec<&str> = text.split('+').map(str::trim).collect();
    match ids.iter().find(|id| !stats.contains(id)) {
        Some(other) => Err(format!(
            "the expression {text} is not a sum of its metrics ({other})"
        )),
        None => Ok(ids),
    }
}

/// Every alarm of the stack, judged.
pub fn evaluate(stack: &Stack, running: &[Running], report: &Report) -> Vec<AlarmState> {
    let counter = Counter {
        stack,
        running,
        report,
    };
    let mut out = Vec::new();
    for (id, alarm) in stack.of_type("AWS::CloudWatch::Alarm") {
        let p = &alarm["Properties"];
        let threshold = number(&p["Threshold"]);
        let count = if p["ComparisonOperator"] != "GreaterThanThreshold" {
            Err(format!(
                "the runner judges only GreaterThanThreshold, not {}",
                p["ComparisonOperator"]
            ))
        } else if let Some(metrics) = p["Metrics"].as_array() {
            sum_of_metrics(metrics).and_then(|ids| {
                metrics
                    .iter()
                    .filter(|m| m["Id"].as_str().is_some_and(|id| ids.contains(&id)))
                    .map(|m| {
                        let metric = &m["MetricStat"]["Metric"];
                        counter.metric(
                            metric["Namespace"].as_str().unwrap_or_default(),
                            metric["MetricName"].as_str().unwrap_or_default(),
                            metric,
                        )
                    })
                    .sum::<Result<usize, String>>()
            })
        } else {
            counter.metric(
                p["Namespace"].as_str().unwrap_or_default(),
                p["MetricName"].as_str().unwrap_or_default(),
                p,
            )
        };
        out.push(match count {
            Ok(n) => AlarmState {
                name: id.clone(),
                judged: true,
                fired: n as f64 > threshold,
                reason: format!("{n} counted (threshold {threshold})"),
            },
            Err(why) => AlarmState {
                name: id.clone(),
                judged: false,
                fired: false,
                reason: format!("not judged locally: {why}"),
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_an_alarm_sums_its_metrics_should_read_the_ids_and_refuse_other_math() {
        let metrics: Vec<Value> = serde_json::from_str(
            r#"[{"Id":"a","MetricStat":{},"ReturnData":false},{"Id":"b","MetricStat":{},"ReturnData":false},{"Id":"e","Expression":"a + b","ReturnData":true}]"#,
        )
        .unwrap();
        assert_eq!(sum_of_metrics(&metrics).unwrap(), ["a", "b"]);
        let mut other = metrics.clone();
        other[2]["Expression"] = "a * b".into();
        assert!(sum_of_metrics(&other).is_err());
    }

    #[test]
    fn when_a_json_pattern_names_a_nested_field_should_count_the_lines_that_have_it() {
        let log = r#"{"level":"ERROR","fields":{"message":"release failed","step":"export"}}
{"level":"INFO","fields":{"message":"published"}}
not json
{"level":"ERROR","fields":{"message":"release failed"}}"#;
        assert_eq!(
            count_matches(log, r#"{ $.fields.message = "release failed" }"#),
            Some(2)
        );
        assert_eq!(count_matches(log, "release failed"), None);
    }
}
