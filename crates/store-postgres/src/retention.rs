//! Retention: listing delivered bodies past their retention, purging them with their evidence,
//! and deleting old audit rows, a small batch per call.

use chrono::{DateTime, Utc};
use optout_core::time_format::to_millis;
use optout_store::{PayloadPurge, PurgeablePayload, StoreError};
use sqlx::PgPool;

use crate::error::map_err;

pub(crate) async fn list_purgeable(
    pool: &PgPool,
    delivered_before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<PurgeablePayload>, StoreError> {
    // The conditions repeat the partial index's, so the scan stays inside it.
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT id, payload FROM notices
         WHERE state = 'delivered' AND payload_purged_at IS NULL AND delivered_at < $1
         ORDER BY delivered_at, id LIMIT $2",
    )
    .bind(to_millis(delivered_before))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.into_iter()
        .map(|(id, payload)| optout_store::rows::purgeable_payload(&id, payload))
        .collect()
}

/// Purges the bodies with one statement, which is its own transaction. Delivered notices are
/// never claimed nor recorded over, so the rows it locks are ones no delivery waits for.
pub(crate) async fn record_purges(
    pool: &PgPool,
    purges: &[PayloadPurge],
) -> Result<usize, StoreError> {
    let ids: Vec<String> = purges.iter().map(|p| p.notice_id.to_string()).collect();
    let times: Vec<i64> = purges.iter().map(|p| to_millis(p.purged_at)).collect();
    let evidence: Vec<String> = purges.iter().map(|p| p.evidence.to_json()).collect();
    let done = sqlx::query(
        "UPDATE notices AS n
         SET payload = ''::bytea, payload_purged_at = p.at, datapoint_evidence = p.evidence
         FROM UNNEST($1::text[], $2::int8[], $3::text[]) AS p(id, at, evidence)
         WHERE n.id = p.id AND n.state = 'delivered' AND n.payload_purged_at IS NULL",
    )
    .bind(ids)
    .bind(times)
    .bind(evidence)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}

pub(crate) async fn purge_audit(
    pool: &PgPool,
    success_before: DateTime<Utc>,
    failure_before: DateTime<Utc>,
    limit: u32,
) -> Result<usize, StoreError> {
    // MATERIALIZED, so the SKIP LOCKED subquery runs once and the limit holds (see the claim in
    // `notices`). Rows another node is deleting are skipped instead of waited for.
    let done = sqlx::query(
        "WITH doomed AS MATERIALIZED (
             SELECT id FROM audit_log
             WHERE attempted_at < GREATEST($1, $2)
               AND ((status = 'success' AND attempted_at < $1)
                    OR (status IN ('failed', 'permanent_failure') AND attempted_at < $2))
             LIMIT $3
             FOR UPDATE SKIP LOCKED
         )
         DELETE FROM audit_log AS a USING doomed WHERE a.id = doomed.id",
    )
    .bind(to_millis(success_before))
    .bind(to_millis(failure_before))
    .bind(i64::from(limit))
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}
