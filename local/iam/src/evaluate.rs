//! AWS's policy evaluation logic for one request inside one account (IAM User Guide, "Policy
//! evaluation logic" and "Determining whether a request is allowed or denied within an
//! account"): an explicit deny in any policy wins; otherwise an allow in an identity-based
//! policy of the principal, or in the resource-based policy naming the principal, allows;
//! otherwise the request is denied implicitly.

use crate::policy::{
    Condition, Effect, Operator, Patterns, Policy, Principals, SetQualifier, Statement,
};
use std::collections::BTreeMap;

/// Who asks: an IAM role of the account (a Lambda function's execution role, the VM Import
/// service role) or an AWS service principal (`cloudfront.amazonaws.com`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Role { arn: String, account: String },
    Service(String),
}

/// One action on one resource, with the request context its condition keys read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub caller: Caller,
    pub action: String,
    pub resource: String,
    /// Context keys, lower-cased, each with one or more values.
    pub context: BTreeMap<String, Vec<String>>,
}

impl Request {
    pub fn new(caller: Caller, action: &str, resource: &str) -> Self {
        Self {
            caller,
            action: action.to_owned(),
            resource: resource.to_owned(),
            context: BTreeMap::new(),
        }
    }

    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.context
            .entry(key.to_ascii_lowercase())
            .or_default()
            .push(value.to_owned());
        self
    }
}

/// The answer, with the statement that decided it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `(policy, statement)` that allowed it.
    Allowed { policy: String, statement: String },
    /// `(policy, statement)` of the explicit deny.
    ExplicitDeny { policy: String, statement: String },
    /// No statement allows it.
    ImplicitDeny,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

/// `pattern` with `*` (any run) and `?` (one character) against `text`.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative wildcard matching with back-tracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// ARNs compared component by component (six colon-separated parts), each a [`glob`]
/// ("ArnLike": "each of the six colon-delimited components of the ARN is checked separately").
fn arn_like(pattern: &str, arn: &str) -> bool {
    let p: Vec<&str> = pattern.splitn(6, ':').collect();
    let a: Vec<&str> = arn.splitn(6, ':').collect();
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| glob(p, a))
}

fn matches(patterns: &Patterns, value: &str, case_insensitive: bool) -> bool {
    let hit = patterns.items.iter().any(|p| {
        if case_insensitive {
            glob(&p.to_ascii_lowercase(), &value.to_ascii_lowercase())
        } else {
            glob(p, value)
        }
    });
    hit != patterns.not
}

fn compare(operator: Operator, wanted: &str, actual: &str) -> bool {
    use Operator::*;
    let number = |s: &str| s.parse::<f64>().ok();
    match operator {
        StringEquals | StringNotEquals => wanted == actual,
        StringEqualsIgnoreCase | StringNotEqualsIgnoreCase => wanted.eq_ignore_ascii_case(actual),
        StringLike | StringNotLike => glob(wanted, actual),
        ArnEquals | ArnLike | ArnNotEquals | ArnNotLike => arn_like(wanted, actual),
        Bool => wanted.eq_ignore_ascii_case(actual),
        NumericEquals | NumericNotEquals => {
            number(wanted).is_some_and(|w| number(actual) == Some(w))
        }
        NumericLessThan => number(actual)
            .zip(number(wanted))
            .is_some_and(|(a, w)| a < w),
        NumericLessThanEquals => number(actual)
            .zip(number(wanted))
            .is_some_and(|(a, w)| a <= w),
        NumericGreaterThan => number(actual)
            .zip(number(wanted))
            .is_some_and(|(a, w)| a > w),
        NumericGreaterThanEquals => number(actual)
            .zip(number(wanted))
            .is_some_and(|(a, w)| a >= w),
        Null => false,
    }
}

/// One condition against the request context. A missing key makes a positive operator false
/// and a negated one true; `…IfExists` makes it true; `Null` tests presence.
fn holds(condition: &Condition, context: &BTreeMap<String, Vec<String>>) -> bool {
    let actual = context.get(&condition.key);
    if condition.operator == Operator::Null {
        let absent = actual.is_none_or(Vec::is_empty);
        return condition
            .values
            .iter()
            .any(|v| v.eq_ignore_ascii_case(if absent { "true" } else { "false" }));
    }
    let Some(actual) = actual.filter(|v| !v.is_empty()) else {
        return match condition.qualifier {
            // "ForAllValues … returns true if … the key is not present".
            SetQualifier::ForAllValues => true,
            SetQualifier::ForAnyValue => false,
            SetQualifier::Single => condition.if_exists || condition.operator.negated(),
        };
    };
    let any_wanted = |value: &str| {
        condition
            .values
            .iter()
            .any(|w| compare(condition.operator, w, value))
    };
    let positive = |value: &str| {
        if condition.operator.negated() {
            // Several values of a negated operator are a NOR.
            !any_wanted(value)
        } else {
            any_wanted(value)
        }
    };
    match condition.qualifier {
        SetQualifier::ForAllValues => actual.iter().all(|v| positive(v)),
        SetQualifier::ForAnyValue => actual.iter().any(|v| positive(v)),
        // A single-valued key: its one value.
        SetQualifier::Single => actual.iter().all(|v| positive(v)),
    }
}

