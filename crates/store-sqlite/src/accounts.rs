//! Accounts, API keys and account secrets.

use chrono::{DateTime, Utc};
use optout_core::time_format::to_millis;
use optout_core::{
    Account, AccountId, AccountSecrets, ApiKeyHash, ApiKeyId, NewAccount, NewApiKey, SealedSecret,
};
use optout_store::{Reseal, StoreError, StoredAccountSecrets};
use sqlx::{SqliteConnection, SqliteExecutor};

use crate::error::{is_unique_violation, map_err};
use optout_store::rows;

/// First number handed out when the operator does not choose account ids.
const FIRST_ALLOCATED_ACCOUNT_ID: i64 = 100_001;
/// Allocated ids stay below this (17 digits), so an operator's own 18-digit ids neither collide
/// with nor push allocation past the 18-digit limit.
const ALLOCATION_CEILING: i64 = 100_000_000_000_000_000;

pub(crate) async fn insert_account(
    conn: &mut SqliteConnection,
    account: NewAccount,
) -> Result<Account, StoreError> {
    let id = match account.id {
        Some(id) => id,
        None => {
            let next: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(id_number) + 1, ?1) FROM accounts
                 WHERE id_number >= ?1 - 1 AND id_number < ?2 - 1",
            )
            .bind(FIRST_ALLOCATED_ACCOUNT_ID)
            .bind(ALLOCATION_CEILING)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
            AccountId::from_number(next.unsigned_abs())
        }
    };
    let id_number: i64 = id
        .as_str()
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("account id {id} is not a number")))?;
    let result = sqlx::query(
        "INSERT INTO accounts (id, id_number, name, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(id.as_str())
    .bind(id_number)
    .bind(account.name.as_str())
    .bind(to_millis(account.created_at))
    .execute(&mut *conn)
    .await;
    match result {
        Ok(_) => Ok(Account {
            id,
            name: account.name,
            created_at: account.created_at,
        }),
        Err(error) if is_unique_violation(&error) => Err(StoreError::AccountExists),
        Err(error) => Err(map_err(error)),
    }
}

pub(crate) async fn insert_api_key(
    conn: &mut SqliteConnection,
    account_id: &AccountId,
    key: &NewApiKey,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, key_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(key.id.to_string())
    .bind(account_id.as_str())
    .bind(key.hash.as_str())
    .bind(to_millis(key.created_at))
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn account_exists(
    executor: impl SqliteExecutor<'_>,
    account_id: &AccountId,
) -> Result<bool, StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM accounts WHERE id = ?1")
        .bind(account_id.as_str())
        .fetch_optional(executor)
        .await
        .map_err(map_err)?;
    Ok(found.is_some())
}

pub(crate) async fn find_account(
    executor: impl SqliteExecutor<'_>,
    account_id: &AccountId,
) -> Result<Option<Account>, StoreError> {
    let row: Option<(String, String, i64)> =
        sqlx::query_as("SELECT id, name, created_at FROM accounts WHERE id = ?1")
            .bind(account_id.as_str())
            .fetch_optional(executor)
            .await
            .map_err(map_err)?;
    row.map(rows::account).transpose()
}

pub(crate) async fn revoke_api_key(
    executor: impl SqliteExecutor<'_>,
    key_id: ApiKeyId,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL")
            .bind(key_id.to_string())
            .bind(to_millis(at))
            .execute(executor)
            .await
            .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn find_account_by_api_key(
    executor: impl SqliteExecutor<'_>,
    hash: &ApiKeyHash,
) -> Result<Option<AccountId>, StoreError> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT account_id FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL",
    )
    .bind(hash.as_str())
    .fetch_optional(executor)
    .await
    .map_err(map_err)?;
    id.map(|id| rows::account_id(&id)).transpose()
}

/// Creates or replaces the account's secret. With `previous_valid_until` the secret replaced
/// becomes the previous one until then (spec C3); without, no previous secret is kept.
pub(crate) async fn upsert_secret(
    conn: &mut SqliteConnection,
    account_id: &AccountId,
    secret: &SealedSecret,
    at: DateTime<Utc>,
    previous_valid_until: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    // The right-hand sides see the row as it was, so `account_secrets.secret` is the secret
    // being replaced.
    sqlx::query(
        "INSERT INTO account_secrets (account_id, secret, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (account_id) DO UPDATE
         SET secret = excluded.secret,
             updated_at = excluded.updated_at,
             previous_secret = CASE WHEN ?4 IS NULL THEN NULL ELSE account_secrets.secret END,
             previous_valid_until = ?4",
    )
    .bind(account_id.as_str())
    .bind(secret.as_str())
    .bind(to_millis(at))
    .bind(previous_valid_until.map(to_millis))
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn find_secret(
    executor: impl SqliteExecutor<'_>,
    account_id: &AccountId,
) -> Result<Option<SealedSecret>, StoreError> {
    let secret: Option<String> =
        sqlx::query_scalar("SELECT secret FROM account_secrets WHERE account_id = ?1")
            .bind(account_id.as_str())
            .fetch_optional(executor)
            .await
            .map_err(map_err)?;
    Ok(secret.map(SealedSecret::from_stored))
}

/// The account's current secret and, while its grace lasts at `now`, the previous one.
pub(crate) async fn find_secrets(
    executor: impl SqliteExecutor<'_>,
    account_id: &AccountId,
    now: DateTime<Utc>,
) -> Result<Option<AccountSecrets<SealedSecret>>, StoreError> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT secret, CASE WHEN previous_valid_until > ?2 THEN previous_secret END
         FROM account_secrets WHERE account_id = ?1",
    )
    .bind(account_id.as_str())
    .bind(to_millis(now))
    .fetch_optional(executor)
    .await
    .map_err(map_err)?;
    Ok(row.map(|(secret, previous_secret)| AccountSecrets {
        secret: SealedSecret::from_stored(secret),
        previous_secret: previous_secret.map(SealedSecret::from_stored),
    }))
}

/// Up to `limit` accounts' stored secrets, by account id after `after`.
pub(crate) async fn list_secrets(
    executor: impl SqliteExecutor<'_>,
    after: Option<&AccountId>,
    limit: u32,
) -> Result<Vec<StoredAccountSecrets>, StoreError> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT account_id, secret, previous_secret FROM account_secrets
         WHERE ?1 IS NULL OR account_id > ?1
         ORDER BY account_id LIMIT ?2",
    )
    .bind(after.map(AccountId::as_str))
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await
    .map_err(map_err)?;
    Ok(rows::readable_stored_secrets(rows))
}

/// Replaces the account's stored secrets with the resealed ones if they are still as expected.
pub(crate) async fn reseal_secrets(
    executor: impl SqliteExecutor<'_>,
    reseal: &Reseal,
) -> Result<bool, StoreError> {
    let Reseal {
        account_id,
        expected,
        resealed,
    } = reseal;
    // `IS` compares NULL as a value: no previous secret must still be no previous secret.
    let done = sqlx::query(
        "UPDATE account_secrets SET secret = ?4, previous_secret = ?5
         WHERE account_id = ?1 AND secret = ?2 AND previous_secret IS ?3",
    )
    .bind(account_id.as_str())
    .bind(expected.secret.as_str())
    .bind(expected.previous_secret.as_ref().map(SealedSecret::as_str))
    .bind(resealed.secret.as_str())
    .bind(resealed.previous_secret.as_ref().map(SealedSecret::as_str))
    .execute(executor)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}
