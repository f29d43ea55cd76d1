//! The `Store` trait of optout-relay: every use case the service needs from its database.
//!
//! This crate holds the contract only; `optout-store-sqlite` (the embedded default) and
//! `optout-store-postgres` (several nodes) implement it, and `optout-store-conformance` is the one
//! suite both must pass. The application holds an `Arc<dyn Store>` and never sees SQL.
//!
//! Design decision a newcomer may question: the trait's methods are whole use cases
//! (`create_subscription`, `update_subscription`, ...), each atomic inside the backend, instead of
//! generic CRUD plus transactions. No transaction crosses the trait, so a backend can use the
//! locking and batching that suit it, and a use case cannot be left half done by a caller.
//!
//! Account webhook secrets cross the trait sealed ([`SealedSecret`]): the server seals and opens
//! them with its master keys, and a store never holds or sees a secret in plain text.

mod error;
mod operator;
pub mod plan;
pub mod rows;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use optout_core::{
    Account, AccountId, AccountSecrets, ApiKeyHash, ApiKeyId, AttemptOutcome, AuditEntry,
    AuditFilter, AuditStats, ClaimRequest, ClaimedNotice, ComplianceRecord, DatapointEvidence,
    ExposureIntake, IntakeClaim, IntakeClaimed, NewAccount, NewApiKey, NewExposure,
    NewSubscription, NoticeId, OptOutBatch, OptOutId, OptOutRecorded, Page, PageRequest,
    SealedSecret, Subscription, SubscriptionChanges, SubscriptionId,
};

use optout_core::rate_limit::{RateDecision, RateLimit};

pub use error::StoreError;
pub use operator::{AccountAuditEntry, QueueMetrics};

/// One account's stored secrets as they are, grace or not: what the startup reseal works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccountSecrets {
    /// The account.
    pub account_id: AccountId,
    /// Its current secret and its previous one (even if that one's grace has ended).
    pub secrets: AccountSecrets<SealedSecret>,
}

/// One account's secrets resealed: what they must still be, and what replaces them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reseal {
    /// The account.
    pub account_id: AccountId,
    /// Its secrets as listed: replaced only if they are still these.
    pub expected: AccountSecrets<SealedSecret>,
    /// The same secrets sealed with the active key.
    pub resealed: AccountSecrets<SealedSecret>,
}

/// A delivered notice whose body may be purged, with that body (to compute its evidence first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurgeablePayload {
    /// The notice.
    pub notice_id: NoticeId,
    /// Its frozen body, as delivered.
    pub payload: Vec<u8>,
}

/// The purge of one delivered notice's body: when, and what the compliance record keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadPurge {
    /// The notice.
    pub notice_id: NoticeId,
    /// When its body was purged.
    pub purged_at: DateTime<Utc>,
    /// The salted hashes of its datapoints.
    pub evidence: DatapointEvidence,
}

