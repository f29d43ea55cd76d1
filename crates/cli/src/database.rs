//! Choosing and opening the store from a database URL: `sqlite://PATH` (the embedded default)
//! or `postgres://...` (several nodes sharing one database).

use anyhow::Context;
use optout_store::Store;
use optout_store_postgres::{PostgresStore, WorkListener};
use optout_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Where local files (the generated admin token) go when the database is not a local file.
const DEFAULT_DATA_DIR: &str = "data";

/// An opened store, with what the binary needs to know about where it lives.
#[derive(Debug)]
pub struct OpenedStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The directory that holds the service's local files (the admin token).
    pub data_dir: PathBuf,
    /// The URL of a PostgreSQL database, whose notifications wake the engines of all nodes.
    pub postgres_url: Option<String>,
}

/// Whether opening applies pending migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Apply them (the default for every command).
    Apply,
    /// Leave the schema as it is (`serve --no-migrate`, for operators who run `migrate`).
    Skip,
}

/// Opens the store named by `url`, creating (SQLite) and migrating it as asked.
pub async fn open(url: &str, migrations: Migrations) -> anyhow::Result<OpenedStore> {
    if url.starts_with("sqlite:") {
        let path = optout_store_sqlite::path_from_url(url)?;
        let store = SqliteStore::open(&path)
            .await
            .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
        tracing::info!(path = %path.display(), "SQLite database ready");
        Ok(OpenedStore {
            store: Arc::new(store),
            data_dir: crate::admin_token::data_dir_of(&path),
            postgres_url: None,
        })
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url)
            .await
            .context("cannot connect to the PostgreSQL database")?;
        if migrations == Migrations::Apply {
            store
                .migrate()
                .await
                .context("cannot migrate the PostgreSQL database")?;
        }
        tracing::info!("PostgreSQL database ready");
        Ok(OpenedStore {
            store: Arc::new(store),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            postgres_url: Some(url.to_owned()),
        })
    } else {
        anyhow::bail!(
            "unsupported database URL scheme {:?}: use sqlite://PATH or postgres://...",
            url.split(':').next().unwrap_or_default()
        )
    }
}

/// Wakes `signal` whenever another node commits due work to the PostgreSQL database at
/// `postgres_url`, until `stop`; the returned task ends once the listening connection is closed.
/// Nothing to forward without one (SQLite has no other nodes).
pub async fn forward_wakeups(
    postgres_url: Option<&str>,
    signal: optout_server::WorkSignal,
    stop: CancellationToken,
) -> anyhow::Result<Option<JoinHandle<()>>> {
    let Some(url) = postgres_url else {
        return Ok(None);
    };
    let mut listener = WorkListener::connect(url)
        .await
        .context("cannot LISTEN for work on the PostgreSQL database")?;
    Ok(Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                wakeup = listener.recv() => match wakeup {
                    Some(()) => signal.notify(),
                    None => break,
                },
            }
        }
        listener.close().await;
    })))
}
