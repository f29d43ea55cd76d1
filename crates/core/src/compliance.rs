//! The compliance record of an opt-out: who was told, and whether they acknowledged.

use chrono::{DateTime, Utc};

use crate::{AccountId, ContactId, DatapointEvidence, NoticeId, NoticeStatus, OptOutId};

/// An opt-out and the fate of each of its notices.
#[derive(Debug, Clone)]
pub struct ComplianceRecord {
    /// The opt-out.
    pub opt_out_id: OptOutId,
    /// Who opted out.
    pub contact_id: ContactId,
    /// When they opted out.
    pub opted_out_at: DateTime<Utc>,
    /// When the service recorded it.
    pub recorded_at: DateTime<Utc>,
    /// One entry per notified account.
    pub recipients: Vec<RecipientRecord>,
}

/// One notice of an opt-out.
#[derive(Debug, Clone)]
pub struct RecipientRecord {
    /// The account told.
    pub account_id: AccountId,
    /// The notice.
    pub notice_id: NoticeId,
    /// Where it stands.
    pub status: NoticeStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// Status code of the last response, if any.
    pub last_status_code: Option<u16>,
    /// When it was acknowledged.
    pub delivered_at: Option<DateTime<Utc>>,
    /// When its body was purged after its retention; `None` while the body is kept.
    pub payload_purged_at: Option<DateTime<Utc>>,
    /// What was kept of its datapoints when the body was purged; `None` while the body is kept.
    pub evidence: Option<DatapointEvidence>,
}
