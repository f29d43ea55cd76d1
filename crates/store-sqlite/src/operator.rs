//! The operator's views across accounts: queue metrics and every subscription.

use chrono::{DateTime, Utc};
use optout_core::time_format::to_millis;
use optout_core::Subscription;
use optout_store::rows::{self, SubscriptionRow, SUBSCRIPTION_COLUMNS};
use optout_store::{QueueMetrics, StoreError};
use sqlx::SqlitePool;

use crate::error::map_err;

/// Notice counts by status, oldest due instant, subscription counts; one read snapshot.
pub(crate) async fn queue_metrics(
    pool: &SqlitePool,
    now: DateTime<Utc>,
) -> Result<QueueMetrics, StoreError> {
    let now = to_millis(now);
    let mut tx = pool.begin().await.map_err(map_err)?;
    // A claimed notice stays 'pending' with its lease in lease_until: leased until after `now`
    // means an attempt is in flight.
    let notices: rows::NoticeCounts = sqlx::query_as(
        "SELECT
               COALESCE(SUM(state = 'pending' AND COALESCE(lease_until, 0) > ?1), 0),
               COALESCE(SUM(state = 'pending' AND COALESCE(lease_until, 0) <= ?1
                            AND attempts = 0), 0),
               COALESCE(SUM(state = 'pending' AND COALESCE(lease_until, 0) <= ?1
                            AND attempts > 0), 0),
               COALESCE(SUM(state = 'waiting'), 0),
               COALESCE(SUM(state = 'delivered'), 0)
             FROM notices",
    )
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(map_err)?;
    let oldest_due: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM notices
         WHERE state = 'pending' AND next_attempt_at <= ?1",
    )
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(map_err)?;
    let subscriptions: (i64, i64) = sqlx::query_as(
        "SELECT COALESCE(SUM(is_active = 1), 0), COALESCE(SUM(is_active = 0), 0)
         FROM subscriptions",
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(rows::queue_metrics(notices, oldest_due, subscriptions))
}

/// Up to `limit` subscriptions of all accounts, disabled first, then newest first.
pub(crate) async fn all_subscriptions(
    pool: &SqlitePool,
    limit: u32,
) -> Result<Vec<Subscription>, StoreError> {
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
         ORDER BY is_active, created_at DESC, id DESC LIMIT ?1"
    );
    let found: Vec<SubscriptionRow> = sqlx::query_as(&sql)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
    found.into_iter().map(rows::subscription).collect()
}
