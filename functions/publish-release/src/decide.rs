//! Records → step states → release state: the reconciler's judgement, without I/O.
//!
//! [`Deps::advance`](crate::Deps) gathers what the bucket and AWS say about one release into an
//! [`Observed`]; [`decide`] turns it into a [`Decision`]; `advance` then acts on it (publish,
//! finish as failed, or report pending). Tests call [`decide`] with plain values.

use crate::Progress;
use crate::config::Deadlines;
use shared::clock::{age, display, parse_time};
use shared::domain::ReleaseId;
use shared::release::{
    self, FailureRecord, ManifestAppStreamImage, ManifestExport, SCHEMA_VERSION, Step, StepState,
    StepStatus,
};
use std::time::SystemTime;

/// One step as observed: when it was started (its record's time, if any) and where it stands.
pub(crate) struct StepObservation<T> {
    pub since: Option<String>,
    pub progress: Progress<T>,
}

/// What the records and AWS say about one release.
pub(crate) struct Observed {
    /// Every step failure recorded (`failure-<step>.json`), in key order.
    pub failures: Vec<FailureRecord>,
    /// When DistributeImage was requested, once the distribution record exists.
    pub distribution_requested_at: Option<String>,
    /// The export step (every format of `EXPORT_FORMATS`); `None` when `REQUIRED_STEPS`
    /// leaves it out.
    pub export: Option<StepObservation<Vec<ManifestExport>>>,
    /// The AppStream step; `None` when `REQUIRED_STEPS` leaves it out.
    pub appstream: Option<StepObservation<Vec<ManifestAppStreamImage>>>,
}

/// What the reconciler does with the release.
#[derive(Debug, PartialEq)]
pub(crate) enum Decision {
    /// A step failed or outlived its deadline: the first failure ends the release.
    Failed {
        steps: Vec<StepStatus>,
        failure: FailureRecord,
    },
    /// Some step is still under way.
    Pending { steps: Vec<StepStatus> },
    /// Every required step is done: publish. A stored manifest alone is never a reason: it is
    /// published only once the steps it was built from are done again by AWS's answers.
    Publish {
        steps: Vec<StepStatus>,
        export: Option<Vec<ManifestExport>>,
        appstream: Option<Vec<ManifestAppStreamImage>>,
    },
}

/// The time-out reason when `which`, started at `since`, has outlived its deadline at `now`:
/// "<step> timed out in <AWS state> after <waited> (deadline <deadline>)"; the publish step's
/// deadline is the whole release's (`DEADLINE_RELEASE`), so it reads "release timed out …".
pub(crate) fn timed_out(
    deadlines: &Deadlines,
    now: SystemTime,
    which: Step,
    since: &str,
    state: &str,
) -> Option<String> {
    let started = parse_time(since)?;
    let waited = age(now, started);
    let deadline = deadlines.of(which);
    let label = match which {
        Step::Publish => "release",
        other => other.as_str(),
    };
    (waited > deadline).then(|| {
        format!(
            "{label} timed out in {state} after {} (deadline {})",
            display(waited),
            display(deadline)
        )
    })
}

/// The start a step's deadline counts from: its own start, or the operator's latest retry
/// when that is later (`image-release retry` re-drives the step and restarts its clock).
pub(crate) fn restarted(since: Option<String>, retried_at: Option<&str>) -> Option<String> {
    let Some(retried) = retried_at.filter(|r| parse_time(r).is_some()) else {
        return since;
    };
    match since.as_deref().and_then(parse_time) {
        Some(started) if parse_time(retried).is_some_and(|r| r <= started) => since,
        Some(_) => Some(retried.to_owned()),
        None => since,
    }
}

/// The failure record of `step`, at `at`.
pub(crate) fn failure(
    release: &ReleaseId,
    step: Step,
    reason: String,
    at: SystemTime,
) -> FailureRecord {
    FailureRecord {
        schema_version: SCHEMA_VERSION,
        release_id: release.clone(),
        step,
        reason,
        at: release::timestamp(at),
    }
}

pub(crate) fn step(step: Step, state: StepState, detail: String) -> StepStatus {
    StepStatus {
        step,
        state,
        detail,
        deadline: None,
    }
}

/// A pending step's status line with the time it times out: `since` plus its deadline.
pub(crate) fn waiting(
    deadlines: &Deadlines,
    which: Step,
    since: Option<&str>,
    detail: String,
) -> StepStatus {
    StepStatus {
        deadline: since
            .and_then(parse_time)
            .and_then(|started| started.checked_add(deadlines.of(which)))
            .map(release::timestamp),
        ..step(which, StepState::Pending, detail)
    }
}