/// The service's persistent state, as use cases.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Creates an account with its first API key. `StoreError::AccountExists` if the chosen id is
    /// taken; with no chosen id the store allocates the next number.
    async fn create_account(
        &self,
        account: NewAccount,
        key: NewApiKey,
    ) -> Result<Account, StoreError>;

    /// Issues another API key for an account. `StoreError::NotFound` if the account is unknown.
    async fn create_api_key(
        &self,
        account_id: &AccountId,
        key: NewApiKey,
    ) -> Result<(), StoreError>;

    /// Revokes a key at `at`. Returns whether a key was revoked.
    async fn revoke_api_key(&self, key_id: ApiKeyId, at: DateTime<Utc>)
        -> Result<bool, StoreError>;

    /// The account that owns a (non-revoked) key, by the key's hash.
    async fn find_account_by_api_key(
        &self,
        hash: &ApiKeyHash,
    ) -> Result<Option<AccountId>, StoreError>;

    /// Whether an account exists.
    async fn find_account(&self, account_id: &AccountId) -> Result<Option<Account>, StoreError>;

    /// Creates or replaces an account's webhook secret with no grace: a replaced secret (and any
    /// secret still in its grace) stops signing at once. `StoreError::NotFound` if the account
    /// is unknown.
    async fn record_account_secret(
        &self,
        account_id: &AccountId,
        secret: &SealedSecret,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_account_secret_rotation(account_id, secret, at, None)
            .await
    }

    /// Creates or replaces an account's webhook secret (spec C3). With `previous_valid_until`,
    /// the secret replaced becomes the previous one, which keeps signing deliveries beside the new
    /// one until then (an earlier previous secret is forgotten). With `None`, no previous secret
    /// is kept. `StoreError::NotFound` if the account is unknown.
    async fn record_account_secret_rotation(
        &self,
        account_id: &AccountId,
        secret: &SealedSecret,
        at: DateTime<Utc>,
        previous_valid_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError>;

    /// An account's webhook secret, if it has one.
    async fn find_account_secret(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<SealedSecret>, StoreError>;

    /// An account's secrets as a delivery made at `now` is signed: the current one, and the
    /// previous one while its grace lasts (until, not at, its end). `None` if it has no secret.
    async fn find_account_secrets(
        &self,
        account_id: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountSecrets<SealedSecret>>, StoreError>;

    /// Up to `limit` accounts' stored secrets, by account id after `after` (keyset paging), for
    /// resealing them under another master key.
    async fn list_account_secrets(
        &self,
        after: Option<&AccountId>,
        limit: u32,
    ) -> Result<Vec<StoredAccountSecrets>, StoreError>;

    /// Replaces accounts' stored secrets (current and previous) with resealed ones, each only if
    /// they are still exactly as expected (compare and swap), so that a reseal never overwrites a
    /// secret regenerated meanwhile; the grace's end is kept. Returns how many accounts' secrets
    /// were replaced. A backend also scrubs what it can of the replaced text from its files.
    async fn record_resealed_secrets(&self, reseals: &[Reseal]) -> Result<usize, StoreError>;

    /// Creates the account's opt-out subscription. `StoreError::SubscriptionExists` if it has one,
    /// `StoreError::SecretMissing` if the account has no secret yet.
    async fn create_subscription(&self, new: NewSubscription) -> Result<Subscription, StoreError>;

    /// The account's subscriptions, newest first.
    async fn list_subscriptions(
        &self,
        account_id: &AccountId,
        page: PageRequest,
    ) -> Result<Page<Subscription>, StoreError>;

    /// One of the account's subscriptions; `None` if missing or another account's.
    async fn find_subscription(
        &self,
        account_id: &AccountId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError>;

    /// Applies changes to one of the account's subscriptions atomically (a new secret included);
    /// `None` if missing or another account's, in which case nothing changes.
    async fn update_subscription(
        &self,
        account_id: &AccountId,
        id: SubscriptionId,
        changes: SubscriptionChanges,
    ) -> Result<Option<Subscription>, StoreError>;

    /// Deletes the account's subscriptions among `ids`, in one transaction. The result has one
    /// entry per id, in order: the deleted subscription, or `None` if it was not the account's.
    async fn delete_subscriptions(
        &self,
        account_id: &AccountId,
        ids: &[SubscriptionId],
    ) -> Result<Vec<Option<Subscription>>, StoreError>;

    /// Records exposures in one transaction: new datapoints are added, known ones keep their
    /// earliest `exposed_at`, and datapoints of contacts who opted out (or of unknown accounts)
    /// are refused per item.
    async fn record_exposures(&self, items: &[NewExposure]) -> Result<ExposureIntake, StoreError>;

    /// Records opt-outs, all or nothing, in one transaction: each opt-out, one notice per account
    /// that received any of the covered datapoints (payload frozen, queued or held), the erasure
    /// of those exposures and the suppression entries. With an idempotency key already used for
    /// the same request, returns the first result and changes nothing
    /// (`StoreError::IdempotencyMismatch` if it was used for another request).
    async fn record_opt_outs(&self, batch: OptOutBatch) -> Result<Vec<OptOutRecorded>, StoreError>;

    /// Records opt-outs as [`Self::record_opt_outs`] does, and in the same transaction claims up
    /// to `claim.limit` of the fresh notices that are queued due for a subscribed account, leased
    /// until `claim.lease_until` exactly as [`Self::claim_due_notices`] would lease them, for the
    /// engine of the calling process to start without claiming them from the queue. A store that
    /// does not claim at intake claims none (the default): its notices wait in the queue.
    /// Callers ask only a store that [`Self::claims_at_intake`].
    async fn record_opt_outs_claiming(
        &self,
        batch: OptOutBatch,
        claim: IntakeClaim,
    ) -> Result<IntakeClaimed, StoreError> {
        let _ = claim;
        Ok(IntakeClaimed {
            recorded: self.record_opt_outs(batch).await?,
            claimed: Vec::new(),
        })
    }

    /// Leases due notices of accounts with an active subscription, oldest due first, each with
    /// the account's secrets as of the request's `now`. The lease may return before it is on
    /// disk: a lease lost in a crash only lets its notices be claimed and delivered again, as
    /// when an engine crashes after its attempts.
    async fn claim_due_notices(
        &self,
        request: ClaimRequest,
    ) -> Result<Vec<ClaimedNotice>, StoreError>;

    /// Records attempt outcomes and audit rows in one transaction. An outcome whose lease token
    /// is no longer the notice's current one is ignored. Returns how many were recorded.
    async fn record_attempts(&self, outcomes: &[AttemptOutcome]) -> Result<usize, StoreError>;

    /// The earliest instant a queued notice becomes due, if any is queued.
    async fn find_next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Whether [`Self::record_opt_outs_claiming`] claims anything (not by default), so that an
    /// engine holds room for intake claims only where they happen.
    fn claims_at_intake(&self) -> bool {
        false
    }

    /// Records a test delivery's attempt in the audit log (spec A8, mode `full`).
    async fn record_test_attempt(
        &self,
        account_id: &AccountId,
        entry: AuditEntry,
    ) -> Result<(), StoreError>;

    /// The account's audit rows, newest first.
    async fn list_audit_entries(
        &self,
        account_id: &AccountId,
        filter: AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError>;

    /// Counts of the account's attempts, optionally of one subscription.
    async fn find_audit_stats(
        &self,
        account_id: &AccountId,
        subscription_id: Option<SubscriptionId>,
    ) -> Result<AuditStats, StoreError>;

    /// The compliance record of an opt-out.
    async fn find_compliance_record(
        &self,
        opt_out_id: OptOutId,
        now: DateTime<Utc>,
    ) -> Result<Option<ComplianceRecord>, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Counts one account API request at `now` against `limit`, unless the account is over it
    /// (refused requests are not counted). A store shared by several nodes counts for all of
    /// them; the SQLite store, served by one process, counts in memory.
    async fn take_rate_limit_slot(
        &self,
        account_id: &AccountId,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError>;

    /// How the queue and the subscriptions of all accounts stand at `now` (metrics, dashboard).
    async fn find_queue_metrics(&self, now: DateTime<Utc>) -> Result<QueueMetrics, StoreError>;

    /// Up to `limit` subscriptions of all accounts: disabled ones first, then newest first.
    async fn list_all_subscriptions(&self, limit: u32) -> Result<Vec<Subscription>, StoreError>;

    /// The `limit` most recent failed attempts of all accounts, newest first.
    async fn list_recent_failures(&self, limit: u32) -> Result<Vec<AccountAuditEntry>, StoreError>;

    // Retention: purging delivered bodies and old audit rows, in small batches.

    /// Up to `limit` delivered notices delivered before `delivered_before` whose body is not yet
    /// purged, oldest delivered first. Notices not delivered are never listed.
    async fn list_purgeable_payloads(
        &self,
        delivered_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PurgeablePayload>, StoreError>;

    /// Empties the bodies of these notices and records when, and their evidence, in one
    /// transaction; each only if it is delivered and not yet purged (so a purge is idempotent and
    /// never touches a notice that is still to be delivered). Returns how many were purged.
    async fn record_payload_purges(&self, purges: &[PayloadPurge]) -> Result<usize, StoreError>;

    /// Deletes at most `limit` audit rows: `success` rows attempted before `success_before`, and
    /// `failed` and `permanent_failure` rows attempted before `failure_before`. Returns how many
    /// were deleted.
    async fn purge_audit_entries(
        &self,
        success_before: DateTime<Utc>,
        failure_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<usize, StoreError>;
}
