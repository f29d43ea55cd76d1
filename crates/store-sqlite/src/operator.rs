//! The operator's views across accounts: queue metrics and every subscription.

use chrono::{DateTime, Utc};
use optout_core::time_format::to_millis;
use optout_core::Subscription;
use optout_store::rows::{self, SubscriptionRow, SUBSCRIPTION_COLUMNS};
use optout_store::{QueueMetrics, StoreError};
use sqlx::SqlitePool;

use crate::error::map_err;

// The queue's counts read only the rows they count, so a scrape does not grow with every notice
// ever made: queued notices through the partial index of due ones, undelivered ones through
// theirs, and the table's size from its smallest index (a count of b-tree cells, no row read);
// the delivered ones are the rest.

/// Queued notices: being delivered (a claimed notice stays 'pending' with its lease in
/// `lease_until`, which ends after `now`), never attempted, and awaiting a retry.
const QUEUED_COUNTS: &str = "SELECT COALESCE(SUM(COALESCE(lease_until, 0) > ?1), 0),
        COALESCE(SUM(COALESCE(lease_until, 0) <= ?1 AND attempts = 0), 0),
        COALESCE(SUM(COALESCE(lease_until, 0) <= ?1 AND attempts > 0), 0)
    FROM notices WHERE state = 'pending'";
/// Undelivered notices, and those of them held.
const UNDELIVERED_COUNTS: &str = "SELECT COUNT(*), COALESCE(SUM(state = 'waiting'), 0)
    FROM notices WHERE state <> 'delivered'";
/// Every notice.
const ALL_COUNT: &str = "SELECT COUNT(*) FROM notices";

/// Notice counts by status, oldest due instant, subscription counts; one read snapshot.
pub(crate) async fn queue_metrics(
    pool: &SqlitePool,
    now: DateTime<Utc>,
) -> Result<QueueMetrics, StoreError> {
    let now = to_millis(now);
    let mut tx = pool.begin().await.map_err(map_err)?;
    let (delivering, pending, failed): (i64, i64, i64) = sqlx::query_as(QUEUED_COUNTS)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let (undelivered, waiting): (i64, i64) = sqlx::query_as(UNDELIVERED_COUNTS)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let all: i64 = sqlx::query_scalar(ALL_COUNT)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let notices: rows::NoticeCounts = (delivering, pending, failed, waiting, all - undelivered);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Each count reads an index, not the table: a scan of the table grows with every notice
    /// ever made.
    #[tokio::test]
    async fn queue_counts_read_indexes_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::SqliteStore::open(&dir.path().join("relay.db"))
            .await
            .unwrap();
        for (sql, index) in [
            (QUEUED_COUNTS, "USING INDEX notices_due"),
            (
                UNDELIVERED_COUNTS,
                "USING COVERING INDEX notices_by_account",
            ),
            (ALL_COUNT, "USING COVERING INDEX"),
        ] {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
            if sql.contains("?1") {
                query = query.bind(0_i64);
            }
            let plan = query.fetch_all(&store.reader).await.unwrap();
            let steps: Vec<&str> = plan.iter().map(|step| step.3.as_str()).collect();
            assert!(
                steps.len() == 1 && steps[0].contains(index),
                "{sql}: {steps:?}"
            );
        }
    }
}