/// Judges one release at `now`.
pub(crate) fn decide(
    release: &ReleaseId,
    observed: Observed,
    deadlines: &Deadlines,
    now: SystemTime,
) -> Decision {
    let mut steps = Vec::new();
    let mut failures = observed.failures;
    steps.push(match &observed.distribution_requested_at {
        Some(at) => step(
            Step::Distribution,
            StepState::Done,
            format!("DistributeImage requested at {at}"),
        ),
        None => step(
            Step::Distribution,
            StepState::Pending,
            "waiting for distribute-image".into(),
        ),
    });
    let mut judge = Judge {
        release,
        deadlines,
        now,
        steps: &mut steps,
        failures: &mut failures,
    };
    let export_required = observed.export.is_some();
    let export = observed.export.and_then(|o| {
        judge.account(Step::Export, o, |artifacts| {
            artifacts
                .iter()
                .map(|d| format!("{} bytes at {}", d.size_bytes, d.object_key))
                .collect::<Vec<_>>()
                .join(", ")
        })
    });
    let appstream = match observed.appstream {
        Some(o) => judge.account(Step::Appstream, o, |images| {
            format!("{} regions available and tagged", images.len())
        }),
        None => Some(Vec::new()),
    };

    if let Some(first) = failures.first().cloned() {
        steps.push(step(
            Step::Publish,
            StepState::Failed,
            format!("{} step failed", first.step.as_str()),
        ));
        return Decision::Failed {
            steps,
            failure: first,
        };
    }
    let ready = observed.distribution_requested_at.is_some()
        && (!export_required || export.is_some())
        && appstream.is_some();
    if !ready {
        steps.push(step(
            Step::Publish,
            StepState::Pending,
            "waiting for the steps above".into(),
        ));
        return Decision::Pending { steps };
    }
    Decision::Publish {
        steps,
        export,
        appstream,
    }
}

struct Judge<'a> {
    release: &'a ReleaseId,
    deadlines: &'a Deadlines,
    now: SystemTime,
    steps: &'a mut Vec<StepStatus>,
    failures: &'a mut Vec<FailureRecord>,
}

