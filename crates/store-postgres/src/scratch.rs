//! Throwaway databases, for benchmarks and tests that need a fresh, empty schema.

use rand::Rng;
use sqlx::{Connection, PgConnection};

/// A database created on a PostgreSQL server, to be dropped when done.
#[derive(Debug, Clone)]
pub struct ScratchDatabase {
    /// Its name.
    pub name: String,
    /// Its URL (the server's URL with this database).
    pub url: String,
    server_url: String,
}

/// Why a scratch database could not be created or dropped.
#[derive(Debug, thiserror::Error)]
pub enum ScratchError {
    /// The server URL is not a URL.
    #[error("not a PostgreSQL URL: {0}")]
    BadUrl(String),
    /// The server refused or could not be reached.
    #[error("PostgreSQL: {0}")]
    Database(#[from] sqlx::Error),
}

impl ScratchDatabase {
    /// Creates `<prefix>_<random>` on the server of `server_url` (its user must be allowed to
    /// create databases).
    pub async fn create(server_url: &str, prefix: &str) -> Result<Self, ScratchError> {
        let name = format!("{prefix}_{:016x}", rand::thread_rng().gen::<u64>());
        let mut url =
            url::Url::parse(server_url).map_err(|_| ScratchError::BadUrl(server_url.to_owned()))?;
        let mut admin = PgConnection::connect(server_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await?;
        admin.close().await.ok();
        url.set_path(&name);
        Ok(Self {
            name,
            url: url.into(),
            server_url: server_url.to_owned(),
        })
    }

    /// Drops the database, disconnecting whoever is still connected.
    pub async fn drop_database(self) -> Result<(), ScratchError> {
        let mut admin = PgConnection::connect(&self.server_url).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await?;
        admin.close().await.ok();
        Ok(())
    }
}
