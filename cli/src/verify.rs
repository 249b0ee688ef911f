//! `verify RELEASE`: what the manifest says, checked against AWS (after Bottlerocket's
//! `pubsys validate-ami`). Every check is a [`Finding`]; the judgements are pure functions of
//! what AWS answered, so they are unit-tested without AWS.

use crate::{Cli, Failure, Outcome, release_id, sdk, store, table};
use serde::Serialize;
use shared::aws::appstream::AppStreamAdapter;
use shared::aws::ec2::Ec2Adapter;
use shared::aws::s3::S3Adapter;
use shared::domain::{AmiId, AppStreamImageName, RegionName, ReleaseId};
use shared::ports::{
    AmiCatalog, AmiFacts, AppStreamImage, AppStreamImageState, AppStreamImages, ArtifactStore,
    ObjectDigest,
};
use shared::release::{AppStreamRecord, ManifestAmi, ManifestAppStreamImage, ManifestExport, keys};
use std::collections::BTreeMap;

/// The tag Image Builder puts on every AMI it creates: the ARN of the image that made it
/// (user guide, "Tag Image Builder output resources").
pub const TAG_IMAGE_BUILDER_ARN: &str = "Ec2ImageBuilderArn";

/// One check and its result: `problem` is `None` when it passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub subject: String,
    pub problem: Option<String>,
}

impl Finding {
    pub(crate) fn new(check: &'static str, subject: String, problem: Option<String>) -> Self {
        Self {
            check,
            subject,
            problem,
        }
    }
}

