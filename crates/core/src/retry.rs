//! The retry policy: when a failed notice is tried again, and when it has failed for good.

use chrono::{DateTime, Utc};
use std::time::Duration;

/// Delays between attempts. With `n` delays a notice gets `1 + n` attempts; after the last one
/// fails the subscription is disabled (spec C2).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    delays: Vec<Duration>,
    /// Fraction of each delay that jitter may add or remove, spreading retries of notices that
    /// failed together so they do not hit a recovering receiver at the same instant.
    jitter: f64,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Try again at this instant.
    RetryAt(DateTime<Utc>),
    /// No attempts left: disable the subscription and hold the notice.
    Exhausted,
}

impl RetryPolicy {
    /// The spec's default: about 30 s, 2 min and 8 min, ±20 % jitter.
    pub fn standard() -> Self {
        Self::new(
            vec![
                Duration::from_secs(30),
                Duration::from_secs(120),
                Duration::from_secs(480),
            ],
            0.2,
        )
    }

    /// A policy with these delays and jitter fraction (clamped to 0..=1).
    pub fn new(delays: Vec<Duration>, jitter: f64) -> Self {
        Self {
            delays,
            jitter: jitter.clamp(0.0, 1.0),
        }
    }

    /// Parses `30s,2m,8m` (units `ms`, `s`, `m`, `h`, `d`).
    pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
        text.split(',')
            .map(|part| parse_duration(part.trim()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| format!("invalid retry schedule {text:?}: expected e.g. 30s,2m,8m"))
    }

    /// Attempts a notice gets in all.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).unwrap_or(u32::MAX - 1) + 1
    }

    /// After attempt number `attempt` (1-based) failed at `now`: when to retry, or `Exhausted`.
    /// `random` is a uniform sample in `0..1` that picks the jitter.
    pub fn after_failure(&self, attempt: u32, now: DateTime<Utc>, random: f64) -> AfterFailure {
        let Some(delay) = self.delays.get(attempt.saturating_sub(1) as usize) else {
            return AfterFailure::Exhausted;
        };
        let factor = 1.0 + self.jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0);
        let jittered = delay.mul_f64(factor.max(0.0));
        let delta = chrono::Duration::from_std(jittered).unwrap_or(chrono::Duration::MAX);
        AfterFailure::RetryAt(now.checked_add_signed(delta).unwrap_or(now))
    }
}

/// Parses one duration such as `500ms`, `30s`, `2m`, `1h` or `30d` (days of 24 hours).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = |per_unit: u64| number.checked_mul(per_unit).map(Duration::from_secs);
    match unit {
        "ms" => Some(Duration::from_millis(number)),
        "s" => seconds(1),
        "m" => seconds(60),
        "h" => seconds(3600),
        "d" => seconds(86_400),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_policy_gives_four_attempts() {
        let policy = RetryPolicy::standard();
        let now = Utc::now();
        assert_eq!(policy.max_attempts(), 4);
        assert_eq!(
            policy.after_failure(1, now, 0.5),
            AfterFailure::RetryAt(now + chrono::Duration::seconds(30))
        );
        assert_eq!(
            policy.after_failure(3, now, 0.5),
            AfterFailure::RetryAt(now + chrono::Duration::seconds(480))
        );
        assert_eq!(policy.after_failure(4, now, 0.5), AfterFailure::Exhausted);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let policy = RetryPolicy::standard();
        let now = Utc::now();
        let AfterFailure::RetryAt(low) = policy.after_failure(1, now, 0.0) else {
            panic!("expected a retry")
        };
        let AfterFailure::RetryAt(high) = policy.after_failure(1, now, 1.0) else {
            panic!("expected a retry")
        };
        assert_eq!(low - now, chrono::Duration::seconds(24));
        assert_eq!(high - now, chrono::Duration::seconds(36));
    }

    #[test]
    fn durations_take_days_of_24_hours() {
        assert_eq!(
            parse_duration("30d"),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("d"), None);
        assert_eq!(parse_duration("1.5d"), None);
        assert_eq!(parse_duration(&format!("{}d", u64::MAX)), None);
    }

    #[test]
    fn schedule_parses_units() {
        assert_eq!(
            RetryPolicy::parse_schedule("30s, 2m,8m,100ms,1h").unwrap(),
            vec![
                Duration::from_secs(30),
                Duration::from_secs(120),
                Duration::from_secs(480),
                Duration::from_millis(100),
                Duration::from_secs(3600)
            ]
        );
        assert!(RetryPolicy::parse_schedule("30x").is_err());
        assert!(RetryPolicy::parse_schedule("").is_err());
    }
}
