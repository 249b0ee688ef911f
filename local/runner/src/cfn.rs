//! CloudFormation, locally: SAM's own translator (aws-sam-translator, run by
//! `scripts/sam-translate.py`) makes CloudFormation of the SAM template, and [`Resolver`]
//! resolves its intrinsics as CloudFormation would with the local stack's values (parameters,
//! conditions, `Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::If`, `Fn::Split`, `Fn::Join`, `Fn::Select`,
//! `AWS::NoValue`), naming resources as CloudFormation would when the template does not, and
//! refuses parameters that break the template's `Rules`, as CloudFormation would.

use crate::template::Values;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The python of the `iam` tools venv (`scripts/install-iam-tools.sh`), which runs SAM's
/// translator: `IMAGE_RELEASE_IAM_PYTHON`, else the venv under `IMAGE_RELEASE_TOOLS` (default
/// `~/.cache/image-release`).
pub fn translator_python() -> PathBuf {
    if let Some(path) = std::env::var_os("IMAGE_RELEASE_IAM_PYTHON") {
        return PathBuf::from(path);
    }
    let tools = std::env::var_os("IMAGE_RELEASE_TOOLS").map_or_else(
        || PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/image-release"),
        PathBuf::from,
    );
    tools.join("venv-iam/bin/python")
}

/// `template` as SAM's translator turns it into CloudFormation (JSON, intrinsics unresolved).
/// Cached by the template's content in the system's temp directory: one translation per change.
pub fn translate(template: &Path) -> anyhow::Result<Value> {
    let text = std::fs::read(template)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", template.display()))?;
    let script = crate::workspace_root().join("scripts/sam-translate.py");
    let script_text = std::fs::read(&script).unwrap_or_default();
    let key = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        script_text.hash(&mut h);
        h.finish()
    };
    let cache = std::env::temp_dir().join(format!("image-release-sam-{key:016x}.json"));
    if let Ok(bytes) = std::fs::read(&cache)
        && let Ok(value) = serde_json::from_slice(&bytes)
    {
        return Ok(value);
    }
    let python = translator_python();
    if !python.exists() {
        anyhow::bail!(
            "{} not found: run scripts/install-iam-tools.sh (SAM's translator resolves the template's roles), or set IMAGE_RELEASE_IAM_PYTHON",
            python.display()
        );
    }
    let output = Command::new(&python)
        .arg(&script)
        .arg(template)
        .output()
        .map_err(|e| anyhow::anyhow!("running {}: {e}", script.display()))?;
    if !output.status.success() {
        anyhow::bail!(
            "SAM's translator rejected {}:\n{}",
            template.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let value: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| anyhow::anyhow!("the translator's output is not JSON: {e}"))?;
    // Written whole, then renamed: parallel tests never read half a file.
    let partial = cache.with_extension(format!("{}.tmp", std::process::id()));
    if std::fs::write(&partial, &output.stdout).is_ok() {
        let _ = std::fs::rename(&partial, &cache);
    }
    Ok(value)
}

pub(crate) struct Resolver<'a> {
    pub(crate) parameters: &'a Map<String, Value>,
    pub(crate) conditions: &'a Map<String, Value>,
    pub(crate) resources: &'a Map<String, Value>,
    pub(crate) values: &'a Values,
}

