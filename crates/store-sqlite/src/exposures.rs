//! The exposure ledger and the suppression check at intake.

use optout_core::time_format::to_millis;
use optout_core::{Datapoint, ExposureIntake, NewExposure, Refusal, RefusalReason};
use optout_store::StoreError;
use sqlx::SqliteConnection;
use std::collections::HashMap;

use crate::accounts::account_exists;
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
    let mut intake = ExposureIntake::default();
    let mut known_accounts: HashMap<&str, bool> = HashMap::new();
    for (index, item) in items.iter().enumerate() {
        let account = item.account_id.as_str();
        let known = match known_accounts.get(account) {
            Some(known) => *known,
            None => {
                let known = account_exists(&mut *conn, &item.account_id).await?;
                known_accounts.insert(account, known);
                known
            }
        };
        if !known {
            intake.refused += item.datapoints.len() as u64;
            intake.refusals.push(Refusal {
                index,
                reason: RefusalReason::UnknownAccount,
            });
            continue;
        }
        let whole_contact_suppressed =
            is_suppressed(conn, item.contact_id.as_str(), WHOLE_CONTACT).await?;
        let mut refused_here = 0;
        for datapoint in &item.datapoints {
            if whole_contact_suppressed
                || is_suppressed(conn, item.contact_id.as_str(), &suppression_key(datapoint))
                    .await?
            {
                refused_here += 1;
                continue;
            }
            if insert_or_keep_earliest(conn, item, datapoint).await? {
                intake.accepted += 1;
            } else {
                intake.duplicates += 1;
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
    Ok(intake)
}

async fn is_suppressed(
    conn: &mut SqliteConnection,
    contact_id: &str,
    key: &str,
) -> Result<bool, StoreError> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM suppressions WHERE contact_id = ?1 AND datapoint_key = ?2",
    )
    .bind(contact_id)
    .bind(key)
    .fetch_optional(conn)
    .await
    .map_err(map_err)?;
    Ok(found.is_some())
}

/// Inserts the exposure; if it is known, keeps the earliest date (and that exposure's partner
/// id when it has one). Returns whether it was new.
async fn insert_or_keep_earliest(
    conn: &mut SqliteConnection,
    item: &NewExposure,
    datapoint: &Datapoint,
) -> Result<bool, StoreError> {
    let exposed_at = to_millis(item.exposed_at);
    let inserted = sqlx::query(
        "INSERT INTO exposures
             (contact_id, account_id, datapoint_type, datapoint_id, exposed_at, partner_client_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT DO NOTHING",
    )
    .bind(item.contact_id.as_str())
    .bind(item.account_id.as_str())
    .bind(datapoint.kind.as_str())
    .bind(&datapoint.value)
    .bind(exposed_at)
    .bind(item.partner_client_id.as_deref())
    .execute(&mut *conn)
    .await
    .map_err(map_err)?
    .rows_affected()
        == 1;
    if !inserted {
        sqlx::query(
            "UPDATE exposures
             SET partner_client_id = CASE WHEN ?5 < exposed_at
                                          THEN COALESCE(?6, partner_client_id)
                                          ELSE COALESCE(partner_client_id, ?6) END,
                 exposed_at = MIN(exposed_at, ?5)
             WHERE contact_id = ?1 AND account_id = ?2 AND datapoint_type = ?3
               AND datapoint_id = ?4",
        )
        .bind(item.contact_id.as_str())
        .bind(item.account_id.as_str())
        .bind(datapoint.kind.as_str())
        .bind(&datapoint.value)
        .bind(exposed_at)
        .bind(item.partner_client_id.as_deref())
        .execute(conn)
        .await
        .map_err(map_err)?;
    }
    Ok(inserted)
}