/// What is wrong with an AMI of the manifest, given what DescribeImages answered in its region.
pub fn ami_problem(ami: &ManifestAmi, facts: Option<&AmiFacts>, image_arn: &str) -> Option<String> {
    let Some(facts) = facts else {
        return Some(format!(
            "does not exist (or is not visible to this account{})",
            ami.account_id
                .as_deref()
                .map(|a| format!("; it belongs to {a}"))
                .unwrap_or_default()
        ));
    };
    let mut wrong = Vec::new();
    match facts.state.as_deref() {
        Some("available") => {}
        other => wrong.push(format!(
            "state is {}, not available",
            other.unwrap_or("unknown")
        )),
    }
    if let (Some(want), Some(owner)) = (&ami.account_id, &facts.owner_id)
        && want != owner
    {
        wrong.push(format!("owned by {owner}, not {want}"));
    }
    if let (Some(want), Some(name)) = (&ami.name, &facts.name)
        && want != name
    {
        wrong.push(format!("named {name:?}, not {want:?}"));
    }
    match facts.tags.get(TAG_IMAGE_BUILDER_ARN) {
        Some(arn) if arn == image_arn => {}
        Some(arn) => wrong.push(format!(
            "tag {TAG_IMAGE_BUILDER_ARN} is {arn}, not {image_arn}"
        )),
        None => wrong.push(format!(
            "has no {TAG_IMAGE_BUILDER_ARN} tag (want {image_arn})"
        )),
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

/// What is wrong with an artifact, given its object's size and SHA-256 as hashed now.
pub fn artifact_problem(
    artifact: &ManifestExport,
    digest: Option<&ObjectDigest>,
) -> Option<String> {
    let Some(digest) = digest else {
        return Some("the object does not exist".into());
    };
    let mut wrong = Vec::new();
    if digest.size != artifact.size_bytes {
        wrong.push(format!(
            "size is {} bytes, the manifest says {}",
            digest.size, artifact.size_bytes
        ));
    }
    if !artifact.sha256.is_empty() && digest.sha256 != artifact.sha256 {
        wrong.push(format!(
            "SHA-256 is {}, the manifest says {}",
            digest.sha256, artifact.sha256
        ));
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

/// What is wrong with an AppStream image of the manifest, given DescribeImages and its tags;
/// `wanted` are the source image's tags, which every copy must carry.
pub fn appstream_problem(
    image: &ManifestAppStreamImage,
    found: Option<&AppStreamImage>,
    tags: &BTreeMap<String, String>,
    wanted: &BTreeMap<String, String>,
) -> Option<String> {
    let Some(found) = found else {
        return Some("does not exist".into());
    };
    let mut wrong = Vec::new();
    if found.image_state() != AppStreamImageState::Available {
        wrong.push(format!(
            "state is {}, not AVAILABLE{}",
            found.state,
            found
                .state_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ));
    }
    if let Some(arn) = found.arn.as_deref().filter(|a| *a != image.arn) {
        wrong.push(format!("ARN is {arn}, the manifest says {}", image.arn));
    }
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(k, v)| tags.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !missing.is_empty() {
        wrong.push(format!("lacks the source's tags {}", missing.join(", ")));
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

/// What is wrong with a URL, given the HTTP status it answered (or why it did not answer).
pub fn url_problem(answer: Result<u16, String>, signed: bool) -> Option<String> {
    match answer {
        Ok(200..=299) => None,
        Ok(403) if !signed => Some(
            "answers 403 (if the stack requires signed URLs, pass --key-pair-id and --private-key)"
                .into(),
        ),
        Ok(status) => Some(format!("answers HTTP {status}")),
        Err(e) => Some(format!("does not answer: {e}")),
    }
}

/// Where the public key that checks the release's signatures comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKeySource {
    /// A PEM file the user pinned (`--public-key`).
    File(std::path::PathBuf),
    /// KMS GetPublicKey of the stack's signing key (`--signing-key`, output `SigningKeyArn`).
    Kms(String),
    /// The bucket's own `catalog/signing-key.pem`: checks integrity, not origin.
    Bucket,
}

impl PublicKeySource {
    pub(crate) fn pinned(&self) -> bool {
        !matches!(self, Self::Bucket)
    }
}

/// How a finding names the key it checked with.
pub(crate) fn origin_of(source: &PublicKeySource) -> String {
    match source {
        PublicKeySource::File(path) => format!("key {}", path.display()),
        PublicKeySource::Kms(arn) => format!("key {arn} (KMS)"),
        PublicKeySource::Bucket => {
            format!("key {} from the bucket, not pinned", keys::SIGNING_KEY_PEM)
        }
    }
}

/// A P-256 public key from PEM (`-----BEGIN PUBLIC KEY-----`) or DER `SubjectPublicKeyInfo`.
pub fn public_key(bytes: &[u8]) -> Result<p256::ecdsa::VerifyingKey, String> {
    use p256::pkcs8::DecodePublicKey;
    match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN PUBLIC KEY-----") => {
            p256::ecdsa::VerifyingKey::from_public_key_pem(text.trim())
                .map_err(|e| format!("not an ECDSA P-256 public key (PEM): {e}"))
        }
        _ => p256::ecdsa::VerifyingKey::from_public_key_der(bytes)
            .map_err(|e| format!("not an ECDSA P-256 public key (DER): {e}")),
    }
}

/// What is wrong with an object's detached signature (DER ECDSA over the object's SHA-256),
/// given the object's SHA-256 as hashed now.
pub fn signature_problem(
    key: &p256::ecdsa::VerifyingKey,
    sha256_hex: &str,
    signature: Option<&[u8]>,
) -> Option<String> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    let Some(signature) = signature else {
        return Some("has no signature (<key>.sig)".into());
    };
    let Ok(signature) = p256::ecdsa::Signature::from_der(signature) else {
        return Some("the signature is not a DER ECDSA signature".into());
    };
    let Some(digest) = shared::ports::unhex(sha256_hex).filter(|d| d.len() == 32) else {
        return Some(format!("no SHA-256 to check ({sha256_hex})"));
    };
    key.verify_prehash(&digest, &signature)
        .err()
        .map(|_| "the signature does not verify: the object changed after it was signed, or another key signed it".into())
}

pub struct Options {
    pub skip_urls: bool,
    /// Also check the signed catalog documents' signatures and freshness (`verify`; a
    /// promotion checks the release, whose catalog entry it is about to change).
    pub catalog: bool,
    pub key: Option<(String, rsa::RsaPrivateKey)>,
    pub public_key: PublicKeySource,
    /// The channels' SSM hierarchy, checked for a revoked release.
    pub parameter_prefix: Option<String>,
}

/// The signature findings of a release: `SHA256SUMS` (when it has artifacts) and the manifest.
async fn check_signatures(
    config: &aws_config::SdkConfig,
    store: &shared::aws::s3::S3Adapter,
    id: &shared::domain::ReleaseId,
    has_artifacts: bool,
    source: &PublicKeySource,
) -> Vec<Finding> {
    let mut signed = Vec::new();
    if has_artifacts {
        signed.push(keys::sha256sums(id));
    }
    signed.push(keys::manifest(id));
    let manifest_sig = store
        .read_bytes(&keys::signature(&keys::manifest(id)))
        .await
        .ok()
        .flatten();
    if manifest_sig.is_none() && !source.pinned() {
        // Published before signing existed, or without SIGNING_KEY_ID: nothing to check, and
        // nothing pinned that says there should be.
        return vec![Finding::new(
            "signature",
            format!(
                "{} (not signed; pass --signing-key or --public-key to require it)",
                keys::manifest(id)
            ),
            None,
        )];
    }
    let key = crate::provenance::SignedManifests::key(config, store, source).await;
    let origin = origin_of(source);
    let key = match key {
        Ok(key) => key,
        Err(problem) => return vec![Finding::new("signature", origin, Some(problem))],
    };
    let mut findings = Vec::new();
    for object in signed {
        let problem = match store.sha256(&object).await {
            Ok(Some(digest)) => {
                let signature = store
                    .read_bytes(&keys::signature(&object))
                    .await
                    .ok()
                    .flatten();
                signature_problem(&key, &digest.sha256, signature.as_deref())
            }
            Ok(None) => Some("the object does not exist".into()),
            Err(e) => Some(format!("could not hash it: {e}")),
        };
        findings.push(Finding::new(
            "signature",
            format!("{object} ({origin})"),
            problem,
        ));
    }
    findings
}

pub async fn verify(cli: &Cli, release: &str, options: Options) -> Outcome {
    let id = release_id(release)?;
    // A malformed prefix is a usage error whether or not the release turns out revoked.
    if options.parameter_prefix.is_some() {
        crate::parameter_prefix(options.parameter_prefix.as_deref())?;
    }
    let store = store(cli).await?;
    let manifest = crate::published(&store, &id).await?;
    let config = sdk(cli).await?;
    // A revoked release is checked for being revoked everywhere instead.
    if let Some(record) = crate::revoke::revocation(&store, &id).await? {
        let prefix = crate::parameter_prefix(options.parameter_prefix.as_deref())?;
        let findings =
            crate::revoked::check_revoked(&config, &store, &manifest, &record, &prefix).await?;
        return Ok(report(cli, &id, &findings));
    }
    let findings = check(&config, &store, &manifest, &options).await?;
    Ok(report(cli, &id, &findings))
}

/// Every check of a published release's manifest against AWS: its AMIs, artifacts (size and
/// SHA-256, hashed now), AppStream images, signatures and (unless `options.skip_urls`) URLs.
pub async fn check(
    config: &aws_config::SdkConfig,
    store: &S3Adapter,
    manifest: &shared::release::Manifest,
    options: &Options,
) -> Result<Vec<Finding>, Failure> {
    let id = &manifest.release_id;
    let mut findings = Vec::new();

    for ami in &manifest.amis {
        let subject = format!("{} {}", ami.region, ami.ami_id);
        let problem = match AmiId::parse("ami_id", &ami.ami_id) {
            Err(e) => Some(e.to_string()),
            Ok(ami_id) => {
                let regional = crate::regional(config, &ami.region);
                match Ec2Adapter::new(&regional).describe_ami(&ami_id).await {
                    Ok(facts) => ami_problem(ami, facts.as_ref(), &manifest.distributed_image_arn),
                    Err(e) => Some(format!("DescribeImages failed: {e}")),
                }
            }
        };
        findings.push(Finding::new("AMI", subject, problem));
    }

    let artifacts = crate::artifacts(manifest);
    for artifact in &artifacts {
        let bar = progress_bar(artifact);
        let digest = store
            .sha256_with_progress(&artifact.object_key, &|done, _| bar.set_position(done))
            .await;
        bar.finish_and_clear();
        let problem = match digest {
            Ok(digest) => artifact_problem(artifact, digest.as_ref()),
            Err(e) => Some(format!("could not hash it: {e}")),
        };
        findings.push(Finding::new(
            "artifact",
            format!("{} {}", artifact.format.as_str(), artifact.object_key),
            problem,
        ));
    }

    if !manifest.appstream.is_empty() {
        findings.extend(check_appstream(config, store, id, &manifest.appstream).await);
    }

    findings.extend(
        check_signatures(
            config,
            store,
            id,
            !artifacts.is_empty(),
            &options.public_key,
        )
        .await,
    );
    if options.catalog {
        findings.extend(crate::freshness::check_catalog(config, store, &options.public_key).await);
    }

    if !options.skip_urls {
        let mut urls: Vec<(String, bool)> = Vec::new();
        for artifact in &artifacts {
            urls.push(match &options.key {
                Some((key_pair_id, key)) => {
                    let expires = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap_or_default()
                        .as_secs()
                        + 600;
                    (
                        crate::sign::signed_url(&artifact.url, key_pair_id, key, expires),
                        true,
                    )
                }
                None => (artifact.url.clone(), false),
            });
        }
        urls.extend(manifest.checksums_url.iter().map(|u| (u.clone(), false)));
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::Usage(format!("HTTP client: {e}")))?;
        for (url, signed) in urls {
            // Never the URL in the error: a signed one carries its signature.
            let answer = http
                .head(&url)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .map_err(|e| shared::aws::causes(&e.without_url()));
            let shown = url.split('?').next().unwrap_or(&url).to_owned();
            findings.push(Finding::new("URL", shown, url_problem(answer, signed)));
        }
    }

    Ok(findings)
}

/// Prints the findings (a table, or JSON with `--json`); `Some(summary)` when any failed.
pub fn report(cli: &Cli, id: &ReleaseId, findings: &[Finding]) -> Option<String> {
    let problems = findings.iter().filter(|f| f.problem.is_some()).count();
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "release": id.as_str(),
                "ok": problems == 0,
                "findings": findings,
            }))
            .unwrap_or_default()
        );
    } else {
        let rows: Vec<Vec<String>> = findings
            .iter()
            .map(|f| {
                vec![
                    f.check.to_owned(),
                    f.subject.clone(),
                    f.problem.clone().unwrap_or_else(|| "ok".into()),
                ]
            })
            .collect();
        println!("{}", table(&["CHECK", "SUBJECT", "RESULT"], &rows));
        if problems == 0 {
            println!("all {} checks of {id} passed", findings.len());
        }
    }
    (problems > 0).then(|| {
        format!(
            "{problems} of {} checks of {id} found a mismatch",
            findings.len()
        )
    })
}

