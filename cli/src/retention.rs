//! `retention plan` and `retention apply`: the retention policy's plan, computed from the
//! catalog and EC2 ([`shared::retention`]), printed with why and what it saves; `apply` does it.

use crate::provenance::{KeyArgs, SignedManifests};
use crate::{Cli, Failure, Outcome, aws, sdk, store, table};
use shared::aws::appstream::AppStreamAdapter;
use shared::aws::ec2::Ec2Regions;
use shared::domain::RegionName;
use shared::retention::{self, Action, AmiOutcome, Plan, Policy};

/// The policy, as the stack's parameters set it for publish-release (the same variables).
#[derive(Debug, Clone, clap::Args)]
pub struct PolicyArgs {
    /// Keep each image's newest N releases.
    #[arg(long, env = "RETENTION_KEEP_NEWEST")]
    pub keep_newest: Option<String>,
    /// Keep what a channel points at or pointed at within D days.
    #[arg(long, env = "RETENTION_KEEP_CHANNEL_DAYS")]
    pub keep_channel_days: Option<String>,
    /// Deprecate the AMIs of releases published more than X days ago (default: never).
    #[arg(long, env = "RETENTION_DEPRECATE_AFTER_DAYS")]
    pub deprecate_after_days: Option<String>,
    /// Delete releases published more than Y days ago: AMIs with their snapshots, disks,
    /// AppStream copies (default: never).
    #[arg(long, env = "RETENTION_DELETE_AFTER_DAYS")]
    pub delete_after_days: Option<String>,
}

impl PolicyArgs {
    fn policy(&self) -> Result<Policy, Failure> {
        Policy::from_lookup(|var| match var {
            "RETENTION_KEEP_NEWEST" => self.keep_newest.clone(),
            "RETENTION_KEEP_CHANNEL_DAYS" => self.keep_channel_days.clone(),
            "RETENTION_DEPRECATE_AFTER_DAYS" => self.deprecate_after_days.clone(),
            "RETENTION_DELETE_AFTER_DAYS" => self.delete_after_days.clone(),
            _ => None,
        })
        .map_err(|e| Failure::Usage(e.to_string()))
    }
}

fn describe(outcome: &AmiOutcome) -> String {
    match outcome {
        AmiOutcome::Deprecate => "deprecate".into(),
        AmiOutcome::AlreadyDeprecated => "deprecated already".into(),
        AmiOutcome::Deregister { snapshots_gib } => {
            format!("deregister with its snapshots ({snapshots_gib} GiB)")
        }
        AmiOutcome::InUse { references } => format!(
            "keep: used by {}",
            references
                .iter()
                .map(|r| format!("{} {}", r.resource_type, r.arn))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        AmiOutcome::NotChecked { account } => {
            format!("not checked: in account {account}, which DescribeImageReferences cannot see")
        }
        AmiOutcome::Gone => "gone already".into(),
        AmiOutcome::NotProven { why } => format!("left alone, not proven the release's: {why}"),
    }
}

fn print(cli: &Cli, plan: &Plan) {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(plan).unwrap_or_default());
        return;
    }
    let mut rows = Vec::new();
    for r in plan.releases.iter().filter(|r| r.action != Action::Keep) {
        rows.push(vec![
            r.release_id.clone(),
            format!("{:?}", r.action).to_lowercase(),
            r.why.clone(),
            String::new(),
            format!("${:.2}", r.saves_usd_per_month),
        ]);
        for ami in &r.amis {
            rows.push(vec![
                String::new(),
                String::new(),
                String::new(),
                format!("{} {}: {}", ami.region, ami.ami_id, describe(&ami.outcome)),
                String::new(),
            ]);
        }
        for (key, bytes) in &r.objects {
            rows.push(vec![
                String::new(),
                String::new(),
                String::new(),
                format!("delete {key} ({})", shared::catalog::human_size(*bytes)),
                String::new(),
            ]);
        }
        for (region, name) in &r.appstream {
            rows.push(vec![
                String::new(),
                String::new(),
                String::new(),
                format!("delete AppStream image {name} in {region}"),
                String::new(),
            ]);
        }
    }
    let kept = plan
        .releases
        .iter()
        .filter(|r| r.action == Action::Keep)
        .count();
    println!(
        "{}",
        table(&["RELEASE", "ACTION", "WHY", "WHAT", "SAVES/MONTH"], &rows)
    );
    let (deprecate, deregister, in_use, objects, gib) = retention::summary(plan);
    println!(
        "{kept} release(s) kept; {deprecate} AMI(s) to deprecate, {deregister} to deregister \
         with {gib} GiB of snapshots, {in_use} kept because something uses them, {objects} \
         object(s) to delete: ${:.2} a month saved at list prices (EBS snapshots ${}/GB-month, \
         S3 Standard ${}/GB-month, us-east-1)",
        plan.saves_usd_per_month(),
        retention::SNAPSHOT_USD_PER_GB_MONTH,
        retention::S3_USD_PER_GB_MONTH
    );
}

