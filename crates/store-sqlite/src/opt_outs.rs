//! Recording opt-outs: fan-out into notices, erasure of exposures, suppression entries.

use chrono::{DateTime, Utc};
use optout_core::time_format::{from_millis, to_millis};
use optout_core::{
    notice_payload, Datapoint, DatapointKind, HeldExposure, Idempotency, NewOptOut, NoticeId,
    OptOutBatch, OptOutId, OptOutRecorded,
};
use optout_store::StoreError;
use sqlx::SqliteConnection;
use std::collections::BTreeMap;

use crate::error::map_err;
use crate::exposures::{suppression_key, WHOLE_CONTACT};
use crate::notices::account_has_active_subscription;

pub(crate) async fn record_batch(
    conn: &mut SqliteConnection,
    batch: OptOutBatch,
) -> Result<Vec<OptOutRecorded>, StoreError> {
    if let Some(idempotency) = &batch.idempotency {
        if let Some(previous) = replay(conn, idempotency).await? {
            return Ok(previous);
        }
    }
    let mut results = Vec::with_capacity(batch.opt_outs.len());
    for opt_out in &batch.opt_outs {
        let notices = record_one(conn, opt_out, batch.recorded_at).await?;
        results.push(OptOutRecorded {
            opt_out_id: opt_out.id,
            notices,
        });
    }
    if let Some(idempotency) = &batch.idempotency {
        let ids: Vec<String> = results.iter().map(|r| r.opt_out_id.to_string()).collect();
        sqlx::query(
            "INSERT INTO idempotency_keys (key, fingerprint, opt_out_ids, created_at)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&idempotency.key)
        .bind(&idempotency.fingerprint)
        .bind(serde_json_array(&ids))
        .bind(to_millis(batch.recorded_at))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    Ok(results)
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

type ExposureRow = (String, String, String, i64, Option<String>);

async fn record_one(
    conn: &mut SqliteConnection,
    opt_out: &NewOptOut,
    recorded_at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let contact = opt_out.contact_id.as_str();
    let rows: Vec<ExposureRow> = sqlx::query_as(
        "SELECT account_id, datapoint_type, datapoint_id, exposed_at, partner_client_id
         FROM exposures WHERE contact_id = ?1",
    )
    .bind(contact)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;

    let mut by_account: BTreeMap<String, Vec<HeldExposure>> = BTreeMap::new();
    for (account, kind, value, exposed_at, partner) in rows {
        let kind = DatapointKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("datapoint type {kind:?}")))?;
        let datapoint = Datapoint { kind, value };
        if opt_out
            .datapoints
            .as_ref()
            .is_some_and(|covered| !covered.contains(&datapoint))
        {
            continue;
        }
        by_account.entry(account).or_default().push(HeldExposure {
            datapoint,
            exposed_at: from_millis(exposed_at),
            partner_client_id: partner,
        });
    }

    sqlx::query(
        "INSERT INTO opt_outs (id, contact_id, opted_out_at, recorded_at, notices)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(opt_out.id.to_string())
    .bind(contact)
    .bind(to_millis(opt_out.opted_out_at))
    .bind(to_millis(recorded_at))
    .bind(by_account.len() as i64)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;

    let mut notices = 0;
    for (account, held) in by_account {
        let Some(payload) = notice_payload(opt_out, held) else {
            continue;
        };
        let state = if account_has_active_subscription(conn, &account).await? {
            "pending"
        } else {
            "waiting"
        };
        sqlx::query(
            "INSERT INTO notices (id, opt_out_id, account_id, payload, state, next_attempt_at,
                                  created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        )
        .bind(NoticeId::generate(recorded_at).to_string())
        .bind(opt_out.id.to_string())
        .bind(&account)
        .bind(payload)
        .bind(state)
        .bind(to_millis(recorded_at))
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
        notices += 1;
    }

    erase_and_suppress(conn, opt_out).await?;
    Ok(notices)
}

/// Erases the covered exposures and records what must never be exposed again.
async fn erase_and_suppress(
    conn: &mut SqliteConnection,
    opt_out: &NewOptOut,
) -> Result<(), StoreError> {
    let contact = opt_out.contact_id.as_str();
    let id = opt_out.id.to_string();
    let suppress = "INSERT INTO suppressions (contact_id, datapoint_key, opt_out_id)
                    VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING";
    match &opt_out.datapoints {
        None => {
            sqlx::query("DELETE FROM exposures WHERE contact_id = ?1")
                .bind(contact)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            sqlx::query(suppress)
                .bind(contact)
                .bind(WHOLE_CONTACT)
                .bind(&id)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
        }
        Some(datapoints) => {
            for datapoint in datapoints {
                sqlx::query(
                    "DELETE FROM exposures
                     WHERE contact_id = ?1 AND datapoint_type = ?2 AND datapoint_id = ?3",
                )
                .bind(contact)
                .bind(datapoint.kind.as_str())
                .bind(&datapoint.value)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
                sqlx::query(suppress)
                    .bind(contact)
                    .bind(suppression_key(datapoint))
                    .bind(&id)
                    .execute(&mut *conn)
                    .await
                    .map_err(map_err)?;
            }
        }
    }
    Ok(())
}

fn serde_json_array(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

fn parse_json_array(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("opt-out id list {text:?}")))
}
