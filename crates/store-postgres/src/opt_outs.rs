//! Recording opt-outs: fan-out into notices, erasure of exposures, suppression entries.

use optout_core::time_format::{from_millis, to_millis};
use optout_core::{
    notice_payload, Datapoint, DatapointKind, HeldExposure, Idempotency, NewOptOut, NoticeId,
    OptOutBatch, OptOutId, OptOutRecorded,
};
use optout_store::StoreError;
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashMap, HashSet};

use crate::error::map_err;
use crate::locks::{self, AccountAccess, ContactAccess};
use optout_store::plan::{suppression_key, take_covered, LedgerRow, WHOLE_CONTACT};

/// What recording a batch did.
#[derive(Debug)]
pub(crate) struct BatchRecorded {
    /// One result per opt-out, in request order.
    pub results: Vec<OptOutRecorded>,
    /// Notices queued (due now) rather than held; zero for a replay.
    pub queued: usize,
}

pub(crate) async fn record_batch(
    conn: &mut PgConnection,
    batch: OptOutBatch,
) -> Result<BatchRecorded, StoreError> {
    let recorded_at = to_millis(batch.recorded_at);
    if let Some(idempotency) = &batch.idempotency {
        if let Some(previous) = claim_key(conn, idempotency, &batch, recorded_at).await? {
            return Ok(BatchRecorded {
                results: previous,
                queued: 0,
            });
        }
    }
    // A fixed number of statements per batch, whatever its size.
    locks::lock_contacts(
        conn,
        batch.opt_outs.iter().map(|o| o.contact_id.as_str()),
        ContactAccess::Exclusive,
    )
    .await?;
    let mut ledger = load_exposures(conn, &batch.opt_outs).await?;
    let active = active_accounts(conn, &ledger).await?;
    let mut results = Vec::with_capacity(batch.opt_outs.len());
    let mut opt_out_rows = OptOutRows::default();
    let mut notice_rows = NoticeRows::default();
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
            notice_rows
                .ids
                .push(NoticeId::generate(batch.recorded_at).to_string());
            notice_rows.opt_outs.push(opt_out.id.to_string());
            notice_rows.accounts.push(account);
            notice_rows.payloads.push(payload);
            notice_rows.states.push(state);
            notices += 1;
        }
        opt_out_rows.ids.push(opt_out.id.to_string());
        opt_out_rows.contacts.push(opt_out.contact_id.as_str());
        opt_out_rows.dates.push(to_millis(opt_out.opted_out_at));
        opt_out_rows.notices.push(notices);
        results.push(OptOutRecorded {
            opt_out_id: opt_out.id,
            notices: notices.unsigned_abs(),
        });
    }
    sqlx::query(
        "INSERT INTO opt_outs (id, contact_id, opted_out_at, recorded_at, notices)
         SELECT r.id, r.contact, r.at, $5, r.notices
         FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[]) AS r(id, contact, at, notices)",
    )
    .bind(&opt_out_rows.ids)
    .bind(&opt_out_rows.contacts)
    .bind(&opt_out_rows.dates)
    .bind(&opt_out_rows.notices)
    .bind(recorded_at)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    let queued = notice_rows
        .states
        .iter()
        .filter(|&&s| s == "pending")
        .count();
    if !notice_rows.ids.is_empty() {
        sqlx::query(
            "INSERT INTO notices (id, opt_out_id, account_id, payload, state, next_attempt_at,
                                  created_at)
             SELECT r.id, r.opt_out, r.account, r.payload, r.state, $6, $6
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[])
                  AS r(id, opt_out, account, payload, state)",
        )
        .bind(&notice_rows.ids)
        .bind(&notice_rows.opt_outs)
        .bind(&notice_rows.accounts)
        .bind(&notice_rows.payloads)
        .bind(&notice_rows.states)
        .bind(recorded_at)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    erase_and_suppress(conn, &batch.opt_outs).await?;
    Ok(BatchRecorded { results, queued })
}

/// The `opt_outs` rows of a batch, column by column.
#[derive(Debug, Default)]
struct OptOutRows<'a> {
    ids: Vec<String>,
    contacts: Vec<&'a str>,
    dates: Vec<i64>,
    notices: Vec<i64>,
}

/// The `notices` rows of a batch, column by column.
#[derive(Debug, Default)]
struct NoticeRows {
    ids: Vec<String>,
    opt_outs: Vec<String>,
    accounts: Vec<String>,
    payloads: Vec<Vec<u8>>,
    states: Vec<&'static str>,
}

