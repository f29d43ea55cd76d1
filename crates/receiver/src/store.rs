//! [`SuppressionStore`]: the suppression list and the processed webhook ids, in one SQLite file.

use chrono::{DateTime, TimeZone as _, Utc};
use optout_webhook::{DatapointType, OptOutNotice};
use sha2::{Digest as _, Sha256};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::export::{self, ExportFormat};
use crate::lookup::{guess_type, lookup_key};
use crate::ReceiverError;

/// How long a connection waits for another process's lock (the CLI reading while `receive`
/// writes) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readers beside the single writer; `check` and `export` are rare, deliveries are writes.
const READ_CONNECTIONS: u32 = 2;
/// Rows per export query: keyset pages keep memory flat and never hold one long read open.
const EXPORT_PAGE: i64 = 1000;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The receiver's SQLite database: WAL, `synchronous = FULL` (a 201 is only sent once the notice
/// is on disk), and one writer connection whose transactions start with `BEGIN IMMEDIATE`, so
/// concurrent deliveries queue instead of failing with `SQLITE_BUSY`.
#[derive(Debug, Clone)]
pub struct SuppressionStore {
    /// `None` when opened for reading only.
    writer: Option<SqlitePool>,
    reader: SqlitePool,
    path: PathBuf,
}

/// One delivery, verified, to be recorded.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// `X-Lusha-Webhook-Id`: the notice id, the same on every retry.
    pub webhook_id: &'a str,
    /// The body exactly as received (and signed).
    pub body: &'a [u8],
    /// The body, parsed.
    pub notice: &'a OptOutNotice,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// What recording a delivery did.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The first delivery of this webhook id: applied; `added` values were new on the list.
    Applied {
        /// Values added to the list (a value already on it is not added twice).
        added: u64,
    },
    /// This id was processed before with these very bytes: nothing was written.
    Replayed,
    /// This id was processed before with a *different* body: its datapoints were applied anyway
    /// (see the crate documentation for why).
    AppliedUnderKnownId {
        /// Values added to the list.
        added: u64,
    },
}

/// One value on the suppression list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The provider's id of the contact who opted out.
    pub contact_id: String,
    /// The value, exactly as received.
    pub datapoint_id: String,
    /// Email or phone.
    pub datapoint_type: DatapointType,
    /// `contactOptOutDate` as received (`YYYY-MM-DD HH:MM:SS.mmm`, UTC, from a conforming sender).
    pub opted_out_at: String,
    /// When the notice that first named the value arrived here.
    pub received_at: DateTime<Utc>,
    /// The notice that first named the value.
    pub webhook_id: String,
}

