//! The exposure ledger and the suppression check at intake.

use optout_core::time_format::to_millis;
use optout_core::{Datapoint, ExposureIntake, NewExposure, Refusal, RefusalReason};
use optout_store::StoreError;
use sqlx::SqliteConnection;
use std::collections::{HashMap, HashSet};

use crate::error::map_err;

/// The suppression key of a whole contact.
pub(crate) const WHOLE_CONTACT: &str = "*";

/// The suppression key of one datapoint.
pub(crate) fn suppression_key(datapoint: &Datapoint) -> String {
    format!("{}:{}", datapoint.kind.as_str(), datapoint.value)
}

pub(crate) async fn record(
    conn: &mut SqliteConnection,
    items: &[NewExposure],
) -> Result<ExposureIntake, StoreError> {
    // A fixed number of statements per call, whatever its size: a million-row import would
    // otherwise pay one round trip to SQLite's thread per datapoint.
    let known = known_accounts(conn, items).await?;
    let suppressed = suppressions(conn, items).await?;
    let mut intake = ExposureIntake::default();
    let mut candidates: HashMap<ExposureKey, (i64, Option<&str>)> = HashMap::new();
    let mut repeats_in_batch = 0;
    for (index, item) in items.iter().enumerate() {
        if !known.contains(item.account_id.as_str()) {
            intake.refused += item.datapoints.len() as u64;
            intake.refusals.push(Refusal {
                index,
                reason: RefusalReason::UnknownAccount,
            });
            continue;
        }
        let contact = item.contact_id.as_str();
        let whole = suppressed.contains(&(contact.to_owned(), WHOLE_CONTACT.to_owned()));
        let mut refused_here = 0;
        for datapoint in &item.datapoints {
            if whole || suppressed.contains(&(contact.to_owned(), suppression_key(datapoint))) {
                refused_here += 1;
                continue;
            }
            let key = (
                contact.to_owned(),
                item.account_id.as_str().to_owned(),
                datapoint.kind.as_str(),
                datapoint.value.clone(),
            );
            let exposed_at = to_millis(item.exposed_at);
            let partner = item.partner_client_id.as_deref();
            match candidates.get_mut(&key) {
                None => {
                    candidates.insert(key, (exposed_at, partner));
                }
                Some(earlier) => {
                    repeats_in_batch += 1;
                    if exposed_at < earlier.0 {
                        *earlier = (exposed_at, partner.or(earlier.1));
                    } else if earlier.1.is_none() {
                        earlier.1 = partner;
                    }
                }
            }
        }
        if refused_here > 0 {
            intake.refused += refused_here;
            intake.refusals.push(Refusal {
                index,
                reason: RefusalReason::OptedOut,
            });
        }
    }
    let rows: Vec<serde_json::Value> = candidates
        .into_iter()
        .map(|((contact, account, kind, value), (exposed_at, partner))| {
            serde_json::json!([contact, account, kind, value, exposed_at, partner])
        })
        .collect();
    let candidate_count = rows.len() as u64;
    let inserted = upsert_keeping_earliest(conn, rows).await?;
    intake.accepted = inserted;
    intake.duplicates = candidate_count - inserted + repeats_in_batch;
    Ok(intake)
}

/// (contact, account, datapoint type, datapoint value).
type ExposureKey = (String, String, &'static str, String);

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