/// Takes the idempotency key for this batch, or returns the result recorded under it before.
///
/// The key is inserted first: a concurrent request with the same key waits on the unique index
/// until this transaction ends, then replays its result (or records, if this one rolled back).
async fn claim_key(
    conn: &mut PgConnection,
    idempotency: &Idempotency,
    batch: &OptOutBatch,
    recorded_at: i64,
) -> Result<Option<Vec<OptOutRecorded>>, StoreError> {
    let ids: Vec<String> = batch.opt_outs.iter().map(|o| o.id.to_string()).collect();
    let taken: Option<i32> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys (key, fingerprint, opt_out_ids, created_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO NOTHING
         RETURNING 1",
    )
    .bind(&idempotency.key)
    .bind(&idempotency.fingerprint)
    .bind(&ids)
    .bind(recorded_at)
    .fetch_optional(&mut *conn)
    .await
    .map_err(map_err)?;
    if taken.is_some() {
        return Ok(None);
    }
    let (fingerprint, ids): (String, Vec<String>) =
        sqlx::query_as("SELECT fingerprint, opt_out_ids FROM idempotency_keys WHERE key = $1")
            .bind(&idempotency.key)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_err)?;
    if fingerprint != idempotency.fingerprint {
        return Err(StoreError::IdempotencyMismatch);
    }
    let counts: HashMap<String, i64> =
        sqlx::query_as::<_, (String, i64)>("SELECT id, notices FROM opt_outs WHERE id = ANY($1)")
            .bind(&ids)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_err)?
            .into_iter()
            .collect();
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        let notices = counts
            .get(&id)
            .ok_or_else(|| StoreError::Corrupt(format!("opt-out {id} of an idempotency key")))?;
        results.push(OptOutRecorded {
            opt_out_id: OptOutId::parse(&id)
                .ok_or_else(|| StoreError::Corrupt(format!("opt-out id {id:?}")))?,
            notices: notices.unsigned_abs(),
        });
    }
    Ok(Some(results))
}

/// Every exposure of the batch's contacts, by contact.
async fn load_exposures(
    conn: &mut PgConnection,
    opt_outs: &[NewOptOut],
) -> Result<HashMap<String, Vec<LedgerRow>>, StoreError> {
    let contacts: Vec<&str> = opt_outs.iter().map(|o| o.contact_id.as_str()).collect();
    let rows: Vec<(String, String, String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT contact_id, account_id, datapoint_type, datapoint_id, exposed_at,
                partner_client_id
         FROM exposures WHERE contact_id = ANY($1)",
    )
    .bind(&contacts)
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
///
/// The accounts are locked `FOR SHARE` first, in a statement of their own: a subscription being
/// created, paused or deleted for one of them either committed before (and the next statement's
/// snapshot sees it) or waits for this transaction (and then holds or releases these notices).
async fn active_accounts(
    conn: &mut PgConnection,
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
    locks::lock_accounts(conn, &accounts, AccountAccess::Share).await?;
    let active: Vec<String> = sqlx::query_scalar(
        "SELECT account_id FROM subscriptions WHERE is_active AND account_id = ANY($1)",
    )
    .bind(&accounts)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(active.into_iter().collect())
}

/// Erases the covered exposures and records what must never be exposed again.
async fn erase_and_suppress(
    conn: &mut PgConnection,
    opt_outs: &[NewOptOut],
) -> Result<(), StoreError> {
    let mut whole_contacts = Vec::new();
    let mut erased = (Vec::new(), Vec::new(), Vec::new());
    let mut suppressed: BTreeMap<(&str, String), String> = BTreeMap::new();
    for opt_out in opt_outs {
        let contact = opt_out.contact_id.as_str();
        let id = opt_out.id.to_string();
        match &opt_out.datapoints {
            None => {
                whole_contacts.push(contact);
                suppressed
                    .entry((contact, WHOLE_CONTACT.to_owned()))
                    .or_insert(id);
            }
            Some(chosen) => {
                for datapoint in chosen {
                    erased.0.push(contact);
                    erased.1.push(datapoint.kind.as_str());
                    erased.2.push(datapoint.value.as_str());
                    suppressed
                        .entry((contact, suppression_key(datapoint)))
                        .or_insert_with(|| id.clone());
                }
            }
        }
    }
    if !whole_contacts.is_empty() {
        sqlx::query("DELETE FROM exposures WHERE contact_id = ANY($1)")
            .bind(&whole_contacts)
            .execute(&mut *conn)
            .await
            .map_err(map_err)?;
    }
    if !erased.0.is_empty() {
        sqlx::query(
            "DELETE FROM exposures e
             USING UNNEST($1::text[], $2::text[], $3::text[]) AS d(contact, kind, value)
             WHERE e.contact_id = d.contact AND e.datapoint_type = d.kind
               AND e.datapoint_id = d.value",
        )
        .bind(&erased.0)
        .bind(&erased.1)
        .bind(&erased.2)
        .execute(&mut *conn)
        .await
        .map_err(map_err)?;
    }
    let mut contacts = Vec::with_capacity(suppressed.len());
    let mut keys = Vec::with_capacity(suppressed.len());
    let mut ids = Vec::with_capacity(suppressed.len());
    for ((contact, key), id) in suppressed {
        contacts.push(contact);
        keys.push(key);
        ids.push(id);
    }
    sqlx::query(
        "INSERT INTO suppressions (contact_id, datapoint_key, opt_out_id)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[])
         ON CONFLICT DO NOTHING",
    )
    .bind(&contacts)
    .bind(&keys)
    .bind(&ids)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    Ok(())
}
