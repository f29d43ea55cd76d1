//! The shared Store conformance suite, against a fresh PostgreSQL database per case.

mod common;

use common::TestDatabase;
use optout_store::Store;
use optout_store_conformance::{conformance_tests, Fixture};
use optout_store_postgres::PostgresStore;
use std::sync::Arc;

/// A store on its own database, dropped with the fixture.
struct FreshDatabase {
    store: PostgresStore,
    database: TestDatabase,
}

impl Fixture for FreshDatabase {
    fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.store.clone())
    }

    async fn teardown(self) {
        self.store.close().await;
        self.database.drop_database().await;
    }
}

async fn fresh_store() -> FreshDatabase {
    let database = TestDatabase::create().await;
    let store = database.open_store().await;
    FreshDatabase { store, database }
}

conformance_tests!(fresh_store);
