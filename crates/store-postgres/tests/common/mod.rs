//! A fresh PostgreSQL database per test.
//!
//! The server is named by `TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! its user must be allowed to create databases. Each test creates `optout_test_<random>`, opens
//! the store on it, and drops it at the end (best effort: a crashed run leaves databases with
//! that prefix behind, safe to drop).

#![allow(dead_code)]

use optout_store_postgres::PostgresStore;
use rand::Rng;
use sqlx::{Connection, PgConnection};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The server's URL, from `TEST_DATABASE_URL` or the default.
pub fn server_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// A database created for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// Its URL.
    pub url: String,
}

impl TestDatabase {
    /// Creates an empty database. Fails the test, never skips it, when the server is unreachable.
    pub async fn create() -> Self {
        let server = server_url();
        let name = format!("optout_test_{:016x}", rand::thread_rng().gen::<u64>());
        let mut admin = admin_connection(&server).await;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("CREATE DATABASE");
        admin.close().await.ok();
        let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        Self {
            name,
            url: url.into(),
        }
    }

    /// A migrated store on the database.
    pub async fn open_store(&self) -> PostgresStore {
        PostgresStore::open(&self.url)
            .await
            .expect("open the store on the test database")
    }

    /// Drops the database, closing whatever is still connected to it.
    pub async fn drop_database(self) {
        let Ok(mut admin) = PgConnection::connect(&server_url()).await else {
            return;
        };
        let dropped = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await;
        if let Err(error) = dropped {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
        admin.close().await.ok();
    }
}

async fn admin_connection(server: &str) -> PgConnection {
    match PgConnection::connect(server).await {
        Ok(connection) => connection,
        Err(error) => {
            let ci = std::env::var("CI").is_ok_and(|ci| ci == "true");
            panic!(
                "PostgreSQL is unreachable at TEST_DATABASE_URL={server} ({error}).\n\
                 These tests need a server whose user may CREATE DATABASE: start one, or point \
                 TEST_DATABASE_URL at one.{}",
                if ci {
                    " CI=true: the PostgreSQL service of this job is missing or not ready."
                } else {
                    " They never skip: a skipped backend would pass unnoticed."
                }
            )
        }
    }
}
