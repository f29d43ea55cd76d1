//! SQLite implementation of the optout-relay [`Store`]: the embedded default.
//!
//! The database is one file in WAL mode. A write that returned is on disk: the writer commits
//! without waiting for the disk, and the store syncs the WAL outside the write lock before it
//! returns (see `durability`). It is not a client of a server: other processes (the CLI) may open
//! the same file.
//!
//! Design decision a newcomer may question: two connection pools. All writes go through a pool of
//! exactly one connection and start with `BEGIN IMMEDIATE`, so writers queue in the process
//! instead of failing with `SQLITE_BUSY`, and a transaction never has to upgrade a read lock.
//! Reads use a separate pool and run in parallel with the writer, as WAL allows.

mod accounts;
mod audit;
mod checkpoints;
mod compliance;
mod durability;
mod error;
mod exposures;
mod notices;
mod operator;
mod opt_outs;
mod rate_limits;
mod retention;
mod subscriptions;
mod values;
mod writer_hold;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use optout_core::rate_limit::{RateDecision, RateLimit};
use optout_core::{
    Account, AccountId, AccountSecrets, ApiKeyHash, ApiKeyId, AttemptOutcome, AuditEntry,
    AuditFilter, AuditStats, ClaimRequest, ClaimedNotice, ComplianceRecord, ExposureIntake,
    IntakeClaim, IntakeClaimed, NewAccount, NewApiKey, NewExposure, NewSubscription, OptOutBatch,
    OptOutId, OptOutRecorded, Page, PageRequest, SealedSecret, Subscription, SubscriptionChanges,
    SubscriptionId,
};
use optout_store::{
    AccountAuditEntry, PayloadPurge, PurgeablePayload, QueueMetrics, Reseal, Store, StoreError,
    StoredAccountSecrets,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use error::map_err;

/// The start of the write connection's thread name (`sqlite-writer-N`: the kernel keeps 15
/// bytes of a thread's name), so that the process can tell that thread apart, for instance to
/// favour it on the CPU: every write waits for it.
pub const WRITER_THREAD_PREFIX: &str = "sqlite-writer";

/// How long a connection waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers that may run beside the single writer.
const READ_CONNECTIONS: u32 = 4;
/// Page cache of the writer, in KiB (SQLite's default is 2 MiB): large enough to hold the hot
/// part of the queue's tables and indexes, so a claim or an outcome batch reads no page from the
/// file.
const WRITER_CACHE_KIB: u32 = 32 * 1024;
/// Page cache of each reader, in KiB.
const READER_CACHE_KIB: u32 = 8 * 1024;

/// Rows a statement's results may run ahead of the task reading them. SQLite runs on a thread of
/// its own and hands each row over; with a small buffer (sqlx's default is 50) that thread stops
/// and is woken again several times per claim or ledger read, each time a thread switch. A claim
/// returns at most 512 rows.
const ROW_BUFFER: usize = 1024;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    checkpoints: checkpoints::Checkpoints,
    wal_sync: durability::WalSync,
    path: PathBuf,
    rate_counters: rate_limits::RateCounters,
    /// Held notices released per transaction when a subscription becomes active.
    release_chunk: u64,
    writer_hold: Arc<writer_hold::WriterHold>,
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is not a `sqlite://` URL with a path.
    #[error("not a sqlite URL with a file path: {0}")]
    BadUrl(String),
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The database could not be opened.
    #[error("cannot open the database: {0}")]
    Open(#[from] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The WAL file could not be opened for syncing, or the first sync failed.
    #[error("cannot sync the database's WAL file: {0}")]
    WalSync(String),
}

/// A pool of exactly one connection, kept open for the life of the store.
///
/// Not tested before each hand-out: the pool already tests it each time it comes back (a round
/// trip to SQLite's thread that cannot be turned off), and a second one on the way out would
/// add another to every write, while the writer is the one connection every write waits for.
fn one_lasting_connection() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .test_before_acquire(false)
}

