//! Every command held to one contract of exit codes and messages (docs/src/operating.md, "Exit
//! codes and messages"): 0 done, 1 a check failed or a refusal, 2 usage or configuration named
//! as the operator spelled it with `(got …)`; an error is one line, never an SDK debug
//! structure, and one JSON object with `--json`; the same words for the same situation.
//!
//! The first tests need no stack: every endpoint is a closed port, so a usage error that were
//! found only after a call would show as exit 1 and fail the row.

mod support;

use runner::OnFailure;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use support::*;

/// A port nothing listens on.
const CLOSED: &str = "http://127.0.0.1:9";

/// One invocation of every command, with what each needs to get as far as AWS.
const COMMANDS: &[&[&str]] = &[
    &["status"],
    &["status", ID],
    &["url", ID],
    &["verify", ID, "--skip-urls"],
    &["watch", ID, "--timeout", "1s", "--interval", "1s"],
    &["retry", ID, "--yes"],
    &[
        "doctor",
        "--pipeline",
        "arn:aws:imagebuilder:us-east-1:123456789012:image-pipeline/golden",
    ],
    &["channels"],
    &["promote", ID, "--to", "stable"],
    &["rollback", "--channel", "stable"],
    &["revoke", ID, "--reason", "test", "--yes"],
    &["retention", "plan"],
    &["retention", "apply", "--yes"],
    &["request", "--event-bus", "image-release-releases"],
];

/// The CLI against closed ports, with `change` applied to its environment.
fn offline(args: &[&str], change: impl FnOnce(&mut Command)) -> Output {
    let mut command = command(OPERATOR, CLOSED, CLOSED, args);
    // No shared config or credentials file of this machine may supply a region.
    command
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_MAX_ATTEMPTS", "1");
    change(&mut command);
    command.output().expect("image-release")
}

const OPERATOR: &str = runner::stack::OPERATORS[0].access_key;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The contract's error line: one line, `image-release: …`, no debug structure; with `--json`,
/// one JSON object whose exit is the process's.
fn assert_error_line(out: &Output, json: bool, what: &str) {
    let code = out.status.code();
    let err = stderr(out);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("warning: "))
        .collect();
    let last = lines.last().copied().unwrap_or_default();
    for debug in ["DispatchFailure", "ConnectorError", "{ source", "Some("] {
        assert!(
            !err.contains(debug),
            "{what}: a debug structure: {}",
            text(out)
        );
    }
    if json {
        let value: serde_json::Value = serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("{what}: not a JSON error ({e}): {}", text(out)));
        assert_eq!(
            value["error"]["exit"].as_i64(),
            code.map(i64::from),
            "{what}"
        );
        assert!(
            value["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    } else {
        assert!(last.starts_with("image-release: "), "{what}: {}", text(out));
    }
}

#[test]
fn when_the_region_is_missing_or_not_aws_should_every_command_exit_2_naming_it() {
    for args in COMMANDS {
        for json in [false, true] {
            let mut args = args.to_vec();
            if json {
                args.insert(0, "--json");
            }
            let out = offline(&args, |c| {
                c.env_remove("AWS_REGION").env_remove("AWS_DEFAULT_REGION");
            });
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
            assert!(
                stderr(&out).contains("no region: pass --region"),
                "{args:?}: {}",
                text(&out)
            );
            assert_error_line(&out, json, &format!("{args:?}"));
            for region in ["mars-north-1", "US-EAST-1", "bad region"] {
                let mut args = args.clone();
                args.extend(["--region", region]);
                let out = offline(&args, |_| {});
                assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
                let err = stderr(&out);
                assert!(
                    err.contains("--region: ") && err.contains(region),
                    "{args:?}: {}",
                    text(&out)
                );
                assert_error_line(&out, json, &format!("{args:?}"));
            }
        }
    }
}

#[test]
fn when_aws_cannot_be_reached_should_every_command_exit_1_in_one_line() {
    for args in COMMANDS {
        for json in [false, true] {
            let mut args = args.to_vec();
            if json {
                args.insert(0, "--json");
            }
            let out = offline(&args, |_| {});
            assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
            assert_error_line(&out, json, &format!("{args:?}"));
        }
    }
}

