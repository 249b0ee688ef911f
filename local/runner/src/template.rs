//! `template.yaml`, read the way CloudFormation would for the parts the local runner and the
//! tests need: parameters (with local overrides), conditions, `!Ref`, `!Sub`, `!GetAtt`, `!If`.

use serde_json::{Map, Value as Json};
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::path::Path;

/// Values the intrinsics resolve to: parameter and resource names, `Resource.Attribute` for
/// `!GetAtt`, and the pseudo parameters.
#[derive(Debug, Clone, Default)]
pub struct Values(pub BTreeMap<String, String>);

impl Values {
    /// The pseudo parameters of the local account, and the local names of the bucket.
    pub fn local() -> Self {
        let mut v = BTreeMap::new();
        for (k, val) in [
            ("AWS::Partition", "aws"),
            ("AWS::Region", "us-east-1"),
            ("AWS::AccountId", "123456789012"),
            ("AWS::StackName", "image-release"),
            (
                "AWS::StackId",
                "arn:aws:cloudformation:us-east-1:123456789012:stack/image-release/4e1f8a20-2c1b-11f1-9d3e-0a1b2c3d4e5f",
            ),
            ("ArtifactBucket", "image-release-artifacts"),
        ] {
            v.insert(k.to_owned(), val.to_owned());
        }
        Self(v)
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.0.insert(name.to_owned(), value.into());
        self
    }

    pub fn get(&self, name: &str) -> String {
        self.0
            .get(name)
            .cloned()
            .unwrap_or_else(|| format!("<{name}>"))
    }
}

pub struct Template {
    raw: Yaml,
    values: Values,
}

impl Template {
    pub fn load(path: &Path, values: Values) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let raw: Yaml = serde_yaml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("parsing {}: {e}", path.display()))?;
        let mut template = Self { raw, values };
        // Parameters not given take their Default.
        let defaults: Vec<(String, String)> = template
            .raw
            .get("Parameters")
            .and_then(Yaml::as_mapping)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        let default = v.get("Default")?;
                        let text = match default {
                            Yaml::String(s) => s.clone(),
                            Yaml::Number(n) => n.to_string(),
                            Yaml::Bool(b) => b.to_string(),
                            _ => return None,
                        };
                        Some((k.as_str()?.to_owned(), text))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (name, default) in defaults {
            template.values.0.entry(name).or_insert(default);
        }
        Ok(template)
    }

    /// The whole template as JSON, intrinsics resolved.
    pub fn resolved(&self) -> Json {
        self.resolve(&self.raw)
    }

    pub fn value(&self, name: &str) -> String {
        self.values.get(name)
    }

    fn condition(&self, name: &str) -> bool {
        let Some(cond) = self.raw.get("Conditions").and_then(|c| c.get(name)) else {
            return false;
        };
        self.truth(cond)
    }

    fn truth(&self, value: &Yaml) -> bool {
        let Yaml::Tagged(tagged) = value else {
            return false;
        };
        let args = match &tagged.value {
            Yaml::Sequence(items) => items.clone(),
            other => vec![other.clone()],
        };
        match tagged.tag.to_string().trim_start_matches('!') {
            "Equals" if args.len() == 2 => self.resolve(&args[0]) == self.resolve(&args[1]),
            "Not" => !args.first().is_some_and(|a| self.truth(a)),
            "And" => args.iter().all(|a| self.truth(a)),
            "Or" => args.iter().any(|a| self.truth(a)),
            "Condition" => args
                .first()
                .and_then(Yaml::as_str)
                .is_some_and(|n| self.condition(n)),
            _ => false,
        }
    }

    fn resolve(&self, value: &Yaml) -> Json {
        match value {
            Yaml::Null => Json::Null,
            Yaml::Bool(b) => Json::Bool(*b),
            Yaml::Number(n) => serde_json::to_value(n).unwrap_or(Json::Null),
            Yaml::String(s) => Json::String(s.clone()),
            Yaml::Sequence(items) => Json::Array(
                items
                    .iter()
                    .map(|i| self.resolve(i))
                    .filter(|v| !is_no_value(v))
                    .collect(),
            ),
            Yaml::Mapping(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(k) = k.as_str() {
                        let v = self.resolve(v);
                        if !is_no_value(&v) {
                            out.insert(k.to_owned(), v);
                        }
                    }
                }
                Json::Object(out)
            }
            Yaml::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                match (tag.trim_start_matches('!'), &tagged.value) {
                    ("Ref", Yaml::String(name)) if name == "AWS::NoValue" => {
                        Json::String(NO_VALUE.into())
                    }
                    ("Ref", Yaml::String(name)) => Json::String(self.values.get(name)),
                    ("Sub", Yaml::String(text)) => Json::String(self.substitute(text)),
                    ("GetAtt", Yaml::String(path)) => Json::String(self.values.get(path)),
                    ("If", Yaml::Sequence(parts)) if parts.len() == 3 => {
                        let yes = parts[0].as_str().is_some_and(|c| self.condition(c));
                        self.resolve(&parts[if yes { 1 } else { 2 }])
                    }
                    (other, _) => Json::String(format!("<{other}>")),
                }
            }
        }
    }

    fn substitute(&self, text: &str) -> String {
        crate::cfn::substitute(text, |name| self.values.get(name))
    }
}

const NO_VALUE: &str = "<AWS::NoValue>";

fn is_no_value(value: &Json) -> bool {
    value.as_str() == Some(NO_VALUE)
}

/// One function of the template, as the runner wires it.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    pub binary: String,
    pub environment: BTreeMap<String, String>,
    /// (event name, EventBridge pattern)
    pub rules: Vec<(String, Json)>,
    /// (event name, schedule expression)
    pub schedules: Vec<(String, String)>,
}

/// The functions of a resolved template.
pub fn functions(template: &Json) -> Vec<Function> {
    let globals = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut out = Vec::new();
    let Some(resources) = template["Resources"].as_object() else {
        return out;
    };
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        let mut environment: BTreeMap<String, String> =
            globals.iter().map(|(k, v)| (k.clone(), text(v))).collect();
        if let Some(vars) = resource["Properties"]["Environment"]["Variables"].as_object() {
            environment.extend(vars.iter().map(|(k, v)| (k.clone(), text(v))));
        }
        let mut rules = Vec::new();
        let mut schedules = Vec::new();
        if let Some(events) = resource["Properties"]["Events"].as_object() {
            for (name, event) in events {
                match event["Type"].as_str() {
                    Some("EventBridgeRule") => {
                        rules.push((name.clone(), event["Properties"]["Pattern"].clone()))
                    }
                    Some("Schedule") => {
                        schedules.push((name.clone(), text(&event["Properties"]["Schedule"])))
                    }
                    _ => {}
                }
            }
        }
        out.push(Function {
            logical_id: id.clone(),
            binary: binary.to_owned(),
            environment,
            rules,
            schedules,
        });
    }
    out
}

fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}
