//! The operator's views across accounts: queue metrics and every subscription.

use chrono::{DateTime, Utc};
use optout_core::time_format::to_millis;
use optout_core::Subscription;
use optout_store::rows::{self, SubscriptionRow, SUBSCRIPTION_COLUMNS};
use optout_store::{QueueMetrics, StoreError};
use sqlx::PgPool;

use crate::error::map_err;

/// The queue's counts, reading only the rows they count so that a scrape does not grow with
/// every notice ever made: queued notices through the partial index of due ones (being
/// delivered: a claimed notice stays 'pending' with its lease in `lease_until`, which ends after
/// `$1`; never attempted; awaiting a retry), undelivered ones and those of them held through
/// theirs, and the notices ever created from the totals a trigger keeps (migration 0006). The
/// delivered ones are the created less the undelivered.
const NOTICE_COUNTS: &str = "SELECT queued.delivering, queued.pending, queued.failed,
        undelivered.notices, undelivered.waiting, totals.created
    FROM (SELECT COUNT(*) FILTER (WHERE COALESCE(lease_until, 0) > $1) AS delivering,
                 COUNT(*) FILTER (WHERE COALESCE(lease_until, 0) <= $1 AND attempts = 0)
                     AS pending,
                 COUNT(*) FILTER (WHERE COALESCE(lease_until, 0) <= $1 AND attempts > 0)
                     AS failed
          FROM notices WHERE state = 'pending') AS queued,
         (SELECT COUNT(*) AS notices, COUNT(*) FILTER (WHERE state = 'waiting') AS waiting
          FROM notices WHERE state <> 'delivered') AS undelivered,
         (SELECT COALESCE(SUM(created), 0)::BIGINT AS created FROM notice_totals) AS totals";

/// Notice counts by status, oldest due instant, subscription counts; one read snapshot.
pub(crate) async fn queue_metrics(
    pool: &PgPool,
    now: DateTime<Utc>,
) -> Result<QueueMetrics, StoreError> {
    let now = to_millis(now);
    // One snapshot, so the counts agree with each other.
    let mut tx = pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(map_err)?;
    let (delivering, pending, failed, undelivered, waiting, created): (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = sqlx::query_as(NOTICE_COUNTS)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let notices: rows::NoticeCounts = (delivering, pending, failed, waiting, created - undelivered);
    let oldest_due: Option<i64> = sqlx::query_scalar(
        "SELECT MIN(next_attempt_at) FROM notices
         WHERE state = 'pending' AND next_attempt_at <= $1",
    )
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(map_err)?;
    let subscriptions: (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*) FILTER (WHERE is_active), COUNT(*) FILTER (WHERE NOT is_active)
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
    pool: &PgPool,
    limit: u32,
) -> Result<Vec<Subscription>, StoreError> {
    let sql = format!(
        "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
         ORDER BY is_active, created_at DESC, id DESC LIMIT $1"
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
    use crate::scratch::ScratchDatabase;
    use crate::PostgresStore;
    use optout_core::NoticeDisposition;
    use optout_store::Store;
    use optout_store_conformance::setup::{
        at, claim, email, expose, opt_out, outcome, record, record_opt_outs, subscribed_account,
    };

    fn server_url() -> String {
        std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
    }

    /// How `query` ran (with `$1` bound to 0), with sequential scans disabled:
    /// one is still chosen when no index can answer the query.
    async fn run_plan(store: &PostgresStore, query: &str) -> String {
        let mut tx = store.pool().begin().await.expect("begin");
        sqlx::query("SET LOCAL enable_seqscan = off")
            .execute(&mut *tx)
            .await
            .expect("set");
        let lines: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN ANALYZE {query}"))
            .bind(0_i64)
            .fetch_all(&mut *tx)
            .await
            .expect("explain");
        lines.join("\n")
    }

    #[tokio::test]
    async fn queue_counts_read_no_delivered_notice() {
        let database = ScratchDatabase::create(&server_url(), "optout_test")
            .await
            .expect("scratch database");
        let store = PostgresStore::open(&database.url).await.expect("open");
        let subscribed = subscribed_account(&store).await;
        let contacts = ["c1", "c2", "c3"];
        for contact in contacts {
            expose(&store, &subscribed.account, contact, vec![email("a@x.io")]).await;
        }
        let opt_outs = contacts.iter().map(|c| opt_out(c, None)).collect();
        record_opt_outs(&store, opt_outs, at(1)).await;
        let claimed = claim(&store, at(2)).await;
        let outcomes: Vec<_> = claimed
            .iter()
            .zip([
                NoticeDisposition::Delivered,
                NoticeDisposition::Delivered,
                NoticeDisposition::RetryAt(at(60)),
            ])
            .map(|(notice, disposition)| outcome(notice, at(2), disposition))
            .collect();
        assert_eq!(record(&store, &outcomes).await, 3);

        let plan = run_plan(&store, NOTICE_COUNTS).await;
        assert!(
            !plan.contains("Seq Scan on notices") && !plan.contains("Rows Removed"),
            "the queue's counts read delivered notices:\n{plan}"
        );
        let counted = store.find_queue_metrics(at(3)).await.expect("metrics");
        assert_eq!((counted.delivered, counted.failed), (2, 1));
        store.close().await;
        database.drop_database().await.expect("drop");
    }
}
