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

/// Every account's counters; clones share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct RateCounters {
    accounts: Arc<Mutex<HashMap<AccountId, Windows>>>,
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
        let mut accounts = self
            .accounts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if accounts.len() > 100_000 {
            // Drop accounts idle for two windows: their counters no longer weigh anything.
            accounts.retain(|_, windows| windows.start >= position.previous_start);
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