impl Judge<'_> {
    /// One step's status line, and a failure when it failed or outlived its deadline (counted
    /// from its record's time); what the step produced when it is done.
    fn account<T>(
        &mut self,
        which: Step,
        observed: StepObservation<T>,
        done: impl FnOnce(&T) -> String,
    ) -> Option<T> {
        let reason = match observed.progress {
            Progress::Done(value) => {
                self.steps.push(step(which, StepState::Done, done(&value)));
                return Some(value);
            }
            Progress::Pending(why) => match observed
                .since
                .as_deref()
                .and_then(|s| timed_out(self.deadlines, self.now, which, s, &why))
            {
                None => {
                    let since = observed.since.as_deref();
                    self.steps.push(waiting(self.deadlines, which, since, why));
                    return None;
                }
                Some(timed_out) => timed_out,
            },
            Progress::Failed(why) => why,
        };
        self.steps
            .push(step(which, StepState::Failed, reason.clone()));
        self.failures
            .push(failure(self.release, which, reason, self.now));
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const HOUR: Duration = Duration::from_secs(3_600);

    fn deadlines() -> Deadlines {
        Deadlines {
            build: 6 * HOUR,
            distribution: 3 * HOUR,
            export: 12 * HOUR,
            appstream: 6 * HOUR,
            release: 24 * HOUR,
        }
    }

    fn release() -> ReleaseId {
        ReleaseId::parse("release", "golden-1.0.0-1").unwrap()
    }

    fn at(hours: u64) -> SystemTime {
        // 2026-11-23T10:00:00Z plus `hours`.
        std::time::UNIX_EPOCH + Duration::from_secs(1_795_428_000) + HOUR * hours as u32
    }

    fn export_done() -> ManifestExport {
        ManifestExport {
            format: shared::domain::DiskImageFormat::Vmdk,
            object_key: "exports/golden-1.0.0-1/export-ami-1.vmdk".into(),
            size_bytes: 1_048_576,
            sha256: "0".repeat(64),
            url: "https://d111111abcdef8.cloudfront.net/exports/golden-1.0.0-1/export-ami-1.vmdk"
                .into(),
        }
    }

    fn observed(
        export: Option<Progress<Vec<ManifestExport>>>,
        appstream: Option<Progress<Vec<ManifestAppStreamImage>>>,
    ) -> Observed {
        let since = Some(release::timestamp(at(0)));
        Observed {
            failures: Vec::new(),
            distribution_requested_at: since.clone(),
            export: export.map(|progress| StepObservation {
                since: since.clone(),
                progress,
            }),
            appstream: appstream.map(|progress| StepObservation {
                since: since.clone(),
                progress,
            }),
        }
    }

    /// The export task still active `hours` after it was requested; everything else done.
    fn exporting_at(hours: u64) -> Decision {
        decide(
            &release(),
            observed(
                Some(Progress::Pending("export task active".into())),
                Some(Progress::Done(Vec::new())),
            ),
            &deadlines(),
            at(hours),
        )
    }

    fn states(steps: &[StepStatus]) -> Vec<(Step, StepState)> {
        steps.iter().map(|s| (s.step, s.state)).collect()
    }

    #[test]
    fn when_every_required_step_is_done_should_publish_with_what_they_produced() {
        let decision = decide(
            &release(),
            observed(
                Some(Progress::Done(vec![export_done()])),
                Some(Progress::Done(Vec::new())),
            ),
            &deadlines(),
            at(1),
        );
        let Decision::Publish {
            steps,
            export,
            appstream,
        } = decision
        else {
            panic!("{decision:?}");
        };
        assert_eq!(export, Some(vec![export_done()]));
        assert_eq!(appstream, Some(Vec::new()));
        assert_eq!(
            states(&steps),
            [
                (Step::Distribution, StepState::Done),
                (Step::Export, StepState::Done),
                (Step::Appstream, StepState::Done)
            ]
        );
    }

    #[test]
    fn when_a_step_is_not_required_should_not_wait_on_it() {
        let decision = decide(
            &release(),
            observed(None, Some(Progress::Done(Vec::new()))),
            &deadlines(),
            at(1),
        );
        assert!(
            matches!(decision, Decision::Publish { export: None, .. }),
            "{decision:?}"
        );
    }

    #[test]
    fn when_a_release_was_retried_should_count_the_deadline_from_the_retry() {
        let started = release::timestamp(at(0));
        let retried = release::timestamp(at(13));
        assert_eq!(
            restarted(Some(started.clone()), Some(&retried)),
            Some(retried.clone())
        );
        assert_eq!(
            restarted(Some(retried.clone()), Some(&started)),
            Some(retried),
            "an older retry does not move the start back"
        );
        assert_eq!(restarted(Some(started.clone()), None), Some(started));
        assert_eq!(restarted(None, Some("garbage")), None);
        assert_eq!(
            restarted(None, Some(&release::timestamp(at(1)))),
            None,
            "a step not started has no deadline yet"
        );
    }

    #[test]
    fn when_a_step_is_under_way_within_its_deadline_should_stay_pending() {
        let decision = exporting_at(11);
        let Decision::Pending { steps } = decision else {
            panic!("{decision:?}");
        };
        assert_eq!(steps[1].detail, "export task active");
        assert_eq!(steps.last().unwrap().state, StepState::Pending);
        // The export deadline (12h in these tests) from the task's request: what `status` shows.
        assert_eq!(steps[1].deadline, Some(release::timestamp(at(12))));
        assert_eq!(steps[0].deadline, None, "a done step has no deadline");
    }

    #[test]
    fn when_a_step_outlives_its_deadline_should_fail_as_timed_out_in_its_state() {
        let decision = exporting_at(13);
        let Decision::Failed { failure, steps } = decision else {
            panic!("{decision:?}");
        };
        assert_eq!(failure.step, Step::Export);
        assert_eq!(
            failure.reason,
            "export timed out in export task active after 13h 0m (deadline 12h 0m)"
        );
        assert_eq!(failure.at, "2026-11-23T23:00:00Z");
        assert_eq!(steps.last().unwrap().detail, "export step failed");
    }

    #[test]
    fn when_a_failure_is_recorded_should_fail_with_the_first_even_if_the_rest_is_done() {
        let mut observed = observed(
            Some(Progress::Done(vec![export_done()])),
            Some(Progress::Failed("copy to eu-west-1 failed".into())),
        );
        observed.failures.push(FailureRecord {
            schema_version: SCHEMA_VERSION,
            release_id: release(),
            step: Step::Build,
            reason: "build failed".into(),
            at: release::timestamp(at(0)),
        });
        let decision = decide(&release(), observed, &deadlines(), at(1));
        let Decision::Failed { failure, steps } = decision else {
            panic!("{decision:?}");
        };
        assert_eq!(failure.step, Step::Build);
        assert_eq!(steps[2].state, StepState::Failed);
        assert_eq!(steps[2].detail, "copy to eu-west-1 failed");
    }

    #[test]
    fn when_a_step_is_under_way_should_wait_whatever_is_stored() {
        // A stored manifest is not an observation: a release publishes only from its steps.
        let observed = observed(
            Some(Progress::Pending("waiting for export-image".into())),
            None,
        );
        let decision = decide(&release(), observed, &deadlines(), at(1));
        assert!(matches!(decision, Decision::Pending { .. }), "{decision:?}");
    }

    #[test]
    fn when_distribution_has_no_record_should_wait_for_distribute_image() {
        let mut observed = observed(None, None);
        observed.distribution_requested_at = None;
        let Decision::Pending { steps } = decide(&release(), observed, &deadlines(), at(1)) else {
            panic!("not pending");
        };
        assert_eq!(steps[0].detail, "waiting for distribute-image");
    }
}