fn progress_bar(artifact: &ManifestExport) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(artifact.size_bytes);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("SHA-256 {}", keys::file_name(&artifact.object_key)));
    bar
}

/// Each copy in the manifest: AVAILABLE, the ARN recorded, and the source image's tags.
async fn check_appstream(
    config: &aws_config::SdkConfig,
    store: &shared::aws::s3::S3Adapter,
    id: &shared::domain::ReleaseId,
    images: &[ManifestAppStreamImage],
) -> Vec<Finding> {
    let record: Option<AppStreamRecord> = store.get_json(&keys::appstream(id)).await.ok().flatten();
    let regions: Vec<RegionName> = images
        .iter()
        .filter_map(|i| RegionName::parse("region", &i.region).ok())
        .collect();
    let home = record
        .as_ref()
        .and_then(|r| RegionName::parse("source_region", &r.source_region).ok())
        .or_else(|| {
            config
                .region()
                .and_then(|r| RegionName::parse("region", r.as_ref()).ok())
        });
    let Some(home) = home else {
        return vec![Finding::new(
            "AppStream",
            "source image".into(),
            Some("no AppStream record and no region to find the source image in".into()),
        )];
    };
    let appstream = AppStreamAdapter::new(config, &home, &regions);
    let mut findings = Vec::new();
    // The source image's tags: AWS does not copy tags with CopyImage, publish-release does.
    let mut wanted = BTreeMap::new();
    if let Some(record) = &record {
        match appstream
            .describe_image(&home, &record.source_image_name)
            .await
        {
            Ok(Some(source)) => {
                if let Some(arn) = source.arn.as_deref() {
                    match appstream.list_tags(&home, arn).await {
                        Ok(tags) => wanted = tags,
                        Err(e) => findings.push(Finding::new(
                            "AppStream",
                            format!("{home} {} (source)", record.source_image_name),
                            Some(format!("ListTagsForResource failed: {e}")),
                        )),
                    }
                }
            }
            Ok(None) => findings.push(Finding::new(
                "AppStream",
                format!("{home} {} (source)", record.source_image_name),
                Some("the source image no longer exists; its tags cannot be compared".into()),
            )),
            Err(e) => findings.push(Finding::new(
                "AppStream",
                format!("{home} {} (source)", record.source_image_name),
                Some(format!("DescribeImages failed: {e}")),
            )),
        }
    }
    for image in images {
        let subject = format!("{} {}", image.region, image.image_name);
        let (Ok(region), Ok(name)) = (
            RegionName::parse("region", &image.region),
            AppStreamImageName::parse("image_name", &image.image_name),
        ) else {
            findings.push(Finding::new(
                "AppStream",
                subject,
                Some("the manifest's region or image name is not valid".into()),
            ));
            continue;
        };
        let problem = match appstream.describe_image(&region, &name).await {
            Err(e) => Some(format!("DescribeImages failed: {e}")),
            Ok(found) => {
                let tags = match found.as_ref().and_then(|f| f.arn.as_deref()) {
                    Some(arn) => appstream.list_tags(&region, arn).await.unwrap_or_default(),
                    None => BTreeMap::new(),
                };
                appstream_problem(image, found.as_ref(), &tags, &wanted)
            }
        };
        findings.push(Finding::new("AppStream", subject, problem));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::domain::DiskImageFormat;

    const IMAGE: &str = "arn:aws:imagebuilder:us-east-1:123456789012:image/golden/1.0.0/1";

    fn ami() -> ManifestAmi {
        ManifestAmi {
            region: "us-west-2".into(),
            ami_id: "ami-0123456789abcdef0".into(),
            account_id: Some("123456789012".into()),
            name: Some("golden 1.0.0".into()),
        }
    }

    fn facts() -> AmiFacts {
        AmiFacts {
            state: Some("available".into()),
            owner_id: Some("123456789012".into()),
            name: Some("golden 1.0.0".into()),
            tags: BTreeMap::from([(TAG_IMAGE_BUILDER_ARN.into(), IMAGE.into())]),
            ..AmiFacts::default()
        }
    }

    #[test]
    fn when_the_ami_is_as_published_should_find_nothing() {
        assert_eq!(ami_problem(&ami(), Some(&facts()), IMAGE), None);
    }

    #[test]
    fn when_the_ami_is_gone_should_say_so_naming_its_account() {
        let problem = ami_problem(&ami(), None, IMAGE).unwrap();
        assert!(
            problem.contains("does not exist") && problem.contains("123456789012"),
            "{problem}"
        );
    }

    #[test]
    fn when_the_ami_differs_should_name_every_difference() {
        let mut facts = facts();
        facts.state = Some("deregistered".into());
        facts.owner_id = Some("210987654321".into());
        facts.tags.clear();
        let problem = ami_problem(&ami(), Some(&facts), IMAGE).unwrap();
        for part in ["deregistered", "210987654321", TAG_IMAGE_BUILDER_ARN] {
            assert!(problem.contains(part), "{problem}");
        }
    }

    fn artifact() -> ManifestExport {
        ManifestExport {
            object_key: "releases/golden-1.0.0-1/export-ami.vmdk".into(),
            size_bytes: 10,
            format: DiskImageFormat::Vmdk,
            url: "https://d111111abcdef8.cloudfront.net/releases/golden-1.0.0-1/export-ami.vmdk"
                .into(),
            sha256: "a".repeat(64),
        }
    }

    #[test]
    fn when_the_artifact_was_tampered_with_should_show_both_digests() {
        let digest = ObjectDigest {
            size: 10,
            sha256: "b".repeat(64),
        };
        let problem = artifact_problem(&artifact(), Some(&digest)).unwrap();
        assert!(problem.contains(&"a".repeat(64)) && problem.contains(&"b".repeat(64)));
        let same = ObjectDigest {
            size: 10,
            sha256: "a".repeat(64),
        };
        assert_eq!(artifact_problem(&artifact(), Some(&same)), None);
        assert!(
            artifact_problem(&artifact(), None)
                .unwrap()
                .contains("does not exist")
        );
    }

    #[test]
    fn when_a_copy_lacks_the_source_tags_or_is_not_available_should_say_which() {
        let image = ManifestAppStreamImage {
            region: "eu-west-1".into(),
            image_name: "golden".into(),
            arn: "arn:aws:appstream:eu-west-1:123456789012:image/golden".into(),
        };
        let found = AppStreamImage {
            name: "golden".into(),
            arn: Some(image.arn.clone()),
            state: "FAILED".into(),
            state_reason: Some("copy failed".into()),
            description: None,
            visibility: None,
            image_builder_name: None,
        };
        let wanted = BTreeMap::from([("team".to_owned(), "platform".to_owned())]);
        let problem = appstream_problem(&image, Some(&found), &BTreeMap::new(), &wanted).unwrap();
        assert!(
            problem.contains("FAILED") && problem.contains("team=platform"),
            "{problem}"
        );
        let available = AppStreamImage {
            state: "AVAILABLE".into(),
            ..found
        };
        assert_eq!(
            appstream_problem(&image, Some(&available), &wanted, &wanted),
            None
        );
        assert_eq!(
            appstream_problem(&image, None, &wanted, &wanted).as_deref(),
            Some("does not exist")
        );
    }

    #[test]
    fn when_a_url_is_refused_should_hint_at_signing_only_when_unsigned() {
        assert_eq!(url_problem(Ok(200), false), None);
        assert!(
            url_problem(Ok(403), false)
                .unwrap()
                .contains("--key-pair-id")
        );
        assert_eq!(
            url_problem(Ok(403), true).as_deref(),
            Some("answers HTTP 403")
        );
        assert!(
            url_problem(Err("timed out".into()), false)
                .unwrap()
                .contains("timed out")
        );
    }

    fn test_key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap()
    }

    fn signed(key: &p256::ecdsa::SigningKey, digest: &[u8; 32]) -> Vec<u8> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        let signature: p256::ecdsa::Signature = key.sign_prehash(digest).unwrap();
        signature.to_der().as_bytes().to_vec()
    }

    #[test]
    fn when_a_signature_matches_the_object_should_pass_and_name_every_other_case() {
        let key = test_key();
        let public = *key.verifying_key();
        let digest = [0x5au8; 32];
        let hex = shared::ports::hex(&digest);
        let sig = signed(&key, &digest);
        assert_eq!(signature_problem(&public, &hex, Some(&sig)), None);
        // The object changed after signing.
        let other = shared::ports::hex(&[0x5bu8; 32]);
        assert!(
            signature_problem(&public, &other, Some(&sig))
                .unwrap()
                .contains("does not verify")
        );
        // Another key signed it.
        let stranger = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).unwrap();
        assert!(signature_problem(&public, &hex, Some(&signed(&stranger, &digest))).is_some());
        assert!(
            signature_problem(&public, &hex, None)
                .unwrap()
                .contains("no signature")
        );
        assert!(
            signature_problem(&public, &hex, Some(b"junk"))
                .unwrap()
                .contains("not a DER")
        );
        assert!(signature_problem(&public, "zz", Some(&sig)).is_some());
    }

    #[test]
    fn when_a_public_key_is_pem_or_der_should_parse_and_anything_else_be_named() {
        use p256::pkcs8::EncodePublicKey;
        let der = test_key().verifying_key().to_public_key_der().unwrap();
        let from_der = public_key(der.as_bytes()).unwrap();
        let pem = shared::ports::public_key_pem(der.as_bytes());
        assert_eq!(public_key(pem.as_bytes()).unwrap(), from_der);
        assert!(
            public_key(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .unwrap_err()
                .contains("PEM")
        );
        assert!(public_key(b"\x00\x01").unwrap_err().contains("DER"));
    }
}
