//! The stack as AWS would create it from `template.yaml`: SAM's own translator
//! (aws-sam-translator, `scripts/sam-translate.py`) turns the SAM template into CloudFormation
//! (policy templates expanded, Globals merged, each `Events` entry an `AWS::Events::Rule`,
//! `EventInvokeConfig` an `AWS::Lambda::EventInvokeConfig`), then [`Stack::resolve`] does what
//! CloudFormation does with the local stack's values: parameters and their defaults,
//! conditions, `Ref`, `Fn::Sub`, `Fn::GetAtt`, `Fn::If`, `Fn::Split`, `Fn::Join`, `Fn::Select`,
//! `AWS::NoValue`, and resources whose condition is false left out.
//!
//! Everything the runner wires (functions, environment, memory, timeout, retries, rules,
//! schedules, dead-letter targets) and everything the local IAM enforces (each function's role,
//! the bucket policy) is read from the resolved stack, so local and deployed wiring cannot drift.

use crate::cfn::{Resolver, generated_name, physical_attribute, physical_name, scalar, translate};
use crate::template::Values;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The resolved stack: CloudFormation JSON with every intrinsic replaced by its value.
#[derive(Debug, Clone)]
pub struct Stack {
    pub resources: Map<String, Value>,
    pub values: Values,
    /// The stack's parameters (with the values it was given) and outputs (those whose
    /// condition holds), by name: what CloudFormation DescribeStacks lists for it.
    pub described: BTreeMap<String, String>,
}

impl Stack {
    /// Translates and resolves `template` with `values` (parameters, pseudo parameters and the
    /// physical names of resources; see [`Values::local`]).
    pub fn load(template: &Path, values: Values) -> anyhow::Result<Self> {
        Self::resolve(&translate(template)?, values)
    }

    pub fn resolve(translated: &Value, mut values: Values) -> anyhow::Result<Self> {
        let empty = Map::new();
        let parameters = translated["Parameters"].as_object().unwrap_or(&empty);
        for (name, p) in parameters {
            if !values.0.contains_key(name)
                && let Some(default) = p.get("Default")
            {
                values.set(name, scalar(default));
            }
        }
        let resources = translated["Resources"]
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("the translated template has no Resources"))?;
        let resolver = Resolver {
            parameters,
            conditions: translated["Conditions"].as_object().unwrap_or(&empty),
            resources,
            values: &values,
        };
        resolver.check_rules(translated["Rules"].as_object().unwrap_or(&empty))?;
        let mut out = Map::new();
        for (id, resource) in resources {
            if let Some(condition) = resource.get("Condition").and_then(Value::as_str)
                && !resolver.condition(condition)
            {
                continue;
            }
            out.insert(id.clone(), resolver.resolve(resource));
        }
        let mut described: BTreeMap<String, String> = parameters
            .keys()
            .map(|name| (name.clone(), values.get(name)))
            .collect();
        for (name, output) in translated["Outputs"].as_object().unwrap_or(&empty) {
            if let Some(condition) = output.get("Condition").and_then(Value::as_str)
                && !resolver.condition(condition)
            {
                continue;
            }
            described.insert(name.clone(), scalar(&resolver.resolve(&output["Value"])));
        }
        Ok(Self {
            resources: out,
            values,
            described,
        })
    }

    /// Whether the bucket `logical` is versioned (`VersioningConfiguration: Status: Enabled`).
    pub fn versioned(&self, logical: &str) -> bool {
        self.resources.get(logical).is_some_and(|b| {
            b["Type"] == "AWS::S3::Bucket"
                && b["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"
        })
    }

    /// The resources of one CloudFormation type, by logical id.
    /// The name of the stack's own event bus (`AWS::Events::EventBus`), where release requests
    /// go; `default` when it has none.
    pub fn release_bus(&self) -> String {
        self.of_type("AWS::Events::EventBus")
            .map(|(_, b)| scalar(&b["Properties"]["Name"]))
            .next()
            .unwrap_or_else(|| "default".to_owned())
    }

    /// The ARN of every asymmetric signing key of the stack (`AWS::KMS::Key` with `KeyUsage:
    /// SIGN_VERIFY`), as `Fn::GetAtt <key>.Arn` resolves it: the local KMS creates them first,
    /// as CloudFormation would.
    pub fn signing_keys(&self) -> Vec<String> {
        self.of_type("AWS::KMS::Key")
            .filter(|(_, k)| k["Properties"]["KeyUsage"] == "SIGN_VERIFY")
            .map(|(id, _)| {
                physical_attribute(
                    "AWS::KMS::Key",
                    "Arn",
                    &physical_name(id, &self.values),
                    &self.values,
                )
            })
            .collect()
    }

    /// (alias name, key ARN) of every `AWS::KMS::Alias` of a signing key of the stack.
    pub fn key_aliases(&self) -> Vec<(String, String)> {
        let keys = self.signing_keys();
        self.of_type("AWS::KMS::Alias")
            .filter_map(|(_, a)| {
                let target = scalar(&a["Properties"]["TargetKeyId"]);
                let arn = keys
                    .iter()
                    .find(|k| **k == target || k.rsplit('/').next() == Some(target.as_str()))?;
                Some((scalar(&a["Properties"]["AliasName"]), arn.clone()))
            })
            .collect()
    }

    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.resources
            .iter()
            .filter(move |(_, r)| r["Type"] == kind)
    }
}

