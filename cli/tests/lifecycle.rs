//! An operator's first day, against the kept local stack (`local-release --keep --releases 2`,
//! here through the runner's library: the stack stays up while the `on_published` hook runs).
//! The real `image-release` binary runs the commands README.md and docs/src/operating.md write,
//! as they write them (each is checked to be in the document), with the environment
//! `local-release --keep` prints (`runner::kept::operator_environment`) and each command as the
//! local account's operator of its kind (`runner::stack::OPERATORS`): status, channels, a
//! promotion of each release in turn, a rollback, a revocation that publish-release's ticks
//! carry out until `verify` passes, retention plan and apply, a download link, and a new
//! request put through the emulator's EventBridge that publishes.

mod support;

use runner::kept::operator_environment;
use runner::{Live, OnFailure, Scenario, run};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const README: &str = include_str!("../../README.md");
const OPERATING: &str = include_str!("../../docs/src/operating.md");

const OLDER: &str = "golden-1.0.0-1";
const NEWER: &str = "golden-1.0.0-2";

/// How long publish-release's ticks may take to carry a change out (a tick every 200 ms here).
const TICKS: Duration = Duration::from_secs(60);

/// The operator whose policy a command needs: the narrowest (`support::operator_for`, as every
/// other test of the CLI runs its commands).
fn operator_for(args: &[String]) -> &'static str {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    support::operator_for(&args)
}

/// `line`'s words as a shell splits them: whitespace apart, double quotes kept together.
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// One operator at the kept stack: the documented command lines it runs, and what they answered.
struct Operator {
    live: Live,
    /// What `verify` has seen of this stack's catalog (in the run's log directory).
    state_dir: PathBuf,
    transcript: Mutex<String>,
}

impl Operator {
    /// `image-release <line>`, after checking that one of `docs` writes exactly that line;
    /// `answer` is typed at its prompt.
    fn documented(&self, docs: &[&str], line: &str, answer: Option<&str>) -> Output {
        assert!(
            docs.iter()
                .any(|d| d.contains(&format!("image-release {line}"))),
            "not written in the docs: image-release {line}"
        );
        self.cli(&words(line), answer)
    }

    fn cli(&self, args: &[String], answer: Option<&str>) -> Output {
        let mut command = Command::new(env!("CARGO_BIN_EXE_image-release"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(operator_environment(
                &self.live,
                operator_for(args),
                &self.state_dir,
            ))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("image-release");
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(answer.unwrap_or("").as_bytes());
        }
        let out = child.wait_with_output().expect("image-release");
        self.transcript.lock().unwrap().push_str(&format!(
            "$ image-release {}\n{}",
            args.join(" "),
            text(&out)
        ));
        out
    }

    /// `args` again every half second until it exits 0 or `within` has passed: its last answer.
    fn until_ok(&self, args: &[&str], within: Duration) -> Output {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let deadline = Instant::now() + within;
        loop {
            let out = self.cli(&args, None);
            if out.status.success() || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// The release a channel record of golden points at (read from the bucket, not the CLI).
    fn channel(&self, channel: &str) -> Option<String> {
        let key = format!("channels/golden/{channel}.json");
        let record = block_on(runner::read_json(&self.live.s3, &key))?;
        record["release_id"].as_str().map(str::to_owned)
    }

    fn state(&self, release: &str) -> Option<String> {
        let key = format!("state/{release}/status.json");
        let status = block_on(runner::read_json(&self.live.s3, &key))?;
        status["state"].as_str().map(str::to_owned)
    }
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Handle::current().block_on(future)
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}\n",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The walk itself, on the running stack; panics (failing the run) at the first surprise.
fn walk(op: &Operator) {
    let ok = |out: &Output, what: &str| assert!(out.status.success(), "{what}: {}", text(out));
    assert_eq!(
        op.live.releases,
        [OLDER, NEWER],
        "the kept stack's releases"
    );

    // 1. Check the deployment (the stack's stand-ins in moto, as `local-release --keep` makes
    // them): every check passes.
    block_on(runner::kept::deploy_stand_ins(&op.live)).expect("the stack's stand-ins");
    let out = op.documented(&[OPERATING], "doctor --stack image-release", None);
    ok(&out, "doctor");
    let found = String::from_utf8_lossy(&out.stdout);
    assert!(found.lines().all(|l| l.starts_with("ok")), "{found}");

    // 3. See where releases stand.
    let out = op.documented(&[OPERATING], "status", None);
    ok(&out, "status");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(OLDER) && listed.contains(NEWER), "{listed}");
    // 6. Which release each channel points at: publication put the newer into testing.
    ok(&op.documented(&[OPERATING], "channels", None), "channels");
    assert_eq!(op.channel("testing").as_deref(), Some(NEWER));
    // One release step by step, with what AWS says now; one image's channels.
    let out = op.cli(&words(&format!("status {OLDER} --live")), None);
    ok(&out, "status --live");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("AWS STATE NOW"),
        "{}",
        text(&out)
    );
    let out = op.cli(&words("channels golden"), None);
    ok(&out, "channels golden");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("testing"),
        "{}",
        text(&out)
    );

    // 7. Promote each release in turn, then 8. take the channel back.
    ok(
        &op.cli(&words(&format!("promote {OLDER} --to stable")), None),
        "promote the older",
    );
    assert_eq!(op.channel("stable").as_deref(), Some(OLDER));
    let line = format!("promote {NEWER} --to stable --reason \"soaked 48h\"");
    ok(&op.documented(&[README], &line, None), "promote the newer");
    assert_eq!(op.channel("stable").as_deref(), Some(NEWER));
    let line = "rollback --channel stable --reason \"bad kernel\"";
    ok(&op.documented(&[README], line, None), "rollback");
    assert_eq!(op.channel("stable").as_deref(), Some(OLDER));

