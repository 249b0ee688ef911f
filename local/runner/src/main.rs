//! `local-release`: one complete release on this machine, no AWS account. Prints each step as it
//! happens, then the manifest and its CloudFront URL; exits non-zero naming the failed step.

use clap::Parser;
use runner::{OnFailure, Scenario, run, workspace_root};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Runs a complete image release locally against the emulator and moto")]
struct Args {
    /// Milliseconds one emulated lifecycle step takes.
    #[arg(long, default_value_t = 400)]
    step_ms: u64,
    /// Seconds to wait for the release before giving up.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// AppStream destination regions.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "eu-west-1,ap-southeast-2"
    )]
    regions: Vec<String>,
    /// Make the image build fail with this reason (failure path).
    #[arg(long)]
    fail_build: Option<String>,
    /// Make the export task end deleted with this message (failure path).
    #[arg(long)]
    fail_export: Option<String>,
    /// Withhold every state-change event of these images (`distributed`, `pipeline`): the
    /// reconciler must carry the release.
    #[arg(long, value_delimiter = ',')]
    withhold_events: Vec<Withheld>,
    /// Lose this fraction (0.0–1.0) of all events, seeded.
    #[arg(long, default_value_t = 0.0)]
    drop_events: f64,
    /// The size of the exported disk in bytes (deterministic content, hashed by publish-release).
    #[arg(long, default_value_t = 3 * 1024 * 1024)]
    export_size: usize,
    /// Keep the whole local stack running once the releases are published (every function,
    /// the buses, publish-release's tick), until Ctrl-C, and print the operator commands to try
    /// on it: promote, rollback, revoke, retention, a new request. After a failed release only
    /// S3 and the emulator stay up.
    #[arg(long)]
    keep: bool,
    /// Publish this many releases of the image `golden` (requested as versions 1.0.0, 1.0.1,
    /// …; builds golden-1.0.0-1, golden-1.0.0-2, …), so that a rollback has an earlier release.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=100))]
    releases: u16,
    /// A template parameter override, `Name=Value` (repeatable), e.g. `DeadlineExport=2s`.
    #[arg(long = "parameter", value_parser = parse_parameter)]
    parameters: Vec<(String, String)>,
    /// Give each function only the CPU share its MemorySize buys on Lambda (MemorySize/1,769 of
    /// one vCPU; needs root for the cgroup).
    #[arg(long)]
    cpu_share: bool,
    /// Run without the local IAM (every call allowed), to tell a permission problem apart.
    #[arg(long)]
    no_iam: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Withheld {
    Distributed,
    Pipeline,
}

fn parse_parameter(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected Name=Value, got {raw:?}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut scenario = Scenario::new(&workspace_root());
    // The demo prints where its logs are: they stay.
    scenario.keep_logs = true;
    scenario.step = Duration::from_millis(args.step_ms);
    scenario.publish_interval = Duration::from_millis(args.step_ms.max(100));
    scenario.timeout = Duration::from_secs(args.timeout);
    scenario.destination_regions = args.regions;
    scenario.build_failure = args.fail_build;
    scenario.export_failure = args.fail_export;
    scenario.distribution_events = !args.withhold_events.contains(&Withheld::Distributed);
    scenario.pipeline_events = !args.withhold_events.contains(&Withheld::Pipeline);
    scenario.event_drop = args.drop_events;
    scenario.releases = vec!["golden".to_owned(); usize::from(args.releases)];
    if args.releases > 2 {
        // All are requested at once: let start-pipeline take them (a --parameter still wins).
        scenario
            .parameters
            .push(("MaxReleasesInFlight".into(), args.releases.to_string()));
    }
    scenario.parameters.extend(args.parameters);
    scenario.lambda.cpu_share = args.cpu_share;
    scenario.iam = !args.no_iam;
    let keep = args.keep;
    scenario.export_size = Some(args.export_size);
    let kept = Arc::new(AtomicBool::new(false));
    if keep {
        // Ctrl-C ends the kept stack: it must reach this process alone, not moto and the
        // functions, which are stopped in order once the report is read.
        runner::process::detach_children_from_terminal();
        scenario.on_published = Some(keep_until_ctrl_c(
            kept.clone(),
            scenario.log_dir.join("operator-state"),
        ));
    }
    let report = match run(scenario).await {
        Ok(report) => report,
        Err(err) => {
            eprintln!("local release could not run: {err:#}");
            return ExitCode::from(2);
        }
    };
    println!();
    let code = outcome(&report);
    lambda_summary(&report);
    if !kept.load(Ordering::SeqCst) {
        inspect(&report, keep).await;
    }
    code
}

