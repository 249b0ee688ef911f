//! What makes a first `sam deploy --guided` fail before any function runs: the capabilities
//! CloudFormation asks for, names that collide with another stack of the account, parameter
//! combinations and values a service refuses, and limits (Lambda's 4 KB environment, 64-character
//! names) reached only with long stack names or long parameter values. Each is computed from the
//! template as SAM's translator and CloudFormation's resolution make it.

use release_tests::{root, stack_in, template};
use serde_json::Value;
use std::collections::BTreeMap;

/// CloudFormation's longest stack name: 128 characters of `[a-zA-Z][-a-zA-Z0-9]*`.
fn longest_stack_name() -> String {
    format!("s{}", "x".repeat(127))
}

const PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----";

/// Where a name must be unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    /// Across the account, whatever the region: IAM and CloudFront are global services.
    Account,
    /// Within the region the stack is deployed in.
    Region,
}

/// Every property that names a resource of a type the template declares: the namespace its
/// value must be unique in, and the longest value the service takes. CloudFront documents 64
/// characters for origin access controls and functions and no limit for the others; each name
/// is held to 64.
const NAMES: &[(&str, &str, Scope, usize)] = &[
    ("AWS::IAM::Role", "RoleName", Scope::Account, 64),
    (
        "AWS::IAM::ManagedPolicy",
        "ManagedPolicyName",
        Scope::Account,
        128,
    ),
    ("AWS::S3::Bucket", "BucketName", Scope::Account, 63),
    (
        "AWS::CloudFront::OriginAccessControl",
        "OriginAccessControlConfig/Name",
        Scope::Account,
        64,
    ),
    (
        "AWS::CloudFront::PublicKey",
        "PublicKeyConfig/Name",
        Scope::Account,
        64,
    ),
    (
        "AWS::CloudFront::PublicKey",
        "PublicKeyConfig/CallerReference",
        Scope::Account,
        64,
    ),
    (
        "AWS::CloudFront::KeyGroup",
        "KeyGroupConfig/Name",
        Scope::Account,
        64,
    ),
    (
        "AWS::CloudFront::ResponseHeadersPolicy",
        "ResponseHeadersPolicyConfig/Name",
        Scope::Account,
        64,
    ),
    ("AWS::CloudFront::Function", "Name", Scope::Account, 64),
    ("AWS::Lambda::Function", "FunctionName", Scope::Region, 64),
    ("AWS::Events::EventBus", "Name", Scope::Region, 256),
    ("AWS::Events::Rule", "Name", Scope::Region, 64),
    ("AWS::KMS::Alias", "AliasName", Scope::Region, 256),
    ("AWS::Logs::LogGroup", "LogGroupName", Scope::Region, 512),
    ("AWS::Logs::MetricFilter", "FilterName", Scope::Region, 512),
    ("AWS::SQS::Queue", "QueueName", Scope::Region, 80),
    ("AWS::SNS::Topic", "TopicName", Scope::Region, 256),
    ("AWS::CloudWatch::Alarm", "AlarmName", Scope::Region, 255),
];

/// Types that have no name property at all: a policy, a permission or a subscription belongs
/// to the resource it names.
const UNNAMED: &[&str] = &[
    "AWS::Lambda::Permission",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::S3::BucketPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::TopicPolicy",
    "AWS::SNS::Subscription",
    "AWS::CloudFront::Distribution",
    "AWS::KMS::Key",
];

fn at<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('/').fold(value, |v, key| &v[key])
}

