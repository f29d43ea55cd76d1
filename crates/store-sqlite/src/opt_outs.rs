//! Recording opt-outs: fan-out into notices, erasure of exposures, suppression entries.

use optout_core::time_format::{from_millis, to_millis};
use optout_core::{
    notice_payload, Datapoint, DatapointKind, HeldExposure, Idempotency, NewOptOut, NoticeId,
    OptOutBatch, OptOutId, OptOutRecorded,
};
use optout_store::StoreError;
use sqlx::SqliteConnection;
use std::collections::{HashMap, HashSet};

use crate::error::map_err;
use optout_store::plan::{suppression_key, take_covered, LedgerRow, WHOLE_CONTACT};

pub(crate) async fn record_batch(
    conn: &mut SqliteConnection,
    batch: OptOutBatch,
) -> Result<Vec<OptOutRecorded>, StoreError> {
    if let Some(idempotency) = &batch.idempotency {
        if let Some(previous) = replay(conn, idempotency).await? {
            return Ok(previous);
        }
    }
    // A fixed number of statements per batch, whatever its size: each statement is a round trip
    // to SQLite's thread, so per-opt-out statements would dominate the cost of intake.
    let mut ledger = load_exposures(conn, &batch.opt_outs).await?;
    let active = active_accounts(conn, &ledger).await?;
    let mut results = Vec::with_capacity(batch.opt_outs.len());
    let mut opt_out_rows = Vec::with_capacity(batch.opt_outs.len());
    let mut notice_rows = Vec::new();
    for opt_out in &batch.opt_outs {
        let by_account = take_covered(&mut ledger, opt_out);
        let mut notices = 0;
        for (account, held) in by_account {
            let Some(payload) = notice_payload(opt_out, held) else {
                continue;
            };
            let state = if active.contains(&account) {
                "pending"
            } else {
                "waiting"
            };
            notice_rows.push(serde_json::json!({
                "id": NoticeId::generate(batch.recorded_at).to_string(),
                "optOut": opt_out.id.to_string(),
                "account": account,
                "payload": String::from_utf8_lossy(&payload),
                "state": state,
            }));
            notices += 1;
        }
        opt_out_rows.push(serde_json::json!({
            "id": opt_out.id.to_string(),
            "contact": opt_out.contact_id.as_str(),
            "at": to_millis(opt_out.opted_out_at),
            "notices": notices,
        }));
        results.push(OptOutRecorded {
            opt_out_id: opt_out.id,
            notices,
        });
    }
    let recorded_at = to_millis(batch.recorded_at);
    sqlx::query(
        "INSERT INTO opt_outs (id, contact_id, opted_out_at, recorded_at, notices)
         SELECT r.value ->> 'id', r.value ->> 'contact', r.value ->> 'at', ?2,
                r.value ->> 'notices'
         FROM json_each(?1) AS r",
    )
    .bind(serde_json::Value::Array(opt_out_rows).to_string())
    .bind(recorded_at)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if !notice_rows.is_empty() {
        sqlx::query(
            "INSERT INTO notices (id, opt_out_id, account_id, payload, state, next_attempt_at,
                                  created_at)
             SELECT r.value ->> 'id', r.value ->> 'optOut', r.value ->> 'account',
                    CAST(r.value ->> 'payload' AS BLOB), r.value ->> 'state', ?2, ?2
             FROM json_each(?1) AS r",
        )
        .bind(serde_json::Value::Array(notice_rows).to_string())
        .bind(recorded_at)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    erase_and_suppress(conn, &batch.opt_outs).await?;
    if let Some(idempotency) = &batch.idempotency {
        let ids: Vec<String> = results.iter().map(|r| r.opt_out_id.to_string()).collect();
        sqlx::query(
            "INSERT INTO idempotency_keys (key, fingerprint, opt_out_ids, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&idempotency.key)
        .bind(&idempotency.fingerprint)
        .bind(serde_json_array(&ids))
        .bind(recorded_at)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(results)
}

/// Every exposure of the batch's contacts, by contact.
async fn load_exposures(
    conn: &mut SqliteConnection,
    opt_outs: &[NewOptOut],
) -> Result<HashMap<String, Vec<LedgerRow>>, StoreError> {
    let contacts: Vec<&str> = opt_outs.iter().map(|o| o.contact_id.as_str()).collect();
    let rows: Vec<(String, String, String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT contact_id, account_id, datapoint_type, datapoint_id, exposed_at,
                partner_client_id
         FROM exposures WHERE contact_id IN (SELECT value FROM json_each(?1))",
    )
    .bind(serde_json::to_string(&contacts).map_err(StoreError::backend)?)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    let mut ledger: HashMap<String, Vec<LedgerRow>> = HashMap::new();
    for (contact, account, kind, value, exposed_at, partner) in rows {
        let kind = DatapointKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("datapoint type {kind:?}")))?;
        ledger.entry(contact).or_default().push((
            account,
            HeldExposure {
                datapoint: Datapoint { kind, value },
                exposed_at: from_millis(exposed_at),
                partner_client_id: partner,
            },
        ));
    }
    Ok(ledger)
}

