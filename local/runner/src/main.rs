//! `local-release`: one complete release on this machine, no AWS account. Prints each step as it
//! happens, then the manifest and its CloudFront URL; exits non-zero naming the failed step.

use clap::Parser;
use runner::{Scenario, run, workspace_root};
use std::process::ExitCode;
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
    /// Keep the local S3 (moto) up after the release, until Ctrl-C, so that the printed
    /// `image-release` commands can inspect it.
    #[arg(long)]
    keep: bool,
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
    scenario.parameters = args.parameters;
    scenario.lambda.cpu_share = args.cpu_share;
    scenario.iam = !args.no_iam;
    let keep = args.keep;
    scenario.export_size = Some(args.export_size);
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
    inspect(&report, keep).await;
    code
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
            " (run with --keep to keep the local stack up for them)"
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
        let emulator = report.emulator.endpoint();
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
            report.s3_authorized,
            report.lambda_endpoint,
            runner::stack::NEIGHBOUR_ACCESS_KEY
        );
        println!(
            "  aws s3api put-object --bucket {} --key pending/x.json   # AccessDenied: only the stack writes",
            runner::BUCKET
        );
        println!(
            "  aws lambda invoke --function-name <name> --payload fileb://events/release-requested.json out.json"
        );
        println!(
            "\nthe local stack (S3, the emulator, the functions without their schedules) stays up until Ctrl-C"
        );
        let _ = tokio::signal::ctrl_c().await;
    }
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
