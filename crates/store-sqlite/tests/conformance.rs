//! The shared Store conformance suite, against a fresh SQLite file per case.

use optout_store::Store;
use optout_store_conformance::{conformance_tests, Fixture};
use optout_store_sqlite::SqliteStore;
use std::sync::Arc;

/// A store on a new file in a temporary directory that goes away with the fixture.
struct TempStore {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Fixture for TempStore {
    fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.store.clone())
    }

    async fn teardown(self) {
        self.store.close().await;
    }
}

async fn fresh_store() -> TempStore {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("store.db"))
        .await
        .expect("open store");
    TempStore { store, _dir: dir }
}

conformance_tests!(fresh_store);
