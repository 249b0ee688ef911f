//! `status [RELEASE]` and `watch RELEASE`: what the bucket's records say about releases.

use crate::{Cli, Failure, Outcome, ago, aws, name, release_id, store, table};
use serde_json::{Value, json};
use shared::aws::s3::S3Adapter;
use shared::clock::{display, parse_time};
use shared::ports::ArtifactStore;
use shared::release::{PendingMarker, ReleaseState, StatusRecord, StepState, StepStatus, keys};
use std::time::SystemTime;

/// The key of a revocation record under `state/<id>/`.
const REVOCATION_SUFFIX: &str = "/revocation.json";

/// One release as `status` lists it.
fn summary(status: &StatusRecord) -> Value {
    let waiting = status
        .steps
        .iter()
        .find(|s| s.state != StepState::Done)
        .map(|s| format!("{}: {}", s.step.as_str(), s.detail));
    json!({
        "release": status.release_id.as_str(),
        "state": status.state,
        "updated": status.updated_at,
        "age": ago(&status.updated_at),
        "waiting_on": match status.state {
            ReleaseState::Pending => match &status.observation {
                Some(o) => Some(format!("cannot observe it ({} ticks): {}", o.ticks, o.error)),
                None => waiting,
            },
            ReleaseState::Failed => status.failure.as_ref().map(|f| format!("{} failed: {}", f.step.as_str(), f.reason)),
            ReleaseState::Published => None,
        },
    })
}

/// When a pending step times out, as people read it: `in 2h 5m`, `passed 3m ago`.
pub fn deadline(step: &StepStatus, now: SystemTime) -> String {
    let Some(at) = step.deadline.as_deref().and_then(parse_time) else {
        return String::new();
    };
    match at.duration_since(now) {
        Ok(left) => format!("in {}", display(left)),
        Err(e) => format!("passed {} ago", display(e.duration())),
    }
}

/// A release's state as the CLI shows it: `revoked` for a published release taken back.
fn state_name(status: &StatusRecord, revoked: bool) -> String {
    match (status.state, revoked) {
        (ReleaseState::Published, true) => "revoked".into(),
        (state, _) => name(state),
    }
}

/// Whether the release is registered on publish-release's pending list (its marker).
pub(crate) async fn registered(
    store: &S3Adapter,
    id: &shared::domain::ReleaseId,
) -> Result<bool, Failure> {
    let marker: Option<PendingMarker> = store
        .get_json(&keys::pending(id))
        .await
        .map_err(aws("reading the pending marker"))?;
    Ok(marker.is_some())
}

/// The release's status as it stands: `None` when there is none yet, or when an operator
/// retried the release after it was written as final (publish-release has not looked since).
pub(crate) async fn current_status(
    store: &S3Adapter,
    id: &shared::domain::ReleaseId,
) -> Result<Option<StatusRecord>, Failure> {
    let status: Option<StatusRecord> = store
        .get_json(&keys::status(id))
        .await
        .map_err(aws("reading the status"))?;
    match status {
        Some(s) if s.state != ReleaseState::Pending => {
            let generation = shared::steps::generation(store, id)
                .await
                .map_err(aws("reading the retry record"))?;
            Ok((!s.superseded_by(generation)).then_some(s))
        }
        other => Ok(other),
    }
}

pub(crate) async fn status(cli: &Cli, release: Option<&str>, live: bool) -> Outcome {
    let id = release.map(release_id).transpose()?;
    let store = store(cli).await?;
    let Some(id) = id else {
        return status_all(cli, &store).await;
    };
    let status = current_status(&store, &id).await?;
    let Some(status) = status else {
        let marker: Option<PendingMarker> = store
            .get_json(&keys::pending(&id))
            .await
            .map_err(aws("reading the pending marker"))?;
        return match marker {
            Some(m) => {
                println!(
                    "{id}: registered {} ago, not looked at by publish-release yet",
                    ago(&m.since)
                );
                Ok(None)
            }
            None => Err(crate::contract::unknown_release(&id, store.bucket())),
        };
    };
    let live = match live {
        true => Some(crate::live::live(&crate::sdk(cli).await?, &store, &id).await),
        false => None,
    };
    let revoked = match status.state {
        ReleaseState::Published => crate::revoke::revocation(&store, &id).await?,
        _ => None,
    };
    if cli.json {
        let mut out = serde_json::to_value(&status).unwrap_or_default();
        if let Some(record) = &revoked {
            out["state"] = json!("revoked");
            out["revoked"] = json!(record);
        }
        if let Some(live) = &live {
            out["live"] = json!(live);
        }
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!(
            "{id}: {} (updated {} ago)",
            state_name(&status, revoked.is_some()),
            ago(&status.updated_at)
        );
        if let Some(record) = &revoked {
            println!("{}", crate::contract::revoked(record));
        }
        let rows: Vec<Vec<String>> = status
            .steps
            .iter()
            .map(|s| {
                vec![
                    s.step.as_str().to_owned(),
                    name(s.state),
                    deadline(s, SystemTime::now()),
                    s.detail.clone(),
                ]
            })
            .collect();
        println!("{}", table(&["STEP", "STATE", "DEADLINE", "DETAIL"], &rows));
        if let Some(failure) = &status.failure {
            println!("failed at {}: {}", failure.step.as_str(), failure.reason);
        }
        if let Some(o) = &status.observation {
            println!(
                "{}: publish-release cannot read where it stands, {} ticks in a row since {} ({} ago): {}",
                if o.stuck() { "STUCK" } else { "not observed" },
                o.ticks,
                o.since,
                ago(&o.since),
                o.error
            );
        }
        if let Some(live) = &live {
            let rows: Vec<Vec<String>> = live
                .iter()
                .map(|l| vec![l.step.to_owned(), l.resource.clone(), l.state.clone()])
                .collect();
            println!("\n{}", table(&["STEP", "RESOURCE", "AWS STATE NOW"], &rows));
        }
    }
    Ok(match status.state {
        ReleaseState::Failed => Some(format!("release {id} failed")),
        _ if status.observation.as_ref().is_some_and(|o| o.stuck()) => {
            Some(format!("release {id} is stuck"))
        }
        _ => None,
    })
}

