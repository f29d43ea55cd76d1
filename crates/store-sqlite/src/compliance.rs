//! The compliance record of an opt-out.

use chrono::{DateTime, Utc};
use optout_core::time_format::{from_millis, to_millis};
use optout_core::{ComplianceRecord, ContactId, OptOutId, RecipientRecord};
use optout_store::StoreError;

use crate::error::map_err;
use optout_store::rows;

type NoticeRow = (
    String,
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

pub(crate) async fn find(
    pool: &sqlx::SqlitePool,
    opt_out_id: OptOutId,
    now: DateTime<Utc>,
) -> Result<Option<ComplianceRecord>, StoreError> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    let head: Option<(String, i64, i64)> =
        sqlx::query_as("SELECT contact_id, opted_out_at, recorded_at FROM opt_outs WHERE id = ?1")
            .bind(opt_out_id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
    let Some((contact_id, opted_out_at, recorded_at)) = head else {
        return Ok(None);
    };
    let notices: Vec<NoticeRow> = sqlx::query_as(
        "SELECT id, account_id, state, attempts, last_status_code, delivered_at, lease_until,
                payload_purged_at, datapoint_evidence
         FROM notices WHERE opt_out_id = ?1 ORDER BY account_id",
    )
    .bind(opt_out_id.to_string())
    .fetch_all(&mut *tx)
    .await
    .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    let now = to_millis(now);
    let recipients = notices
        .into_iter()
        .map(|row| {
            let (
                id,
                account,
                state,
                attempts,
                status_code,
                delivered_at,
                lease_until,
                purged,
                evidence,
            ) = row;
            let (payload_purged_at, evidence) = rows::payload_purge(&id, purged, evidence)?;
            let status = rows::notice_status(&state, lease_until, attempts, now);
            Ok(RecipientRecord {
                account_id: rows::account_id(&account)?,
                notice_id: rows::notice_id(&id)?,
                status,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                last_status_code: status_code.and_then(|code| u16::try_from(code).ok()),
                delivered_at: delivered_at.map(from_millis),
                payload_purged_at,
                evidence,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(Some(ComplianceRecord {
        opt_out_id,
        contact_id: ContactId::parse(&contact_id)
            .map_err(|_| StoreError::Corrupt(format!("contact id of opt-out {opt_out_id}")))?,
        opted_out_at: from_millis(opted_out_at),
        recorded_at: from_millis(recorded_at),
        recipients,
    }))
}