fn principal_matches(principals: &Principals, caller: &Caller) -> bool {
    if principals.anyone {
        return true;
    }
    match caller {
        Caller::Service(service) => principals.service.iter().any(|s| s == service),
        // An account (`123456789012` or `arn:…:root`) in a resource policy delegates to the
        // account's identity policies: it grants nothing by itself to a principal of that
        // account. Only the role's own ARN names it.
        Caller::Role { arn, .. } => principals.aws.iter().any(|p| p == arn),
    }
}

/// Whether `statement` (of an identity-based policy when `resource_based` is false) applies to
/// `request`: its principal, action, resource and every condition match.
pub fn applies(statement: &Statement, request: &Request, resource_based: bool) -> bool {
    if resource_based {
        match &statement.principal {
            Some(p) if principal_matches(p, &request.caller) => {}
            _ => return false,
        }
    }
    matches(&statement.action, &request.action, true)
        && matches(&statement.resource, &request.resource, false)
        && statement
            .conditions
            .iter()
            .all(|c| holds(c, &request.context))
}

/// Evaluates `request` against the caller's identity-based policies and the resource's
/// resource-based policy (same account).
pub fn evaluate(request: &Request, identity: &[Policy], resource: Option<&Policy>) -> Decision {
    let all = identity
        .iter()
        .map(|p| (p, false))
        .chain(resource.map(|p| (p, true)));
    let mut allowed = None;
    for (policy, resource_based) in all {
        for statement in &policy.statements {
            if !applies(statement, request, resource_based) {
                continue;
            }
            match statement.effect {
                Effect::Deny => {
                    return Decision::ExplicitDeny {
                        policy: policy.name.clone(),
                        statement: statement.label(),
                    };
                }
                Effect::Allow => {
                    allowed.get_or_insert_with(|| Decision::Allowed {
                        policy: policy.name.clone(),
                        statement: statement.label(),
                    });
                }
            }
        }
    }
    allowed.unwrap_or(Decision::ImplicitDeny)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role() -> Caller {
        Caller::Role {
            arn: "arn:aws:iam::123456789012:role/fn-role".into(),
            account: "123456789012".into(),
        }
    }

    fn policy(statements: serde_json::Value) -> Policy {
        Policy::parse("test", &json!({ "Statement": statements })).unwrap()
    }

    #[test]
    fn when_wildcards_are_used_should_match_as_iam_does() {
        assert!(glob(
            "arn:aws:s3:::b/releases/*",
            "arn:aws:s3:::b/releases/a/b.json"
        ));
        assert!(glob("s3:Get*", "s3:GetObject"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(!glob(
            "arn:aws:s3:::b/releases/*",
            "arn:aws:s3:::b/pending/x"
        ));
        assert!(glob("*", ""));
    }

    #[test]
    fn when_nothing_allows_should_deny_implicitly() {
        let p = policy(
            json!([{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/releases/*"}]),
        );
        let r = Request::new(role(), "s3:PutObject", "arn:aws:s3:::b/releases/x");
        assert_eq!(evaluate(&r, &[p], None), Decision::ImplicitDeny);
    }

    #[test]
    fn when_actions_differ_in_case_should_still_match() {
        let p = policy(json!([{"Effect": "Allow", "Action": "S3:getobject", "Resource": "*"}]));
        let r = Request::new(role(), "s3:GetObject", "arn:aws:s3:::b/k");
        assert!(evaluate(&r, &[p], None).is_allowed());
    }

    #[test]
    fn when_an_explicit_deny_applies_should_win_over_any_allow() {
        let identity =
            policy(json!([{"Sid": "All", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]));
        let bucket = policy(
            json!([{"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": ["arn:aws:s3:::b", "arn:aws:s3:::b/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]),
        );
        let plain = Request::new(role(), "s3:GetObject", "arn:aws:s3:::b/k")
            .with("aws:SecureTransport", "false");
        assert!(
            matches!(evaluate(&plain, std::slice::from_ref(&identity), Some(&bucket)), Decision::ExplicitDeny { ref statement, .. } if statement == "TlsOnly")
        );
        let tls = Request::new(role(), "s3:GetObject", "arn:aws:s3:::b/k")
            .with("aws:SecureTransport", "true");
        assert!(evaluate(&tls, &[identity], Some(&bucket)).is_allowed());
    }

    #[test]
    fn when_a_condition_key_is_missing_should_fail_positive_and_pass_negated_operators() {
        let eq = policy(
            json!([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
            "Condition": {"StringEquals": {"iam:PassedToService": "imagebuilder.amazonaws.com"}}}]),
        );
        let r = Request::new(role(), "iam:PassRole", "arn:aws:iam::123456789012:role/x");
        assert_eq!(
            evaluate(&r, std::slice::from_ref(&eq), None),
            Decision::ImplicitDeny
        );
        let ok = r
            .clone()
            .with("iam:PassedToService", "imagebuilder.amazonaws.com");
        assert!(evaluate(&ok, &[eq], None).is_allowed());
        let not = policy(
            json!([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
            "Condition": {"StringNotEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}]),
        );
        assert!(evaluate(&r, std::slice::from_ref(&not), None).is_allowed());
        let if_exists = policy(
            json!([{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*",
            "Condition": {"StringEqualsIfExists": {"iam:PassedToService": "ec2.amazonaws.com"}}}]),
        );
        assert!(evaluate(&r, &[if_exists], None).is_allowed());
    }

    #[test]
    fn when_condition_keys_differ_in_case_should_match() {
        let p = policy(
            json!([{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*",
            "Condition": {"StringEquals": {"sts:Externalid": "vmimport"}}}]),
        );
        let r = Request::new(role(), "sts:AssumeRole", "*").with("sts:ExternalId", "vmimport");
        assert!(evaluate(&r, &[p], None).is_allowed());
    }

    #[test]
    fn when_arn_like_has_wildcards_should_compare_component_by_component() {
        let p = policy(
            json!([{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-east-1:123456789012:log-group:*"}}}]),
        );
        let hit = Request::new(role(), "kms:Decrypt", "k").with(
            "kms:EncryptionContext:aws:logs:arn",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/x",
        );
        assert!(evaluate(&hit, std::slice::from_ref(&p), None).is_allowed());
        let other_region = Request::new(role(), "kms:Decrypt", "k").with(
            "kms:EncryptionContext:aws:logs:arn",
            "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/x",
        );
        assert_eq!(evaluate(&other_region, &[p], None), Decision::ImplicitDeny);
    }

    #[test]
    fn when_a_resource_policy_names_a_service_should_allow_only_that_service_and_source() {
        let bucket = policy(
            json!([{"Sid": "CloudFront", "Effect": "Allow", "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/releases/*",
            "Condition": {"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/E1"}}}]),
        );
        let cf = Request::new(
            Caller::Service("cloudfront.amazonaws.com".into()),
            "s3:GetObject",
            "arn:aws:s3:::b/releases/x",
        )
        .with(
            "aws:SourceArn",
            "arn:aws:cloudfront::123456789012:distribution/E1",
        );
        assert!(evaluate(&cf, &[], Some(&bucket)).is_allowed());
        let other = Request::new(
            Caller::Service("cloudfront.amazonaws.com".into()),
            "s3:GetObject",
            "arn:aws:s3:::b/releases/x",
        )
        .with(
            "aws:SourceArn",
            "arn:aws:cloudfront::999999999999:distribution/E2",
        );
        assert_eq!(evaluate(&other, &[], Some(&bucket)), Decision::ImplicitDeny);
        // A role of the account is not named: the bucket policy grants it nothing.
        let r = Request::new(role(), "s3:GetObject", "arn:aws:s3:::b/releases/x");
        assert_eq!(evaluate(&r, &[], Some(&bucket)), Decision::ImplicitDeny);
    }

    #[test]
    fn when_not_action_and_not_resource_are_used_should_negate() {
        let p = policy(
            json!([{"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::secret/*"}]),
        );
        assert!(
            evaluate(
                &Request::new(role(), "s3:GetObject", "arn:aws:s3:::b/k"),
                std::slice::from_ref(&p),
                None
            )
            .is_allowed()
        );
        assert!(
            !evaluate(
                &Request::new(role(), "iam:PassRole", "arn:aws:s3:::b/k"),
                std::slice::from_ref(&p),
                None
            )
            .is_allowed()
        );
        assert!(
            !evaluate(
                &Request::new(role(), "s3:GetObject", "arn:aws:s3:::secret/k"),
                &[p],
                None
            )
            .is_allowed()
        );
    }

    #[test]
    fn when_a_multivalued_key_is_qualified_should_apply_any_or_all() {
        let any = policy(json!([{"Effect": "Allow", "Action": "x:Y", "Resource": "*",
            "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}}]));
        let all = policy(json!([{"Effect": "Allow", "Action": "x:Y", "Resource": "*",
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}}]));
        let r = Request::new(role(), "x:Y", "*")
            .with("aws:TagKeys", "a")
            .with("aws:TagKeys", "b");
        assert!(evaluate(&r, &[any], None).is_allowed());
        assert!(!evaluate(&r, std::slice::from_ref(&all), None).is_allowed());
        assert!(evaluate(&Request::new(role(), "x:Y", "*"), &[all], None).is_allowed());
    }
}
