//! IAM policy documents as JSON (identity-based and resource-based), parsed once into typed
//! statements. Every element AWS documents for the template's policies is read; anything the
//! evaluator cannot judge (an unknown condition operator, an unknown element) is an error at
//! parse time, never a silent allow or deny.

use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Action`/`NotAction` or `Resource`/`NotResource`: the patterns and whether they are negated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patterns {
    pub not: bool,
    pub items: Vec<String>,
}

/// The `Principal` of a resource-based policy statement.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Principals {
    /// `"Principal": "*"` or `{"AWS": "*"}`.
    pub anyone: bool,
    /// `AWS`: account ids, `arn:…:root`, role or user ARNs.
    pub aws: Vec<String>,
    /// `Service`: service principals such as `cloudfront.amazonaws.com`.
    pub service: Vec<String>,
}

/// A condition operator, as the IAM User Guide names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    StringEquals,
    StringNotEquals,
    StringEqualsIgnoreCase,
    StringNotEqualsIgnoreCase,
    StringLike,
    StringNotLike,
    ArnEquals,
    ArnLike,
    ArnNotEquals,
    ArnNotLike,
    Bool,
    NumericEquals,
    NumericNotEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    Null,
}

impl Operator {
    fn parse(name: &str) -> Option<Self> {
        use Operator::*;
        Some(match name {
            "StringEquals" => StringEquals,
            "StringNotEquals" => StringNotEquals,
            "StringEqualsIgnoreCase" => StringEqualsIgnoreCase,
            "StringNotEqualsIgnoreCase" => StringNotEqualsIgnoreCase,
            "StringLike" => StringLike,
            "StringNotLike" => StringNotLike,
            "ArnEquals" => ArnEquals,
            "ArnLike" => ArnLike,
            "ArnNotEquals" => ArnNotEquals,
            "ArnNotLike" => ArnNotLike,
            "Bool" => Bool,
            "NumericEquals" => NumericEquals,
            "NumericNotEquals" => NumericNotEquals,
            "NumericLessThan" => NumericLessThan,
            "NumericLessThanEquals" => NumericLessThanEquals,
            "NumericGreaterThan" => NumericGreaterThan,
            "NumericGreaterThanEquals" => NumericGreaterThanEquals,
            "Null" => Null,
            _ => return None,
        })
    }

    /// The negated operators: a key absent from the request makes them true (IAM User Guide,
    /// "Condition operators": "If the policy condition requires that the key is not matched,
    /// such as StringNotLike or ArnNotLike, and the right key is not present, the condition is
    /// true").
    pub fn negated(self) -> bool {
        use Operator::*;
        matches!(
            self,
            StringNotEquals
                | StringNotEqualsIgnoreCase
                | StringNotLike
                | ArnNotEquals
                | ArnNotLike
                | NumericNotEquals
        )
    }
}

/// `ForAnyValue:` / `ForAllValues:` before an operator (multivalued context keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetQualifier {
    Single,
    ForAnyValue,
    ForAllValues,
}

/// One `"<Operator>": { "<key>": [values] }` entry, per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub qualifier: SetQualifier,
    pub operator: Operator,
    pub if_exists: bool,
    /// The context key, lower-cased (condition keys are case-insensitive).
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub action: Patterns,
    pub resource: Patterns,
    /// `Some` only in resource-based policies.
    pub principal: Option<Principals>,
    pub conditions: Vec<Condition>,
}

/// A policy document with where it came from (`ExportImageFunctionRole/ExportImageFunctionRolePolicy0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub statements: Vec<Statement>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("policy {policy}, statement {statement}: {message}")]
pub struct PolicyError {
    pub policy: String,
    pub statement: String,
    pub message: String,
}

impl Policy {
    /// Parses a policy document (`{"Version": …, "Statement": [...]}` or one statement object).
    pub fn parse(name: &str, document: &Value) -> Result<Self, PolicyError> {
        Self::parse_as(name, document, false)
    }

    /// Parses a role's trust policy, whose statements name no resource: the role itself is it.
    pub fn parse_trust(name: &str, document: &Value) -> Result<Self, PolicyError> {
        Self::parse_as(name, document, true)
    }

    fn parse_as(name: &str, document: &Value, trust: bool) -> Result<Self, PolicyError> {
        let statements = match &document["Statement"] {
            Value::Array(items) => items.clone(),
            Value::Object(_) => vec![document["Statement"].clone()],
            _ => {
                return Err(PolicyError {
                    policy: name.to_owned(),
                    statement: "-".into(),
                    message: "has no Statement".into(),
                });
            }
        };
        let statements = statements
            .iter()
            .enumerate()
            .map(|(i, s)| {
                Statement::parse(s, trust).map_err(|message| PolicyError {
                    policy: name.to_owned(),
                    statement: s["Sid"]
                        .as_str()
                        .map_or_else(|| format!("#{i}"), str::to_owned),
                    message,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            name: name.to_owned(),
            statements,
        })
    }
}

fn strings(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Bool(b) => Ok(b.to_string()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(format!("expected a string, got {other}")),
            })
            .collect(),
        Value::Bool(b) => Ok(vec![b.to_string()]),
        Value::Number(n) => Ok(vec![n.to_string()]),
        other => Err(format!(
            "expected a string or a list of strings, got {other}"
        )),
    }
}