/// One function of the stack, as Lambda would run it.
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// cargo-lambda's binary (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub name: String,
    /// `arn:<partition>:lambda:<region>:<account>:function:<name>`.
    pub arn: String,
    pub environment: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub timeout_s: u32,
    /// The execution role's ARN.
    pub role_arn: String,
    /// `AWS::Lambda::EventInvokeConfig`: async retries (0–2, default 2), maximum event age
    /// (default 6 hours), and the on-failure destination.
    pub retries: u32,
    pub max_event_age_s: u32,
    pub on_failure: Option<String>,
    /// `DeadLetterConfig.TargetArn`.
    pub dead_letter: Option<String>,
    /// (`<bus name>/<rule logical id>`, EventBridge pattern) of each rule targeting the function.
    pub rules: Vec<(String, Value)>,
    /// (rule logical id, schedule expression).
    pub schedules: Vec<(String, String)>,
}

impl Stack {
    /// Every `AWS::Lambda::Function`, with its invoke configuration and the rules that target it.
    pub fn functions(&self) -> Vec<Function> {
        let mut out = Vec::new();
        for (id, resource) in self.of_type("AWS::Lambda::Function") {
            let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
                continue;
            };
            let p = &resource["Properties"];
            let name = p["FunctionName"].as_str().map_or_else(
                || generated_name("AWS::Lambda::Function", id, &self.values),
                str::to_owned,
            );
            let arn = physical_attribute("AWS::Lambda::Function", "Arn", &name, &self.values);
            let environment = p["Environment"]["Variables"]
                .as_object()
                .map(|vars| vars.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
                .unwrap_or_default();
            let invoke = self
                .of_type("AWS::Lambda::EventInvokeConfig")
                .map(|(_, r)| &r["Properties"])
                .find(|c| scalar(&c["FunctionName"]) == name);
            let number = |v: &Value, default: u32| {
                v.as_u64()
                    .map_or_else(|| scalar(v).parse().unwrap_or(default), |n| n as u32)
            };
            let mut rules = Vec::new();
            let mut schedules = Vec::new();
            for (rule_id, rule) in self.of_type("AWS::Events::Rule") {
                let rp = &rule["Properties"];
                let targets_us = rp["Targets"]
                    .as_array()
                    .is_some_and(|ts| ts.iter().any(|t| scalar(&t["Arn"]) == arn));
                if !targets_us {
                    continue;
                }
                if let Some(pattern) = rp.get("EventPattern") {
                    // A rule sees only the events put on its bus.
                    let bus = match scalar(&rp["EventBusName"]) {
                        b if b.is_empty() => "default".to_owned(),
                        b => b.rsplit('/').next().unwrap_or_default().to_owned(),
                    };
                    rules.push((format!("{bus}/{rule_id}"), pattern.clone()));
                }
                if let Some(expression) = rp["ScheduleExpression"].as_str() {
                    schedules.push((rule_id.clone(), expression.to_owned()));
                }
            }
            out.push(Function {
                logical_id: id.clone(),
                binary: binary.to_owned(),
                name,
                arn,
                environment,
                // Lambda's defaults when the template says nothing: 128 MB, 3 seconds.
                memory_mb: number(&p["MemorySize"], 128),
                timeout_s: number(&p["Timeout"], 3),
                role_arn: scalar(&p["Role"]),
                retries: invoke.map_or(2, |c| number(&c["MaximumRetryAttempts"], 2)),
                max_event_age_s: invoke
                    .map_or(21_600, |c| number(&c["MaximumEventAgeInSeconds"], 21_600)),
                on_failure: invoke.and_then(|c| {
                    c["DestinationConfig"]["OnFailure"]["Destination"]
                        .as_str()
                        .map(str::to_owned)
                }),
                dead_letter: p["DeadLetterConfig"]["TargetArn"]
                    .as_str()
                    .map(str::to_owned),
                rules,
                schedules,
            });
        }
        out.sort_by(|a, b| a.binary.cmp(&b.binary));
        out
    }
}