/// `Fn::Sub`'s `${name}` placeholders of `text`, each replaced by `value(name)`.
pub fn substitute(text: &str, value: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        out.push_str(&value(&rest[start + 2..start + end]));
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

const NO_VALUE: &str = "\u{0}AWS::NoValue";

pub(crate) fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl Resolver<'_> {
    pub(crate) fn condition(&self, name: &str) -> bool {
        self.conditions.get(name).is_some_and(|c| self.truth(c))
    }

    fn truth(&self, value: &Value) -> bool {
        let Some((function, args)) = intrinsic(value) else {
            return value.as_bool().unwrap_or(false) || value.as_str() == Some("true");
        };
        let list = args
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![args.clone()]);
        match function {
            // CloudFormation compares the values as strings (a Number parameter's Ref is one).
            "Fn::Equals" if list.len() == 2 => {
                scalar(&self.resolve(&list[0])) == scalar(&self.resolve(&list[1]))
            }
            "Fn::Not" => !list.first().is_some_and(|a| self.truth(a)),
            "Fn::And" => list.iter().all(|a| self.truth(a)),
            "Fn::Or" => list.iter().any(|a| self.truth(a)),
            // A rule function: whether the list (first argument) contains the string.
            "Fn::Contains" if list.len() == 2 => {
                let wanted = scalar(&self.resolve(&list[1]));
                self.resolve(&list[0])
                    .as_array()
                    .is_some_and(|items| items.iter().any(|i| scalar(i) == wanted))
            }
            "Condition" => args.as_str().is_some_and(|n| self.condition(n)),
            _ => false,
        }
    }

    /// The template's `Rules`, as CloudFormation checks them before it creates or updates a
    /// stack: each rule whose `RuleCondition` holds (or that has none) must have every
    /// `Assert` hold, or the parameters are refused with its `AssertDescription`. A rule using
    /// a function this resolver does not evaluate is an error, never a pass.
    pub(crate) fn check_rules(&self, rules: &Map<String, Value>) -> anyhow::Result<()> {
        const EVALUATED: [&str; 6] = [
            "Fn::Equals",
            "Fn::Not",
            "Fn::And",
            "Fn::Or",
            "Fn::Contains",
            "Ref",
        ];
        fn unsupported(value: &Value) -> Option<String> {
            match value {
                Value::Object(map) => map.iter().find_map(|(k, v)| {
                    if (k == "Ref" || k.starts_with("Fn::")) && !EVALUATED.contains(&k.as_str()) {
                        Some(k.clone())
                    } else {
                        unsupported(v)
                    }
                }),
                Value::Array(items) => items.iter().find_map(unsupported),
                _ => None,
            }
        }
        for (name, rule) in rules {
            if let Some(function) = unsupported(rule) {
                anyhow::bail!(
                    "rule {name} uses {function}, which the local stack does not evaluate"
                );
            }
            if rule.get("RuleCondition").is_some_and(|c| !self.truth(c)) {
                continue;
            }
            for assertion in rule["Assertions"].as_array().into_iter().flatten() {
                if !self.truth(&assertion["Assert"]) {
                    anyhow::bail!(
                        "the parameters break rule {name}: {}",
                        scalar(&assertion["AssertDescription"])
                    );
                }
            }
        }
        Ok(())
    }

    fn reference(&self, name: &str) -> Value {
        if name == "AWS::NoValue" {
            return Value::String(NO_VALUE.into());
        }
        if let Some(v) = self.values.0.get(name) {
            return Value::String(v.clone());
        }
        if self.parameters.contains_key(name) {
            return Value::String(String::new());
        }
        let kind = self.kind(name);
        Value::String(physical_ref(kind, &self.named(name), self.values))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Value {
        if let Some(v) = self.values.0.get(&format!("{resource}.{attribute}")) {
            return Value::String(v.clone());
        }
        let kind = self.kind(resource);
        let mut name = self.named(resource);
        // A rule on a custom bus is `rule/<bus>/<name>` (EventBridge's ARN format).
        if kind == "AWS::Events::Rule"
            && let Some(bus) = self
                .resources
                .get(resource)
                .map(|r| &r["Properties"]["EventBusName"])
                .filter(|b| !b.is_null())
        {
            let bus = scalar(&self.resolve(bus));
            if !bus.is_empty() && bus != "default" {
                name = format!("{bus}/{name}");
            }
        }
        Value::String(physical_attribute(kind, attribute, &name, self.values))
    }

    fn kind(&self, logical: &str) -> &str {
        self.resources
            .get(logical)
            .and_then(|r| r["Type"].as_str())
            .unwrap_or("")
    }

    /// The physical name of a resource: its name property when the template gives one
    /// (`FunctionName`, `RoleName`, `QueueName`…), else what CloudFormation would generate.
    fn named(&self, logical: &str) -> String {
        if let Some(v) = self.values.0.get(logical) {
            return v.clone();
        }
        let property = NAME_PROPERTIES
            .iter()
            .find(|(kind, _)| *kind == self.kind(logical))
            .map(|(_, p)| *p);
        property
            .and_then(|p| self.resources.get(logical).map(|r| &r["Properties"][p]))
            .filter(|v| !v.is_null())
            .map(|v| scalar(&self.resolve(v)))
            .unwrap_or_else(|| generated_name(self.kind(logical), logical, self.values))
    }

    fn substitute(&self, text: &str, variables: &Map<String, Value>) -> String {
        substitute(text, |name| {
            if let Some(literal) = name.strip_prefix('!') {
                format!("${{{literal}}}")
            } else if let Some(v) = variables.get(name) {
                scalar(&self.resolve(v))
            } else if let Some((res, att)) = name.split_once('.') {
                scalar(&self.attribute(res, att))
            } else {
                scalar(&self.reference(name))
            }
        })
    }

    pub(crate) fn resolve(&self, value: &Value) -> Value {
        if let Some((function, args)) = intrinsic(value) {
            return self.call(function, args);
        }
        match value {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.resolve(i))
                    .filter(|v| v.as_str() != Some(NO_VALUE))
                    .collect(),
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let v = self.resolve(v);
                    if v.as_str() != Some(NO_VALUE) {
                        out.insert(k.clone(), v);
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }
    }

    fn call(&self, function: &str, args: &Value) -> Value {
        match function {
            "Ref" => self.reference(args.as_str().unwrap_or_default()),
            "Fn::GetAtt" => {
                let (res, att) = match args {
                    Value::Array(parts) if parts.len() == 2 => (
                        parts[0].as_str().unwrap_or_default().to_owned(),
                        scalar(&self.resolve(&parts[1])),
                    ),
                    Value::String(path) => match path.split_once('.') {
                        Some((r, a)) => (r.to_owned(), a.to_owned()),
                        None => (path.clone(), String::new()),
                    },
                    _ => (String::new(), String::new()),
                };
                self.attribute(&res, &att)
            }
            "Fn::Sub" => match args {
                Value::String(text) => Value::String(self.substitute(text, &Map::new())),
                Value::Array(parts) if parts.len() == 2 => {
                    let empty = Map::new();
                    let vars = parts[1].as_object().unwrap_or(&empty);
                    Value::String(self.substitute(parts[0].as_str().unwrap_or_default(), vars))
                }
                _ => Value::Null,
            },
            "Fn::If" => {
                let parts = args.as_array().cloned().unwrap_or_default();
                if parts.len() != 3 {
                    return Value::Null;
                }
                let yes = parts[0].as_str().is_some_and(|c| self.condition(c));
                self.resolve(&parts[if yes { 1 } else { 2 }])
            }
            "Fn::Split" => {
                let parts = args.as_array().cloned().unwrap_or_default();
                let delimiter = parts.first().and_then(Value::as_str).unwrap_or(",");
                let text = parts
                    .get(1)
                    .map(|v| scalar(&self.resolve(v)))
                    .unwrap_or_default();
                Value::Array(text.split(delimiter).map(|s| json!(s)).collect())
            }
            "Fn::Join" => {
                let parts = args.as_array().cloned().unwrap_or_default();
                let delimiter = parts.first().and_then(Value::as_str).unwrap_or("");
                let items = parts.get(1).map(|v| self.resolve(v)).unwrap_or(Value::Null);
                let items: Vec<String> = items
                    .as_array()
                    .map(|a| a.iter().map(scalar).collect())
                    .unwrap_or_default();
                Value::String(items.join(delimiter))
            }
            "Fn::Select" => {
                let parts = args.as_array().cloned().unwrap_or_default();
                let index = parts
                    .first()
                    .map(|v| scalar(&self.resolve(v)))
                    .and_then(|s| s.parse::<usize>().ok())
                    .unwrap_or(0);
                let list = parts.get(1).map(|v| self.resolve(v)).unwrap_or(Value::Null);
                list.get(index).cloned().unwrap_or(Value::Null)
            }
            "Fn::GetAZs" => json!([format!("{}a", self.values.get("AWS::Region"))]),
            "Condition" => Value::Bool(args.as_str().is_some_and(|n| self.condition(n))),
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => {
                Value::Bool(self.truth(&json!({ function: args })))
            }
            other => Value::String(format!("<unresolved {other}>")),
        }
    }
}

