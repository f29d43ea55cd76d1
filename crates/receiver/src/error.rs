//! The crate's one error: what can go wrong opening, writing or reading the suppression store.

use std::path::PathBuf;

/// Why a suppression-store operation failed.
///
/// The HTTP handler never sends these to the caller (they become a bare 500); they are for the
/// operator, so their messages name paths and causes but never a datapoint.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    /// The store's directory could not be created.
    #[error("cannot create the directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A store that must already exist (for reading) does not.
    #[error("no suppression store at {0} (has `optout-relay receive` run with this --store?)")]
    Missing(PathBuf),
    /// A store opened for reading only was asked to record a delivery.
    #[error("the suppression store was opened read-only")]
    ReadOnly,
    /// SQLite failed.
    #[error("suppression store: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("cannot migrate the suppression store: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A row holds something the schema forbids (a datapoint type other than email or phone).
    #[error("suppression store row {0} is corrupt")]
    Corrupt(i64),
    /// Writing an export failed.
    #[error("cannot write the export: {0}")]
    Write(#[from] std::io::Error),
}
