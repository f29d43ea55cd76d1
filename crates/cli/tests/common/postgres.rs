//! A fresh PostgreSQL database per test, for tests that run several `serve` nodes on one
//! database.
//!
//! The server is named by `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); its user must be allowed to create databases.
//! An unreachable server fails the test, never skips it: a skipped backend would pass unnoticed.
//! The database is dropped when the guard is dropped (best effort: a killed test run leaves
//! `optout_cli_test_*` databases behind, safe to drop).

use optout_store_postgres::ScratchDatabase;

/// The server used when `TEST_DATABASE_URL` is not set.
const DEFAULT_SERVER_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// The prefix of the databases the tests create.
const PREFIX: &str = "optout_cli_test";

/// The PostgreSQL server's URL, from `TEST_DATABASE_URL` or the default.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER_URL.to_owned())
}

/// A scratch database, dropped (with `FORCE`, whoever is still connected) when this is dropped.
/// Declare it before the servers that use it, so that they are killed first.
#[derive(Debug)]
pub struct TestDatabase {
    scratch: Option<ScratchDatabase>,
    // The tests are synchronous; creating and dropping the database needs a runtime of its own.
    runtime: tokio::runtime::Runtime,
}

impl TestDatabase {
    /// Creates an empty database on the server of `TEST_DATABASE_URL`. Panics, naming
    /// `TEST_DATABASE_URL`, when the server is unreachable or refuses.
    pub fn create() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime for the test database");
        let server = server_url();
        let scratch = runtime
            .block_on(ScratchDatabase::create(&server, PREFIX))
            .unwrap_or_else(|error| {
                panic!(
                    "cannot create a database on PostgreSQL at TEST_DATABASE_URL={server} \
                     ({error}).\nThis test needs a reachable server whose user may CREATE \
                     DATABASE: start one, or point TEST_DATABASE_URL at one. It never skips."
                )
            });
        Self {
            scratch: Some(scratch),
            runtime,
        }
    }

    /// The database's URL, for `--database-url`.
    pub fn url(&self) -> &str {
        &self.scratch.as_ref().expect("not dropped yet").url
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(scratch) = self.scratch.take() {
            let name = scratch.name.clone();
            if let Err(error) = self.runtime.block_on(scratch.drop_database()) {
                eprintln!("could not drop test database {name}: {error}");
            }
        }
    }
}
