//! Choosing and opening the store from a database URL.

use anyhow::Context;
use optout_store::Store;
use optout_store_sqlite::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;

/// An opened store, with what the binary needs to know about where it lives.
#[derive(Debug)]
pub struct OpenedStore {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The directory that holds the service's local files (the admin token).
    pub data_dir: PathBuf,
}

/// Opens the store named by `url`, creating and migrating it if needed.
pub async fn open(url: &str) -> anyhow::Result<OpenedStore> {
    if url.starts_with("sqlite:") {
        let path = optout_store_sqlite::path_from_url(url)?;
        let store = SqliteStore::open(&path)
            .await
            .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
        tracing::info!(path = %path.display(), "SQLite database ready");
        Ok(OpenedStore {
            store: Arc::new(store),
            data_dir: crate::admin_token::data_dir_of(&path),
        })
    } else {
        anyhow::bail!(
            "unsupported database URL scheme in {:?}: use sqlite://PATH",
            url.split(':').next().unwrap_or_default()
        )
    }
}