    // 4. Prove the older is whole, once a tick has signed the catalog the moves changed (the
    // signing key comes from IMAGE_RELEASE_SIGNING_KEY; the manifests' CloudFront URLs are
    // moto's and resolve nowhere).
    let out = op.until_ok(&["verify", OLDER, "--skip-urls"], TICKS);
    ok(&out, "verify the older");

    // 9. Take the newer back everywhere: asked, answered yes; the ticks carry it out.
    let line = format!("revoke {NEWER} --reason \"CVE-2026-0001\"");
    ok(&op.documented(&[README], &line, Some("y\n")), "revoke");
    let out = op.until_ok(&["verify", NEWER], TICKS);
    assert!(
        README.contains(&format!("image-release verify {NEWER}")),
        "the README's verify"
    );
    ok(&out, "verify the revocation once the ticks finished it");
    assert_eq!(op.channel("stable").as_deref(), Some(OLDER));
    assert_ne!(op.channel("testing").as_deref(), Some(NEWER));

    // 10. Retention: the default policy keeps both; one under which everything is due deletes
    // the revoked release's disk and keeps the older, which stable holds.
    ok(
        &op.documented(&[README, OPERATING], "retention plan", None),
        "plan",
    );
    ok(
        &op.documented(&[OPERATING], "retention apply", Some("y\n")),
        "apply",
    );
    let due = "--keep-newest 0 --keep-channel-days 0 --delete-after-days 0";
    ok(
        &op.cli(&words(&format!("retention plan {due}")), None),
        "plan",
    );
    let apply = words(&format!("retention apply --yes {due}"));
    ok(&op.cli(&apply, None), "apply everything due");
    let left = |release: &str| {
        block_on(runner::list_keys(
            &op.live.s3,
            &format!("releases/{release}/"),
        ))
    };
    assert!(
        !left(NEWER).iter().any(|k| k.ends_with(".vmdk")),
        "the revoked release's disk: {:?}",
        left(NEWER)
    );
    assert!(
        left(OLDER).iter().any(|k| k.ends_with(".vmdk")),
        "stable's disk"
    );

    // A download link for the release stable holds.
    let out = op.documented(&[OPERATING], &format!("url {OLDER}"), None);
    ok(&out, "url");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("/releases/{OLDER}/")),
        "{}",
        text(&out)
    );

    // 2. Start a release and follow it: put through the emulator's EventBridge onto the
    // release bus, taken by start-pipeline, carried to publication by the ticks.
    let written = "image-release request --event-bus <ReleaseBusName>";
    assert!(
        OPERATING.contains(written),
        "not written in the docs: {written}"
    );
    let line = format!(
        "request --event-bus {} --version 1.0.2",
        op.live.release_bus
    );
    ok(&op.cli(&words(&line), None), "request");
    let deadline = Instant::now() + TICKS;
    let requested = loop {
        let keys = block_on(runner::list_keys(&op.live.s3, "state/"));
        let new = keys
            .iter()
            .filter_map(|k| k.strip_prefix("state/")?.strip_suffix("/status.json"))
            .find(|id| ![OLDER, NEWER].contains(id))
            .map(str::to_owned);
        if let Some(id) = new.filter(|id| op.state(id).as_deref() == Some("published")) {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "no new release published: {keys:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    assert!(OPERATING.contains("then `image-release watch golden-1.2.0-1`"));
    ok(
        &op.cli(&words(&format!("watch {requested}")), None),
        "watch the new release",
    );
    assert_eq!(op.channel("testing").as_deref(), Some(requested.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_kept_stack_has_two_releases_should_the_documented_commands_walk_the_whole_lifecycle()
 {
    let started = Instant::now();
    let mut s = Scenario::new(&runner::workspace_root());
    s.step = Duration::from_millis(150);
    s.publish_interval = Duration::from_millis(200);
    s.timeout = Duration::from_secs(120);
    s.progress = false;
    s.export_size = Some(1024 * 1024);
    s.releases = vec!["golden".into(), "golden".into()];
    let state_dir = s.log_dir.join("operator-state");
    let walked = Arc::new(AtomicBool::new(false));
    let transcript = Arc::new(Mutex::new(String::new()));
    let (done, said) = (walked.clone(), transcript.clone());
    s.on_published = Some(OnFailure(Arc::new(move |live| {
        let op = Operator {
            live,
            state_dir: state_dir.clone(),
            transcript: Mutex::new(String::new()),
        };
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| walk(&op)));
        *said.lock().unwrap() = op.transcript.lock().unwrap().clone();
        match result {
            Ok(()) => done.store(true, Ordering::SeqCst),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })));
    let outcome = run(s).await;
    let transcript = transcript.lock().unwrap().clone();
    let report = outcome.unwrap_or_else(|e| panic!("{e:#}\n\ntranscript:\n{transcript}"));
    assert!(
        walked.load(Ordering::SeqCst),
        "the stack never had both releases published: {} {:?} (logs {})",
        report.state,
        report.releases,
        report.log_dir.display()
    );
    assert!(report.dead_letters.is_empty(), "{:?}", report.dead_letters);
    println!(
        "the lifecycle walked in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    support::inventory(
        "when_a_kept_stack_has_two_releases_should_the_documented_commands_walk_the_whole_lifecycle",
        &report,
    );
}
