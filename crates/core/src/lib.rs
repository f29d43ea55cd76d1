//! Domain types and rules of optout-relay, with no I/O.
//!
//! This crate is what the rest of the workspace agrees on: identifiers, accounts, subscriptions,
//! webhook URLs, secrets and their sealing at rest, API keys, time formats, rate limits, and the
//! address classification, CIDR ranges and target policy of the SSRF guard. Nothing here touches
//! a database, the network or the system clock directly; the clock is a trait so tests can
//! control time.
//!
//! Design decision a newcomer may question: values are parsed into newtypes once, at the edge
//! (`WebhookUrl::parse`, `AccountId::parse`, ...), and the rest of the code only ever sees the
//! parsed type. Validation functions therefore return *every* problem at once, because the API
//! contract lists all validation errors in one response.

pub mod account;
pub mod address;
pub mod api_key;
pub mod audit;
pub mod cidr;
pub mod clock;
pub mod compliance;
pub mod datapoint;
pub mod evidence;
pub mod exposure;
pub mod ids;
pub mod notice;
pub mod opt_out;
pub mod page;
pub mod rate_limit;
pub mod retry;
pub mod sealing;
pub mod secret;
pub mod subscription;
pub mod target_policy;
pub mod time_format;
pub mod webhook_url;

pub use account::{Account, AccountId, AccountName, NewAccount};
pub use api_key::{ApiKey, ApiKeyHash, ApiKeyId, NewApiKey};
pub use audit::{AuditEntry, AuditFilter, AuditStats, AuditStatus};
pub use cidr::{Cidr, CidrError};
pub use clock::{Clock, SystemClock};
pub use compliance::{ComplianceRecord, RecipientRecord};
pub use datapoint::{ContactId, Datapoint, DatapointKind};
pub use evidence::{DatapointEvidence, DatapointHash, EvidenceSalt};
pub use exposure::{ExposureIntake, NewExposure, Refusal, RefusalReason};
pub use ids::{ObjectId, SubscriptionId};
pub use notice::{
    AttemptOutcome, AttemptResult, ClaimRequest, ClaimedNotice, IntakeClaim, IntakeClaimed,
    NoticeDisposition, NoticeId, NoticeStatus,
};
pub use opt_out::{
    notice_payload, ContactDetails, HeldExposure, Idempotency, NewOptOut, OptOutBatch, OptOutId,
    OptOutRecorded,
};
pub use page::{Page, PageRequest};
pub use retry::{AfterFailure, RetryPolicy};
pub use sealing::{KeyId, Keyring, KeyringError, MasterKey, SealError, SealedSecret, Standing};
pub use secret::{AccountSecrets, WebhookSecret};
pub use subscription::{
    EntityType, NewSubscription, SignalType, Subscription, SubscriptionChanges, SubscriptionName,
};
pub use target_policy::{TargetPolicy, TargetRefused};
pub use webhook_url::{UrlPolicy, WebhookUrl};
