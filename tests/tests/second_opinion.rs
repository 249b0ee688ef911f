//! Where both the project's emulator and moto serve an operation, the same boto3 calls get the
//! same answers from each (moto's models were written by people who are not us). Each script
//! prints its answers as one JSON object; the test holds them side by side, then checks them
//! against what AWS documents.

use release_tests::aws_cli;
use runner::process::Moto;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Runs `tests/clients/<script>` with boto3 against `endpoint` (and `args`): its JSON answers.
async fn answers(script: &str, endpoint: &str, args: &[&str]) -> Value {
    let python = aws_cli().with_file_name("python");
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("clients")
        .join(script);
    let out = tokio::process::Command::new(&python)
        .arg(&path)
        .arg(endpoint)
        .args(args)
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} against {endpoint}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The script's answers from a fresh emulator and from a fresh moto server.
async fn side_by_side(script: &str, emulator_args: &[&str], moto_args: &[&str]) -> (Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start(&Moto::executable(), &dir.path().join("moto.log"))
        .await
        .unwrap();
    let (emulator, _events) = emulator::Emulator::start(emulator::Config::demo(), 0)
        .await
        .unwrap();
    let ours = answers(script, &emulator.endpoint(), emulator_args).await;
    let theirs = answers(script, &moto.endpoint, moto_args).await;
    (ours, theirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_boto3_tags_ssm_parameters_should_get_the_same_answers_from_the_emulator_and_moto() {
    let (ours, theirs) = side_by_side("ssm_tags.py", &[], &[]).await;
    assert_eq!(ours, theirs, "the emulator and moto disagree");
    let owner = json!([["image-release:bucket", "stack-a-artifacts"]]);
    let expected = json!({
        "create with tags": 1,
        "tags after create": owner,
        // AWS: "tags and overwrite can't be used together".
        "tags with overwrite": "error ValidationException",
        "value after refused overwrite": "v1",
        "create again with tags": "error ParameterAlreadyExists",
        "overwrite without tags": 2,
        "tags kept by an overwrite": owner,
        "add a tag": "ok",
        "tags after adding": [["image-release:bucket", "stack-a-artifacts"], ["team", "platform"]],
        "tags of a missing parameter": "error InvalidResourceId",
        "create untagged": 1,
        "tags of an untagged parameter": [],
        "delete": "ok",
        "tags after delete": "error InvalidResourceId",
    });
    assert_eq!(ours, expected);
}

/// The emulator's answers and moto's agree step by step, except where `documented` lists the
/// step with the AWS sentence that settles it and the emulator's answer, which must be that one
/// (and must still differ, else the entry is stale). At least `least` steps.
fn agree_or_documented(
    ours: &Value,
    theirs: &Value,
    documented: &[(&str, &str, &str)],
    least: usize,
) {
    let (ours, theirs) = (ours.as_object().unwrap(), theirs.as_object().unwrap());
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    assert!(ours.len() >= least, "{} answers", ours.len());
    let mut differences = Vec::new();
    for (step, answer) in ours {
        if theirs[step] != *answer && !documented.iter().any(|(s, ..)| s == step) {
            differences.push(format!("{step}: emulator {answer}, moto {}", theirs[step]));
        }
    }
    assert!(
        differences.is_empty(),
        "the emulator and moto disagree (fix one, or list the difference with the AWS sentence \
         that settles it):\n{}",
        differences.join("\n")
    );
    for (step, answer, _) in documented {
        assert_ne!(ours[*step], theirs[*step], "{step}: no longer differs");
        assert_eq!(ours[*step].to_string(), *answer, "{step}");
    }
}

/// Every answer both implement, side by side (tests/clients/differential.py: SSM parameters, KMS
/// signing keys, EventBridge PutEvents, EC2 images and tags). A difference is allowed only when
/// it is listed here with the AWS documentation that says which side is right, and the
/// emulator's answer, which must be that one.
const DOCUMENTED_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "kms public key spec",
        "\"ECC_NIST_P256\"",
        "KMS API Reference, GetPublicKey, Response Elements: \"KeySpec: The type of the public key \
         that was downloaded\" (moto's answer has none)",
    ),
    (
        "kms sign a short digest",
        "\"error ValidationException\"",
        "KMS API Reference, Sign, MessageType: \"When the value of MessageType is DIGEST, the length \
         of the Message value must match the length of hashing algorithm specified in \
         SigningAlgorithm\" (moto signs a 31-byte digest)",
    ),
    (
        "kms verify a wrong message",
        "\"error KMSInvalidSignatureException\"",
        "KMS API Reference, Verify: \"If the signature verification fails, the Verify operation \
         fails with an KMSInvalidSignatureException exception\" (moto answers SignatureValid false)",
    ),
    (
        "ssm 16 levels",
        "\"error HierarchyLevelLimitExceededException\"",
        "SSM API Reference, PutParameter, Errors: \"HierarchyLevelLimitExceededException: A \
         hierarchy can have a maximum of 15 levels\" (moto creates a 16-level name)",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_boto3_calls_what_both_implement_should_the_emulator_and_moto_agree_or_aws_documents_why_not()
 {
    let (ours, theirs) = side_by_side("differential.py", &["emulator"], &["moto"]).await;
    agree_or_documented(&ours, &theirs, DOCUMENTED_DIFFERENCES, 30);
    // And what AWS documents, whoever answers.
    assert_eq!(ours["kms signatures differ on each call (ECDSA)"], true);
    assert_eq!(ours["ec2 tag DryRun"], "error DryRunOperation");
    assert_eq!(ours["ssm get in another region"], "error ParameterNotFound");
}

/// DescribeImages' filters, owners and pages and CreateTags' tag constraints
/// (tests/clients/ec2_images.py), where moto differs from what the EC2 API Reference says.
const EC2_IMAGES_DOCUMENTED_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "tag key beginning aws:",
        "\"error InvalidParameterValue\"",
        "EC2 API Reference, Tag, Key: \"Constraints: Tag keys are case-sensitive and accept a \
         maximum of 127 Unicode characters. May not begin with aws:.\" (moto tags the AMI)",
    ),
    (
        "tag key of 128 characters",
        "\"error InvalidParameterValue\"",
        "EC2 API Reference, Tag, Key: \"accept a maximum of 127 Unicode characters\" (moto tags \
         the AMI)",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_boto3_filters_pages_and_tags_images_should_the_emulator_and_moto_agree_or_aws_documents_why_not()
 {
    let (ours, theirs) = side_by_side("ec2_images.py", &["emulator"], &["moto"]).await;
    agree_or_documented(&ours, &theirs, EC2_IMAGES_DOCUMENTED_DIFFERENCES, 20);
    // And what the EC2 API Reference documents, whoever answers: filter values OR, filters
    // AND, `*` any characters and `?` exactly one.
    assert_eq!(
        ours["images filter tag:<key> two values"],
        json!(["first", "second"])
    );
    assert_eq!(ours["images two filters"], json!(["first"]));
    assert_eq!(
        ours["images filter tag:<key> wildcard ?"],
        json!(["first", "second"])
    );
    assert_eq!(ours["images Owners amazon"], json!([]));
}
