//! Opt-out subscriptions.
//!
//! Every change of whether an account has an active subscription locks the account row first
//! (see `locks`), so an opt-out deciding "queued or held" for that account sees either the state
//! before the change or the state after it, never a notice the change's hold or release missed.

use optout_core::time_format::to_millis;
use optout_core::{
    AccountId, NewSubscription, Page, PageRequest, SignalType, Subscription, SubscriptionChanges,
    SubscriptionId,
};
use optout_store::StoreError;
use sqlx::{PgConnection, PgExecutor};
use std::collections::HashMap;

use crate::error::{is_unique_violation, map_err};
use crate::locks::{self, AccountAccess};
use crate::notices;
use optout_store::rows::{self, SubscriptionRow, SUBSCRIPTION_COLUMNS};

/// Creates the subscription and releases the account's held notices. Returns it and how many
/// notices became due.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    new: NewSubscription,
) -> Result<(Subscription, u64), StoreError> {
    let account = new.account_id.as_str();
    // An unknown account has no secret either: the answer is the same as the SQLite store's.
    if locks::lock_accounts(conn, &[account], AccountAccess::Change)
        .await?
        .is_empty()
        || crate::accounts::find_secret(&mut *conn, &new.account_id)
            .await?
            .is_none()
    {
        return Err(StoreError::SecretMissing);
    }
    let sql = format!(
        "INSERT INTO subscriptions
             (id, account_id, signal_type, url, name, is_active, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6)
         RETURNING {SUBSCRIPTION_COLUMNS}"
    );
    let result: Result<SubscriptionRow, _> = sqlx::query_as(&sql)
        .bind(new.id.to_string())
        .bind(account)
        .bind(SignalType::OptOut.as_str())
        .bind(new.url.as_str())
        .bind(new.name.as_ref().map(|name| name.as_str()))
        .bind(to_millis(new.created_at))
        .fetch_one(&mut *conn)
        .await;
    let created = match result {
        Ok(row) => rows::subscription(row)?,
        Err(error) if is_unique_violation(&error) => return Err(StoreError::SubscriptionExists),
        Err(error) => return Err(map_err(error)),
    };
    // Notices created before the account subscribed have waited for this moment.
    let released = notices::release_account(conn, &new.account_id, new.created_at).await?;
    Ok((created, released))
}

pub(crate) async fn find(
    executor: impl PgExecutor<'_>,
    account_id: &AccountId,
    id: SubscriptionId,
) -> Result<Option<Subscription>, StoreError> {
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = $1 AND account_id = $2"
    );
    let row: Option<SubscriptionRow> = sqlx::query_as(&sql)
        .bind(id.to_string())
        .bind(account_id.as_str())
        .fetch_optional(executor)
        .await
        .map_err(map_err)?;
    row.map(rows::subscription).transpose()
}

/// One page; the caller runs it in a snapshot transaction, so the total and the page agree.
pub(crate) async fn list(
    conn: &mut PgConnection,
    account_id: &AccountId,
    page: PageRequest,
) -> Result<Page<Subscription>, StoreError> {
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions WHERE account_id = $1")
        .bind(account_id.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE account_id = $1
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    );
    let found: Vec<SubscriptionRow> = sqlx::query_as(&sql)
        .bind(account_id.as_str())
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(Page {
        items: found
            .into_iter()
            .map(rows::subscription)
            .collect::<Result<_, _>>()?,
        total: total.unsigned_abs(),
    })
}

/// Applies the changes; `None` if the subscription is not the account's. Also returns how many
/// notices became due.
pub(crate) async fn update(
    conn: &mut PgConnection,
    account_id: &AccountId,
    id: SubscriptionId,
    changes: SubscriptionChanges,
) -> Result<Option<(Subscription, u64)>, StoreError> {
    locks::lock_accounts(conn, &[account_id.as_str()], AccountAccess::Change).await?;
    let Some(current) = find(&mut *conn, account_id, id).await? else {
        return Ok(None);
    };
    if let Some(secret) = &changes.new_secret {
        // A6 regenerates without grace (spec C3).
        crate::accounts::upsert_secret(conn, account_id, secret, changes.updated_at, None).await?;
    }
    let url = changes.url.unwrap_or(current.url);
    let name = changes.name.or(current.name);
    let reactivated = changes.is_active == Some(true);
    let is_active = changes.is_active.unwrap_or(current.is_active);
    // Reactivation clears the block; pausing by hand never sets one.
    let (block_reason, blocked_at) = if reactivated {
        (None, None)
    } else {
        (current.block_reason, current.blocked_at)
    };
    let sql = format!(
        "UPDATE subscriptions
         SET url = $3, name = $4, is_active = $5, block_reason = $6, blocked_at = $7,
             updated_at = $8
         WHERE id = $1 AND account_id = $2
         RETURNING {SUBSCRIPTION_COLUMNS}"
    );
    let row: SubscriptionRow = sqlx::query_as(&sql)
        .bind(current.id.to_string())
        .bind(current.account_id.as_str())
        .bind(url.as_str())
        .bind(name.as_ref().map(|name| name.as_str()))
        .bind(is_active)
        .bind(block_reason.as_deref())
        .bind(blocked_at.map(to_millis))
        .bind(to_millis(changes.updated_at))
        .fetch_one(&mut *conn)
        .await
        .map_err(map_err)?;
    let released = if is_active {
        notices::release_account(conn, account_id, changes.updated_at).await?
    } else {
        notices::hold_accounts(conn, &[account_id.as_str()]).await?;
        0
    };
    Ok(Some((rows::subscription(row)?, released)))
}

/// Deletes the account's subscriptions among `ids`: one entry per id, in order (a repeated id is
/// deleted once, at its first position).
pub(crate) async fn delete_many(
    conn: &mut PgConnection,
    account_id: &AccountId,
    ids: &[SubscriptionId],
) -> Result<Vec<Option<Subscription>>, StoreError> {
    locks::lock_accounts(conn, &[account_id.as_str()], AccountAccess::Change).await?;
    let texts: Vec<String> = ids.iter().map(SubscriptionId::to_string).collect();
    let sql = format!(
        "DELETE FROM subscriptions WHERE account_id = $1 AND id = ANY($2)
         RETURNING {SUBSCRIPTION_COLUMNS}"
    );
    let deleted: Vec<SubscriptionRow> = sqlx::query_as(&sql)
        .bind(account_id.as_str())
        .bind(&texts)
        .fetch_all(&mut *conn)
        .await
        .map_err(map_err)?;
    if !deleted.is_empty() {
        // Pending notices are not deleted: they wait for the account's next subscription.
        notices::hold_accounts(conn, &[account_id.as_str()]).await?;
    }
    let mut by_id: HashMap<SubscriptionId, Subscription> = deleted
        .into_iter()
        .map(|row| rows::subscription(row).map(|found| (found.id, found)))
        .collect::<Result<_, _>>()?;
    Ok(ids.iter().map(|id| by_id.remove(id)).collect())
}