async fn compute(
    cli: &Cli,
    args: &PolicyArgs,
    keys: &KeyArgs,
) -> Result<(Plan, aws_config::SdkConfig), Failure> {
    let policy = args.policy()?;
    let store = store(cli).await?;
    let config = sdk(cli).await;
    let key = SignedManifests::key(&config, &store, &keys.source())
        .await
        .map_err(Failure::Usage)?;
    let proof = SignedManifests { store: &store, key };
    let plan = retention::plan(
        &store,
        &Ec2Regions::new(&config),
        &proof,
        &policy,
        std::time::SystemTime::now(),
    )
    .await
    .map_err(aws("planning retention"))?;
    Ok((plan, config))
}

/// `retention plan`: what the policy would do, nothing done.
pub async fn plan(cli: &Cli, args: &PolicyArgs, keys: &KeyArgs) -> Outcome {
    let (plan, _) = compute(cli, args, keys).await?;
    print(cli, &plan);
    Ok(None)
}

/// `retention apply`: the plan, then (confirmed, or `--yes`) done.
pub async fn apply(cli: &Cli, args: &PolicyArgs, keys: &KeyArgs, yes: bool) -> Outcome {
    let (plan, config) = compute(cli, args, keys).await?;
    print(cli, &plan);
    if plan.releases.iter().all(|r| r.action == Action::Keep) {
        return Ok(None);
    }
    if !yes && !crate::confirm("Do this?")? {
        return Err(Failure::Problem("nothing done".into()));
    }
    let regions: Vec<RegionName> = plan
        .releases
        .iter()
        .flat_map(|r| &r.appstream)
        .filter_map(|(region, _)| RegionName::parse("region", region).ok())
        .collect();
    let home = RegionName::parse(
        "region",
        config.region().map_or("us-east-1", |r| r.as_ref()),
    )
    .map_err(|e| Failure::Usage(e.to_string()))?;
    let store = store(cli).await?;
    let applied = retention::apply(
        &store,
        &Ec2Regions::new(&config),
        &AppStreamAdapter::new(&config, &home, &regions),
        &plan,
        std::time::SystemTime::now(),
    )
    .await
    .map_err(aws("applying retention"))?;
    if cli.json {
        println!("{}", serde_json::json!({ "applied": applied }));
    } else {
        println!(
            "done: {} AMI(s) deprecated, {} deregistered with {} snapshot(s), {} kept (in use \
             when re-checked), {} object(s) and {} AppStream image(s) deleted ({} in use, kept)",
            applied.deprecated,
            applied.deregistered,
            applied.snapshots_deleted,
            applied.kept_in_use,
            applied.objects_deleted,
            applied.appstream_deleted,
            applied.appstream_in_use
        );
        for (snapshot, why) in &applied.snapshots_kept {
            println!("snapshot {snapshot} kept by EC2 ({why}): it still costs; delete it by hand");
        }
    }
    Ok(None)
}
