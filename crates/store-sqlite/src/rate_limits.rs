//! Rate-limit counters of the account API, kept in memory.
//!
//! A SQLite database is served by one process, so its counters need not be shared, and writing
//! them to the file would put a durable commit in front of every API request. They start from
//! zero when the process restarts, which can only let a client through sooner.

use optout_core::rate_limit::{RateDecision, RateLimit};
use optout_core::AccountId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One account's two fixed-window counters.
#[derive(Debug, Clone, Copy)]
struct Windows {
    /// Start of the window `current` counts, in Unix seconds.
    start: i64,
    previous: u32,
    current: u32,
}

/// Accounts counted before idle ones are first dropped.
const FIRST_CLEANUP_AT: usize = 100_000;

/// Every account's counters; clones share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateCounters {
    state: Arc<Mutex<Counters>>,
}

#[derive(Debug, Default)]
struct Counters {
    accounts: HashMap<AccountId, Windows>,
    /// Size at which idle accounts are dropped next: twice what a cleanup kept, so that a
    /// cleanup's cost is spread over as many requests as it had accounts to look at.
    cleanup_at: usize,
}

impl RateCounters {
    /// Decides one request of `account_id` at `unix_ms`, counting it if allowed.
    pub(crate) fn take(
        &self,
        account_id: &AccountId,
        limit: RateLimit,
        unix_ms: i64,
    ) -> RateDecision {
        let position = limit.position(unix_ms);
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Counters {
            accounts,
            cleanup_at,
        } = &mut *state;
        if accounts.len() >= (*cleanup_at).max(FIRST_CLEANUP_AT) {
            // Drop accounts idle for two windows: their counters no longer weigh anything.
            accounts.retain(|_, windows| windows.start >= position.previous_start);
            *cleanup_at = accounts.len() * 2;
        }
        let windows = accounts.entry(account_id.clone()).or_insert(Windows {
            start: position.start,
            previous: 0,
            current: 0,
        });
        if windows.start != position.start {
            let previous = if windows.start == position.previous_start {
                windows.current
            } else {
                0
            };
            *windows = Windows {
                start: position.start,
                previous,
                current: 0,
            };
        }
        let decision = limit.decide(windows.previous, windows.current, &position);
        if matches!(decision, RateDecision::Allowed { .. }) {
            windows.current += 1;
        }
        decision
    }
}