/// Every name the stack gives, with its namespace (the scope, and the region for a regional
/// one) and its limit. The channels' SSM hierarchy counts as account-wide: the stack writes it
/// in every region of a release's AMIs.
fn names(stack: &runner::stack::Stack) -> Vec<(String, String, String, usize)> {
    let region = stack.values.get("AWS::Region");
    let mut out = Vec::new();
    for (id, resource) in &stack.resources {
        let kind = resource["Type"].as_str().unwrap_or_default();
        let known: Vec<_> = NAMES.iter().filter(|(t, ..)| *t == kind).collect();
        assert!(
            !known.is_empty() || UNNAMED.contains(&kind),
            "{id}: add {kind}'s name property and its namespace to NAMES (or to UNNAMED)"
        );
        for (_, property, scope, limit) in known {
            if let Some(name) = at(&resource["Properties"], property).as_str() {
                let namespace = match scope {
                    Scope::Account => format!("{kind} {property}"),
                    Scope::Region => format!("{kind} {property} in {region}"),
                };
                out.push((namespace, name.to_owned(), id.clone(), *limit));
            }
        }
    }
    let prefix = stack
        .functions()
        .into_iter()
        .find(|f| f.binary == "publish-release")
        .and_then(|f| f.environment.get("CHANNEL_PARAMETER_PREFIX").cloned())
        .expect("publish-release's CHANNEL_PARAMETER_PREFIX");
    out.push((
        "SSM parameter hierarchy (every region of the AMIs)".into(),
        prefix,
        "ChannelParameterPrefix".into(),
        200,
    ));
    out
}

#[test]
fn when_two_stacks_share_an_account_and_a_stack_name_spans_two_regions_should_no_name_collide() {
    // Two stacks of one account, each in two regions: four stacks, each with its own id.
    let deployments = [
        (
            "image-release",
            "us-east-1",
            "4e1f8a20-2c1b-11f1-9d3e-0a1b2c3d4e5f",
        ),
        (
            "image-release",
            "eu-west-1",
            "9a0c1e44-2c1b-11f1-8f21-06d5e8a7b9c1",
        ),
        (
            "golden-images",
            "us-east-1",
            "0b7d2f90-2c1c-11f1-a4c3-0e2f6a1b3c5d",
        ),
        (
            "golden-images",
            "eu-west-1",
            "c3e5a7b1-2c1c-11f1-b6d8-02a4c6e8f0a2",
        ),
    ];
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut counted = 0;
    for (stack_name, region, uuid) in deployments {
        let stack = stack_in(
            stack_name,
            region,
            uuid,
            &[("DownloadSigningPublicKey", PUBLIC_KEY)],
        )
        .unwrap();
        for (namespace, name, id, _) in names(&stack) {
            counted += 1;
            let owner = format!("{id} of {stack_name} in {region}");
            if let Some(first) = seen.insert((namespace.clone(), name.clone()), owner.clone()) {
                panic!("{namespace}: {name:?} is both {first}'s and {owner}'s");
            }
        }
    }
    // The account-wide names this test is about are all there: a template that stopped
    // naming them would pass vacuously.
    for kind in [
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::Function",
        "AWS::CloudFront::ResponseHeadersPolicy",
        "AWS::CloudFront::KeyGroup",
        "AWS::CloudFront::PublicKey",
        "SSM parameter hierarchy",
    ] {
        assert!(
            seen.keys().filter(|(ns, _)| ns.starts_with(kind)).count() >= 4,
            "{kind}: one for each of the four stacks"
        );
    }
    assert!(counted > 20, "{counted} names");
}

#[test]
fn when_the_stack_name_is_the_longest_cloudformation_takes_should_every_name_fit_its_service() {
    let long = longest_stack_name();
    let stack = stack_in(
        &long,
        "ap-southeast-5",
        "4e1f8a20-2c1b-11f1-9d3e-0a1b2c3d4e5f",
        &[("DownloadSigningPublicKey", PUBLIC_KEY)],
    )
    .unwrap();
    for (namespace, name, id, limit) in names(&stack) {
        assert!(
            name.len() <= limit,
            "{id}: {namespace} {name:?} has {} characters, over {limit}",
            name.len()
        );
    }
    // No function is named by the template: CloudFormation generates a name that fits
    // Lambda's 64 characters whatever the stack's name.
    for (id, function) in stack.of_type("AWS::Lambda::Function") {
        assert!(
            function["Properties"]["FunctionName"].is_null(),
            "{id} names its function: {}",
            function["Properties"]["FunctionName"]
        );
    }
}

