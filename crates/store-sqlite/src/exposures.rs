//! The exposure ledger and the suppression check at intake.

use optout_core::{ExposureIntake, NewExposure};
use optout_store::plan::plan_exposures;
use optout_store::StoreError;
use sqlx::SqliteConnection;
use std::collections::HashSet;

use crate::error::map_err;

pub(crate) async fn record(
    conn: &mut SqliteConnection,
    items: &[NewExposure],
) -> Result<ExposureIntake, StoreError> {
    // A fixed number of statements per call, whatever its size: a million-row import would
    // otherwise pay one round trip to SQLite's thread per datapoint.
    let known = known_accounts(conn, items).await?;
    let suppressed = suppressions(conn, items).await?;
    let plan = plan_exposures(items, &known, &suppressed);
    let rows: Vec<serde_json::Value> = plan
        .candidates
        .iter()
        .map(|((contact, account, kind, value), (exposed_at, partner))| {
            serde_json::json!([contact, account, kind, value, exposed_at, partner])
        })
        .collect();
    let inserted = upsert_keeping_earliest(conn, rows).await?;
    Ok(plan.finish(inserted))
}

async fn known_accounts(
    conn: &mut SqliteConnection,
    items: &[NewExposure],
) -> Result<HashSet<String>, StoreError> {
    let mut accounts: Vec<&str> = items.iter().map(|item| item.account_id.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let known: Vec<String> =
        sqlx::query_scalar("SELECT id FROM accounts WHERE id IN (SELECT value FROM json_each(?1))")
            .bind(serde_json::to_string(&accounts).map_err(StoreError::backend)?)
            .fetch_all(conn)
            .await
            .map_err(map_err)?;
    Ok(known.into_iter().collect())
}

async fn suppressions(
    conn: &mut SqliteConnection,
    items: &[NewExposure],
) -> Result<HashSet<(String, String)>, StoreError> {
    let mut contacts: Vec<&str> = items.iter().map(|item| item.contact_id.as_str()).collect();
    contacts.sort_unstable();
    contacts.dedup();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT contact_id, datapoint_key FROM suppressions
         WHERE contact_id IN (SELECT value FROM json_each(?1))",
    )
    .bind(serde_json::to_string(&contacts).map_err(StoreError::backend)?)
    .fetch_all(conn)
    .await
    .map_err(map_err)?;
    Ok(rows.into_iter().collect())
}

/// Inserts new exposures and, for known ones, keeps the earliest date (and that exposure's
/// partner id when it has one). Returns how many were new.
async fn upsert_keeping_earliest(
    conn: &mut SqliteConnection,
    rows: Vec<serde_json::Value>,
) -> Result<u64, StoreError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let rows = serde_json::Value::Array(rows).to_string();
    let inserted: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO exposures
             (contact_id, account_id, datapoint_type, datapoint_id, exposed_at, partner_client_id)
         SELECT r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4,
                r.value ->> 5
         FROM json_each(?1) AS r WHERE true
         ON CONFLICT DO NOTHING
         RETURNING 1",
    )
    .bind(&rows)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    // Rows just inserted compare equal to themselves and are left as they are.
    sqlx::query(
        "UPDATE exposures
         SET partner_client_id = CASE WHEN r.value ->> 4 < exposed_at
                                      THEN COALESCE(r.value ->> 5, partner_client_id)
                                      ELSE COALESCE(partner_client_id, r.value ->> 5) END,
             exposed_at = MIN(exposed_at, r.value ->> 4)
         FROM json_each(?1) AS r
         WHERE contact_id = r.value ->> 0 AND account_id = r.value ->> 1
           AND datapoint_type = r.value ->> 2 AND datapoint_id = r.value ->> 3",
    )
    .bind(&rows)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(inserted.len() as u64)
}
