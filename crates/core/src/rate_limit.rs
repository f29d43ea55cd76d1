//! The account API's rate limit: a sliding window estimated from two fixed windows.
//!
//! Counting every request of the last minute exactly would need a timestamp per request. Instead
//! each account keeps two counters, the current fixed window and the one before, and the number
//! of requests in the sliding minute is estimated as the current count plus the previous count
//! weighted by how much of the previous window the sliding minute still covers. This allows no
//! burst of twice the limit at a window boundary, needs two integers per account, and is the same
//! arithmetic whether the counters live in memory or in a shared database. Refused requests are
//! not counted, so a client that waits as told by `Retry-After` gets through.

use std::time::Duration;

/// How many requests an account may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window; at least 1.
    pub requests: u32,
    /// The window: a whole number of seconds, at least one.
    pub window: Duration,
}

/// The contract's default: 100 requests per minute.
pub const DEFAULT_RATE_LIMIT: RateLimit = RateLimit {
    requests: 100,
    window: Duration::from_secs(60),
};

/// Where a moment falls among the fixed windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowPosition {
    /// Start of the current fixed window, in Unix seconds.
    pub start: i64,
    /// Start of the window before it.
    pub previous_start: i64,
    /// Milliseconds elapsed since `start`.
    pub elapsed_ms: u64,
}

/// Whether a request may go ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// Counted; `remaining` more requests fit in the sliding window now.
    Allowed {
        /// Requests still allowed right now.
        remaining: u32,
    },
    /// Over the limit: not counted; retry after this many whole seconds (at least 1).
    Limited {
        /// Seconds to wait, for `Retry-After`.
        retry_after_secs: u64,
    },
}

impl RateLimit {
    /// A limit of `requests` per `window`; `None` if either is zero or the window is not a whole
    /// number of seconds (windows start on whole seconds).
    pub fn new(requests: u32, window: Duration) -> Option<Self> {
        let whole_seconds = window.as_secs() > 0 && window.subsec_nanos() == 0;
        (requests > 0 && whole_seconds).then_some(Self { requests, window })
    }

    fn window_secs(&self) -> i64 {
        i64::try_from(self.window.as_secs()).unwrap_or(i64::MAX)
    }

    fn window_ms(&self) -> f64 {
        self.window.as_millis() as f64
    }

    /// The fixed window that `unix_ms` (milliseconds since the epoch) falls in.
    pub fn position(&self, unix_ms: i64) -> WindowPosition {
        let window_ms = self.window_secs().saturating_mul(1000);
        let start_ms = unix_ms.div_euclid(window_ms) * window_ms;
        WindowPosition {
            start: start_ms / 1000,
            previous_start: start_ms / 1000 - self.window_secs(),
            elapsed_ms: u64::try_from(unix_ms - start_ms).unwrap_or(0),
        }
    }

    /// The share of the previous window's count that still falls in the sliding window.
    fn previous_weight(&self, position: &WindowPosition) -> f64 {
        (1.0 - position.elapsed_ms as f64 / self.window_ms()).clamp(0.0, 1.0)
    }

    /// The largest count the current window may have *before* a request for that request to be
    /// allowed: a request is allowed while the current count is below this bound.
    pub fn current_bound(&self, previous: u32, position: &WindowPosition) -> u32 {
        let weighted = f64::from(previous) * self.previous_weight(position);
        let room = f64::from(self.requests) - weighted;
        if room <= 0.0 {
            0
        } else {
            // A request is allowed while weighted + current + 1 <= requests.
            (room.floor() as u32).min(self.requests)
        }
    }

    /// Decides a request, given the previous window's count and the current window's count
    /// before this request.
    pub fn decide(&self, previous: u32, current: u32, position: &WindowPosition) -> RateDecision {
        let bound = self.current_bound(previous, position);
        if current < bound {
            RateDecision::Allowed {
                remaining: bound - current - 1,
            }
        } else {
            RateDecision::Limited {
                retry_after_secs: self.retry_after_secs(previous, current, position),
            }
        }
    }

