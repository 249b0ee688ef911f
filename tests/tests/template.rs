//! `template.yaml` against the workspace: every function crate is declared and built with
//! cargo-lambda, every environment variable a function reads is set, and every EventBridge rule
//! pattern matches the sample events meant for its function and rejects the others (matched with
//! quamina, an implementation of the EventBridge pattern language).

use release_tests::{root, template};
use serde_json::Value;
use std::collections::BTreeSet;

fn functions_dir() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("functions"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The function resource whose cargo-lambda binary is `binary`.
fn function(template: &Value, binary: &str) -> Value {
    template["Resources"]
        .as_object()
        .unwrap()
        .values()
        .find(|r| {
            r["Type"] == "AWS::Serverless::Function"
                && r["Metadata"]["BuildProperties"]["Binary"] == binary
        })
        .cloned()
        .unwrap_or_else(|| panic!("no AWS::Serverless::Function builds the binary {binary}"))
}

/// Every variable a function's `Config::from_lookup` reads, found in its source and in the
/// source of each step of `shared::steps` it configures (`steps::distribute::Config`…).
fn env_vars_read(name: &str) -> BTreeSet<String> {
    let dir = root().join("functions").join(name).join("src");
    let mut source = String::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
            source.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    let uses = regex_lite::Regex::new(r"steps::(?:\{([a-z_, ]+)\}|([a-z_]+))").unwrap();
    let mut steps = BTreeSet::new();
    for c in uses.captures_iter(&source) {
        let list = c.get(1).or(c.get(2)).unwrap().as_str();
        steps.extend(list.split(',').map(|s| s.trim().to_owned()));
    }
    for step in steps {
        let path = root().join("shared/src/steps").join(format!("{step}.rs"));
        if let Ok(text) = std::fs::read_to_string(path) {
            source.push_str(&text);
        }
    }
    let re = regex_lite::Regex::new(
        r#"env\.(?:required|optional|or_default|list|flag|tags|raw)\(\s*"([A-Z0-9_]+)""#,
    )
    .unwrap();
    re.captures_iter(&source).map(|c| c[1].to_owned()).collect()
}

#[test]
fn when_a_function_crate_exists_should_be_declared_with_cargo_lambda_on_al2023_arm64() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(globals["Handler"], "bootstrap");
    assert_eq!(globals["Architectures"][0], "arm64");
    assert_eq!(globals["LoggingConfig"]["LogFormat"], "JSON");
    let names = functions_dir();
    assert_eq!(names.len(), 5, "{names:?}");
    for name in names {
        let f = function(&template, &name);
        assert_eq!(f["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        assert_eq!(f["Properties"]["CodeUri"], "./", "{name}");
    }
}

/// Variables the template leaves at the functions' defaults, which docs/src/configuration.md
/// gives: each costs room in Lambda's 4 KB environment and none is a deployment's choice
/// (tests/tests/first_deploy.rs holds the environment within the limit).
const DEFAULTED: &[&str] = &[
    "EXPORT_DRY_RUN",
    "RECONCILE_CONCURRENCY",
    "CHECKSUM_SLICE_MIB",
    "CHECKSUM_MAX_GIB",
];

#[test]
fn when_a_function_reads_a_variable_should_be_set_by_the_template() {
    let template = template();
    let global: BTreeSet<String> = template["Globals"]["Function"]["Environment"]["Variables"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for name in functions_dir() {
        let f = function(&template, &name);
        let mut set = global.clone();
        if let Some(vars) = f["Properties"]["Environment"]["Variables"].as_object() {
            set.extend(vars.keys().cloned());
        }
        set.insert("AWS_REGION".into()); // set by Lambda itself
        set.extend(DEFAULTED.iter().map(|v| (*v).to_owned()));
        let read = env_vars_read(&name);
        assert!(
            !read.is_empty(),
            "{name} reads no variables? the scan is broken"
        );
        let missing: Vec<_> = read.difference(&set).collect();
        assert!(
            missing.is_empty(),
            "{name} reads {missing:?} but template.yaml does not set them"
        );
    }
    // The reconciler reads the steps' variables too: the scan must have followed shared::steps.
    let reconciler = env_vars_read("publish-release");
    for var in [
        "DEADLINE_BUILD",
        "PIPELINE_ARNS",
        "EXPORT_FORMATS",
        "APPSTREAM_IMAGE_NAME",
    ] {
        assert!(reconciler.contains(var), "publish-release: {var} not found");
    }
}

/// Parameter combinations that switch the optional routes of the functions' configuration on
/// (retention, channels per pipeline, import mode, signing, several formats).
const CONFIGURATIONS: &[&[(&str, &str)]] = &[
    &[],
    &[
        ("RetentionDeleteAfterDays", "90"),
        ("RetentionDeprecateAfterDays", "30"),
        ("RetentionKeepChannelDays", "14"),
        ("PipelineChannels", "golden=stable"),
        ("ExportFormats", "VMDK,VHD"),
        ("ReleaseTags", "team=platform"),
        ("MaxReleasesInFlight", "3"),
    ],
    &[
        ("AppStreamSourceMode", "import"),
        ("RequiredSteps", "appstream"),
        (
            "AppStreamImportRoleArn",
            "arn:aws:iam::123456789012:role/AppStreamImport",
        ),
        ("AppStreamImageName", "imported-{release}"),
    ],
];

/// The inventory taken at run time, from every route the configuration reads through
/// (`env.raw`, `shared::retention`, a step's `Config`): each function's `Config::from_lookup`
/// (what its `main` calls with the process environment) is asked with the environment the
/// template gives that function, recording every name it looks up. Each must be set by the
/// template (or by Lambda), and the template's environment must configure the function.
#[test]
fn when_a_function_configures_itself_should_read_only_variables_the_template_sets() {
    use std::sync::Mutex;
    let mut read_somewhere = BTreeSet::new();
    for parameters in CONFIGURATIONS {
        let stack = release_tests::local_template(parameters).unwrap();
        let functions = stack.functions();
        assert_eq!(functions.len(), 5, "{parameters:?}");
        for f in functions {
            let asked = Mutex::new(BTreeSet::new());
            let lookup = |name: &str| {
                asked.lock().unwrap().insert(name.to_owned());
                match name {
                    "AWS_REGION" => Some("us-east-1".to_owned()),
                    _ => f.environment.get(name).cloned(),
                }
            };
            let configured = match f.binary.as_str() {
                "start-pipeline" => start_pipeline::Config::from_lookup(lookup).map(drop),
                "distribute-image" => distribute_image::Config::from_lookup(lookup).map(drop),
                "export-image" => export_image::Config::from_lookup(lookup).map(drop),
                "copy-appstream-image" => {
                    copy_appstream_image::Config::from_lookup(lookup).map(drop)
                }
                "publish-release" => publish_release::Config::from_lookup(lookup).map(drop),
                other => panic!("a function this test does not know: {other}"),
            };
            if let Err(e) = configured {
                panic!("{} with {parameters:?}: {e}", f.binary);
            }
            let asked = asked.into_inner().unwrap();
            let unset: Vec<_> = asked
                .iter()
                .filter(|name| {
                    *name != "AWS_REGION"
                        && !DEFAULTED.contains(&name.as_str())
                        && !f.environment.contains_key(*name)
                })
                .collect();
            assert!(
                unset.is_empty(),
                "{} reads {unset:?}, which template.yaml does not set ({parameters:?})",
                f.binary
            );
            read_somewhere.extend(asked.into_iter().map(|n| (f.binary.clone(), n)));
        }
    }
    // The routes the source scan missed are on this one.
    for var in [
        "PIPELINE_CHANNELS",
        "RETENTION_DELETE_AFTER_DAYS",
        "RETENTION_KEEP_NEWEST",
    ] {
        assert!(
            read_somewhere.contains(&("publish-release".to_owned(), var.to_owned())),
            "publish-release: {var} not recorded"
        );
    }
}

fn event(file: &str) -> String {
    std::fs::read_to_string(root().join("events").join(file)).unwrap()
}

/// Which sample events each function's rules must match; every other event must not match.
const EXPECTED: &[(&str, &[&str])] = &[
    ("start-pipeline", &["release-requested.json"]),
    (
        "distribute-image",
        &[
            "image-available-pipeline.json",
            "image-available-distributed.json",
            "image-failed.json",
        ],
    ),
    (
        "export-image",
        &[
            "image-available-pipeline.json",
            "image-available-distributed.json",
        ],
    ),
    (
        "copy-appstream-image",
        &[
            "image-available-pipeline.json",
            "image-available-distributed.json",
        ],
    ),
    ("publish-release", &["s3-object-created.json"]),
];

#[test]
fn when_a_sample_event_is_published_should_reach_exactly_the_functions_meant_for_it() {
    let template = template();
    let samples = [
        "release-requested.json",
        "scheduled-event.json",
        "image-available-pipeline.json",
        "image-available-distributed.json",
        "image-failed.json",
        "s3-object-created.json",
        "malformed-image-state-change.json",
        // publish-release's own events: no function of ours may wake on them (no loop).
        "release-published.json",
        "release-failed.json",
    ];
    for (name, expected) in EXPECTED {
        let f = function(&template, name);
        let mut q = quamina::Quamina::<String>::new();
        let mut rules = 0;
        for (event_name, ev) in f["Properties"]["Events"].as_object().unwrap() {
            if ev["Type"] == "EventBridgeRule" {
                let pattern = serde_json::to_string(&ev["Properties"]["Pattern"]).unwrap();
                q.add_pattern(event_name.clone(), &pattern)
                    .unwrap_or_else(|e| panic!("{name}/{event_name}: {e:?}"));
                rules += 1;
            }
        }
        assert!(rules > 0, "{name} has no EventBridge rule");
        for sample in samples {
            let matched = !q
                .matches_for_event(event(sample).as_bytes())
                .unwrap()
                .is_empty();
            assert_eq!(matched, expected.contains(&sample), "{name} vs {sample}");
        }
    }
}

/// A matcher holding the pattern of one EventBridge rule of one function.
fn rule_matcher(template: &Value, binary: &str, event: &str) -> quamina::Quamina<u8> {
    let f = function(template, binary);
    let pattern =
        serde_json::to_string(&f["Properties"]["Events"][event]["Properties"]["Pattern"]).unwrap();
    let mut q = quamina::Quamina::<u8>::new();
    q.add_pattern(1, &pattern).unwrap();
    q
}

#[test]
fn when_records_are_written_should_not_wake_publish_release() {
    let template = template();
    let q = rule_matcher(&template, "publish-release", "ExportLanded");
    let mut record: Value = serde_json::from_str(&event("s3-object-created.json")).unwrap();
    record["detail"]["object"]["key"] = "state/golden-1.0.0-1/status.json".into();
    assert!(
        q.matches_for_event(record.to_string().as_bytes())
            .unwrap()
            .is_empty(),
        "a record write must not trigger a loop"
    );
    record["detail"]["bucket"]["name"] = "someone-elses-bucket".into();
    record["detail"]["object"]["key"] = "releases/golden-1.0.0-1/export-ami-0a.vmdk".into();
    assert!(
        q.matches_for_event(record.to_string().as_bytes())
            .unwrap()
            .is_empty(),
        "other buckets are ignored"
    );
}

#[test]
fn when_image_comes_from_another_account_or_region_should_not_match() {
    let template = template();
    let q = rule_matcher(&template, "distribute-image", "ImageStateChange");
    let mut ev: Value = serde_json::from_str(&event("image-available-pipeline.json")).unwrap();
    ev["resources"][0] = "arn:aws:imagebuilder:eu-west-1:999999999999:image/other/1.0.0/1".into();
    assert!(
        q.matches_for_event(ev.to_string().as_bytes())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn when_parameters_mirror_api_limits_should_reject_bad_values() {
    let template = template();
    let params = &template["Parameters"];
    let formats =
        regex_lite::Regex::new(params["ExportFormats"]["AllowedPattern"].as_str().unwrap())
            .unwrap();
    for good in ["VMDK", "VMDK,VHD", "RAW,VHD,VMDK"] {
        assert!(formats.is_match(good), "{good}");
    }
    for bad in [
        "",
        "vmdk",
        "QCOW2",
        "VMDK,",
        "VMDK;VHD",
        "VMDK,VHD,RAW,VMDK",
    ] {
        assert!(!formats.is_match(bad), "{bad}");
    }
    let pipeline = regex_lite::Regex::new(
        params["PipelineArn"]["AllowedPattern"]
            .as_str()
            .unwrap()
            .replace("(?:", "(")
            .as_str(),
    )
    .unwrap();
    assert!(pipeline.is_match("arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden"));
    assert!(
        !pipeline.is_match("arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/Golden")
    );
}

#[test]
fn when_destination_regions_are_given_should_accept_exactly_the_appstream_regions() {
    let template = template();
    let pattern = template["Parameters"]["AppStreamDestinationRegions"]["AllowedPattern"]
        .as_str()
        .unwrap()
        .to_owned();
    let regions: Vec<&str> = shared::domain::appstream_regions().collect();
    let alternatives = regions.join("|");
    assert_eq!(
        pattern,
        format!("^({alternatives})(,({alternatives}))*$"),
        "regenerate the pattern from shared/data/appstream-regions.txt"
    );
    let re = regex_lite::Regex::new(&pattern).unwrap();
    assert!(re.is_match("eu-west-1,ap-southeast-2"));
    assert!(re.is_match("us-west-2,ca-central-1,ap-northeast-1,ap-south-1,sa-east-1,eu-west-2"));
    assert!(
        !re.is_match("eu-west-1,us-west-1"),
        "us-west-1 has no AppStream 2.0"
    );
    assert!(!re.is_match("xx-nowhere-1"));
}

#[test]
fn when_import_mode_is_chosen_should_require_appstream_only() {
    // Import needs Windows; VM Export refuses Windows: the template's Rules refuse the
    // combination, evaluated as CloudFormation would before it creates the stack.
    let load = |parameters: &[(&str, &str)]| release_tests::local_template(parameters).map(|_| ());
    let import = [
        ("AppStreamSourceMode", "import"),
        (
            "AppStreamImportRoleArn",
            "arn:aws:iam::123456789012:role/AppStreamImport",
        ),
    ];
    for steps in ["export,appstream", "export"] {
        let refused = load(&[&import[..], &[("RequiredSteps", steps)]].concat())
            .expect_err("import mode with the export step is refused");
        assert!(
            refused
                .to_string()
                .contains("ImportModeCannotRequireExport")
                && refused
                    .to_string()
                    .contains("set RequiredSteps to appstream"),
            "{refused}"
        );
    }
    load(&[&import[..], &[("RequiredSteps", "appstream")]].concat()).unwrap();
    for steps in ["export,appstream", "export", "appstream"] {
        load(&[
            ("AppStreamSourceMode", "existing"),
            ("RequiredSteps", steps),
        ])
        .unwrap();
    }
}

#[test]
fn when_a_release_fails_should_reach_the_alarm_topic_through_the_metric_filter() {
    let template = template();
    let resources = &template["Resources"];
    let pattern = resources["ReleaseFailedMetric"]["Properties"]["FilterPattern"]
        .as_str()
        .unwrap();
    // Lambda's JSON log format, as lambda_runtime writes it: the message under fields.
    assert_eq!(
        pattern,
        format!(
            "{{ $.fields.message = \"{}\" }}",
            publish_release::RELEASE_FAILED
        )
    );
    let alarm = &resources["ReleaseFailedAlarm"]["Properties"];
    assert_eq!(alarm["MetricName"], "ReleasesFailed");
    assert!(alarm["AlarmActions"].to_string().contains("AlarmTopic"));
}

#[test]
fn when_a_release_is_published_or_fails_should_the_email_rule_match_its_event() {
    let template = template();
    let rule = &template["Resources"]["ReleaseEventsRule"];
    let pattern = serde_json::to_string(&rule["Properties"]["EventPattern"]).unwrap();
    let mut q = quamina::Quamina::<u8>::new();
    q.add_pattern(1, &pattern).unwrap();
    for sample in ["release-published.json", "release-failed.json"] {
        assert!(
            !q.matches_for_event(event(sample).as_bytes())
                .unwrap()
                .is_empty(),
            "{sample}"
        );
    }
    for sample in ["release-requested.json", "image-failed.json"] {
        assert!(
            q.matches_for_event(event(sample).as_bytes())
                .unwrap()
                .is_empty(),
            "{sample}"
        );
    }
    let policy =
        &template["Resources"]["PublishReleaseFunction"]["Properties"]["Policies"][0]["Statement"];
    assert!(
        policy
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["Action"] == "events:PutEvents"),
        "publish-release may put the events"
    );
}

#[test]
fn when_a_signing_key_is_given_should_only_the_disks_require_signed_urls() {
    let resolve = |key: &str| {
        let mut values = runner::template::Values::local();
        values.set("DownloadSigningPublicKey", key);
        runner::template::Template::load(&root().join("template.yaml"), values)
            .unwrap()
            .resolved()
    };
    let public_key = "-----BEGIN PUBLIC KEY-----\nMIIB…\n-----END PUBLIC KEY-----";
    for (key, restricted) in [("", false), (public_key, true)] {
        let template = resolve(key);
        let config =
            &template["Resources"]["DownloadDistribution"]["Properties"]["DistributionConfig"];
        assert_eq!(config["DefaultRootObject"], "index.html");
        assert!(
            config["DefaultCacheBehavior"]
                .get("TrustedKeyGroups")
                .is_none(),
            "the page, manifests and index stay public"
        );
        let behaviors = config["CacheBehaviors"].as_array().unwrap();
        let patterns: Vec<&str> = behaviors
            .iter()
            .map(|b| b["PathPattern"].as_str().unwrap())
            .collect();
        assert_eq!(
            patterns,
            ["releases/*.vmdk", "releases/*.raw", "releases/*.vhd"]
        );
        for behavior in behaviors {
            assert_eq!(
                behavior.get("TrustedKeyGroups").is_some(),
                restricted,
                "{behavior}"
            );
        }
    }
}

/// Standard base64, as CSP hash sources spell a digest.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn when_the_site_answers_should_every_behaviour_send_the_security_headers_the_page_fits() {
    use sha2::Digest;
    let template = template();
    let resources = &template["Resources"];
    let headers = &resources["DownloadHeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]
        ["SecurityHeadersConfig"];
    assert!(
        headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"]
            .as_u64()
            .unwrap()
            >= 31_536_000
    );
    assert_eq!(headers["FrameOptions"]["FrameOption"], "DENY");
    assert!(headers["ContentTypeOptions"]["Override"].as_bool().unwrap());
    let csp = headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]
        .as_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    // The page's only inline style is allowed by its hash, and the page has nothing else.
    let hash = base64(&sha2::Sha256::digest(
        shared::catalog::PAGE_STYLE.as_bytes(),
    ));
    assert!(
        csp.contains(&format!("style-src 'sha256-{hash}'")),
        "{csp} (the page's style is sha256-{hash})"
    );
    let config = &resources["DownloadDistribution"]["Properties"]["DistributionConfig"];
    assert!(
        config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]
            .to_string()
            .contains("DownloadHeadersPolicy")
    );
    for behavior in config["CacheBehaviors"].as_array().unwrap() {
        assert!(
            behavior["ResponseHeadersPolicyId"]
                .to_string()
                .contains("DownloadHeadersPolicy"),
            "{behavior}"
        );
    }
}

/// The retention rule removes only what releases publish, and publish-release withdraws the
/// links from the same parameter: the catalog, the page and the records never expire, and the
/// page never keeps a link the rule removed. The page and the catalog are not cached.
#[test]
fn when_retention_is_configured_should_expire_only_downloads_and_tell_publish_release() {
    let template = template();
    let resources = &template["Resources"];
    let rules = resources["ArtifactBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        .as_array()
        .unwrap();
    let expiring: Vec<&Value> = rules
        .iter()
        .filter(|r| !r["ExpirationInDays"].is_null())
        .collect();
    assert_eq!(expiring.len(), 1, "{rules:?}");
    assert_eq!(expiring[0]["Prefix"], "releases/");
    // Resolved with the template's defaults: the rule and the function read the same value.
    let env = &function(&template, "publish-release")["Properties"]["Environment"]["Variables"];
    let days = expiring[0]["ExpirationInDays"].to_string();
    assert_eq!(
        env["RELEASE_RETENTION_DAYS"].to_string().trim_matches('"'),
        days.trim_matches('"'),
        "{env}"
    );
    for key in [
        shared::release::keys::INDEX,
        shared::release::keys::LATEST,
        shared::release::keys::DOWNLOADS_PAGE,
        "state/golden-1.0.0-1/status.json",
    ] {
        assert!(!key.starts_with("releases/"), "{key} would expire");
    }
    // CachingDisabled on the default behaviour (the page, the catalog): a withdrawn link is
    // gone from the next request on.
    let config = &resources["DownloadDistribution"]["Properties"]["DistributionConfig"];
    assert_eq!(
        config["DefaultCacheBehavior"]["CachePolicyId"],
        "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
    );
}

/// Our own events (Release Requested, Published, Failed) live on the stack's release bus, where
/// its policy decides who may put; Image Builder's and S3's events stay on the default bus,
/// where AWS services put them.
#[test]
fn when_rules_are_wired_should_our_events_be_on_the_release_bus_and_aws_events_on_the_default() {
    let template = template();
    let resources = &template["Resources"];
    // `Ref: ReleaseBus`, as this test's template reader renders a resource it cannot name.
    let bus = serde_json::json!("<ReleaseBus>");
    assert_eq!(resources["ReleaseBus"]["Type"], "AWS::Events::EventBus");
    assert_eq!(
        function(&template, "start-pipeline")["Properties"]["Events"]["ReleaseRequested"]["Properties"]
            ["EventBusName"],
        bus
    );
    assert_eq!(
        resources["ReleaseEventsRule"]["Properties"]["EventBusName"],
        bus
    );
    let publish = function(&template, "publish-release");
    assert_eq!(
        publish["Properties"]["Environment"]["Variables"]["EVENT_BUS_NAME"],
        bus
    );
    for binary in [
        "distribute-image",
        "export-image",
        "copy-appstream-image",
        "publish-release",
    ] {
        let events = function(&template, binary)["Properties"]["Events"].clone();
        for (name, event) in events.as_object().into_iter().flatten() {
            if event["Type"] == "EventBridgeRule" {
                assert!(
                    event["Properties"]["EventBusName"].is_null(),
                    "{binary} {name} listens to AWS's events on the default bus"
                );
            }
        }
    }
    let statement = &resources["ReleaseBus"]["Properties"]["Policy"]["Statement"][0];
    assert_eq!(statement["Effect"], "Deny");
    assert_eq!(statement["Principal"], "*");
    assert_eq!(statement["Action"], "events:PutEvents");
}

/// The signing key is the stack's own by default (`SigningKeyArn` may name another): an
/// `ECC_NIST_P256` signing key, kept with the stack, whose policy denies Sign to all but one role.
#[test]
fn when_the_stack_creates_its_signing_key_should_it_be_p256_retained_and_deny_other_signers() {
    let template = template();
    let resources = &template["Resources"];
    assert_eq!(resources["SigningKey"]["Condition"], "CreateSigningKey");
    assert_eq!(
        resources["SigningKey"]["Properties"]["KeySpec"],
        "ECC_NIST_P256"
    );
    assert_eq!(
        resources["SigningKey"]["Properties"]["KeyUsage"],
        "SIGN_VERIFY"
    );
    assert_eq!(resources["SigningKey"]["DeletionPolicy"], "Retain");
    let statements = resources["SigningKey"]["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap()
        .clone();
    let deny = statements
        .iter()
        .find(|s| s["Effect"] == "Deny")
        .expect("a deny of kms:Sign to everyone but publish-release");
    assert_eq!(deny["Action"], "kms:Sign");
    // By default (SigningKeyArn empty) publish-release signs with the stack's key; a given key
    // is checked in tests/tests/iam.rs, with the template resolved as CloudFormation would.
    let env = &function(&template, "publish-release")["Properties"]["Environment"]["Variables"];
    // The alias, which publish-release's grant is scoped by (kms:ResourceAliases).
    assert_eq!(
        env["SIGNING_KEY_ID"],
        resources["SigningKeyAlias"]["Properties"]["AliasName"]
    );
    assert!(
        env["SIGNING_KEY_ID"]
            .as_str()
            .unwrap()
            .starts_with("alias/")
    );
    // KMS requires a key policy's principals to exist and be visible to it, and a role created
    // moments before may not be (CloudFormation does not retry that): the key policy names only
    // the account and "*", and the role only in conditions.
    for statement in &statements {
        let principal = statement["Principal"]["AWS"].to_string();
        assert!(
            principal == "\"*\"" || principal.contains(":root"),
            "{principal}"
        );
    }
}

/// Runs the downloads' CloudFront Function (its code as the template holds it) with node on
/// viewer-response events, as CloudFront Functions passes them (lower-case header names), and
/// returns each response's `content-disposition`.
fn download_names(cases: &[(&str, u16)]) -> Vec<Option<String>> {
    let template = template();
    let code = template["Resources"]["DownloadNameFunction"]["Properties"]["FunctionCode"]
        .as_str()
        .expect("DownloadNameFunction's FunctionCode")
        .to_owned();
    let events: Vec<Value> = cases
        .iter()
        .map(|(uri, status)| {
            serde_json::json!({
                "version": "1.0",
                "context": {"eventType": "viewer-response"},
                "viewer": {"ip": "192.0.2.1"},
                "request": {"method": "GET", "uri": uri, "querystring": {}, "headers": {}, "cookies": {}},
                "response": {"statusCode": status, "statusDescription": "", "headers": {"content-type": {"value": "application/octet-stream"}}, "cookies": {}}
            })
        })
        .collect();
    let harness = format!(
        "{code}\nconst events = JSON.parse(process.argv[1]);\nconsole.log(JSON.stringify(events.map(e => {{ const h = handler(e).headers['content-disposition']; return h ? h.value : null; }})));"
    );
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let out = std::process::Command::new(&node)
        .arg("-e")
        .arg(harness)
        .arg(serde_json::to_string(&events).unwrap())
        .output()
        .unwrap_or_else(|e| panic!("{node}: {e} (scripts/test.sh installs Node.js)"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn when_a_disk_is_downloaded_should_cloudfront_name_it_after_the_release_and_format() {
    let names = download_names(&[
        (
            "/releases/golden-1.0.0-1/export-ami-0abcdef1234567890.vmdk",
            200,
        ),
        (
            "/releases/golden-linux-1.10.2-7/export-ami-0abcdef1234567890.raw",
            206,
        ),
        (
            "/releases/golden-1.0.0-1/export-ami-0abcdef1234567890.vhd",
            200,
        ),
        (
            "/releases/golden-1.0.0-1/export-ami-0abcdef1234567890.vmdk",
            403,
        ),
        ("/releases/golden-1.0.0-1/manifest.json", 200),
        (
            "/releases/golden-1.0.0-1/x/export-ami-0abcdef1234567890.vmdk",
            200,
        ),
        ("/releases/golden-1.0.0-1/export.vmdk.sig", 200),
    ]);
    assert_eq!(
        names,
        vec![
            Some("attachment; filename=\"golden-1.0.0-1.vmdk\"".to_owned()),
            Some("attachment; filename=\"golden-linux-1.10.2-7.raw\"".to_owned()),
            Some("attachment; filename=\"golden-1.0.0-1.vhd\"".to_owned()),
            None,
            None,
            None,
            None,
        ]
    );
    // Every disk behaviour runs it on the viewer response.
    let template = template();
    let behaviours = template["Resources"]["DownloadDistribution"]["Properties"]
        ["DistributionConfig"]["CacheBehaviors"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(behaviours.len(), 3);
    for b in behaviours {
        assert_eq!(
            b["FunctionAssociations"][0]["EventType"], "viewer-response",
            "{b}"
        );
    }
}
