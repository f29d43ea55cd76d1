//! `optout-relay backup`: a consistent copy of the embedded SQLite database, taken while the
//! service runs.

use anyhow::{bail, Context};
use optout_store_sqlite::SqliteStore;

use crate::cli::BackupArgs;

/// Copies the SQLite database named by `args` into `args.to`, which must not exist.
pub async fn run(args: BackupArgs) -> anyhow::Result<()> {
    let url = &args.database.database_url;
    if !url.starts_with("sqlite:") {
        bail!(
            "backup copies the embedded SQLite database; back up PostgreSQL with its own tools \
             (pg_dump), as docs/operations.md shows"
        );
    }
    let source = optout_store_sqlite::path_from_url(url)?;
    if !source.exists() {
        bail!("there is no database at {}", source.display());
    }
    if args.to.exists() {
        bail!(
            "{} already exists: a backup never overwrites a file, choose a new name",
            args.to.display()
        );
    }
    let store = SqliteStore::open(&source)
        .await
        .with_context(|| format!("cannot open the SQLite database {}", source.display()))?;
    let copied = store.backup_into(&args.to).await;
    store.close().await;
    copied.with_context(|| format!("cannot write the backup {}", args.to.display()))?;
    let bytes = std::fs::metadata(&args.to)
        .map(|meta| meta.len())
        .unwrap_or(0);
    println!(
        "backed up {} to {} ({bytes} bytes)",
        source.display(),
        args.to.display()
    );
    println!(
        "keep the master key ({}) with it, stored apart: without it no webhook secret opens",
        crate::admin_token::data_dir_of(&source)
            .join("master-key")
            .display()
    );
    Ok(())
}