/// Usage errors, each found before anything is asked of AWS (the endpoints are closed: a call
/// would end in exit 1), naming the flag or variable, its rule and what was given.
#[test]
fn when_a_flag_or_variable_is_wrong_should_exit_2_naming_it_with_what_was_given() {
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/test-signing-key.pem"
    );
    let signed = ["--key-pair-id", "K2JCJMDEHXQW5F", "--private-key", key];
    let with_key = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["url", ID];
        args.extend_from_slice(&signed);
        args.extend_from_slice(extra);
        args
    };
    let rows: Vec<(Vec<&str>, &str)> = vec![
        (vec!["status", "Not A Release"], "RELEASE: must match"),
        (
            vec!["rollback", "--channel", "stable", "--to", "x"],
            "--to: must match",
        ),
        (
            vec!["url", ID, "--expires", "1d"],
            "--expires: only a signed URL expires",
        ),
        (
            vec!["url", ID, "--expires-at", "2030-01-01T00:00:00Z"],
            "--expires-at: only a signed URL",
        ),
        (
            with_key(&["--expires", "0s"]),
            "--expires: must be in the future",
        ),
        (
            with_key(&["--expires-at", "2020-01-01T00:00:00Z"]),
            "--expires-at: must be in the future",
        ),
        (
            with_key(&["--expires", "36500d"]),
            "--expires: must be at most 3650d (ten years)",
        ),
        (
            with_key(&["--expires-at", "2999-01-01T00:00:00Z"]),
            "--expires-at: must be at most 3650d (ten years)",
        ),
        (
            vec!["url", ID, "--format", "QCOW2"],
            "--format: must be one of VMDK | RAW | VHD",
        ),
        (
            vec!["verify", ID, "--signing-key", "not a key"],
            "--signing-key (or IMAGE_RELEASE_SIGNING_KEY): ",
        ),
        (
            vec!["retention", "plan", "--signing-key", "not a key"],
            "--signing-key (or IMAGE_RELEASE_SIGNING_KEY): ",
        ),
        (
            vec!["verify", ID, "--parameter-prefix", "no-slash"],
            "--parameter-prefix: ",
        ),
        (
            vec!["promote", ID, "--to", "stable", "--reason", "a\u{7}bell"],
            "--reason: ",
        ),
        (
            with_key(&["--expires-at", "soon"]),
            "--expires-at: must be an RFC 3339 time",
        ),
        (
            vec![
                "url",
                ID,
                "--key-pair-id",
                "K1",
                "--private-key",
                "nope.pem",
            ],
            "--private-key nope.pem",
        ),
        (
            vec!["verify", ID, "--public-key", "nope.pem"],
            "--public-key nope.pem",
        ),
        (
            vec!["promote", ID, "--to", "stable", "--public-key", "nope.pem"],
            "--public-key nope.pem",
        ),
        (
            vec!["retention", "plan", "--public-key", "nope.pem"],
            "--public-key nope.pem",
        ),
        (
            vec!["retention", "plan", "--delete-after-days", "abc"],
            "--delete-after-days (or RETENTION_DELETE_AFTER_DAYS): must be",
        ),
        (
            vec!["retention", "apply", "--keep-channel-days", "abc"],
            "--keep-channel-days (or RETENTION_KEEP_CHANNEL_DAYS): must be",
        ),
        (vec!["channels", "../x"], "IMAGE: must match"),
        (
            vec!["rollback", "--channel", "stable", "--image", "../x"],
            "--image: must match",
        ),
        (vec!["promote", ID, "--to", "Not/A/Channel"], "--to: "),
        (vec!["status", "--bogus"], "--bogus"),
    ];
    for (args, says) in &rows {
        for json in [false, true] {
            let mut args = args.clone();
            if json {
                args.insert(0, "--json");
            }
            let out = offline(&args, |_| {});
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
            assert!(
                stderr(&out).contains(says),
                "{args:?} should say {says:?}: {}",
                text(&out)
            );
            assert_error_line(&out, json, &format!("{args:?}"));
        }
    }
    let out = offline(&["status"], |c| {
        c.env("IMAGE_RELEASE_BUCKET", "");
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("--bucket: must match") && stderr(&out).contains("(got \"\")"),
        "{}",
        text(&out)
    );
}