/// One operator of the local account: its access key, its role's name, and the template's
/// managed policies (logical ids) attached to it.
#[derive(Debug, Clone, Copy)]
pub struct Operator {
    pub access_key: &'static str,
    pub role: &'static str,
    pub policies: &'static [&'static str],
}

/// The operators of the local account, one per kind the template's managed policies serve.
/// Those that write are named by the local `ReleaseOperatorArns` (`image-release-operator-*`);
/// the reader is not, as the docs advise.
pub const OPERATORS: [Operator; 4] = [
    Operator {
        access_key: "AKIDOPREADER",
        role: "image-release-reader",
        policies: &["OperatorReadOnlyPolicy"],
    },
    Operator {
        access_key: "AKIDOPRELEASEMANAGER",
        role: "image-release-operator-release-manager",
        policies: &["OperatorReadOnlyPolicy", "OperatorReleaseManagerPolicy"],
    },
    Operator {
        access_key: "AKIDOPREVOKER",
        role: "image-release-operator-revoker",
        policies: &["OperatorReadOnlyPolicy", "OperatorRevokerPolicy"],
    },
    Operator {
        access_key: "AKIDOPRETENTION",
        role: "image-release-operator-retention",
        policies: &["OperatorReadOnlyPolicy", "OperatorRetentionPolicy"],
    },
];

/// The AWS managed policies SAM attaches to every function role. They grant only CloudWatch
/// Logs and X-Ray, which no function calls through the local stack, so they add nothing the
/// local IAM evaluates. Any other managed policy is an error: the local IAM would not know
/// what it grants.
const KNOWN_MANAGED_POLICIES: [&str; 2] = [
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
];

pub use emulator::{NEIGHBOUR_ACCESS_KEY, NEIGHBOUR_ROLE, VM_IMPORT_ACCESS_KEY};

/// The neighbour's identity policy ([`NEIGHBOUR_ACCESS_KEY`]): what a broad grant to another
/// team of a shared account looks like. Nothing in it names the stack.
fn neighbour_policy(partition: &str, account: &str) -> anyhow::Result<iam::Policy> {
    let document = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "OwnsTheServices", "Effect": "Allow", "Resource": "*",
             "Action": ["s3:*", "ec2:*", "ssm:*", "appstream:*", "imagebuilder:*"]},
            {"Sid": "PutsOnTheDefaultBus", "Effect": "Allow", "Action": "events:PutEvents",
             "Resource": format!("arn:{partition}:events:*:{account}:event-bus/default")},
            {"Sid": "InvokesAnyFunction", "Effect": "Allow", "Action": "lambda:InvokeFunction",
             "Resource": format!("arn:{partition}:lambda:*:{account}:function:*")}
        ]
    });
    Ok(iam::Policy::parse("neighbour/broad", &document)?)
}

impl Stack {
    /// `(role ARN, its policies)` of every `AWS::IAM::Role`, inline policies named
    /// `<RoleLogicalId>/<PolicyName>`.
    pub fn roles(&self) -> anyhow::Result<BTreeMap<String, (String, Vec<iam::Policy>)>> {
        Ok(self.roles_and_trust()?.0)
    }

    /// [`Stack::roles`], and each role's trust policy by role ARN.
    #[allow(clippy::type_complexity)]
    fn roles_and_trust(
        &self,
    ) -> anyhow::Result<(
        BTreeMap<String, (String, Vec<iam::Policy>)>,
        BTreeMap<String, iam::Policy>,
    )> {
        let mut out = BTreeMap::new();
        let mut trust = BTreeMap::new();
        for (id, role) in self.of_type("AWS::IAM::Role") {
            let p = &role["Properties"];
            let arn = match p["RoleName"].as_str() {
                Some(name) => format!(
                    "arn:{}:iam::{}:role/{name}",
                    self.values.get("AWS::Partition"),
                    self.values.get("AWS::AccountId")
                ),
                None => physical_attribute(
                    "AWS::IAM::Role",
                    "Arn",
                    &generated_name("AWS::IAM::Role", id, &self.values),
                    &self.values,
                ),
            };
            let mut policies = Vec::new();
            for policy in p["Policies"].as_array().into_iter().flatten() {
                let name = format!("{id}/{}", scalar(&policy["PolicyName"]));
                policies.push(iam::Policy::parse(&name, &policy["PolicyDocument"])?);
            }
            for managed in p["ManagedPolicyArns"].as_array().into_iter().flatten() {
                let managed = scalar(managed);
                let generic = managed.replacen(
                    &format!("arn:{}:", self.values.get("AWS::Partition")),
                    "arn:aws:",
                    1,
                );
                if !KNOWN_MANAGED_POLICIES.contains(&generic.as_str()) {
                    anyhow::bail!(
                        "{id}: the local IAM does not know what the managed policy {managed} grants"
                    );
                }
            }
            if !p["AssumeRolePolicyDocument"].is_null() {
                trust.insert(
                    arn.clone(),
                    iam::Policy::parse_trust(
                        &format!("{id}/trust"),
                        &p["AssumeRolePolicyDocument"],
                    )?,
                );
            }
            out.insert(id.clone(), (arn, policies));
        }
        Ok((out, trust))
    }