fn patterns(statement: &Value, positive: &str, negative: &str) -> Result<Patterns, String> {
    match (statement.get(positive), statement.get(negative)) {
        (Some(v), None) => Ok(Patterns {
            not: false,
            items: strings(v)?,
        }),
        (None, Some(v)) => Ok(Patterns {
            not: true,
            items: strings(v)?,
        }),
        (Some(_), Some(_)) => Err(format!("has both {positive} and {negative}")),
        (None, None) => Err(format!("has neither {positive} nor {negative}")),
    }
}

fn principals(value: &Value) -> Result<Principals, String> {
    if value.as_str() == Some("*") {
        return Ok(Principals {
            anyone: true,
            ..Principals::default()
        });
    }
    let Some(map) = value.as_object() else {
        return Err(format!("Principal must be \"*\" or an object, got {value}"));
    };
    let mut out = Principals::default();
    for (kind, v) in map {
        let items = strings(v)?;
        match kind.as_str() {
            "AWS" if items.iter().any(|i| i == "*") => out.anyone = true,
            "AWS" => out.aws.extend(items),
            "Service" => out.service.extend(items),
            // Federated and CanonicalUser principals never call the local stack: no match.
            "Federated" | "CanonicalUser" => {}
            other => return Err(format!("unknown principal type {other}")),
        }
    }
    Ok(out)
}

fn conditions(value: Option<&Value>) -> Result<Vec<Condition>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let Some(map) = value.as_object() else {
        return Err("Condition must be an object".into());
    };
    let mut out = Vec::new();
    for (name, keys) in map {
        let (qualifier, rest) = if let Some(rest) = name.strip_prefix("ForAnyValue:") {
            (SetQualifier::ForAnyValue, rest)
        } else if let Some(rest) = name.strip_prefix("ForAllValues:") {
            (SetQualifier::ForAllValues, rest)
        } else {
            (SetQualifier::Single, name.as_str())
        };
        let (base, if_exists) = match rest.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (rest, false),
        };
        let operator = Operator::parse(base).ok_or_else(|| {
            format!("condition operator {name} is not supported by the local evaluator")
        })?;
        let Some(keys) = keys.as_object() else {
            return Err(format!("{name} must map keys to values"));
        };
        let mut entries: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (key, values) in keys {
            entries
                .entry(key.to_ascii_lowercase())
                .or_default()
                .extend(strings(values)?);
        }
        out.extend(entries.into_iter().map(|(key, values)| Condition {
            qualifier,
            operator,
            if_exists,
            key,
            values,
        }));
    }
    Ok(out)
}

const KNOWN: [&str; 9] = [
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
];

impl Statement {
    fn parse(value: &Value, trust: bool) -> Result<Self, String> {
        let Some(map) = value.as_object() else {
            return Err(format!("a statement must be an object, got {value}"));
        };
        if let Some(unknown) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(format!("unknown element {unknown}"));
        }
        if map.contains_key("NotPrincipal") {
            return Err("NotPrincipal is not supported by the local evaluator".into());
        }
        let effect = match value["Effect"].as_str() {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            other => return Err(format!("Effect must be Allow or Deny, got {other:?}")),
        };
        Ok(Self {
            sid: value["Sid"].as_str().map(str::to_owned),
            effect,
            action: patterns(value, "Action", "NotAction")?,
            resource: if trust
                && value.get("Resource").is_none()
                && value.get("NotResource").is_none()
            {
                Patterns {
                    not: false,
                    items: vec!["*".to_owned()],
                }
            } else {
                patterns(value, "Resource", "NotResource")?
            },
            principal: value.get("Principal").map(principals).transpose()?,
            conditions: conditions(value.get("Condition"))?,
        })
    }

    /// How the statement is named in a reason: its Sid, or its position.
    pub fn label(&self) -> String {
        self.sid.clone().unwrap_or_else(|| "(no Sid)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn when_a_statement_uses_an_unknown_operator_should_fail_naming_it() {
        let err = Policy::parse(
            "p",
            &json!({"Statement": [{"Sid": "X", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
                "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}}]}),
        )
        .unwrap_err();
        assert_eq!(err.statement, "X");
        assert!(err.message.contains("DateGreaterThan"), "{err}");
    }

    #[test]
    fn when_a_condition_has_if_exists_and_a_qualifier_should_parse_both() {
        let policy = Policy::parse(
            "p",
            &json!({"Statement": {"Effect": "Deny", "NotAction": ["s3:*"], "NotResource": "arn:aws:s3:::b/*",
                "Condition": {"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": ["a*", "b"]}}}}),
        )
        .unwrap();
        let s = &policy.statements[0];
        assert!(s.action.not && s.resource.not);
        let c = &s.conditions[0];
        assert_eq!(c.qualifier, SetQualifier::ForAnyValue);
        assert_eq!(c.operator, Operator::StringLike);
        assert!(c.if_exists);
        assert_eq!(c.key, "aws:tagkeys");
        assert_eq!(c.values, ["a*", "b"]);
    }

    #[test]
    fn when_a_principal_is_a_service_should_keep_it() {
        let policy = Policy::parse(
            "bucket",
            &json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
                "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/releases/*"}]}),
        )
        .unwrap();
        let p = policy.statements[0].principal.as_ref().unwrap();
        assert_eq!(p.service, ["cloudfront.amazonaws.com"]);
        assert!(!p.anyone);
    }
}