/// The capabilities a template needs, as CloudFormation's CreateChangeSet documents them.
fn capabilities_needed(template: &Value, translated: &runner::stack::Stack) -> Vec<&'static str> {
    const NAMED_IAM: [(&str, &str); 5] = [
        ("AWS::IAM::Role", "RoleName"),
        ("AWS::IAM::ManagedPolicy", "ManagedPolicyName"),
        ("AWS::IAM::User", "UserName"),
        ("AWS::IAM::Group", "GroupName"),
        ("AWS::IAM::InstanceProfile", "InstanceProfileName"),
    ];
    let mut needed = Vec::new();
    let iam = translated.resources.values().any(|r| {
        r["Type"]
            .as_str()
            .is_some_and(|t| t.starts_with("AWS::IAM::"))
    });
    let named = translated.resources.values().any(|r| {
        NAMED_IAM
            .iter()
            .any(|(t, p)| r["Type"] == *t && !r["Properties"][p].is_null())
    });
    if named {
        needed.push("CAPABILITY_NAMED_IAM");
    } else if iam {
        needed.push("CAPABILITY_IAM");
    }
    // Macros other than the SAM transform (which `sam deploy` expands through a change set) or
    // nested stacks need CAPABILITY_AUTO_EXPAND.
    let transform = &template["Transform"];
    let only_sam = transform == "AWS::Serverless-2016-10-31";
    let nested = template["Resources"].as_object().is_some_and(|rs| {
        rs.values().any(|r| {
            matches!(
                r["Type"].as_str(),
                Some("AWS::Serverless::Application" | "AWS::CloudFormation::Stack")
            )
        })
    });
    if !only_sam || nested {
        needed.push("CAPABILITY_AUTO_EXPAND");
    }
    needed
}

/// `sam deploy --guided` offers `CAPABILITY_IAM` unless samconfig.toml says otherwise
/// (samcli/commands/deploy/guided_context.py: `self.capabilities[0] or ("CAPABILITY_IAM",)`),
/// and a plain `sam deploy` reads samconfig.toml: both must be what the template needs.
#[test]
fn when_deployed_with_sam_deploy_guided_should_the_capabilities_offered_be_what_the_template_needs()
{
    let template = template();
    for parameters in [
        &[][..],
        &[("CreateVmImportRole", "false")][..],
        &[
            ("AppStreamSourceMode", "import"),
            (
                "AppStreamImportRoleArn",
                "arn:aws:iam::123456789012:role/AppStreamImport",
            ),
            ("RequiredSteps", "appstream"),
        ][..],
    ] {
        let stack = release_tests::local_template(parameters).unwrap();
        assert_eq!(
            capabilities_needed(&template, &stack),
            ["CAPABILITY_IAM"],
            "with {parameters:?}"
        );
    }
    let config = std::fs::read_to_string(root().join("samconfig.toml")).unwrap();
    let mut section = "";
    let mut capabilities = None;
    for line in config.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line;
        } else if section == "[default.deploy.parameters]"
            && let Some(value) = line.strip_prefix("capabilities")
        {
            capabilities = Some(value.trim_start_matches([' ', '=']).trim_matches('"'));
        }
    }
    assert_eq!(
        capabilities,
        Some("CAPABILITY_IAM"),
        "samconfig.toml [default.deploy.parameters] capabilities"
    );
}

/// The longest value each parameter takes: its `MaxLength`, its longest `AllowedValues`, or its
/// `MaxValue`. A parameter with none of them is unbounded, and an error. One without a pattern
/// is filled with quotes, which Lambda's JSON measure counts twice (`\"`); the patterns admit
/// neither a quote nor a backslash (those of the parameters that reach an environment).
fn longest_values(template: &Value) -> Result<Vec<(String, String)>, Vec<String>> {
    let mut out = Vec::new();
    let mut unbounded = Vec::new();
    for (name, p) in template["Parameters"].as_object().unwrap() {
        let longest = if let Some(n) = p["MaxLength"].as_u64() {
            let filler = if p["AllowedPattern"].is_string() {
                "a"
            } else {
                "\""
            };
            filler.repeat(n as usize)
        } else if let Some(values) = p["AllowedValues"].as_array() {
            values
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .max_by_key(String::len)
                .unwrap_or_default()
        } else if let Some(n) = p["MaxValue"].as_u64() {
            n.to_string()
        } else {
            unbounded.push(name.clone());
            continue;
        };
        out.push((name.clone(), longest));
    }
    if unbounded.is_empty() {
        Ok(out)
    } else {
        Err(unbounded)
    }
}

