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
    /// Deregister AMIs shared with other accounts too (true or false; default false: they are
    /// kept, their use there is invisible to DescribeImageReferences).
    #[arg(long, env = "RETENTION_DELETE_SHARED")]
    pub delete_shared: Option<String>,
}

impl PolicyArgs {
    /// The policy, a bad value named as its flag (and the variable that can set it).
    fn policy(&self) -> Result<Policy, Failure> {
        const FLAGS: [(&str, &str); 5] = [
            ("RETENTION_KEEP_NEWEST", "--keep-newest"),
            ("RETENTION_KEEP_CHANNEL_DAYS", "--keep-channel-days"),
            ("RETENTION_DEPRECATE_AFTER_DAYS", "--deprecate-after-days"),
            ("RETENTION_DELETE_AFTER_DAYS", "--delete-after-days"),
            ("RETENTION_DELETE_SHARED", "--delete-shared"),
        ];
        Policy::from_lookup(|var| match var {
            "RETENTION_KEEP_NEWEST" => self.keep_newest.clone(),
            "RETENTION_KEEP_CHANNEL_DAYS" => self.keep_channel_days.clone(),
            "RETENTION_DEPRECATE_AFTER_DAYS" => self.deprecate_after_days.clone(),
            "RETENTION_DELETE_AFTER_DAYS" => self.delete_after_days.clone(),
            "RETENTION_DELETE_SHARED" => self.delete_shared.clone(),
            _ => None,
        })
        .map_err(|e| match e {
            shared::ConfigError::Invalid { var, source } => {
                let flag = FLAGS.iter().find(|(v, _)| *v == var).map_or(var, |f| f.1);
                Failure::from(source.at(format!("{flag} (or {var})")))
            }
            other => Failure::Usage(other.to_string()),
        })
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
        AmiOutcome::Shared { with } => format!(
            "keep: shared with {} (their launches are invisible here; --delete-shared true \
             deregisters it anyway)",
            with.join(", ")
        ),
        AmiOutcome::NotChecked { account } => {
            format!("not checked: in account {account}, which DescribeImageReferences cannot see")
        }
        AmiOutcome::Gone => "gone already".into(),
        AmiOutcome::NotProven { why } => format!("left alone, not proven the release's: {why}"),
    }
}

/// The plan's table: every release with its action and why (a kept release too: why it is
/// kept is what an operator checks first), then what each action touches.
pub fn rows(plan: &Plan) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let detail = |what: String| {
        vec![
            String::new(),
            String::new(),
            String::new(),
            what,
            String::new(),
        ]
    };
    for r in &plan.releases {
        let acting = r.action != Action::Keep;
        rows.push(vec![
            r.release_id.clone(),
            format!("{:?}", r.action).to_lowercase(),
            r.why.clone(),
            String::new(),
            if acting {
                format!("${:.2}", r.saves_usd_per_month)
            } else {
                String::new()
            },
        ]);
        if !acting {
            continue;
        }
        for ami in &r.amis {
            rows.push(detail(format!(
                "{} {}: {}",
                ami.region,
                ami.ami_id,
                describe(&ami.outcome)
            )));
        }
        for (key, bytes) in &r.objects {
            rows.push(detail(format!(
                "delete {key} ({})",
                shared::catalog::human_size(*bytes)
            )));
        }
        for (region, name) in &r.appstream {
            rows.push(detail(format!("delete AppStream image {name} in {region}")));
        }
    }
    rows
}