/// The file path named by a `sqlite://PATH` (or `sqlite:PATH`) URL.
pub fn path_from_url(url: &str) -> Result<PathBuf, OpenError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| OpenError::BadUrl(url.to_owned()))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(OpenError::BadUrl(url.to_owned()));
    }
    Ok(PathBuf::from(path))
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub async fn open(path: &Path) -> Result<Self, OpenError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| OpenError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .row_buffer_size(ROW_BUFFER);
        let writer_hold = Arc::new(writer_hold::WriterHold::new());
        let (on_acquire, on_release) = (Arc::clone(&writer_hold), Arc::clone(&writer_hold));
        let writer = one_lasting_connection()
            .before_acquire(move |_, _| {
                on_acquire.acquired();
                Box::pin(async { Ok(true) })
            })
            .after_release(move |_, _| {
                on_release.released();
                Box::pin(async { Ok(true) })
            })
            .connect_with(
                options
                    .clone()
                    .thread_name(|id| format!("{WRITER_THREAD_PREFIX}-{id}"))
                    // Commits are synced outside the write lock (see `durability`).
                    .synchronous(SqliteSynchronous::Normal)
                    .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
                    // Checkpoints run beside the writer (see `checkpoints`).
                    .pragma("wal_autocheckpoint", "0")
                    .pragma(
                        "journal_size_limit",
                        checkpoints::WalSizes::SERVICE.limit.to_string(),
                    ),
            )
            .await?;
        MIGRATOR.run(&writer).await?;
        let released = notices::release_interrupted(&writer).await?;
        if released > 0 {
            tracing::warn!(
                released,
                "released notices that an interrupted release of a subscription's backlog left held"
            );
        }
        let wal_sync = durability::WalSync::open(path)
            .map_err(|error| OpenError::WalSync(error.to_string()))?;
        wal_sync
            .commit_is_durable()
            .await
            .map_err(|error| OpenError::WalSync(error.to_string()))?;
        let checkpointer = one_lasting_connection()
            .connect_with(options.clone().busy_timeout(checkpoints::RESTART_WAIT))
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(
                options
                    .read_only(true)
                    .pragma("cache_size", format!("-{READER_CACHE_KIB}")),
            )
            .await?;
        let checkpoints = checkpoints::Checkpoints::start(
            checkpointer,
            writer.clone(),
            path,
            checkpoints::WalSizes::SERVICE,
        );
        Ok(Self {
            writer,
            reader,
            checkpoints,
            wal_sync,
            path: path.to_owned(),
            rate_counters: rate_limits::RateCounters::default(),
            release_chunk: notices::RELEASE_CHUNK,
            writer_hold,
        })
    }

    /// How long the single write connection has been held since the store opened, in all (up
    /// to its last return): writes queue for it, so held most of the time, it bounds the rate
    /// of writes, however idle the cores are.
    pub fn writer_held(&self) -> Duration {
        self.writer_hold.held()
    }

    /// Copies every committed page from the WAL into the database file and empties the WAL (a
    /// `TRUNCATE` checkpoint), waiting for readers as the busy timeout allows. After a bulk load,
    /// so that the writes that follow do not share the disk with copying it.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        if busy != 0 {
            return Err(StoreError::Backend(
                "the WAL checkpoint was blocked by a reader".into(),
            ));
        }
        Ok(())
    }

    /// Writes a consistent copy of the whole database to `target` (`VACUUM INTO`), while the
    /// service keeps running: the copy is one read snapshot, compacted, with no WAL beside it.
    /// `target` must not exist yet.
    pub async fn backup_into(&self, target: &Path) -> Result<(), StoreError> {
        let target = target
            .to_str()
            .ok_or_else(|| StoreError::Backend("the backup path is not valid UTF-8".into()))?;
        sqlx::query("VACUUM INTO ?1")
            .bind(target)
            .execute(&self.reader)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    /// Opens the database named by a `sqlite://PATH` URL.
    pub async fn open_url(url: &str) -> Result<Self, OpenError> {
        Self::open(&path_from_url(url)?).await
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the connections, waiting for them to finish.
    pub async fn close(&self) {
        self.checkpoints.close().await;
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Commits a write transaction and waits until it is on disk.
    async fn commit(&self, tx: sqlx::Transaction<'_, sqlx::Sqlite>) -> Result<(), StoreError> {
        tx.commit().await.map_err(map_err)?;
        self.wal_sync.commit_is_durable().await
    }

    /// Releases the account's held notices once its subscription is active (committed): a
    /// chunk per transaction (see [`notices::RELEASE_CHUNK`]), the last one on disk when it
    /// returns.
    async fn release_rest(
        &self,
        account_id: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        loop {
            let mut tx = self.begin_write().await?;
            let released =
                notices::release_account(&mut tx, account_id, now, self.release_chunk).await?;
            // Each chunk waits for the disk, although a chunk lost in a crash would be released
            // when the store is opened again (`notices::release_interrupted`): otherwise the
            // next opt-out's commit would wait for the whole release to reach the disk.
            self.commit(tx).await?;
            if released < self.release_chunk {
                return Ok(());
            }
        }
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'_, sqlx::Sqlite>, StoreError> {
        self.wal_sync.check()?;
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(map_err)
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_account(
        &self,
        account: NewAccount,
        key: NewApiKey,
    ) -> Result<Account, StoreError> {
        let mut tx = self.begin_write().await?;
        let created = accounts::insert_account(&mut tx, account).await?;
        accounts::insert_api_key(&mut tx, &created.id, &key).await?;
        self.commit(tx).await?;
        Ok(created)
    }

    async fn create_api_key(
        &self,
        account_id: &AccountId,
        key: NewApiKey,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if !accounts::account_exists(&mut *tx, account_id).await? {
            return Err(StoreError::NotFound);
        }
        accounts::insert_api_key(&mut tx, account_id, &key).await?;
        self.commit(tx).await
    }

    async fn revoke_api_key(
        &self,
        key_id: ApiKeyId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.wal_sync.check()?;
        let revoked = accounts::revoke_api_key(&self.writer, key_id, at).await?;
        self.wal_sync.commit_is_durable().await?;
        Ok(revoked)
    }

    async fn find_account_by_api_key(
        &self,
        hash: &ApiKeyHash,
    ) -> Result<Option<AccountId>, StoreError> {
        accounts::find_account_by_api_key(&self.reader, hash).await
    }

    async fn find_account(&self, account_id: &AccountId) -> Result<Option<Account>, StoreError> {
        accounts::find_account(&self.reader, account_id).await
    }

    async fn record_account_secret_rotation(
        &self,
        account_id: &AccountId,
        secret: &SealedSecret,
        at: DateTime<Utc>,
        previous_valid_until: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if !accounts::account_exists(&mut *tx, account_id).await? {
            return Err(StoreError::NotFound);
        }
        accounts::upsert_secret(&mut tx, account_id, secret, at, previous_valid_until).await?;
        self.commit(tx).await
    }

    async fn find_account_secret(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<SealedSecret>, StoreError> {
        accounts::find_secret(&self.reader, account_id).await
    }

    async fn find_account_secrets(
        &self,
        account_id: &AccountId,
        now: DateTime<Utc>,
    ) -> Result<Option<AccountSecrets<SealedSecret>>, StoreError> {
        accounts::find_secrets(&self.reader, account_id, now).await
    }

    async fn list_account_secrets(
        &self,
        after: Option<&AccountId>,
        limit: u32,
    ) -> Result<Vec<StoredAccountSecrets>, StoreError> {
        accounts::list_secrets(&self.reader, after, limit).await
    }

    async fn record_resealed_secrets(&self, reseals: &[Reseal]) -> Result<usize, StoreError> {
        self.wal_sync.check()?;
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        // While resealing, freed space is zeroed, so the replaced text (plain text, after an
        // upgrade) does not linger in the database file; then the WAL, which holds the pages as
        // they were, is checkpointed and truncated.
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        let replaced = async {
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
                .await
                .map_err(map_err)?;
            let mut replaced = 0;
            for reseal in reseals {
                if accounts::reseal_secrets(&mut *tx, reseal).await? {
                    replaced += 1;
                }
            }
            self.commit(tx).await?;
            Ok::<_, StoreError>(replaced)
        }
        .await;
        sqlx::query("PRAGMA secure_delete = OFF")
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        let replaced = replaced?;
        if replaced > 0 {
            // Best effort: readers of other processes may hold the WAL; it is then truncated at
            // a later checkpoint.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
        }
        Ok(replaced)
    }

    async fn create_subscription(&self, new: NewSubscription) -> Result<Subscription, StoreError> {
        let mut tx = self.begin_write().await?;
        if accounts::find_secret(&mut *tx, &new.account_id)
            .await?
            .is_none()
        {
            return Err(StoreError::SecretMissing);
        }
        let created = subscriptions::insert(&mut tx, new).await?;
        self.commit(tx).await?;
        self.release_rest(&created.account_id, created.created_at)
            .await?;
        Ok(created)
    }

    async fn list_subscriptions(
        &self,
        account_id: &AccountId,
        page: PageRequest,
    ) -> Result<Page<Subscription>, StoreError> {
        subscriptions::list(&self.reader, account_id, page).await
    }

    async fn find_subscription(
        &self,
        account_id: &AccountId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError> {
        subscriptions::find(&self.reader, account_id, id).await
    }

    async fn update_subscription(
        &self,
        account_id: &AccountId,
        id: SubscriptionId,
        changes: SubscriptionChanges,
    ) -> Result<Option<Subscription>, StoreError> {
        let mut tx = self.begin_write().await?;
        let Some(current) = subscriptions::find(&mut *tx, account_id, id).await? else {
            return Ok(None);
        };
        if let Some(secret) = &changes.new_secret {
            // A6 regenerates without grace (spec C3).
            accounts::upsert_secret(&mut tx, account_id, secret, changes.updated_at, None).await?;
        }
        let updated_at = changes.updated_at;
        let updated = subscriptions::apply_changes(&mut tx, current, changes).await?;
        self.commit(tx).await?;
        if updated.is_active {
            self.release_rest(account_id, updated_at).await?;
        }
        Ok(Some(updated))
    }

    async fn delete_subscriptions(
        &self,
        account_id: &AccountId,
        ids: &[SubscriptionId],
    ) -> Result<Vec<Option<Subscription>>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            results.push(subscriptions::delete(&mut tx, account_id, *id).await?);
        }
        self.commit(tx).await?;
        Ok(results)
    }

    async fn record_exposures(&self, items: &[NewExposure]) -> Result<ExposureIntake, StoreError> {
        let mut tx = self.begin_write().await?;
        let intake = exposures::record(&mut tx, items).await?;
        self.commit(tx).await?;
        Ok(intake)
    }

    async fn record_opt_outs(&self, batch: OptOutBatch) -> Result<Vec<OptOutRecorded>, StoreError> {
        let mut tx = self.begin_write().await?;
        let intake = opt_outs::record_batch(&mut tx, batch, None).await?;
        self.commit(tx).await?;
        Ok(intake.recorded)
    }

    async fn record_opt_outs_claiming(
        &self,
        batch: OptOutBatch,
        claim: IntakeClaim,
    ) -> Result<IntakeClaimed, StoreError> {
        let mut tx = self.begin_write().await?;
        let intake = opt_outs::record_batch(&mut tx, batch, Some(claim)).await?;
        self.commit(tx).await?;
        Ok(intake)
    }

    async fn claim_due_notices(
        &self,
        request: ClaimRequest,
    ) -> Result<Vec<ClaimedNotice>, StoreError> {
        let mut tx = self.begin_write().await?;
        let claimed = notices::claim(&mut tx, &request).await?;
        // Not waiting for the disk: a lease lost in a crash only means another delivery.
        tx.commit().await.map_err(map_err)?;
        Ok(claimed)
    }

    async fn record_attempts(&self, outcomes: &[AttemptOutcome]) -> Result<usize, StoreError> {
        if outcomes.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write().await?;
        let recorded = notices::record_attempts(&mut tx, outcomes).await?;
        self.commit(tx).await?;
        Ok(recorded)
    }

    fn claims_at_intake(&self) -> bool {
        true
    }

    async fn find_next_due_at(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        notices::next_due_at(&self.reader).await
    }

    async fn record_test_attempt(
        &self,
        account_id: &AccountId,
        entry: AuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        audit::insert_entry(&mut tx, account_id, &entry).await?;
        self.commit(tx).await
    }

    async fn list_audit_entries(
        &self,
        account_id: &AccountId,
        filter: AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEntry>, StoreError> {
        audit::list(&self.reader, account_id, filter, page).await
    }

    async fn find_audit_stats(
        &self,
        account_id: &AccountId,
        subscription_id: Option<SubscriptionId>,
    ) -> Result<AuditStats, StoreError> {
        audit::stats(&self.reader, account_id, subscription_id).await
    }

    async fn find_compliance_record(
        &self,
        opt_out_id: OptOutId,
        now: DateTime<Utc>,
    ) -> Result<Option<ComplianceRecord>, StoreError> {
        compliance::find(&self.reader, opt_out_id, now).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.reader)
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
        Ok(self
            .rate_counters
            .take(account_id, limit, now.timestamp_millis()))
    }

    async fn find_queue_metrics(&self, now: DateTime<Utc>) -> Result<QueueMetrics, StoreError> {
        operator::queue_metrics(&self.reader, now).await
    }

    async fn list_all_subscriptions(&self, limit: u32) -> Result<Vec<Subscription>, StoreError> {
        operator::all_subscriptions(&self.reader, limit).await
    }

    async fn list_recent_failures(&self, limit: u32) -> Result<Vec<AccountAuditEntry>, StoreError> {
        audit::recent_failures(&self.reader, limit).await
    }

    async fn list_purgeable_payloads(
        &self,
        delivered_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<PurgeablePayload>, StoreError> {
        retention::list_purgeable(&self.reader, delivered_before, limit).await
    }

    async fn record_payload_purges(&self, purges: &[PayloadPurge]) -> Result<usize, StoreError> {
        if purges.is_empty() {
            return Ok(0);
        }
        self.wal_sync.check()?;
        let mut conn = self.writer.acquire().await.map_err(map_err)?;
        // The purged bodies are personal data: freed space is zeroed while they are replaced, so
        // they do not linger in the file. (The WAL keeps older pages until its next checkpoint.)
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        let purged = async {
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE")
                .await
                .map_err(map_err)?;
            let purged = retention::record_purges(&mut tx, purges).await?;
            self.commit(tx).await?;
            Ok::<_, StoreError>(purged)
        }
        .await;
        sqlx::query("PRAGMA secure_delete = OFF")
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
        purged
    }

    async fn purge_audit_entries(
        &self,
        success_before: DateTime<Utc>,
        failure_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted =
            retention::purge_audit(&mut tx, success_before, failure_before, limit).await?;
        self.commit(tx).await?;
        Ok(deleted)
    }
}