/// Lambda's limit: "Lambda was unable to configure your environment variables because the
/// environment variables you have provided exceeded the 4KB limit. String measured: {…}": the
/// variables as one JSON object.
const ENVIRONMENT_LIMIT: usize = 4096;

#[test]
fn when_every_parameter_is_at_its_longest_should_each_functions_environment_fit_lambdas_4_kb() {
    let template = template();
    let longest = longest_values(&template).unwrap_or_else(|names| {
        panic!("parameters without MaxLength, AllowedValues or MaxValue: {names:?}")
    });
    let long = longest_stack_name();
    let uuid = "4e1f8a20-2c1b-11f1-9d3e-0a1b2c3d4e5f";
    let with: Vec<(&str, &str)> = longest
        .iter()
        .filter(|(name, _)| name != "AppStreamSourceMode" && name != "RequiredSteps")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // Each variable at its longest: with every parameter at its longest (the branches of a
    // condition on a parameter's emptiness that take it), and with every default (the others).
    let filled = stack_in(&long, "ap-southeast-5", uuid, &with).unwrap();
    let defaults = stack_in(&long, "ap-southeast-5", uuid, &[]).unwrap();
    let mut report = Vec::new();
    for function in filled.functions() {
        let other = defaults
            .functions()
            .into_iter()
            .find(|f| f.binary == function.binary)
            .unwrap();
        let mut variables = serde_json::Map::new();
        for (key, value) in &function.environment {
            let alternative = other.environment.get(key).cloned().unwrap_or_default();
            let value = if alternative.len() > value.len() {
                alternative
            } else {
                value.clone()
            };
            variables.insert(key.clone(), Value::String(value));
        }
        let measured = serde_json::to_string(&variables).unwrap().len();
        report.push(format!("{} {measured} bytes", function.binary));
        assert!(
            measured <= ENVIRONMENT_LIMIT,
            "{}: {measured} bytes at the parameters' maxima, over Lambda's {ENVIRONMENT_LIMIT}; \
             the largest: {:?}",
            function.binary,
            {
                let mut sizes: Vec<_> = variables
                    .iter()
                    .map(|(k, v)| (v.as_str().unwrap().len(), k.clone()))
                    .collect();
                sizes.sort_unstable_by(|a, b| b.cmp(a));
                sizes.truncate(60);
                sizes
            }
        );
    }
    println!("{}", report.join("\n"));
}

fn pattern(template: &Value, parameter: &str) -> regex_lite::Regex {
    let text = template["Parameters"][parameter]["AllowedPattern"]
        .as_str()
        .unwrap_or_else(|| panic!("{parameter} has no AllowedPattern"));
    regex_lite::Regex::new(text).unwrap()
}

/// What CloudFormation checks of a parameter's value: its pattern and its length.
fn accepts(template: &Value, parameter: &str, value: &str) -> bool {
    let max = template["Parameters"][parameter]["MaxLength"]
        .as_u64()
        .map_or(usize::MAX, |n| n as usize);
    value.len() <= max && pattern(template, parameter).is_match(value)
}

/// EventBridge's rate expressions ("Creating an Amazon EventBridge rule that runs on a
/// schedule"): `rate(value unit)`, value a positive number, unit minute|minutes|hour|hours|
/// day|days, "If the value is equal to 1, then the unit must be singular. If the value is
/// greater than 1, the unit must be plural."
#[test]
fn when_a_publish_rate_is_given_should_accept_exactly_what_eventbridge_accepts() {
    let template = template();
    for good in [
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(2 days)",
        "rate(10 minutes)",
        "rate(1440 minutes)",
    ] {
        assert!(accepts(&template, "PublishRate", good), "{good}");
    }
    for bad in [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(0 minute)",
        "rate(05 minutes)",
        "rate(1 days)",
        "rate(2 day)",
        "rate(5 seconds)",
        "rate(-5 minutes)",
        "rate(5minutes)",
        "cron(0/5 * * * ? *)",
        "",
    ] {
        assert!(!accepts(&template, "PublishRate", bad), "{bad}");
    }
}

