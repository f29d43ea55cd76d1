//! PostgreSQL implementation of the optout-relay [`Store`]: the backend several nodes share.
//!
//! Every use case of the trait is one short transaction with a fixed number of statements,
//! whatever the batch size (arrays bound as `UNNEST($1::text[], ...)`). Delivery nodes claim due
//! notices with `FOR UPDATE SKIP LOCKED`, so they never wait for each other, and work that makes
//! notices due ends with `NOTIFY optout_relay_work`; [`WorkListener`] turns those notifications
//! into wake-ups for another node's delivery engine. Instants are `BIGINT` milliseconds since the
//! Unix epoch, exactly as in the SQLite schema: the stores keep the same precision and read rows
//! back into domain values the same way.
//!
//! It is not a migration tool for SQLite data, and it does not create the database: [`connect`]
//! expects it to exist, [`migrate`] applies this crate's migrations, [`open`] does both.
//!
//! Design decision a newcomer may question: transactions run at `READ COMMITTED`, not
//! `SERIALIZABLE`, and the serial order the SQLite backend gets from its single writer is rebuilt
//! with a few explicit locks instead (see the `locks` module): an opt-out and an exposure intake
//! of the same contact take a contact-bucket advisory lock (exclusive and shared), a change of an
//! account's subscription takes the account row `FOR NO KEY UPDATE` while an opt-out that decides
//! "queued or held" takes it `FOR SHARE`. Locks are always taken in one order (advisory, accounts
//! by id, notices, then the one `notice_totals` row a notice insert's trigger adds to), so use
//! cases never deadlock and never need a retry loop; `SERIALIZABLE`
//! would instead abort busy intakes under load and make every caller retry.
//!
//! [`connect`]: PostgresStore::connect
//! [`migrate`]: PostgresStore::migrate
//! [`open`]: PostgresStore::open

mod accounts;
mod audit;
mod compliance;
mod error;
mod exposures;
mod listener;
mod locks;
mod notices;
mod operator;
mod opt_outs;
mod rate_limits;
mod retention;
mod scratch;
mod subscriptions;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use optout_core::rate_limit::{RateDecision, RateLimit};
use optout_core::{
    Account, AccountId, AccountSecrets, ApiKeyHash, ApiKeyId, AttemptOutcome, AuditEntry,
    AuditFilter, AuditStats, ClaimRequest, ClaimedNotice, ComplianceRecord, ExposureIntake,
    NewAccount, NewApiKey, NewExposure, NewSubscription, OptOutBatch, OptOutId, OptOutRecorded,
    Page, PageRequest, SealedSecret, Subscription, SubscriptionChanges, SubscriptionId,
};
use optout_store::{
    AccountAuditEntry, PayloadPurge, PurgeablePayload, QueueMetrics, Reseal, Store, StoreError,
    StoredAccountSecrets,
};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};
use std::time::Duration;

use error::map_err;
pub use listener::WorkListener;
pub use scratch::{ScratchDatabase, ScratchError};

/// The channel on which committed work is announced (`NOTIFY optout_relay_work`).
pub const WORK_CHANNEL: &str = "optout_relay_work";

/// Connections per node. Every use case is one short transaction, so a handful serves the API
/// and the delivery engine of one node; N nodes open N times as many.
const MAX_CONNECTIONS: u32 = 10;
/// How long a use case waits for a free connection before failing instead of queueing forever.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

/// Why a store (or a [`WorkListener`]) could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The database could not be reached, or refused the connection.
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl PostgresStore {
    /// Connects to the existing database named by a `postgres://` URL, without migrating it.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    /// Connects, then applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// A store over a pool the caller configured.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Applies pending migrations. Safe to run from several nodes at once: sqlx serialises
    /// migrators with an advisory lock.
    pub async fn migrate(&self) -> Result<(), OpenError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The connection pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin(&self) -> Result<Transaction<'_, Postgres>, StoreError> {
        self.pool.begin().await.map_err(map_err)
    }

    /// A read-only transaction whose statements all see one snapshot (a page and its total).
    async fn begin_snapshot(&self) -> Result<Transaction<'_, Postgres>, StoreError> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(map_err)
    }
}

