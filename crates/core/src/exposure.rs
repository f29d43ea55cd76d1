//! The exposure ledger: which account received which of a contact's datapoints, and when.

use chrono::{DateTime, Utc};

use crate::{AccountId, ContactId, Datapoint};

/// One exposure record as the operator sends it: some datapoints of one contact, sent to one
/// account at one time.
#[derive(Debug, Clone)]
pub struct NewExposure {
    /// Who received the data.
    pub account_id: AccountId,
    /// Whose data it was.
    pub contact_id: ContactId,
    /// Which datapoints (at least one).
    pub datapoints: Vec<Datapoint>,
    /// When they were sent.
    pub exposed_at: DateTime<Utc>,
    /// The account's own tenant reference, echoed in notices.
    pub partner_client_id: Option<String>,
}

/// What an exposure intake did, counted per datapoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExposureIntake {
    /// Datapoints newly recorded.
    pub accepted: u64,
    /// Datapoints already recorded (the earliest `exposedAt` is kept).
    pub duplicates: u64,
    /// Datapoints refused (the contact opted out, or the account is unknown).
    pub refused: u64,
    /// One entry per item with a refused datapoint.
    pub refusals: Vec<Refusal>,
}

impl ExposureIntake {
    /// Adds another intake's counts, shifting its item indexes by `offset`.
    pub fn absorb(&mut self, other: ExposureIntake, offset: usize) {
        self.accepted += other.accepted;
        self.duplicates += other.duplicates;
        self.refused += other.refused;
        self.refusals
            .extend(other.refusals.into_iter().map(|refusal| Refusal {
                index: refusal.index + offset,
                reason: refusal.reason,
            }));
    }
}

/// Why (some of) an item's datapoints were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The item's position in the request.
    pub index: usize,
    /// Why.
    pub reason: RefusalReason,
}

/// The reasons an exposure is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    /// The contact opted out of (some of) these datapoints: the suppression list.
    OptedOut,
    /// No account has this id.
    UnknownAccount,
}

impl RefusalReason {
    /// The reason as the API states it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptedOut => "contact has opted out of this data",
            Self::UnknownAccount => "unknown account",
        }
    }
}
