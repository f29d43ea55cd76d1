//! Notices: one per (opt-out, exposed account), delivered until acknowledged.

use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::Arc;

use crate::ids::ObjectId;
use crate::{AccountId, SealedSecret, SubscriptionId, WebhookUrl};

/// The id of a notice: stable across retries, sent as `X-Lusha-Webhook-Id`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NoticeId(ObjectId);

impl NoticeId {
    /// A fresh id.
    pub fn generate(at: DateTime<Utc>) -> Self {
        Self(ObjectId::generate(at))
    }

    /// Parses a 24-hex-character id.
    pub fn parse(text: &str) -> Option<Self> {
        ObjectId::parse(text).map(Self)
    }
}

impl fmt::Display for NoticeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for NoticeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NoticeId({self})")
    }
}

/// Where a notice stands, as the compliance record reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeStatus {
    /// Due (or scheduled) and not yet attempted.
    Pending,
    /// Claimed by a worker; an attempt is in flight.
    Delivering,
    /// Acknowledged with a 2xx.
    Delivered,
    /// Held: the account has no active subscription.
    Waiting,
    /// The last attempt failed; a retry is scheduled.
    Failed,
}

impl NoticeStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivering => "delivering",
            Self::Delivered => "delivered",
            Self::Waiting => "waiting",
            Self::Failed => "failed",
        }
    }
}

/// What a worker asks for when it claims work.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The claim instant: notices due at or before it are eligible.
    pub now: DateTime<Utc>,
    /// Until when the claimed notices are leased to this worker.
    pub lease_until: DateTime<Utc>,
    /// Most notices to claim.
    pub limit: u32,
    /// Most notices to claim for any one account.
    pub per_account_limit: u32,
    /// Accounts whose deliveries are already at their concurrency cap: claim none of theirs.
    pub saturated_accounts: Vec<AccountId>,
}

/// Fresh notices an opt-out intake may claim in its own transaction, for the engine of its
/// own process to start at once (see [`IntakeClaimed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeClaim {
    /// Until when the claimed notices are leased, as a claim from the queue would lease them.
    pub lease_until: DateTime<Utc>,
    /// Most notices to claim.
    pub limit: u32,
    /// Most notices to claim for any one account, as in [`ClaimRequest`].
    pub per_account_limit: u32,
    /// Accounts whose deliveries are already at their cap: claim none of theirs.
    pub saturated_accounts: Vec<AccountId>,
}

/// What an opt-out intake that may claim its fresh notices produced.
#[derive(Debug, Clone, Default)]
pub struct IntakeClaimed {
    /// One result per opt-out, in order, as without a claim.
    pub recorded: Vec<crate::OptOutRecorded>,
    /// The fresh notices claimed (queued due, account subscribed), at most the claim's limit.
    pub claimed: Vec<ClaimedNotice>,
}

/// A notice leased to a worker, with everything needed to deliver it.
#[derive(Debug, Clone)]
pub struct ClaimedNotice {
    /// The notice.
    pub notice_id: NoticeId,
    /// The fencing token of this claim: outcomes are recorded only with the current token.
    pub lease_token: i64,
    /// The recipient account.
    pub account_id: AccountId,
    /// Its active subscription at claim time.
    pub subscription_id: SubscriptionId,
    /// Where to deliver.
    pub url: WebhookUrl,
    /// The account secret to sign with, sealed as stored: the engine opens it.
    pub secret: SealedSecret,
    /// The secret it replaced, while that one's rotation grace lasts at the claim's `now`
    /// (spec C3): the delivery is signed with it too.
    pub previous_secret: Option<SealedSecret>,
    /// The frozen body bytes (shared, never re-serialised).
    pub payload: Arc<[u8]>,
    /// This attempt's number, 1 for the first.
    pub attempt: u32,
    /// When the notice was created: its opt-out was accepted then.
    pub created_at: DateTime<Utc>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptResult {
    /// A 2xx arrived in time.
    Delivered {
        /// The status code.
        status_code: u16,
    },
    /// Anything else.
    Failed {
        /// The status code, when a response came.
        status_code: Option<u16>,
        /// A short reason, such as `HTTP 503` or `timeout after 10000 ms`.
        error: String,
    },
}

/// What to do with the notice after its attempt, decided by the engine's retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeDisposition {
    /// Delivered: done.
    Delivered,
    /// Try again at this instant.
    RetryAt(DateTime<Utc>),
    /// Retries exhausted: disable the subscription, hold the notice and all later ones.
    Exhausted,
}

/// The outcome of one attempt, to record.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    /// The notice attempted.
    pub notice_id: NoticeId,
    /// The claim's fencing token.
    pub lease_token: i64,
    /// The recipient account.
    pub account_id: AccountId,
    /// The subscription it was sent to.
    pub subscription_id: SubscriptionId,
    /// The URL it was sent to.
    pub url: WebhookUrl,
    /// The attempt's number.
    pub attempt: u32,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub duration_ms: u64,
    /// How it ended.
    pub result: AttemptResult,
    /// What happens next.
    pub disposition: NoticeDisposition,
}
