//! The principals of the local account and the one entry point every local service asks:
//! [`Account::authorize`].
//!
//! Each function signs with its own access key (`AKID<FUNCTION>`, the runner's
//! `process::access_key`); the key names the function's execution role, whose policies are
//! those `template.yaml` resolves to (SAM's translator expanded the policy templates; the
//! runner resolved the intrinsics with the local stack's values). A key the account does not
//! know is an operator or a test harness acting as the account's administrator: allowed,
//! and recorded as such.

use crate::call::Call;
use crate::evaluate::{Caller, Decision, Request, evaluate};
use crate::policy::Policy;
use crate::table::Table;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// A role of the account that signs with a known access key.
#[derive(Debug, Clone)]
pub struct Principal {
    /// What the role belongs to: the function's binary name, or `vmimport`.
    pub name: String,
    /// `arn:aws:iam::<account>:role/<RoleName>`.
    pub role_arn: String,
    pub policies: Vec<Policy>,
}

impl Principal {
    /// The ARN AWS names in a denial: the assumed-role session of the role.
    pub fn session_arn(&self, account: &str) -> String {
        let role = self.role_arn.rsplit('/').next().unwrap_or(&self.role_arn);
        format!("arn:aws:sts::{account}:assumed-role/{role}/{}", self.name)
    }
}

/// A denied call, with what AWS says about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Denied {
    pub action: String,
    pub resource: String,
    /// AWS's wording: `User: <session> is not authorized to perform: <action> on resource:
    /// <resource> because no identity-based policy allows the <action> action` (or `with an
    /// explicit deny in a <kind> policy`).
    pub message: String,
}

/// One decision, as the inventory and the reports keep it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub principal: String,
    pub action: String,
    pub resource: String,
    /// Context keys that the decision read (`key=value`), sorted.
    pub context: Vec<String>,
    pub allowed: bool,
}

/// One request a call amounts to: `(action, resource, context)`.
type Requested = (String, String, Vec<(String, String)>);

/// A resource-based policy and the resources it governs: ARNs equal to `arn` or under `arn/`.
#[derive(Debug, Clone)]
pub struct ResourcePolicy {
    pub arn: String,
    pub policy: Policy,
}