/// The template's pattern and length for ChannelParameterPrefix accept exactly what
/// `ParameterPrefix::parse` (SSM's naming rules) accepts, up to the template's 160 characters:
/// a prefix the functions would refuse at start-up is refused at deploy time instead.
#[test]
fn when_a_channel_prefix_is_given_should_the_template_accept_what_the_functions_accept() {
    let template = template();
    let max = template["Parameters"]["ChannelParameterPrefix"]["MaxLength"]
        .as_u64()
        .unwrap() as usize;
    let parse = |v: &str| shared::domain::ParameterPrefix::parse("p", v).is_ok();
    let mut cases: Vec<String> = [
        "/image-release",
        "/a",
        "/aw",
        "/awx",
        "/aws",
        "/AWS",
        "/aWs-x",
        "/awsome",
        "/s",
        "/ss",
        "/ssx",
        "/ssm",
        "/SSM",
        "/ssmx",
        "/x/aws",
        "/x/ssm/y",
        "/_.-",
        "image-release",
        "/",
        "//x",
        "/x/",
        "/x y",
        "/x//y",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let levels = |n: usize| (0..n).map(|i| format!("/l{i}")).collect::<String>();
    cases.extend([levels(12), levels(13), levels(14), levels(15)]);
    cases.extend([
        format!("/{}", "x".repeat(max - 1)),
        format!("/{}", "x".repeat(max)),
    ]);
    // And a seeded walk through strings of the characters that matter.
    let alphabet: Vec<char> = "/aAwWsSmMx-._0 ".chars().collect();
    let mut state: u64 = 0x2026_1207;
    for _ in 0..20_000 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let len = 1 + (state >> 59) as usize;
        let mut s = String::from("/");
        for _ in 0..len {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            s.push(alphabet[(state >> 40) as usize % alphabet.len()]);
        }
        cases.push(s);
    }
    let prefix = pattern(&template, "ChannelParameterPrefix");
    let mut refused_by_both = 0;
    for case in &cases {
        let functions = parse(case) && case.len() <= max;
        assert_eq!(
            case.len() <= max && prefix.is_match(case),
            functions,
            "{case:?}: the functions {}",
            if functions { "accept it" } else { "refuse it" }
        );
        refused_by_both += usize::from(!functions);
    }
    assert!(refused_by_both > 1_000 && refused_by_both < cases.len() - 1_000);
    assert!(
        accepts(&template, "ChannelParameterPrefix", ""),
        "empty = the default"
    );
}

/// The combinations a service refuses are refused by the template's Rules, before anything is
/// created, naming the parameter that is missing.
#[test]
fn when_parameters_combine_as_a_service_refuses_should_the_rules_refuse_them() {
    let load = |parameters: &[(&str, &str)]| release_tests::local_template(parameters).map(drop);
    let refused = load(&[
        ("AppStreamSourceMode", "import"),
        ("RequiredSteps", "appstream"),
    ])
    .expect_err("import mode without its role");
    assert!(
        refused.contains("ImportModeNeedsItsRole") && refused.contains("AppStreamImportRoleArn"),
        "{refused}"
    );
    let refused = load(&[("AliasDomain", "downloads.example.com")])
        .expect_err("an alias without a certificate");
    assert!(
        refused.contains("AliasNeedsItsCertificate") && refused.contains("AcmCertificateArn"),
        "{refused}"
    );
    load(&[
        ("AliasDomain", "downloads.example.com"),
        (
            "AcmCertificateArn",
            "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-1111-2222-3333-444455556666",
        ),
    ])
    .unwrap();
    load(&[
        ("AppStreamSourceMode", "import"),
        ("RequiredSteps", "appstream"),
        (
            "AppStreamImportRoleArn",
            "arn:aws:iam::123456789012:role/AppStreamImport",
        ),
    ])
    .unwrap();
    let template = template();
    assert!(accepts(
        &template,
        "AppStreamImportRoleArn",
        "arn:aws:iam::123456789012:role/service/AppStreamImport"
    ));
    assert!(!accepts(
        &template,
        "AppStreamImportRoleArn",
        "arn:aws:iam::123456789012:user/someone"
    ));
}
