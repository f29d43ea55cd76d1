//! The `Store` trait of optout-relay: every use case the service needs from its database.
//!
//! This crate holds the contract only; `optout-store-sqlite` (the embedded default) and later
//! backends implement it. The application holds an `Arc<dyn Store>` and never sees SQL.
//!
//! Design decision a newcomer may question: the trait's methods are whole use cases
//! (`create_subscription`, `update_subscription`, ...), each atomic inside the backend, instead of
//! generic CRUD plus transactions. No transaction crosses the trait, so a backend can use the
//! locking and batching that suit it, and a use case cannot be left half done by a caller.

mod error;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use optout_core::{
    Account, AccountId, ApiKeyHash, ApiKeyId, NewAccount, NewApiKey, NewSubscription, Page,
    PageRequest, Subscription, SubscriptionChanges, SubscriptionId, WebhookSecret,
};

pub use error::StoreError;

/// The service's persistent state, as use cases.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Creates an account with its first API key. `StoreError::AccountExists` if the chosen id is
    /// taken; with no chosen id the store allocates the next number.
    async fn create_account(
        &self,
        account: NewAccount,
        key: NewApiKey,
    ) -> Result<Account, StoreError>;

    /// Issues another API key for an account. `StoreError::NotFound` if the account is unknown.
    async fn create_api_key(
        &self,
        account_id: &AccountId,
        key: NewApiKey,
    ) -> Result<(), StoreError>;

    /// Revokes a key at `at`. Returns whether a key was revoked.
    async fn revoke_api_key(&self, key_id: ApiKeyId, at: DateTime<Utc>)
        -> Result<bool, StoreError>;

    /// The account that owns a (non-revoked) key, by the key's hash.
    async fn find_account_by_api_key(
        &self,
        hash: &ApiKeyHash,
    ) -> Result<Option<AccountId>, StoreError>;

    /// Whether an account exists.
    async fn find_account(&self, account_id: &AccountId) -> Result<Option<Account>, StoreError>;

    /// Creates or replaces an account's webhook secret.
    async fn record_account_secret(
        &self,
        account_id: &AccountId,
        secret: &WebhookSecret,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// An account's webhook secret, if it has one.
    async fn find_account_secret(
        &self,
        account_id: &AccountId,
    ) -> Result<Option<WebhookSecret>, StoreError>;

    /// Creates the account's opt-out subscription. `StoreError::SubscriptionExists` if it has one,
    /// `StoreError::SecretMissing` if the account has no secret yet.
    async fn create_subscription(&self, new: NewSubscription) -> Result<Subscription, StoreError>;

    /// The account's subscriptions, newest first.
    async fn list_subscriptions(
        &self,
        account_id: &AccountId,
        page: PageRequest,
    ) -> Result<Page<Subscription>, StoreError>;

    /// One of the account's subscriptions; `None` if missing or another account's.
    async fn find_subscription(
        &self,
        account_id: &AccountId,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError>;

    /// Applies changes to one of the account's subscriptions atomically (a new secret included);
    /// `None` if missing or another account's, in which case nothing changes.
    async fn update_subscription(
        &self,
        account_id: &AccountId,
        id: SubscriptionId,
        changes: SubscriptionChanges,
    ) -> Result<Option<Subscription>, StoreError>;

    /// Deletes the account's subscriptions among `ids`, in one transaction. The result has one
    /// entry per id, in order: the deleted subscription, or `None` if it was not the account's.
    async fn delete_subscriptions(
        &self,
        account_id: &AccountId,
        ids: &[SubscriptionId],
    ) -> Result<Vec<Option<Subscription>>, StoreError>;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