/// Announces committed work to every node's [`WorkListener`]. Runs inside the transaction that
/// made notices due: PostgreSQL delivers the notification only if, and when, it commits.
pub(crate) async fn notify_work(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WORK_CHANNEL)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_account(
        &self,
        account: NewAccount,
        key: NewApiKey,
    ) -> Result<Account, StoreError> {
        let mut tx = self.begin().await?;
        let created = accounts::insert_account(&mut tx, account).await?;
        accounts::insert_api_key(&mut tx, &created.id, &key).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(created)
    }

    async fn create_api_key(
        &self,
        account_id: &AccountId,
        key: NewApiKey,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        if accounts::insert_api_key(&mut conn, account_id, &key).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn revoke_api_key(
        &self,
        key_id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        accounts::revoke_api_key(&self.pool, key_id, at).await
    }

    async fn find_account_by_api_key(
        &self,
        hash: &ApiKeyHash,
    ) -> Result<Option<AccountId>, StoreError> {
        accounts::find_account_by_api_key(&self.pool, hash).await
    }

    async fn find_account(&self, account_id: &AccountId) -> Result<Option<Account>, StoreError> {
        accounts::find_account(&self.pool, account_id).await
    }

    async fn record_account_secret_rotation(
        &self,
        account_id: &AccountId,
        secret: &SealedSecret,
        at: DateTime<Utc>,
        previous_valid_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        if accounts::upsert_secret(&mut conn, account_id, secret, at, previous_valid_until).await? {
            Ok(())
        } else {
            Err(StoreError::NotFound)
        }
    }

    async fn find_account_secret(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<SealedSecret>, StoreError> {
        accounts::find_secret(&self.pool, account_id).await
    }

    async fn find_account_secrets(
        &self,
        account_id: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountSecrets<SealedSecret>>, StoreError> {
        accounts::find_secrets(&self.pool, account_id, now).await
    }

    async fn list_account_secrets(
        &self,
        after: Option<&AccountId>,
        limit: u32,
    ) -> Result<Vec<StoredAccountSecrets>, StoreError> {
        accounts::list_secrets(&self.pool, after, limit).await
    }

    async fn record_resealed_secrets(&self, reseals: &[Reseal]) -> Result<usize, StoreError> {
        // Dead row versions keep the replaced text until PostgreSQL vacuums them; its WAL keeps
        // it until recycled. Only the operator can scrub those (README, "Secrets at rest").
        accounts::reseal_secrets(&self.pool, reseals).await
    }

    async fn create_subscription(&self, new: NewSubscription) -> Result<Subscription, StoreError> {
        let mut tx = self.begin().await?;
        let (created, released) = subscriptions::insert(&mut tx, new).await?;
        if released > 0 {
            notify_work(&mut tx).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(created)
    }

    async fn list_subscriptions(
        &self,
        account_id: &AccountId,
        page: PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let found = subscriptions::list(&mut tx, account_id, page).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(found)
    }

    async fn find_subscription(
        &self,
        account_id: &AccountId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        subscriptions::find(&self.pool, account_id, id).await
    }

    async fn update_subscription(
        &self,
        account_id: &AccountId,
        id: SubscriptionId,
        changes: SubscriptionChanges,
    ) -> Result<Option<Subscription>, StoreError> {
        let mut tx = self.begin().await?;
        let Some((updated, released)) =
            subscriptions::update(&mut tx, account_id, id, changes).await?
        else {
            return Ok(None);
        };
        if released > 0 {
            notify_work(&mut tx).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(Some(updated))
    }

    async fn delete_subscriptions(
        &self,
        account_id: &AccountId,
        ids: &[SubscriptionId],
    ) -> Result<Vec<Option<Subscription>>, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = subscriptions::delete_many(&mut tx, account_id, ids).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(deleted)
    }

    async fn record_exposures(&self, items: &[NewExposure]) -> Result<ExposureIntake, StoreError> {
        let mut tx = self.begin().await?;
        let intake = exposures::record(&mut tx, items).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(intake)
    }

    async fn record_opt_outs(&self, batch: OptOutBatch) -> Result<Vec<OptOutRecorded>, StoreError> {
        let mut tx = self.begin().await?;
        let recorded = opt_outs::record_batch(&mut tx, batch).await?;
        if recorded.queued > 0 {
            notify_work(&mut tx).await?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(recorded.results)
    }

    async fn claim_due_notices(
        &self,
        request: ClaimRequest,
    ) -> Result<Vec<ClaimedNotice>, StoreError> {
        let mut tx = self.begin().await?;
        let claimed = notices::claim(&mut tx, &request).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(claimed)
    }

    async fn record_attempts(&self, outcomes: &[AttemptOutcome]) -> Result<usize, StoreError> {
        if outcomes.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin().await?;
        let recorded = notices::record_attempts(&mut tx, outcomes).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(recorded)
    }

    async fn find_next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        notices::next_due_at(&self.pool).await
    }

    async fn record_test_attempt(
        &self,
        account_id: &AccountId,
        entry: AuditEntry,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(map_err)?;
        audit::insert_entry(&mut conn, account_id, &entry).await
    }

    async fn list_audit_entries(
        &self,
        account_id: &AccountId,
        filter: AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let found = audit::list(&mut tx, account_id, filter, page).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(found)
    }

    async fn find_audit_stats(
        &self,
        account_id: &AccountId,
        subscription_id: Option<SubscriptionId>,
    ) -> Result<AuditStats, StoreError> {
        audit::stats(&self.pool, account_id, subscription_id).await
    }

    async fn find_compliance_record(
        &self,
        opt_out_id: OptOutId,
        now: DateTime<Utc>,
    ) -> Result<Option<ComplianceRecord>, StoreError> {
        let mut tx = self.begin_snapshot().await?;
        let found = compliance::find(&mut tx, opt_out_id, now).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(found)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn take_rate_limit_slot(
        &self,
        account_id: &AccountId,
        limit: RateLimit,
        now: DateTime<Utc>,
    ) -> Result<RateDecision, StoreError> {
        rate_limits::take_slot(&self.pool, account_id, limit, now.timestamp_millis()).await
    }

    async fn find_queue_metrics(&self, now: DateTime<Utc>) -> Result<QueueMetrics, StoreError> {
        operator::queue_metrics(&self.pool, now).await
    }

    async fn list_all_subscriptions(&self, limit: u32) -> Result<Vec<Subscription>, StoreError> {
        operator::all_subscriptions(&self.pool, limit).await
    }

    async fn list_recent_failures(&self, limit: u32) -> Result<Vec<AccountAuditEntry>, StoreError> {
        audit::recent_failures(&self.pool, limit).await
    }

    async fn list_purgeable_payloads(
        &self,
        delivered_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PurgeablePayload>, StoreError> {
        retention::list_purgeable(&self.pool, delivered_before, limit).await
    }

    async fn record_payload_purges(&self, purges: &[PayloadPurge]) -> Result<usize, StoreError> {
        if purges.is_empty() {
            return Ok(0);
        }
        // Dead row versions keep the old bodies until PostgreSQL vacuums them (README,
        // "Retention").
        retention::record_purges(&self.pool, purges).await
    }

    async fn purge_audit_entries(
        &self,
        success_before: DateTime<Utc>,
        failure_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<usize, StoreError> {
        retention::purge_audit(&self.pool, success_before, failure_before, limit).await
    }
}