pub struct Account {
    pub id: String,
    pub table: Table,
    /// Access key → principal.
    pub principals: BTreeMap<String, Principal>,
    pub resource_policies: Vec<ResourcePolicy>,
    /// Role ARN → its trust policy (who may assume it).
    pub trust_policies: BTreeMap<String, Policy>,
    records: Mutex<BTreeSet<Record>>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("principals", &self.principals.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a call's description does not fit the Service Authorization Reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{operation}: {message}")]
pub struct Mismatch {
    pub operation: String,
    pub message: String,
}

impl Account {
    pub fn new(id: &str, table: Table) -> Self {
        Self {
            id: id.to_owned(),
            table,
            principals: BTreeMap::new(),
            resource_policies: Vec::new(),
            trust_policies: BTreeMap::new(),
            records: Mutex::new(BTreeSet::new()),
        }
    }

    pub fn add_principal(&mut self, access_key: &str, principal: Principal) {
        self.principals.insert(access_key.to_owned(), principal);
    }

    pub fn add_resource_policy(&mut self, arn: &str, policy: Policy) {
        self.resource_policies.push(ResourcePolicy {
            arn: arn.to_owned(),
            policy,
        });
    }

    fn resource_policy(&self, resource: &str) -> Option<&Policy> {
        self.resource_policies
            .iter()
            .find(|r| resource == r.arn || resource.starts_with(&format!("{}/", r.arn)))
            .map(|r| &r.policy)
    }

    /// Every decision made so far, sorted and without repeats.
    pub fn records(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    pub fn add_trust_policy(&mut self, role_arn: &str, policy: Policy) {
        self.trust_policies.insert(role_arn.to_owned(), policy);
    }

    /// Whether AWS service `service` may assume `role_arn` with `context` (`sts:ExternalId`,
    /// `aws:SourceAccount`, `aws:SourceArn`…): the role's trust policy alone decides (a trust
    /// policy is the one policy that must allow). `None` when the role is not one of the stack.
    pub fn may_assume(
        &self,
        service: &str,
        role_arn: &str,
        context: &[(&str, &str)],
    ) -> Option<Decision> {
        let trust = self.trust_policies.get(role_arn)?;
        let mut request = Request::new(
            Caller::Service(service.to_owned()),
            "sts:AssumeRole",
            role_arn,
        );
        for (k, v) in context {
            request = request.with(k, v);
        }
        Some(evaluate(&request, &[], Some(trust)))
    }

    /// Whether AWS service `service` (`cloudfront.amazonaws.com` reading through an origin
    /// access control) may `action` on `resource` with `context` (`aws:SourceArn`,
    /// `s3:ExistingObjectTag/<key>`…): a service principal has no identity policy, so the
    /// resource's policy alone decides.
    pub fn service_may(
        &self,
        service: &str,
        action: &str,
        resource: &str,
        context: &[(String, String)],
    ) -> Decision {
        let mut request = Request::new(Caller::Service(service.to_owned()), action, resource)
            .with("aws:SecureTransport", "true");
        for (k, v) in context {
            request = request.with(k, v);
        }
        evaluate(&request, &[], self.resource_policy(resource))
    }

    /// The principal named `name` (a function's binary name, `vmimport`).
    pub fn principal(&self, name: &str) -> Option<&Principal> {
        self.principals.values().find(|p| p.name == name)
    }

    /// One request of principal `name`, evaluated as [`Account::authorize`] evaluates each of
    /// a call's requests (the same default context), without recording it.
    pub fn evaluate(
        &self,
        name: &str,
        action: &str,
        resource: &str,
        context: &[(String, String)],
    ) -> Option<Decision> {
        let principal = self.principal(name)?;
        let request = self.request(principal, action, resource, "us-east-1", context);
        Some(evaluate(
            &request,
            &principal.policies,
            self.resource_policy(resource),
        ))
    }

    /// Whether a principal of this account that is not one of the stack's (`role_arn`), whose
    /// own IAM policies allow everything, may `action` on `resource` with `context`: in the
    /// same account an identity allow is enough, so only the resource policy's explicit deny
    /// can stop it. What a shared account's other users can do to the stack's resources.
    pub fn stranger_may(
        &self,
        role_arn: &str,
        action: &str,
        resource: &str,
        context: &[(String, String)],
    ) -> Decision {
        let stranger = Principal {
            name: "stranger".to_owned(),
            role_arn: role_arn.to_owned(),
            policies: vec![
                Policy::parse(
                    "AllowEverything",
                    &serde_json::json!({"Version": "2012-10-17", "Statement": [
                        {"Effect": "Allow", "Action": "*", "Resource": "*"}]}),
                )
                .expect("a literal policy"),
            ],
        };
        let request = self.request(&stranger, action, resource, "us-east-1", context);
        evaluate(&request, &stranger.policies, self.resource_policy(resource))
    }

    /// The request context every local request carries, and `context`.
    pub fn request(
        &self,
        principal: &Principal,
        action: &str,
        resource: &str,
        region: &str,
        context: &[(String, String)],
    ) -> Request {
        let caller = Caller::Role {
            arn: principal.role_arn.clone(),
            account: self.id.clone(),
        };
        let mut request = Request::new(caller, action, resource)
            // The functions call AWS over HTTPS; the local endpoints are plain HTTP, so the
            // key takes the value it has on AWS.
            .with("aws:SecureTransport", "true")
            .with("aws:RequestedRegion", region)
            .with("aws:PrincipalArn", &principal.role_arn)
            .with("aws:PrincipalAccount", &self.id);
        for (k, v) in context {
            request = request.with(k, v);
        }
        request
    }

    /// Whether the principal of `access_key` may make `call`: the operation's action(s) on each
    /// of its resources, then every dependent action on its resource. `Ok(Err(denied))` is a
    /// denial as AWS would answer it; `Err(mismatch)` means the service described the call in
    /// a way the Service Authorization Reference does not allow (a bug in the local service).
    pub fn authorize(&self, access_key: &str, call: &Call) -> Result<Result<(), Denied>, Mismatch> {
        let requests = self.requests(call)?;
        let Some(principal) = self.principals.get(access_key) else {
            return Ok(Ok(()));
        };
        for (action, resource, context) in requests {
            let request = self.request(principal, &action, &resource, &call.region, &context);
            let decision = evaluate(
                &request,
                &principal.policies,
                self.resource_policy(&resource),
            );
            let allowed = decision.is_allowed();
            self.records
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(Record {
                    principal: principal.name.clone(),
                    action: action.clone(),
                    resource: resource.clone(),
                    context: {
                        let mut context: Vec<String> =
                            context.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        context.sort();
                        context
                    },
                    allowed,
                });
            if !allowed {
                let why = match decision {
                    Decision::ExplicitDeny { policy, .. } => {
                        let kind = if self
                            .resource_policy(&resource)
                            .is_some_and(|p| p.name == policy)
                        {
                            "resource-based"
                        } else {
                            "identity-based"
                        };
                        format!("with an explicit deny in a {kind} policy")
                    }
                    _ => format!("because no identity-based policy allows the {action} action"),
                };
                return Ok(Err(Denied {
                    message: format!(
                        "User: {} is not authorized to perform: {action} on resource: {resource} {why}",
                        principal.session_arn(&self.id)
                    ),
                    action,
                    resource,
                }));
            }
        }
        Ok(Ok(()))
    }

    /// The `(action, resource, context)` requests a call amounts to, checked against the table.
    fn requests(&self, call: &Call) -> Result<Vec<Requested>, Mismatch> {
        let mismatch = |message: String| Mismatch {
            operation: call.operation.clone(),
            message,
        };
        let mut actions = self
            .table
            .actions_of(&call.operation)
            .map_err(|e| mismatch(e.to_string()))?;
        if actions.len() > 1 {
            // Several actions share the operation's API page: the request says which applies.
            let chosen = call.action.clone().ok_or_else(|| {
                mismatch(format!(
                    "the operation is authorized as one of {}, depending on the request: the call must say which",
                    actions.join(", ")
                ))
            })?;
            if !actions.contains(&chosen) {
                return Err(mismatch(format!(
                    "{chosen} is not one of {}",
                    actions.join(", ")
                )));
            }
            actions = vec![chosen];
        }
        let mut out = Vec::new();
        let mut expected_dependents = BTreeSet::new();
        for action in actions {
            let def = self
                .table
                .action(&action)
                .ok_or_else(|| mismatch(format!("{action} is not in the table")))?;
            let types = &def.resource_types;
            if types.is_empty() {
                if !call.resources.is_empty() {
                    return Err(mismatch(format!(
                        "{action} supports no resource type (only \"*\"), but the call names {:?}",
                        call.resources
                    )));
                }
                out.push((action.clone(), "*".to_owned(), call.context.clone()));
            } else {
                for required in types.iter().filter(|t| t.required) {
                    if !call
                        .resources
                        .iter()
                        .any(|(kind, _)| *kind == required.name)
                    {
                        return Err(mismatch(format!(
                            "{action} requires a resource of type {} ({}), and the call names none",
                            required.name, required.arn
                        )));
                    }
                }
                for (kind, arn) in &call.resources {
                    if !types.iter().any(|t| t.name == *kind) {
                        return Err(mismatch(format!(
                            "{action} has no resource type {kind} (it has {})",
                            types
                                .iter()
                                .map(|t| t.name.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                    out.push((action.clone(), arn.clone(), call.context.clone()));
                }
                if call.resources.is_empty() {
                    // Only optional types: the action is authorized on "*".
                    out.push((action.clone(), "*".to_owned(), call.context.clone()));
                }
            }
            for t in types
                .iter()
                .filter(|t| call.resources.iter().any(|(k, _)| *k == t.name))
            {
                expected_dependents.extend(t.dependent_actions.iter().cloned());
            }
            expected_dependents.extend(def.dependent_actions.iter().cloned());
        }
        let mut covered = BTreeSet::new();
        for dependent in &call.dependents {
            if !expected_dependents.contains(&dependent.action) {
                return Err(mismatch(format!(
                    "{} is not a dependent action of {} in the Service Authorization Reference",
                    dependent.action, call.operation
                )));
            }
            let def = self.table.action(&dependent.action).ok_or_else(|| {
                mismatch(format!(
                    "dependent action {} is not in the table",
                    dependent.action
                ))
            })?;
            if def.resource_types.is_empty() && dependent.resource != "*" {
                return Err(mismatch(format!(
                    "dependent action {} supports no resource type, so its resource is \"*\", not {}",
                    dependent.action, dependent.resource
                )));
            }
            covered.insert(dependent.action.clone());
            out.push((
                dependent.action.clone(),
                dependent.resource.clone(),
                dependent.context.clone(),
            ));
        }
        for (action, _) in &call.not_applicable {
            if !expected_dependents.contains(action) {
                return Err(mismatch(format!(
                    "{action} is not a dependent action of {}",
                    call.operation
                )));
            }
            covered.insert(action.clone());
        }
        let missing: Vec<_> = expected_dependents.difference(&covered).cloned().collect();
        if !missing.is_empty() {
            return Err(mismatch(format!(
                "the Service Authorization Reference lists dependent actions the call neither checks nor rules out: {}",
                missing.join(", ")
            )));
        }
        Ok(out)
    }
}