    /// The local account's IAM: each function's role under its access key, the VM Import role
    /// (when the stack creates it) under [`VM_IMPORT_ACCESS_KEY`], the neighbour under
    /// [`NEIGHBOUR_ACCESS_KEY`], and every resource policy (buses, keys, buckets).
    pub fn account(
        &self,
        functions: &[Function],
        access_key: impl Fn(&str) -> String,
    ) -> anyhow::Result<iam::Account> {
        let mut account =
            iam::Account::new(&self.values.get("AWS::AccountId"), iam::Table::bundled()?);
        let (roles, trust) = self.roles_and_trust()?;
        for (role, policy) in trust {
            account.add_trust_policy(&role, policy);
        }
        for f in functions {
            let (_, (arn, policies)) = roles
                .iter()
                .find(|(_, (arn, _))| *arn == f.role_arn)
                .ok_or_else(|| {
                    anyhow::anyhow!("{}: its role {} is not in the stack", f.binary, f.role_arn)
                })?;
            account.add_principal(
                &access_key(&f.binary),
                iam::Principal {
                    name: f.binary.clone(),
                    role_arn: arn.clone(),
                    policies: policies.clone(),
                },
            );
        }
        if let Some((arn, policies)) = roles.get("VmImportRole") {
            account.add_principal(
                VM_IMPORT_ACCESS_KEY,
                iam::Principal {
                    name: "vmimport".into(),
                    role_arn: arn.clone(),
                    policies: policies.clone(),
                },
            );
        }
        let (partition, id) = (
            self.values.get("AWS::Partition"),
            self.values.get("AWS::AccountId"),
        );
        account.add_principal(
            NEIGHBOUR_ACCESS_KEY,
            iam::Principal {
                name: NEIGHBOUR_ROLE.into(),
                role_arn: format!("arn:{partition}:iam::{id}:role/{NEIGHBOUR_ROLE}"),
                policies: vec![neighbour_policy(&partition, &id)?],
            },
        );
        // The operators, each under the template's managed policies for its kind (when the
        // template has them), as the CLI's tests run its commands.
        for operator in OPERATORS {
            let policies = operator
                .policies
                .iter()
                .filter_map(|id| self.resources.get(*id).map(|r| (id, r)))
                .map(|(id, r)| iam::Policy::parse(id, &r["Properties"]["PolicyDocument"]))
                .collect::<Result<Vec<_>, _>>()?;
            if policies.len() == operator.policies.len() {
                account.add_principal(
                    operator.access_key,
                    iam::Principal {
                        name: operator.role.into(),
                        role_arn: format!("arn:{partition}:iam::{id}:role/{}", operator.role),
                        policies,
                    },
                );
            }
        }
        // An event bus's resource policy (the release bus: who may put).
        for (id, bus) in self.of_type("AWS::Events::EventBus") {
            let p = &bus["Properties"];
            if p["Policy"].is_object() {
                let arn = format!(
                    "arn:{}:events:{}:{}:event-bus/{}",
                    self.values.get("AWS::Partition"),
                    self.values.get("AWS::Region"),
                    self.values.get("AWS::AccountId"),
                    scalar(&p["Name"])
                );
                account.add_resource_policy(&arn, iam::Policy::parse(id, &p["Policy"])?);
            }
        }
        // A KMS key's policy (the signing key: who may sign).
        for (id, key) in self.of_type("AWS::KMS::Key") {
            let p = &key["Properties"];
            if p["KeyPolicy"].is_object() {
                let arn = physical_attribute(
                    "AWS::KMS::Key",
                    "Arn",
                    &physical_name(id, &self.values),
                    &self.values,
                );
                account.add_resource_policy(&arn, iam::Policy::parse(id, &p["KeyPolicy"])?);
            }
        }
        for (id, policy) in self.of_type("AWS::S3::BucketPolicy") {
            let p = &policy["Properties"];
            let bucket = scalar(&p["Bucket"]);
            let arn = format!("arn:{}:s3:::{bucket}", self.values.get("AWS::Partition"));
            account.add_resource_policy(&arn, iam::Policy::parse(id, &p["PolicyDocument"])?);
        }
        Ok(account)
    }
}
