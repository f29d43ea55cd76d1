//! The one error type of the storage boundary.

/// What a store use case can fail with. Constraint violations are translated inside the
/// backend into the variants the application acts on; everything else is `Backend`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The referenced record does not exist.
    #[error("not found")]
    NotFound,
    /// An account with that id already exists.
    #[error("account already exists")]
    AccountExists,
    /// The account already has an opt-out subscription.
    #[error("an opt-out subscription already exists for this account")]
    SubscriptionExists,
    /// The account has no webhook secret yet.
    #[error("account secret not found")]
    SecretMissing,
    /// The idempotency key was used before for a different request.
    #[error("idempotency key reused for a different request")]
    IdempotencyMismatch,
    /// The database failed; the message is for logs, never for clients.
    #[error("storage backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A stored row could not be read back as a domain value.
    #[error("corrupt stored row: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(error))
    }
}
