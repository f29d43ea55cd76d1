//! Translation of PostgreSQL errors into [`StoreError`].

use optout_store::StoreError;

/// Maps an sqlx error to the store's error; constraint violations that a use case expects are
/// translated where the use case runs, so this only classifies what is left.
pub(crate) fn map_err(error: sqlx::Error) -> StoreError {
    StoreError::backend(error)
}

/// Whether the error is a violation of a UNIQUE or PRIMARY KEY constraint.
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}