    /// Whole seconds until one more request fits, assuming no other request is counted meanwhile.
    fn retry_after_secs(&self, previous: u32, current: u32, position: &WindowPosition) -> u64 {
        let window = self.window_ms();
        let left_in_window = window - position.elapsed_ms as f64;
        let limit = f64::from(self.requests);
        let current = f64::from(current);
        let previous = f64::from(previous);
        let wait_ms = if current + 1.0 <= limit && previous > 0.0 {
            // Later in this window: previous * (left - t) / window + current + 1 <= limit.
            (left_in_window - (limit - current - 1.0) * window / previous).max(0.0)
        } else {
            // Next window, where this window's count becomes the weighted one.
            let next = if current > 0.0 {
                (window * (1.0 - (limit - 1.0) / current)).max(0.0)
            } else {
                0.0
            };
            left_in_window + next
        };
        // One millisecond past the exact moment, so rounding never lands on the boundary.
        (((wait_ms + 1.0) / 1000.0).ceil() as u64).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_minute(requests: u32) -> RateLimit {
        RateLimit::new(requests, Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn zero_requests_or_windows_of_partial_seconds_are_refused() {
        assert!(RateLimit::new(0, Duration::from_secs(60)).is_none());
        assert!(RateLimit::new(5, Duration::from_millis(500)).is_none());
        assert!(RateLimit::new(5, Duration::from_millis(1500)).is_none());
    }

    #[test]
    fn position_splits_time_into_fixed_windows() {
        let limit = per_minute(10);
        let position = limit.position(125_500);
        assert_eq!(position.start, 120);
        assert_eq!(position.previous_start, 60);
        assert_eq!(position.elapsed_ms, 5_500);
    }

    #[test]
    fn requests_up_to_the_limit_pass_in_a_fresh_window() {
        let limit = per_minute(3);
        let position = limit.position(0);
        assert_eq!(
            limit.decide(0, 0, &position),
            RateDecision::Allowed { remaining: 2 }
        );
        assert_eq!(
            limit.decide(0, 2, &position),
            RateDecision::Allowed { remaining: 0 }
        );
        let RateDecision::Limited { retry_after_secs } = limit.decide(0, 3, &position) else {
            panic!("the fourth request must be limited");
        };
        // At the start of the window, the count only stops weighing a full window later.
        assert!((60..=120).contains(&retry_after_secs), "{retry_after_secs}");
    }

    #[test]
    fn the_previous_window_weighs_by_its_overlap() {
        let limit = per_minute(100);
        // 15 s into the window: 75% of the previous window's 100 requests still count.
        let position = limit.position(15_000);
        assert_eq!(limit.current_bound(100, &position), 25);
        // At the very end of the window the previous one no longer counts.
        let late = limit.position(59_999);
        assert_eq!(limit.current_bound(100, &late), 99);
    }

    #[test]
    fn retry_after_is_when_the_weighted_count_makes_room() {
        let limit = per_minute(100);
        let position = limit.position(15_000);
        let RateDecision::Limited { retry_after_secs } = limit.decide(100, 25, &position) else {
            panic!("must be limited");
        };
        // 100 * (45 - t) / 60 + 26 <= 100  =>  t >= 0.6 s
        assert_eq!(retry_after_secs, 1);
        let waited = limit.position(15_000 + retry_after_secs as i64 * 1000);
        assert!(matches!(
            limit.decide(100, 25, &waited),
            RateDecision::Allowed { .. }
        ));
    }

    #[test]
    fn retry_after_always_leads_to_an_allowed_request() {
        let limit = per_minute(7);
        for elapsed in (0..60_000).step_by(1_370) {
            for previous in [0, 3, 7, 20] {
                for current in 0..=9 {
                    let position = limit.position(600_000 + elapsed);
                    let RateDecision::Limited { retry_after_secs } =
                        limit.decide(previous, current, &position)
                    else {
                        continue;
                    };
                    let later = limit.position(600_000 + elapsed + retry_after_secs as i64 * 1000);
                    let (later_previous, later_current) = if later.start == position.start {
                        (previous, current)
                    } else if later.previous_start == position.start {
                        (current, 0)
                    } else {
                        (0, 0)
                    };
                    assert!(
                        matches!(
                            limit.decide(later_previous, later_current, &later),
                            RateDecision::Allowed { .. }
                        ),
                        "elapsed {elapsed} previous {previous} current {current} \
                         retry {retry_after_secs}"
                    );
                }
            }
        }
    }
}