/// The hook that keeps the stack running once every release is published: prints what to try
/// (`runner::kept`), then waits for Ctrl-C with every function and tick live.
fn keep_until_ctrl_c(kept: Arc<AtomicBool>, state_dir: PathBuf) -> OnFailure {
    OnFailure(Arc::new(move |live| {
        kept.store(true, Ordering::SeqCst);
        println!("\npublished: {}", live.releases.join(", "));
        let cli = match std::env::current_exe() {
            Ok(exe) if exe.with_file_name("image-release").exists() => {
                let dir = exe.parent().map(|d| d.display().to_string());
                println!(
                    "\nthe operator CLI, built beside local-release:\n  export PATH={}:\"$PATH\"",
                    dir.unwrap_or_default()
                );
                "image-release"
            }
            _ => "cargo run -q -p image-release --",
        };
        let runtime = tokio::runtime::Handle::current();
        // What CloudFormation would have made beside it, for `doctor --stack`.
        if let Err(err) = runtime.block_on(runner::kept::deploy_stand_ins(&live)) {
            eprintln!("the stack's stand-ins for doctor could not be made in moto: {err:#}");
        }
        let downloads = runtime
            .block_on(runner::kept::downloads_page(&live))
            .unwrap_or_else(|err| format!("(none: {err:#})"));
        print!(
            "{}",
            runner::kept::instructions(&live, cli, &state_dir, &downloads)
        );
        neighbour(&live.s3_authorized, &live.lambda, &live.emulator.endpoint());
        let waited = runtime.block_on(tokio::signal::ctrl_c());
        if let Err(err) = waited {
            eprintln!("cannot wait for Ctrl-C ({err}): stopping the local stack");
        }
        println!("\nCtrl-C: stopping the local stack once it is quiet");
    }))
}

/// What Lambda and CloudWatch would have shown: denied calls, dead letters, alarms.
fn lambda_summary(report: &runner::Report) {
    for denied in report.denied() {
        println!(
            "IAM denied: {} {} on {}",
            denied.principal, denied.action, denied.resource
        );
    }
    for dead in &report.dead_letters {
        println!(
            "on-failure destination: {} gave up on {} after {} attempts ({})",
            dead.function, dead.trigger, dead.attempts, dead.error
        );
    }
    match report.fired() {
        Ok(fired) if fired.is_empty() => println!("alarms that would have fired: none"),
        Ok(fired) => println!("alarms that would have fired: {}", fired.join(", ")),
        Err(unjudged) => println!("{unjudged}"),
    }
}