/// Against a published release: an unknown release worded alike in every command; a repeat
/// that changes nothing is done (exit 0, said so); a revocation raised to `--purge` carried out
/// by the ticks; a revoked release shown revoked by status, watch and url (refused without
/// --force); an identity that cannot be read warned about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_release_is_unknown_repeated_or_revoked_should_every_command_say_so_alike() {
    let mut s = scenario();
    let outputs = Arc::new(Mutex::new(Vec::new()));
    let seen = outputs.clone();
    s.on_published = Some(OnFailure(Arc::new(move |live| {
        let (s3, emulator) = (live.s3_authorized, live.emulator.endpoint());
        let run = |args: &[&str]| cli_with(&s3, &emulator, args);
        let mut out: Vec<(String, Output)> = Vec::new();
        let unknown = "nothing-9.9.9-9";
        for args in [
            &["status", unknown][..],
            &["watch", unknown][..],
            &["retry", unknown, "--yes"][..],
            &["verify", unknown, "--skip-urls"][..],
            &["url", unknown][..],
            &["promote", unknown, "--to", "stable"][..],
            &["revoke", unknown, "--reason", "r", "--yes"][..],
        ] {
            out.push((format!("unknown {args:?}"), run(args)));
        }
        // Who moved it cannot be read: warned, still moved.
        let mut blind = command(
            runner::stack::OPERATORS[1].access_key,
            &s3,
            &emulator,
            &["promote", ID, "--to", "stable"],
        );
        blind.env("AWS_ENDPOINT_URL_STS", CLOSED);
        out.push(("promote, STS closed".into(), blind.output().unwrap()));
        out.push((
            "promote again".into(),
            run(&["promote", ID, "--to", "stable"]),
        ));
        out.push(("url RAW".into(), run(&["url", ID, "--format", "raw"])));
        out.push((
            "revoke".into(),
            run(&["revoke", ID, "--reason", "CVE-2026-0003", "--yes"]),
        ));
        out.push((
            "revoke again".into(),
            run(&["revoke", ID, "--reason", "CVE-2026-0003", "--yes"]),
        ));
        out.push((
            "revoke raised".into(),
            run(&["revoke", ID, "--reason", "x", "--purge", "--yes"]),
        ));
        out.push(("channels".into(), run(&["--json", "channels", "golden"])));
        out.push(("status".into(), run(&["status", ID])));
        out.push(("status all".into(), run(&["--json", "status"])));
        out.push(("watch".into(), run(&["watch", ID, "--interval", "1s"])));
        out.push(("url".into(), run(&["url", ID])));
        out.push(("url --force".into(), run(&["url", ID, "--force"])));
        // The raise carried out by the ticks: verify checks the disks are gone.
        out.push((
            "verified".into(),
            verified_within(&s3, &emulator, std::time::Duration::from_secs(60)),
        ));
        *seen.lock().unwrap() = out;
    })));
    let report = published_with(s).await;
    let outputs = std::mem::take(&mut *outputs.lock().unwrap());
    assert!(!outputs.is_empty(), "the hook did not run");
    let get = |name: &str| output(&outputs, name);
    for (name, out) in outputs.iter().filter(|(n, _)| n.starts_with("unknown")) {
        assert_eq!(out.status.code(), Some(1), "{name}: {}", text(out));
        assert!(
            stderr(out).contains(&format!(
                "release nothing-9.9.9-9 does not exist in bucket {}",
                runner::BUCKET
            )),
            "{name}: {}",
            text(out)
        );
        assert_error_line(out, false, name);
    }
    let blind = get("promote, STS closed");
    assert_eq!(blind.status.code(), Some(0), "{}", text(blind));
    assert!(
        stderr(blind).contains("warning: who you are could not be read"),
        "{}",
        text(blind)
    );
    let again = get("promote again");
    assert_eq!(again.status.code(), Some(0), "{}", text(again));
    assert!(text(again).contains("nothing to do"), "{}", text(again));
    assert_eq!(
        get("revoke").status.code(),
        Some(0),
        "{}",
        text(get("revoke"))
    );
    let again = get("revoke again");
    assert_eq!(again.status.code(), Some(0), "{}", text(again));
    assert!(text(again).contains("nothing to do"), "{}", text(again));
    let raised = get("revoke raised");
    assert_eq!(raised.status.code(), Some(0), "{}", text(raised));
    assert!(
        text(raised).contains("raised to revision 1 (adds --purge)"),
        "{}",
        text(raised)
    );
    let verified = get("verified");
    assert!(verified.status.success(), "{}", text(verified));
    assert!(
        String::from_utf8_lossy(&verified.stdout)
            .lines()
            .any(|l| l.starts_with("all ") && l.ends_with(&format!("checks of {ID} passed"))),
        "verify's summary line: {}",
        text(verified)
    );
    // An unknown format names the ones the release has.
    let raw = get("url RAW");
    assert_eq!(raw.status.code(), Some(1), "{}", text(raw));
    assert!(
        stderr(raw).contains("has no RAW artifact; it has VMDK"),
        "{}",
        text(raw)
    );
    // A channel still at the revoked release (publish-release's next tick moves it) says so.
    let channels: serde_json::Value =
        serde_json::from_slice(&get("channels").stdout).expect("channels --json");
    for channel in channels["channels"].as_array().unwrap() {
        assert_eq!(channel["revoked"], channel["release_id"] == ID, "{channel}");
    }
    assert!(
        text(verified).contains("disk withdrawn") && !text(verified).contains("still exists"),
        "{}",
        text(verified)
    );

    let status = get("status");
    assert_eq!(status.status.code(), Some(0), "{}", text(status));
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert!(stdout.starts_with(&format!("{ID}: revoked")), "{stdout}");
    assert!(stdout.contains("CVE-2026-0003"), "{stdout}");
    let all: serde_json::Value =
        serde_json::from_slice(&get("status all").stdout).expect("status --json");
    assert_eq!(all[0]["state"], "revoked", "{all}");
    let watch = get("watch");
    assert_eq!(watch.status.code(), Some(1), "{}", text(watch));
    assert!(stderr(watch).contains("was revoked at"), "{}", text(watch));
    let url = get("url");
    assert_eq!(url.status.code(), Some(1), "{}", text(url));
    assert!(
        stderr(url).contains("was revoked at") && stderr(url).contains("--force"),
        "{}",
        text(url)
    );
    assert_eq!(
        get("url --force").status.code(),
        Some(0),
        "{}",
        text(get("url --force"))
    );
    inventory(
        "when_a_release_is_unknown_repeated_or_revoked_should_every_command_say_so_alike",
        &report,
    );
}
