//! Retention: listing delivered bodies past their retention, purging them with their evidence,
//! and deleting old audit rows, a small batch per call.

use chrono::{DateTime, Utc};
use optout_core::time_format::to_millis;
use optout_store::{PayloadPurge, PurgeablePayload, StoreError};
use sqlx::SqliteConnection;

use crate::error::map_err;

pub(crate) async fn list_purgeable(
    pool: &sqlx::SqlitePool,
    delivered_before: DateTime<Utc>,
    limit: u32,
) -> Result<Vec<PurgeablePayload>, StoreError> {
    // The conditions repeat the partial index's, so the scan stays inside it.
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT n.id, COALESCE(p.payload, X'')
         FROM notices n LEFT JOIN notice_payloads p ON p.notice_id = n.id
         WHERE n.state = 'delivered' AND n.payload_purged_at IS NULL AND n.delivered_at < ?1
         ORDER BY n.delivered_at, n.id LIMIT ?2",
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

/// Purges the bodies: the notices get their purge instant and evidence, and their bodies' rows
/// are deleted. The caller runs it in a write transaction with `secure_delete` on, so the old
/// bytes are zeroed in the file rather than left in free space.
pub(crate) async fn record_purges(
    conn: &mut SqliteConnection,
    purges: &[PayloadPurge],
) -> Result<usize, StoreError> {
    let rows: Vec<serde_json::Value> = purges
        .iter()
        .map(|purge| {
            serde_json::json!({
                "id": purge.notice_id.to_string(),
                "at": to_millis(purge.purged_at),
                "evidence": purge.evidence.to_json(),
            })
        })
        .collect();
    let purged: Vec<String> = sqlx::query_scalar(
        "UPDATE notices
         SET payload_purged_at = p.value ->> 'at', datapoint_evidence = p.value ->> 'evidence'
         FROM json_each(?1) AS p
         WHERE notices.id = p.value ->> 'id'
           AND notices.state = 'delivered' AND notices.payload_purged_at IS NULL
         RETURNING notices.id",
    )
    .bind(serde_json::Value::Array(rows).to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    sqlx::query("DELETE FROM notice_payloads WHERE notice_id IN (SELECT value FROM json_each(?1))")
        .bind(serde_json::to_string(&purged).map_err(StoreError::backend)?)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(purged.len())
}

pub(crate) async fn purge_audit(
    conn: &mut SqliteConnection,
    success_before: DateTime<Utc>,
    failure_before: DateTime<Utc>,
    limit: u32,
) -> Result<usize, StoreError> {
    let (success_before, failure_before) = (to_millis(success_before), to_millis(failure_before));
    // The first condition bounds the scan of the attempted_at index; the second picks by status.
    let done = sqlx::query(
        "DELETE FROM audit_log WHERE rowid IN (
             SELECT rowid FROM audit_log
             WHERE attempted_at < MAX(?1, ?2)
               AND ((status = 'success' AND attempted_at < ?1)
                    OR (status IN ('failed', 'permanent_failure') AND attempted_at < ?2))
             LIMIT ?3)",
    )
    .bind(success_before)
    .bind(failure_before)
    .bind(i64::from(limit))
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX))
}