/// The commands that inspect what the release just did (the operator CLI, `cli/`).
async fn inspect(report: &runner::Report, keep: bool) {
    let Some(id) = report.release_id.as_deref() else {
        return;
    };
    let emulator = report.emulator.endpoint();
    let env = format!(
        "AWS_ENDPOINT_URL_S3={} AWS_ENDPOINT_URL_EC2={emulator} AWS_ENDPOINT_URL_APPSTREAM={emulator} \
         AWS_ENDPOINT_URL_IMAGEBUILDER={emulator} AWS_ENDPOINT_URL_EVENTBRIDGE={emulator} \
         AWS_ENDPOINT_URL_KMS={emulator} AWS_ENDPOINT_URL_SSM={emulator} \
         AWS_ACCESS_KEY_ID=AKIDLOCAL AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 IMAGE_RELEASE_BUCKET={} \
         IMAGE_RELEASE_PARAMETER_PREFIX={}",
        report.moto.endpoint,
        runner::BUCKET,
        runner::PARAMETER_PREFIX
    );
    println!(
        "\ninspect it with the operator CLI{}:",
        if keep {
            ""
        } else {
            " (run with --keep --releases 2 to keep the whole stack running and try the lifecycle)"
        }
    );
    println!("  export {env}");
    println!("  cargo run -q -p image-release -- status");
    println!("  cargo run -q -p image-release -- status {id} --live");
    if report.state == "published" {
        match report.signing_keys.first() {
            Some(key) => println!(
                "  cargo run -q -p image-release -- verify {id} --skip-urls --signing-key {key}"
            ),
            None => println!("  cargo run -q -p image-release -- verify {id} --skip-urls"),
        }
        println!("  cargo run -q -p image-release -- url {id}");
    } else {
        println!("  cargo run -q -p image-release -- retry {id}");
    }
    if keep {
        neighbour(
            &report.s3_authorized,
            &report.lambda_endpoint,
            &report.emulator.endpoint(),
        );
        println!(
            "\nthe local stack (S3, the emulator, the functions without their schedules) stays up until Ctrl-C"
        );
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The account's neighbour: another team's principal, to try the security model's attacks by hand.
fn neighbour(s3_authorized: &str, lambda: &str, emulator: &str) {
    println!(
        "\nthe account's neighbour (another team's principal: S3, EC2, SSM, AppStream and Image \
         Builder on everything, events:PutEvents on the default bus, lambda:InvokeFunction on \
         every function; the local IAM evaluates its calls, the stack's resource policies included):"
    );
    println!(
        "  export AWS_ENDPOINT_URL_S3={} AWS_ENDPOINT_URL_LAMBDA={} AWS_ENDPOINT_URL_EC2={emulator} \
         AWS_ENDPOINT_URL_APPSTREAM={emulator} AWS_ENDPOINT_URL_IMAGEBUILDER={emulator} \
         AWS_ENDPOINT_URL_EVENTBRIDGE={emulator} AWS_ENDPOINT_URL_SSM={emulator} \
         AWS_ACCESS_KEY_ID={} AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1",
        s3_authorized,
        lambda,
        runner::stack::NEIGHBOUR_ACCESS_KEY
    );
    println!(
        "  aws s3api put-object --bucket {} --key pending/x.json   # AccessDenied: only the stack writes",
        runner::BUCKET
    );
    println!(
        "  aws lambda invoke --function-name <name> --payload fileb://events/release-requested.json out.json"
    );
}

fn outcome(report: &runner::Report) -> ExitCode {
    match report.state.as_str() {
        "published" => {
            let manifest = report
                .manifest
                .as_ref()
                .map(|m| serde_json::to_string_pretty(m).unwrap_or_default())
                .unwrap_or_default();
            println!(
                "release {} published in {:.1}s\n\n{manifest}\n",
                report.release_id.as_deref().unwrap_or("?"),
                report.elapsed.as_secs_f64()
            );
            println!(
                "manifest: {}",
                report.manifest_url.as_deref().unwrap_or("?")
            );
            ExitCode::SUCCESS
        }
        "failed" => {
            let (step, reason) = report
                .failure()
                .unwrap_or_else(|| ("?".into(), "no reason recorded".into()));
            eprintln!(
                "release {} FAILED at step {step}: {reason}",
                report.release_id.as_deref().unwrap_or("?")
            );
            eprintln!("function logs: {}", report.log_dir.display());
            ExitCode::FAILURE
        }
        "init-failed" => {
            for (function, error) in &report.init_errors {
                eprintln!("{function} could not start: {error}");
            }
            eprintln!("function logs: {}", report.log_dir.display());
            ExitCode::FAILURE
        }
        "done" => {
            // Several releases: each one's end.
            for (id, state) in &report.releases {
                println!("release {id}: {state}");
            }
            println!(
                "{} releases ended in {:.1}s",
                report.releases.len(),
                report.elapsed.as_secs_f64()
            );
            if report
                .releases
                .iter()
                .all(|(_, state)| state == "published")
            {
                ExitCode::SUCCESS
            } else {
                eprintln!("function logs: {}", report.log_dir.display());
                ExitCode::FAILURE
            }
        }
        other => {
            eprintln!(
                "release {} did not finish: {other} (function logs: {})",
                report.release_id.as_deref().unwrap_or("?"),
                report.log_dir.display()
            );
            ExitCode::FAILURE
        }
    }
}
