//! The service under test: a fresh database and, with PostgreSQL, extra worker nodes.

use anyhow::Context;
use optout_store::Store;
use optout_store_postgres::{PostgresStore, ScratchDatabase};
use optout_store_sqlite::SqliteStore;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;

/// The benchmark's database, removed when dropped (SQLite) or by [`Backend::remove`].
#[derive(Debug)]
pub enum Backend {
    /// A temporary SQLite file, removed with its directory when dropped.
    Sqlite {
        /// Held only so the directory lives as long as the benchmark.
        _dir: TempDir,
        /// The store, for [`Backend::settle`].
        store: SqliteStore,
    },
    /// A scratch database on a PostgreSQL server.
    Postgres(ScratchDatabase),
}

impl Backend {
    /// A fresh database: on the PostgreSQL server of `server_url`, or a temporary SQLite file.
    pub async fn create(server_url: Option<&str>) -> anyhow::Result<(Self, Arc<dyn Store>)> {
        match server_url {
            Some(url) => {
                let scratch = ScratchDatabase::create(url, "optout_bench")
                    .await
                    .context("cannot create the benchmark's PostgreSQL database")?;
                let store = PostgresStore::open(&scratch.url).await?;
                Ok((Self::Postgres(scratch), Arc::new(store)))
            }
            None => {
                let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
                let store = SqliteStore::open(&dir.path().join("bench.db")).await?;
                let backend = Self::Sqlite {
                    _dir: dir,
                    store: store.clone(),
                };
                Ok((backend, Arc::new(store)))
            }
        }
    }

    /// Lets the database settle after seeding, so that the measured phases do not pay for it:
    /// SQLite copies the seeding's pages from the WAL into the database file now rather than
    /// while opt-outs are measured (gigabytes, with a large ledger). PostgreSQL needs nothing.
    /// A checkpoint that fails is reported, and the benchmark goes on.
    pub async fn settle(&self) {
        if let Self::Sqlite { store, .. } = self {
            if let Err(error) = store.checkpoint().await {
                eprintln!("could not checkpoint the database after seeding: {error}");
            }
        }
    }

    /// How long SQLite's single write connection has been held in all; `None` on PostgreSQL,
    /// whose writers do not queue for one connection.
    pub fn writer_held(&self) -> Option<Duration> {
        match self {
            Self::Sqlite { store, .. } => Some(store.writer_held()),
            Self::Postgres(_) => None,
        }
    }

    /// The PostgreSQL URL other nodes connect to.
    pub fn postgres_url(&self) -> Option<&str> {
        match self {
            Self::Postgres(scratch) => Some(&scratch.url),
            Self::Sqlite { .. } => None,
        }
    }

    /// A one-word name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "PostgreSQL",
            Self::Sqlite { .. } => "SQLite (WAL, synchronous=FULL)",
        }
    }

    /// Drops the scratch database (the SQLite file goes with its directory, once closed).
    pub async fn remove(self) {
        match self {
            Self::Postgres(scratch) => {
                if let Err(error) = scratch.drop_database().await {
                    eprintln!("could not drop the benchmark database: {error}");
                }
            }
            Self::Sqlite { store, _dir } => store.close().await,
        }
    }
}

/// Worker processes delivering from the same database, stopped when dropped.
#[derive(Debug, Default)]
pub struct ExtraNodes(Vec<Child>);

impl ExtraNodes {
    /// Starts `count` `optout-relay worker` processes on `database_url`, with `master_keys`.
    pub fn start(
        count: usize,
        database_url: &str,
        concurrency: u64,
        master_keys: &str,
    ) -> anyhow::Result<Self> {
        let binary = std::env::current_exe().context("cannot find this executable")?;
        let mut nodes = Self::default();
        for _ in 0..count {
            let child = Command::new(&binary)
                // The benchmark's receiver is on 127.0.0.1.
                .args([
                    "worker",
                    "--database-url",
                    database_url,
                    "--allow-private-targets",
                ])
                .args(["--delivery-concurrency", &concurrency.to_string()])
                .env("RUST_LOG", "warn")
                .env("OPTOUT_RELAY_MASTER_KEY", master_keys)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .context("cannot start a worker node")?;
            nodes.0.push(child);
        }
        Ok(nodes)
    }
}

impl Drop for ExtraNodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