fn print(cli: &Cli, plan: &Plan) {
    if cli.json {
        println!("{}", serde_json::to_string_pretty(plan).unwrap_or_default());
        return;
    }
    let rows = rows(plan);
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

/// The plan at `now`, every release proven by its manifest's signature with the key `keys` name.
async fn compute(
    cli: &Cli,
    args: &PolicyArgs,
    keys: &KeyArgs,
    now: std::time::SystemTime,
) -> Result<(Plan, aws_config::SdkConfig), Failure> {
    let policy = args.policy()?;
    let store = store(cli).await?;
    let config = sdk(cli).await?;
    let key = SignedManifests::key(&config, &store, &keys.source()?)
        .await
        .map_err(Failure::Problem)?;
    let proof = SignedManifests { store: &store, key };
    let plan = retention::plan(&store, &Ec2Regions::new(&config), &proof, &policy, now)
        .await
        .map_err(aws("planning retention"))?;
    Ok((plan, config))
}

/// `retention plan`: what the policy would do, nothing done.
pub async fn plan(cli: &Cli, args: &PolicyArgs, keys: &KeyArgs) -> Outcome {
    let (plan, _) = compute(cli, args, keys, std::time::SystemTime::now()).await?;
    print(cli, &plan);
    Ok(None)
}

/// `retention apply`: takes the run's claim (a scheduled run or another operator under way is
/// never joined), plans at S3's time of the claim (not this machine's clock), and (confirmed,
/// or `--yes`) does it, recording what it did where publish-release records its runs.
pub async fn apply(cli: &Cli, args: &PolicyArgs, keys: &KeyArgs, yes: bool) -> Outcome {
    // Usage first: a bad flag is found before the run is claimed.
    args.policy()?;
    keys.check()?;
    let store = store(cli).await?;
    let by = crate::channels::caller(&sdk(cli).await?).await;
    let run = match retention::claim(&store, std::time::SystemTime::now(), None, &by)
        .await
        .map_err(aws("claiming the retention run"))?
    {
        retention::Claimed::Yes(run) => run,
        retention::Claimed::Busy(run) => {
            return Err(Failure::Problem(format!(
                "a retention run is under way (started {} by {}): nothing done; try again once                  it finished, or after {} minutes if it stopped",
                run.started_at.as_deref().unwrap_or("?"),
                run.by.as_deref().unwrap_or("publish-release"),
                retention::CLAIM_HOLDS_FOR.as_secs() / 60
            )));
        }
        // Only a scheduled run asks for an interval.
        retention::Claimed::NotDue => {
            return Err(Failure::Problem(
                "the retention run could not be claimed: nothing done".into(),
            ));
        }
    };
    let now = store
        .last_modified(retention::RUN)
        .await
        .map_err(aws("reading the claim's time"))?
        .unwrap_or_else(std::time::SystemTime::now);
    let result = apply_claimed(cli, args, keys, yes, now).await;
    let recorded = match &result {
        Ok(Some(done)) => Ok(done.clone()),
        Ok(None) => Ok((0.0, retention::Applied::default())),
        Err(e) => Err(shared::ServiceError::new(
            "retention apply",
            shared::ErrorClass::Invalid,
            "Stopped",
            match e {
                Failure::Problem(m) | Failure::Usage(m) => m.clone(),
            },
        )),
    };
    retention::finish(&store, run, std::time::SystemTime::now(), &recorded)
        .await
        .map_err(aws("recording the retention run"))?;
    result.map(|_| None)
}

/// The claimed run: plan at `now`, confirm, apply. `Some((saves per month, applied))` when
/// anything was done.
async fn apply_claimed(
    cli: &Cli,
    args: &PolicyArgs,
    keys: &KeyArgs,
    yes: bool,
    now: std::time::SystemTime,
) -> Result<Option<(f64, retention::Applied)>, Failure> {
    let (plan, config) = compute(cli, args, keys, now).await?;
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
        now,
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
    Ok(Some((plan.saves_usd_per_month(), applied)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::retention::PlannedRelease;

    #[test]
    fn when_a_release_is_kept_should_the_table_say_why() {
        let release = |id: &str, action: Action, why: &str| PlannedRelease {
            release_id: id.into(),
            image: "golden".into(),
            published_at: "2026-01-01T00:00:00Z".into(),
            action,
            why: why.into(),
            amis: Vec::new(),
            objects: vec![("releases/x/disk.vmdk".into(), 1024)],
            appstream: Vec::new(),
            saves_usd_per_month: 0.5,
        };
        let plan = Plan {
            policy: Policy::from_lookup(|_| None).unwrap(),
            at: "2026-12-07T00:00:00Z".into(),
            releases: vec![
                release("golden-1.0.0-2", Action::Keep, "stable points at it"),
                release("golden-1.0.0-1", Action::Delete, "published 400 days ago"),
            ],
        };
        let rows = rows(&plan);
        assert_eq!(
            rows[0][..3],
            ["golden-1.0.0-2", "keep", "stable points at it"]
        );
        assert_eq!(rows[0][4], "", "a kept release saves nothing");
        assert_eq!(
            rows[1][..3],
            ["golden-1.0.0-1", "delete", "published 400 days ago"]
        );
        assert!(
            rows[2][3].starts_with("delete releases/x/disk.vmdk"),
            "{rows:?}"
        );
        assert_eq!(
            rows.len(),
            3,
            "what a kept release would touch is not listed"
        );
    }
}
