//! What the operator's views read: the queue at a glance, every subscription, recent failures.

use chrono::{DateTime, Utc};
use optout_core::{AccountId, AuditEntry};

/// How the queue and the subscriptions stand at one instant, across all accounts.
///
/// The notice counts split the queue the way the compliance record names a notice's status:
/// `pending` (due or scheduled, never attempted), `delivering` (leased to a worker), `failed`
/// (the last attempt failed, a retry is scheduled), `waiting` (held: no active subscription) and
/// `delivered`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueMetrics {
    /// Queued and never attempted.
    pub pending: u64,
    /// Leased to a worker: an attempt is in flight.
    pub delivering: u64,
    /// Queued for a retry after a failed attempt.
    pub failed: u64,
    /// Held until the account has an active subscription.
    pub waiting: u64,
    /// Acknowledged by their receiver.
    pub delivered: u64,
    /// When the longest-due queued notice became due, if one is due at the instant asked about.
    pub oldest_due_at: Option<DateTime<Utc>>,
    /// Subscriptions that receive deliveries.
    pub active_subscriptions: u64,
    /// Subscriptions disabled, by their owner or after failing deliveries.
    pub disabled_subscriptions: u64,
}

impl QueueMetrics {
    /// Notices that still have to be delivered, held ones included.
    pub fn undelivered(&self) -> u64 {
        self.pending + self.delivering + self.failed + self.waiting
    }

    /// Notices in the delivery queue (not held).
    pub fn queue_depth(&self) -> u64 {
        self.pending + self.delivering + self.failed
    }
}

/// An audit row with the account it belongs to, for views across accounts.
#[derive(Debug, Clone)]
pub struct AccountAuditEntry {
    /// The account whose subscription was attempted.
    pub account_id: AccountId,
    /// The attempt.
    pub entry: AuditEntry,
}