impl SuppressionStore {
    /// Opens the store at `path` for the receiver, creating the file (and its directory) if
    /// needed and applying pending migrations.
    pub async fn open(path: &Path) -> Result<Self, ReceiverError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| ReceiverError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let options = connect_options(path).create_if_missing(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await?;
        MIGRATOR.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Self {
            writer: Some(writer),
            reader,
            path: path.to_owned(),
        })
    }

    /// Opens an existing store for reading only (`check`, `export`), beside a running receiver
    /// or not. It neither creates the file nor migrates it: a wrong path is an error, never an
    /// empty list that says "not suppressed".
    pub async fn open_existing(path: &Path) -> Result<Self, ReceiverError> {
        if !path.is_file() {
            return Err(ReceiverError::Missing(path.to_owned()));
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(connect_options(path).read_only(true))
            .await?;
        Ok(Self {
            writer: None,
            reader,
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the pools, waiting for connections to finish.
    pub async fn close(&self) {
        self.reader.close().await;
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
    }

    /// Records a verified delivery: its webhook id and its datapoints, in one transaction.
    ///
    /// A known id with the same body bytes is a replay and writes nothing; a known id with a
    /// different body is applied without touching the id's record. Values already on the list
    /// keep their first row.
    pub async fn record_delivery(&self, delivery: Delivery<'_>) -> Result<Recorded, ReceiverError> {
        let writer = self.writer.as_ref().ok_or(ReceiverError::ReadOnly)?;
        let digest = hex::encode(Sha256::digest(delivery.body));
        let received_at = delivery.received_at.timestamp_millis();
        let notice = delivery.notice;
        let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
        let known: Option<String> =
            sqlx::query_scalar("SELECT body_sha256 FROM processed_webhooks WHERE webhook_id = ?")
                .bind(delivery.webhook_id)
                .fetch_optional(&mut *tx)
                .await?;
        match &known {
            Some(seen) if *seen == digest => {
                tx.rollback().await?;
                return Ok(Recorded::Replayed);
            }
            Some(_) => {}
            None => {
                sqlx::query(
                    "INSERT INTO processed_webhooks \
                     (webhook_id, body_sha256, contact_id, datapoints, received_at) \
                     VALUES (?, ?, ?, ?, ?)",
                )
                .bind(delivery.webhook_id)
                .bind(&digest)
                .bind(&notice.contact_id)
                .bind(i64::try_from(notice.datapoints.len()).unwrap_or(i64::MAX))
                .bind(received_at)
                .execute(&mut *tx)
                .await?;
            }
        }
        let mut added = 0;
        for datapoint in &notice.datapoints {
            let kind = datapoint.datapoint_type;
            added += sqlx::query(
                "INSERT INTO suppressions (lookup_key, datapoint_type, datapoint_id, contact_id, \
                 opted_out_at, received_at, webhook_id) VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (lookup_key, datapoint_type) DO NOTHING",
            )
            .bind(lookup_key(kind, &datapoint.datapoint_id))
            .bind(type_name(kind))
            .bind(&datapoint.datapoint_id)
            .bind(&notice.contact_id)
            .bind(&notice.contact_opt_out_date)
            .bind(received_at)
            .bind(delivery.webhook_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(if known.is_some() {
            Recorded::AppliedUnderKnownId { added }
        } else {
            Recorded::Applied { added }
        })
    }

    /// Whether `value` (an email address if it has an `@`, otherwise a phone number) is on the
    /// list, compared by [`crate::lookup_key`].
    pub async fn is_suppressed(&self, value: &str) -> Result<bool, ReceiverError> {
        let key = lookup_key(guess_type(value), value);
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM suppressions WHERE lookup_key = ?)")
                .bind(key)
                .fetch_one(&self.reader)
                .await?;
        Ok(found)
    }

    /// Writes the whole list to `out` in `format`, oldest first; returns the number of rows.
    pub async fn export(
        &self,
        format: ExportFormat,
        out: &mut impl Write,
    ) -> Result<u64, ReceiverError> {
        export::write_header(format, out)?;
        let mut after = 0;
        let mut rows = 0;
        loop {
            let page = self.page(after).await?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            for (_, suppression) in &page {
                export::write_row(format, suppression, out)?;
                rows += 1;
            }
        }
        out.flush()?;
        Ok(rows)
    }

    /// Up to [`EXPORT_PAGE`] rows after row id `after`, with their row ids.
    async fn page(&self, after: i64) -> Result<Vec<(i64, Suppression)>, ReceiverError> {
        type Row = (i64, String, String, String, String, i64, String);
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, contact_id, datapoint_id, datapoint_type, opted_out_at, received_at, \
             webhook_id FROM suppressions WHERE id > ? ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(EXPORT_PAGE)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter()
            .map(
                |(id, contact_id, datapoint_id, kind, opted_out_at, received_at, webhook_id)| {
                    let suppression = Suppression {
                        contact_id,
                        datapoint_id,
                        datapoint_type: parse_type(&kind).ok_or(ReceiverError::Corrupt(id))?,
                        opted_out_at,
                        received_at: Utc
                            .timestamp_millis_opt(received_at)
                            .single()
                            .ok_or(ReceiverError::Corrupt(id))?,
                        webhook_id,
                    };
                    Ok((id, suppression))
                },
            )
            .collect()
    }
}

fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
}

/// The stored (and exported) name of a datapoint type.
pub(crate) fn type_name(kind: DatapointType) -> &'static str {
    match kind {
        DatapointType::Email => "email",
        DatapointType::Phone => "phone",
    }
}

fn parse_type(name: &str) -> Option<DatapointType> {
    match name {
        "email" => Some(DatapointType::Email),
        "phone" => Some(DatapointType::Phone),
        _ => None,
    }
}
