//! Opt-out subscriptions.

use optout_core::time_format::to_millis;
use optout_core::{
    AccountId, NewSubscription, Page, PageRequest, SignalType, Subscription, SubscriptionChanges,
    SubscriptionId,
};
use optout_store::StoreError;
use sqlx::{SqliteConnection, SqliteExecutor};

use crate::error::{is_unique_violation, map_err};
use crate::notices;
use optout_store::rows::{self, SubscriptionRow, SUBSCRIPTION_COLUMNS};

pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    new: NewSubscription,
) -> Result<Subscription, StoreError> {
    let result = sqlx::query(
        "INSERT INTO subscriptions
             (id, account_id, signal_type, url, name, is_active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6)",
    )
    .bind(new.id.to_string())
    .bind(new.account_id.as_str())
    .bind(SignalType::OptOut.as_str())
    .bind(new.url.as_str())
    .bind(new.name.as_ref().map(|name| name.as_str()))
    .bind(to_millis(new.created_at))
    .execute(&mut *conn)
    .await;
    match result {
        Ok(_) => {}
        Err(error) if is_unique_violation(&error) => return Err(StoreError::SubscriptionExists),
        Err(error) => return Err(map_err(error)),
    }
    // Notices created before the account subscribed have waited for this moment: the caller
    // releases them once this is committed.
    find(conn, &new.account_id, new.id)
        .await?
        .ok_or(StoreError::NotFound)
}

pub(crate) async fn find(
    executor: impl SqliteExecutor<'_>,
    account_id: &AccountId,
    id: SubscriptionId,
) -> Result<Option<Subscription>, StoreError> {
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE id = ?1 AND account_id = ?2"
    );
    let row: Option<SubscriptionRow> = sqlx::query_as(&sql)
        .bind(id.to_string())
        .bind(account_id.as_str())
        .fetch_optional(executor)
        .await
        .map_err(map_err)?;
    row.map(rows::subscription).transpose()
}

pub(crate) async fn list(
    pool: &sqlx::SqlitePool,
    account_id: &AccountId,
    page: PageRequest,
) -> Result<Page<Subscription>, StoreError> {
    // One read transaction, so the total and the page come from the same snapshot.
    let mut tx = pool.begin().await.map_err(map_err)?;
    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions WHERE account_id = ?1")
        .bind(account_id.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE account_id = ?1
         ORDER BY created_at DESC, id DESC LIMIT ?2 OFFSET ?3"
    );
    let found: Vec<SubscriptionRow> = sqlx::query_as(&sql)
        .bind(account_id.as_str())
        .bind(i64::from(page.limit))
        .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(Page {
        items: found
            .into_iter()
            .map(rows::subscription)
            .collect::<Result<_, _>>()?,
        total: total.unsigned_abs(),
    })
}

pub(crate) async fn apply_changes(
    conn: &mut SqliteConnection,
    current: Subscription,
    changes: SubscriptionChanges,
) -> Result<Subscription, StoreError> {
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
    sqlx::query(
        "UPDATE subscriptions
         SET url = ?3, name = ?4, is_active = ?5, block_reason = ?6, blocked_at = ?7,
             updated_at = ?8
         WHERE id = ?1 AND account_id = ?2",
    )
    .bind(current.id.to_string())
    .bind(current.account_id.as_str())
    .bind(url.as_str())
    .bind(name.as_ref().map(|name| name.as_str()))
    .bind(is_active)
    .bind(block_reason.as_deref())
    .bind(blocked_at.map(to_millis))
    .bind(to_millis(changes.updated_at))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    // Held notices are released by the caller once this is committed.
    if !is_active {
        notices::hold_account(conn, &current.account_id).await?;
    }
    find(conn, &current.account_id, current.id)
        .await?
        .ok_or(StoreError::NotFound)
}

pub(crate) async fn delete(
    conn: &mut SqliteConnection,
    account_id: &AccountId,
    id: SubscriptionId,
) -> Result<Option<Subscription>, StoreError> {
    let Some(found) = find(&mut *conn, account_id, id).await? else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM subscriptions WHERE id = ?1 AND account_id = ?2")
        .bind(id.to_string())
        .bind(account_id.as_str())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    // Pending notices are not deleted: they wait for the account's next subscription.
    notices::hold_account(conn, account_id).await?;
    Ok(Some(found))
}
