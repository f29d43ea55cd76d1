//! Accounts, API keys and account secrets.

use chrono::{DateTime, Utc};
use optout_core::time_format::to_millis;
use optout_core::{
    Account, AccountId, AccountSecrets, ApiKeyHash, ApiKeyId, NewAccount, NewApiKey, SealedSecret,
};
use optout_store::{Reseal, StoreError, StoredAccountSecrets};
use sqlx::{PgConnection, PgExecutor};

use crate::error::map_err;
use crate::locks;
use optout_store::rows;

/// First number handed out when the operator does not choose account ids.
const FIRST_ALLOCATED_ACCOUNT_ID: i64 = 100_001;
/// Allocated ids stay below this (17 digits), so an operator's own 18-digit ids neither collide
/// with nor push allocation past the 18-digit limit.
const ALLOCATION_CEILING: i64 = 100_000_000_000_000_000;
/// How often allocation tries the next number after an operator's chosen id took the one it
/// picked. Allocations themselves are serialised, so only concurrent chosen ids cause retries.
const ALLOCATION_ATTEMPTS: usize = 16;

pub(crate) async fn insert_account(
    conn: &mut PgConnection,
    account: NewAccount,
) -> Result<Account, StoreError> {
    if let Some(id) = account.id.clone() {
        let id_number = id_number(&id)?;
        if !try_insert(conn, &id, id_number, &account).await? {
            return Err(StoreError::AccountExists);
        }
        return Ok(Account {
            id,
            name: account.name,
            created_at: account.created_at,
        });
    }
    locks::lock_account_allocation(conn).await?;
    for _ in 0..ALLOCATION_ATTEMPTS {
        let next: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(id_number) + 1, $1) FROM accounts
             WHERE id_number >= $1 - 1 AND id_number < $2 - 1",
        )
        .bind(FIRST_ALLOCATED_ACCOUNT_ID)
        .bind(ALLOCATION_CEILING)
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
        let id = AccountId::from_number(next.unsigned_abs());
        if try_insert(conn, &id, next, &account).await? {
            return Ok(Account {
                id,
                name: account.name,
                created_at: account.created_at,
            });
        }
    }
    Err(StoreError::Backend(
        "account id allocation kept colliding with chosen ids".into(),
    ))
}

fn id_number(id: &AccountId) -> Result<i64, StoreError> {
    id.as_str()
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("account id {id} is not a number")))
}

/// Inserts the account unless its id (or number) is taken; returns whether it did. A conflicting
/// insert still in flight is waited for, so the answer is final.
async fn try_insert(
    conn: &mut PgConnection,
    id: &AccountId,
    id_number: i64,
    account: &NewAccount,
) -> Result<bool, StoreError> {
    let inserted: Option<i32> = sqlx::query_scalar(
        "INSERT INTO accounts (id, id_number, name, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING
         RETURNING 1",
    )
    .bind(id.as_str())
    .bind(id_number)
    .bind(account.name.as_str())
    .bind(to_millis(account.created_at))
    .fetch_optional(conn)
    .await
    .map_err(map_err)?;
    Ok(inserted.is_some())
}

/// Inserts a key for an existing account; returns `false` if the account does not exist.
pub(crate) async fn insert_api_key(
    conn: &mut PgConnection,
    account_id: &AccountId,
    key: &NewApiKey,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO api_keys (id, account_id, key_hash, created_at)
         SELECT $1, id, $3, $4 FROM accounts WHERE id = $2",
    )
    .bind(key.id.to_string())
    .bind(account_id.as_str())
    .bind(key.hash.as_str())
    .bind(to_millis(key.created_at))
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn find_account(
    executor: impl PgExecutor<'_>,
    account_id: &AccountId,
) -> Result<Option<Account>, StoreError> {
    let row: Option<(String, String, i64)> =
        sqlx::query_as("SELECT id, name, created_at FROM accounts WHERE id = $1")
            .bind(account_id.as_str())
            .fetch_optional(executor)
            .await
            .map_err(map_err)?;
    row.map(rows::account).transpose()
}

pub(crate) async fn revoke_api_key(
    executor: impl PgExecutor<'_>,
    key_id: ApiKeyId,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(key_id.to_string())
            .bind(to_millis(at))
            .execute(executor)
            .await
            .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn find_account_by_api_key(
    executor: impl PgExecutor<'_>,
    hash: &ApiKeyHash,
) -> Result<Option<AccountId>, StoreError> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT account_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash.as_str())
    .fetch_optional(executor)
    .await
    .map_err(map_err)?;
    id.map(|id| rows::account_id(&id)).transpose()
}