pub(crate) async fn status_all(cli: &Cli, store: &S3Adapter) -> Outcome {
    let state_keys = store
        .list_keys(keys::STATE_PREFIX)
        .await
        .map_err(aws("listing releases"))?;
    let revoked: Vec<String> = state_keys
        .iter()
        .filter(|k| k.ends_with(REVOCATION_SUFFIX))
        .cloned()
        .collect();
    let mut ids: Vec<String> = state_keys
        .iter()
        .filter_map(|k| {
            k.strip_prefix(keys::STATE_PREFIX)?
                .strip_suffix("/status.json")
        })
        .map(str::to_owned)
        .collect();
    let pending: Vec<String> = store
        .list_keys(keys::PENDING_PREFIX)
        .await
        .map_err(aws("listing pending releases"))?
        .iter()
        .filter_map(|k| k.strip_prefix(keys::PENDING_PREFIX)?.strip_suffix(".json"))
        .map(str::to_owned)
        .collect();
    for id in pending {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.sort();
    let mut rows = Vec::new();
    let mut failed = 0;
    for id in &ids {
        let id = release_id(id)?;
        let status = current_status(store, &id).await?;
        let row = match status {
            Some(status) => {
                failed += usize::from(status.state == ReleaseState::Failed);
                let mut row = summary(&status);
                let key = shared::revocation::keys::record(&id);
                if status.state == ReleaseState::Published && revoked.contains(&key) {
                    row["state"] = json!("revoked");
                    row["waiting_on"] = json!(format!("revoked (image-release status {id})"));
                }
                row
            }
            None => {
                json!({ "release": id.as_str(), "state": "pending", "waiting_on": "registered; publish-release has not looked yet" })
            }
        };
        rows.push(row);
    }
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                ["release", "state", "age", "waiting_on"]
                    .iter()
                    .map(|k| r[*k].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .collect();
        println!(
            "{}",
            table(
                &["RELEASE", "STATE", "UPDATED AGO", "WAITING ON / FAILURE"],
                &cells
            )
        );
    }
    Ok((failed > 0).then(|| format!("{failed} of {} releases failed", rows.len())))
}

/// The first whole percentage in a step's detail (`export task active, 40% converting`).
pub fn percent(detail: &str) -> Option<u64> {
    let end = detail.find('%')?;
    let digits: String = detail[..end]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().ok().filter(|p| *p <= 100)
}

/// One progress bar per step, on a terminal.
struct Bars {
    multi: indicatif::MultiProgress,
    shown: Vec<(String, indicatif::ProgressBar)>,
}

impl Bars {
    fn new() -> Self {
        Self {
            multi: indicatif::MultiProgress::new(),
            shown: Vec::new(),
        }
    }

    /// Each step's bar: its percentage (100 when done) and its state, deadline and detail.
    fn show(&mut self, steps: &[StepStatus]) {
        for step in steps {
            let key = step.step.as_str();
            let bar = match self.shown.iter().find(|(k, _)| k == key) {
                Some((_, bar)) => bar.clone(),
                None => {
                    let bar = self.multi.add(indicatif::ProgressBar::new(100));
                    if let Ok(style) =
                        indicatif::ProgressStyle::with_template("{prefix:<12} [{bar:20}] {msg}")
                    {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    bar.set_prefix(key.to_owned());
                    self.shown.push((key.to_owned(), bar.clone()));
                    bar
                }
            };
            bar.set_position(match step.state {
                StepState::Done => 100,
                _ => percent(&step.detail).unwrap_or(0),
            });
            bar.set_message(format!(
                "{} {} {}",
                name(step.state),
                deadline(step, SystemTime::now()),
                step.detail
            ));
        }
    }

    /// Leaves every bar drawn: finished when the release was published, abandoned otherwise.
    fn end(&self, published: bool) {
        for (_, bar) in &self.shown {
            if published {
                bar.finish();
            } else {
                bar.abandon();
            }
        }
    }
}

/// Off a terminal: one line for each step whose state or detail changed since `before`.
fn print_changes(before: &[StepStatus], steps: &[StepStatus], at: u64) {
    for step in steps {
        let changed = before
            .iter()
            .find(|b| b.step == step.step)
            .is_none_or(|b| b.state != step.state || b.detail != step.detail);
        if changed {
            println!(
                "[{at:>4}s] {:<12} {:<9} {}",
                step.step.as_str(),
                name(step.state),
                step.detail
            );
        }
    }
}

/// `watch RELEASE`: one progress bar per step (plain lines when stderr is not a terminal, JSON
/// lines with `--json`) until the release is published (exit 0) or fails (exit 1).
pub(crate) async fn watch(
    cli: &Cli,
    release: &str,
    interval: std::time::Duration,
    timeout: Option<std::time::Duration>,
) -> Outcome {
    use std::io::IsTerminal;
    let id = release_id(release)?;
    let store = store(cli).await?;
    let interval = interval.max(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let mut bars = (!cli.json && std::io::stderr().is_terminal()).then(Bars::new);
    // What was last shown: the release's state and its steps.
    let mut last: Option<(String, Vec<StepStatus>)> = None;
    loop {
        let status = current_status(&store, &id).await?;
        if status.is_none() {
            let marker: Option<PendingMarker> = store
                .get_json(&keys::pending(&id))
                .await
                .map_err(aws("reading the pending marker"))?;
            if marker.is_none() {
                return Err(crate::contract::unknown_release(&id, store.bucket()));
            }
        }
        let now = match &status {
            Some(s) => (name(s.state), s.steps.clone()),
            None => ("pending".to_owned(), Vec::new()),
        };
        if last.as_ref() != Some(&now) {
            if cli.json {
                match &status {
                    Some(s) => println!("{}", json!(s)),
                    None => println!(
                        "{}",
                        json!({ "release_id": id.as_str(), "state": "pending", "steps": [] })
                    ),
                }
            } else if let Some(bars) = &mut bars {
                bars.show(&now.1);
            } else {
                let before = last.as_ref().map_or(&[][..], |(_, steps)| steps);
                print_changes(before, &now.1, started.elapsed().as_secs());
            }
            last = Some(now);
        }
        let end = |published: bool| {
            if let Some(bars) = &bars {
                bars.end(published);
            }
        };
        match status.as_ref().map(|s| s.state) {
            Some(ReleaseState::Published) => {
                if let Some(record) = crate::revoke::revocation(&store, &id).await? {
                    end(false);
                    return Ok(Some(crate::contract::revoked(&record)));
                }
                end(true);
                if !cli.json {
                    println!("{id}: published");
                }
                return Ok(None);
            }
            Some(ReleaseState::Failed) => {
                end(false);
                let why = status
                    .as_ref()
                    .and_then(|s| s.failure.as_ref())
                    .map(|f| format!("{} failed: {}", f.step.as_str(), f.reason))
                    .unwrap_or_else(|| "no reason recorded".into());
                return Ok(Some(format!("release {id} failed: {why}")));
            }
            _ => {}
        }
        if let Some(limit) = timeout
            && started.elapsed() >= limit
        {
            end(false);
            return Ok(Some(format!(
                "release {id} still pending after {}",
                display(limit)
            )));
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::release::Step;

    #[test]
    fn when_publish_release_cannot_observe_a_release_should_list_the_error_instead_of_the_step() {
        let status: StatusRecord = serde_json::from_value(json!({
            "schema_version": 1, "release_id": "golden-1.0.0-1", "state": "pending",
            "steps": [{ "step": "export", "state": "pending", "detail": "active, 40%" }],
            "observation": { "error": "ListTagsForResource failed with AccessDeniedException", "since": "2026-11-30T00:00:00Z", "ticks": 3 },
            "updated_at": "2026-11-30T00:15:00Z"
        }))
        .unwrap();
        let row = summary(&status);
        let waiting = row["waiting_on"].as_str().unwrap();
        assert!(
            waiting.contains("cannot observe it (3 ticks)") && waiting.contains("AccessDenied"),
            "{waiting}"
        );
        assert!(status.observation.unwrap().stuck());
    }

    #[test]
    fn when_a_detail_has_a_percentage_should_read_it() {
        assert_eq!(
            percent("export task export-ami-1 active, 40% converting (40%)"),
            Some(40)
        );
        assert_eq!(percent("waiting"), None);
        assert_eq!(percent("%"), None);
        assert_eq!(percent("700%"), None);
    }

    #[test]
    fn when_a_step_has_a_deadline_should_show_the_time_left_or_since_passed() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_428_000);
        let mut step = StepStatus {
            step: Step::Export,
            state: StepState::Pending,
            detail: String::new(),
            deadline: Some(shared::release::timestamp(
                now + std::time::Duration::from_secs(7_500),
            )),
        };
        assert_eq!(deadline(&step, now), "in 2h 5m");
        step.deadline = Some(shared::release::timestamp(
            now - std::time::Duration::from_secs(180),
        ));
        assert_eq!(deadline(&step, now), "passed 3m 0s ago");
        step.deadline = None;
        assert_eq!(deadline(&step, now), "");
    }
}
