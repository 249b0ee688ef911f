//! Time, passed in rather than read deep inside: the reconciler's deadlines are tested with a
//! clock the test sets, never with real sleeps.

use crate::error::ValidationError;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// A clock shared with whoever moves it (a test keeps one handle, the code under test another).
impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stands still until told to move: for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    pub fn new(at: SystemTime) -> Self {
        Self(Mutex::new(at))
    }
    pub fn advance(&self, by: Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An RFC 3339 / ISO 8601 timestamp as the records and Image Builder write them.
pub fn parse_time(value: &str) -> Option<SystemTime> {
    aws_smithy_types::DateTime::from_str(value, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
}

/// How long ago `since` was, at `now` (zero when `since` is in the future).
pub fn age(now: SystemTime, since: SystemTime) -> Duration {
    now.duration_since(since).unwrap_or_default()
}

/// The longest duration [`parse_duration`] accepts: ten years. Anything longer is a typo, and
/// a time that far ahead could not be added to the clock without overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(3_650 * 86_400);

/// `6h`, `90m`, `3600s`, `2d`: a whole number and one unit, at most [`MAX_DURATION`]. `0s` is
/// allowed (tests use it). Any text is answered with a value or an error naming the field.
pub fn parse_duration(field: &str, value: &str) -> Result<Duration, ValidationError> {
    const RULE: &str = "must be a whole number followed by s, m, h or d (for example 6h)";
    let Some(unit) = value.chars().last() else {
        return Err(ValidationError::new(field, RULE, value));
    };
    // The unit is one character of any width: the number is everything before it.
    let number = &value[..value.len() - unit.len_utf8()];
    let seconds: u64 = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3_600,
        'd' => 86_400,
        _ => return Err(ValidationError::new(field, RULE, value)),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValidationError::new(field, RULE, value));
    }
    let too_long = || ValidationError::new(field, "must be at most 3650d (ten years)", value);
    let n: u64 = number.parse().map_err(|_| too_long())?;
    n.checked_mul(seconds)
        .map(Duration::from_secs)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(too_long)
}

/// `6h 0m`, `12m 5s`, `3s`: how long a step waited, for failure reasons.
pub fn display(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3_600, (s % 3_600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s}s"),
        (h, m, _) => format!("{h}h {m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_durations_are_parsed_should_accept_the_four_units_and_reject_the_rest() {
        assert_eq!(
            parse_duration("D", "6h").unwrap(),
            Duration::from_secs(21_600)
        );
        assert_eq!(
            parse_duration("D", "90m").unwrap(),
            Duration::from_secs(5_400)
        );
        assert_eq!(
            parse_duration("D", "2d").unwrap(),
            Duration::from_secs(172_800)
        );
        assert_eq!(parse_duration("D", "0s").unwrap(), Duration::ZERO);
        for bad in [
            "", "h", "6", "6 h", "-1h", "1.5h", "6w", "+6h", "7µ", "µ", "6hµ",
        ] {
            let err = parse_duration("DEADLINE_BUILD", bad).unwrap_err();
            assert!(
                err.to_string().starts_with("DEADLINE_BUILD: must be"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn when_a_duration_is_absurdly_long_should_be_refused_not_overflow() {
        for long in ["3651d", "99999999999999999999s", "18446744073709551615d"] {
            let err = parse_duration("DEADLINE_RELEASE", long).unwrap_err();
            assert!(err.to_string().contains("at most 3650d"), "{long}: {err}");
        }
        assert_eq!(parse_duration("D", "3650d").unwrap(), MAX_DURATION);
    }

    proptest::proptest! {
        /// No text panics the parser (the workspace aborts on panic), whatever it accepts can be
        /// added to the clock, and whatever it refuses is an error naming the field. Half the cases
        /// are shaped like durations (digits of any length and a unit), so the accepting branch
        /// runs as often as the refusing one.
        #[test]
        fn when_any_text_is_a_duration_should_answer_without_panicking(
            value in proptest::prop_oneof!["\\PC{0,12}", "[0-9]{1,22}[smhd]"]
        ) {
            match parse_duration("DEADLINE", &value) {
                Ok(d) => {
                    proptest::prop_assert!(d <= MAX_DURATION);
                    proptest::prop_assert!(SystemTime::now().checked_add(d).is_some());
                }
                Err(e) => proptest::prop_assert!(e.to_string().contains("DEADLINE"), "{e}"),
            }
        }

        /// The shaped half of the cases above is accepted exactly when it is at most 3650 days.
        #[test]
        fn when_digits_and_a_unit_are_given_should_accept_exactly_up_to_the_maximum(
            digits in "[0-9]{1,22}", unit in "[smhd]"
        ) {
            let seconds = digits.parse::<u128>().unwrap().saturating_mul(match unit.as_str() {
                "s" => 1, "m" => 60, "h" => 3_600, _ => 86_400,
            });
            let parsed = parse_duration("D", &format!("{digits}{unit}"));
            proptest::prop_assert_eq!(parsed.is_ok(), seconds <= u128::from(MAX_DURATION.as_secs()));
        }

        #[test]
        fn when_a_number_and_unit_are_given_should_parse_to_that_many_seconds(n in 0u64..3_650, unit in "[smhd]") {
            let d = parse_duration("D", &format!("{n}{unit}")).unwrap();
            let per = match unit.as_str() { "s" => 1, "m" => 60, "h" => 3_600, _ => 86_400 };
            proptest::prop_assert_eq!(d.as_secs(), n * per);
        }
    }

    #[test]
    fn when_a_wait_is_displayed_should_show_hours_and_minutes() {
        assert_eq!(display(Duration::from_secs(21_600)), "6h 0m");
        assert_eq!(display(Duration::from_secs(725)), "12m 5s");
        assert_eq!(display(Duration::from_secs(3)), "3s");
    }

    #[test]
    fn when_a_record_timestamp_is_read_should_parse_what_release_timestamp_writes() {
        let now = crate::release::timestamp(SystemTime::now());
        let t = parse_time(&now).unwrap();
        assert!(age(SystemTime::now(), t) < Duration::from_secs(5));
        assert!(parse_time("t0").is_none());
        assert!(parse_time("2026-11-23T10:00:00.123Z").is_some());
    }
}