/// The accounts among the ledger rows that have an active subscription.
async fn active_accounts(
    conn: &mut SqliteConnection,
    ledger: &HashMap<String, Vec<LedgerRow>>,
) -> Result<HashSet<String>, StoreError> {
    let mut accounts: Vec<&str> = ledger
        .values()
        .flatten()
        .map(|(account, _)| account.as_str())
        .collect();
    accounts.sort_unstable();
    accounts.dedup();
    if accounts.is_empty() {
        return Ok(HashSet::new());
    }
    let active: Vec<String> = sqlx::query_scalar(
        "SELECT account_id FROM subscriptions
         WHERE is_active = 1 AND account_id IN (SELECT value FROM json_each(?1))",
    )
    .bind(serde_json::to_string(&accounts).map_err(StoreError::backend)?)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(active.into_iter().collect())
}

/// The result recorded under this key before, if any.
async fn replay(
    conn: &mut SqliteConnection,
    idempotency: &Idempotency,
) -> Result<Option<Vec<OptOutRecorded>>, StoreError> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT fingerprint, opt_out_ids FROM idempotency_keys WHERE key = ?1")
            .bind(&idempotency.key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
    let Some((fingerprint, ids)) = row else {
        return Ok(None);
    };
    if fingerprint != idempotency.fingerprint {
        return Err(StoreError::IdempotencyMismatch);
    }
    let mut results = Vec::new();
    for id in parse_json_array(&ids)? {
        let notices: i64 = sqlx::query_scalar("SELECT notices FROM opt_outs WHERE id = ?1")
            .bind(&id)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
        results.push(OptOutRecorded {
            opt_out_id: OptOutId::parse(&id)
                .ok_or_else(|| StoreError::Corrupt(format!("opt-out id {id:?}")))?,
            notices: notices.unsigned_abs(),
        });
    }
    Ok(Some(results))
}

/// Erases the covered exposures and records what must never be exposed again.
async fn erase_and_suppress(
    conn: &mut SqliteConnection,
    opt_outs: &[NewOptOut],
) -> Result<(), StoreError> {
    let mut whole_contacts = Vec::new();
    let mut datapoints = Vec::new();
    let mut suppressions = Vec::new();
    for opt_out in opt_outs {
        let contact = opt_out.contact_id.as_str();
        let id = opt_out.id.to_string();
        match &opt_out.datapoints {
            None => {
                whole_contacts.push(contact);
                suppressions.push(serde_json::json!([contact, WHOLE_CONTACT, id]));
            }
            Some(chosen) => {
                for datapoint in chosen {
                    datapoints.push(serde_json::json!([
                        contact,
                        datapoint.kind.as_str(),
                        datapoint.value
                    ]));
                    suppressions.push(serde_json::json!([contact, suppression_key(datapoint), id]));
                }
            }
        }
    }
    if !whole_contacts.is_empty() {
        sqlx::query("DELETE FROM exposures WHERE contact_id IN (SELECT value FROM json_each(?1))")
            .bind(serde_json::to_string(&whole_contacts).map_err(StoreError::backend)?)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    if !datapoints.is_empty() {
        sqlx::query(
            "DELETE FROM exposures
             WHERE (contact_id, datapoint_type, datapoint_id) IN
                   (SELECT d.value ->> 0, d.value ->> 1, d.value ->> 2 FROM json_each(?1) AS d)",
        )
        .bind(serde_json::Value::Array(datapoints).to_string())
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    sqlx::query(
        "INSERT INTO suppressions (contact_id, datapoint_key, opt_out_id)
         SELECT s.value ->> 0, s.value ->> 1, s.value ->> 2 FROM json_each(?1) AS s
         WHERE true
         ON CONFLICT DO NOTHING",
    )
    .bind(serde_json::Value::Array(suppressions).to_string())
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

fn serde_json_array(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

fn parse_json_array(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("opt-out id list {text:?}")))
}