/// Creates or replaces the secret of an existing account; returns `false` if the account does
/// not exist. With `previous_valid_until` the secret replaced becomes the previous one until then
/// (spec C3); without, no previous secret is kept.
pub(crate) async fn upsert_secret(
    conn: &mut PgConnection,
    account_id: &AccountId,
    secret: &SealedSecret,
    at: DateTime<Utc>,
    previous_valid_until: Option<DateTime<Utc>>,
) -> Result<bool, StoreError> {
    // The right-hand sides see the row as it was (locked by the conflict), so
    // `account_secrets.secret` is the secret being replaced.
    let done = sqlx::query(
        "INSERT INTO account_secrets (account_id, secret, updated_at)
         SELECT id, $2, $3 FROM accounts WHERE id = $1
         ON CONFLICT (account_id) DO UPDATE
         SET secret = excluded.secret,
             updated_at = excluded.updated_at,
             previous_secret = CASE WHEN $4::bigint IS NULL THEN NULL
                                    ELSE account_secrets.secret END,
             previous_valid_until = $4::bigint",
    )
    .bind(account_id.as_str())
    .bind(secret.as_str())
    .bind(to_millis(at))
    .bind(previous_valid_until.map(to_millis))
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn find_secret(
    executor: impl PgExecutor<'_>,
    account_id: &AccountId,
) -> Result<Option<SealedSecret>, StoreError> {
    let secret: Option<String> =
        sqlx::query_scalar("SELECT secret FROM account_secrets WHERE account_id = $1")
            .bind(account_id.as_str())
            .fetch_optional(executor)
            .await
            .map_err(map_err)?;
    Ok(secret.map(SealedSecret::from_stored))
}

/// The account's current secret and, while its grace lasts at `now`, the previous one.
pub(crate) async fn find_secrets(
    executor: impl PgExecutor<'_>,
    account_id: &AccountId,
    now: DateTime<Utc>,
) -> Result<Option<AccountSecrets<SealedSecret>>, StoreError> {
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT secret, CASE WHEN previous_valid_until > $2 THEN previous_secret END
         FROM account_secrets WHERE account_id = $1",
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
    executor: impl PgExecutor<'_>,
    after: Option<&AccountId>,
    limit: u32,
) -> Result<Vec<StoredAccountSecrets>, StoreError> {
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT account_id, secret, previous_secret FROM account_secrets
         WHERE $1::text IS NULL OR account_id > $1
         ORDER BY account_id LIMIT $2",
    )
    .bind(after.map(AccountId::as_str))
    .bind(i64::from(limit))
    .fetch_all(executor)
    .await
    .map_err(map_err)?;
    Ok(rows::readable_stored_secrets(rows))
}

/// Replaces the stored secrets of each account whose secrets are still as expected, in one
/// statement; returns how many were replaced.
pub(crate) async fn reseal_secrets(
    executor: impl PgExecutor<'_>,
    reseals: &[Reseal],
) -> Result<usize, StoreError> {
    let column = |pick: fn(&Reseal) -> Option<&SealedSecret>| -> Vec<Option<String>> {
        reseals
            .iter()
            .map(|reseal| pick(reseal).map(|secret| secret.as_str().to_owned()))
            .collect()
    };
    let accounts: Vec<&str> = reseals.iter().map(|r| r.account_id.as_str()).collect();
    // `IS NOT DISTINCT FROM` compares NULL as a value: no previous secret must still be none.
    let done = sqlx::query(
        "UPDATE account_secrets k
         SET secret = r.secret, previous_secret = r.previous_secret
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
              AS r(account_id, expected, expected_previous, secret, previous_secret)
         WHERE k.account_id = r.account_id AND k.secret = r.expected
           AND k.previous_secret IS NOT DISTINCT FROM r.expected_previous",
    )
    .bind(accounts)
    .bind(column(|r| Some(&r.expected.secret)))
    .bind(column(|r| r.expected.previous_secret.as_ref()))
    .bind(column(|r| Some(&r.resealed.secret)))
    .bind(column(|r| r.resealed.previous_secret.as_ref()))
    .execute(executor)
    .await
    .map_err(map_err)?;
    usize::try_from(done.rows_affected()).map_err(StoreError::backend)
}