/// `{"Ref": …}` or `{"Fn::…": …}` (a one-key object whose key is an intrinsic function).
fn intrinsic(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (k, v) = map.iter().next()?;
    (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then_some((k.as_str(), v))
}

/// The physical name CloudFormation would give `logical` when the template names none: the
/// stack name and the logical id (CloudFormation adds a random suffix; the local stack does not),
/// cut to what the resource's type takes, lowercase for a bucket, as CloudFormation generates
/// them ("Name type": a generated name fits the resource's limits whatever the stack's name).
pub fn physical_name(logical: &str, values: &Values) -> String {
    format!("{}-{logical}", values.get("AWS::StackName"))
}

/// [`physical_name`] for a resource of type `kind`, within its type's length limit.
pub fn generated_name(kind: &str, logical: &str, values: &Values) -> String {
    let name = physical_name(logical, values);
    let (limit, lower) = match kind {
        "AWS::S3::Bucket" => (63, true),
        "AWS::IAM::Role" | "AWS::Lambda::Function" | "AWS::Events::Rule" => (64, false),
        "AWS::SQS::Queue" => (80, false),
        _ => (usize::MAX, false),
    };
    let name: String = name.chars().take(limit).collect();
    if lower { name.to_lowercase() } else { name }
}

/// The property that names a resource of each type, when the template sets it.
const NAME_PROPERTIES: [(&str, &str); 8] = [
    ("AWS::Lambda::Function", "FunctionName"),
    ("AWS::IAM::Role", "RoleName"),
    ("AWS::SQS::Queue", "QueueName"),
    ("AWS::SNS::Topic", "TopicName"),
    ("AWS::S3::Bucket", "BucketName"),
    ("AWS::Logs::LogGroup", "LogGroupName"),
    ("AWS::Events::Rule", "Name"),
    ("AWS::Events::EventBus", "Name"),
];

/// What `Ref` of a resource returns, by type (CloudFormation's resource reference pages).
fn physical_ref(kind: &str, name: &str, values: &Values) -> String {
    let (partition, region, account) = (
        values.get("AWS::Partition"),
        values.get("AWS::Region"),
        values.get("AWS::AccountId"),
    );
    let name = name.to_owned();
    match kind {
        "AWS::SQS::Queue" => format!("https://sqs.{region}.amazonaws.com/{account}/{name}"),
        "AWS::SNS::Topic" => format!("arn:{partition}:sns:{region}:{account}:{name}"),
        _ => name,
    }
}

/// `Fn::GetAtt` of a resource the values do not name, by type, from its physical `name`.
pub(crate) fn physical_attribute(
    kind: &str,
    attribute: &str,
    name: &str,
    values: &Values,
) -> String {
    let (partition, region, account) = (
        values.get("AWS::Partition"),
        values.get("AWS::Region"),
        values.get("AWS::AccountId"),
    );
    match (kind, attribute) {
        ("AWS::IAM::Role", "Arn") => format!("arn:{partition}:iam::{account}:role/{name}"),
        ("AWS::Lambda::Function", "Arn") => {
            format!("arn:{partition}:lambda:{region}:{account}:function:{name}")
        }
        ("AWS::SQS::Queue", "Arn") => format!("arn:{partition}:sqs:{region}:{account}:{name}"),
        ("AWS::SQS::Queue", "QueueName") => name.to_owned(),
        ("AWS::S3::Bucket", "Arn") => format!("arn:{partition}:s3:::{name}"),
        ("AWS::S3::Bucket", "DomainName") => format!("{name}.s3.amazonaws.com"),
        ("AWS::S3::Bucket", "RegionalDomainName") => format!("{name}.s3.{region}.amazonaws.com"),
        ("AWS::Events::Rule", "Arn") => {
            format!("arn:{partition}:events:{region}:{account}:rule/{name}")
        }
        ("AWS::Events::EventBus", "Arn") => {
            format!("arn:{partition}:events:{region}:{account}:event-bus/{name}")
        }
        ("AWS::Events::EventBus", "Name") => name.to_owned(),
        ("AWS::KMS::Key", "Arn") => format!("arn:{partition}:kms:{region}:{account}:key/{name}"),
        ("AWS::SNS::Topic", "TopicArn") => format!("arn:{partition}:sns:{region}:{account}:{name}"),
        ("AWS::CloudWatch::Alarm", "Arn") => {
            format!("arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}")
        }
        _ => format!("<{name}.{attribute}>"),
    }
}
