//! Recording opt-outs: fan-out into notices, erasure of exposures, suppression entries.

use chrono::{DateTime, Utc};
use optout_core::time_format::{from_millis, to_millis};
use optout_core::{
    notice_payload, ClaimedNotice, Datapoint, DatapointKind, HeldExposure, Idempotency,
    IntakeClaim, IntakeClaimed, NewOptOut, NoticeId, OptOutBatch, OptOutId, OptOutRecorded,
};
use optout_store::{rows, StoreError};
use sqlx::SqliteConnection;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::error::map_err;
use optout_store::plan::{suppression_key, take_covered, LedgerRow, WHOLE_CONTACT};

/// The lease token of a notice claimed as it is recorded: the first claim's, as the queue's
/// claim turns the initial 0 into 1.
const FIRST_LEASE_TOKEN: i64 = 1;

/// Records `batch`; with `claim`, also claims up to its limit of the fresh due notices (see
/// `Store::record_opt_outs_claiming`).
pub(crate) async fn record_batch(
    conn: &mut SqliteConnection,
    batch: OptOutBatch,
    claim: Option<IntakeClaim>,
) -> Result<IntakeClaimed, StoreError> {
    if let Some(idempotency) = &batch.idempotency {
        if let Some(previous) = replay(conn, idempotency).await? {
            return Ok(IntakeClaimed {
                recorded: previous,
                claimed: Vec::new(),
            });
        }
    }
    // A few statements per batch (per chunk of rows for the notices), never one per opt-out:
    // each statement is a round trip to SQLite's thread.
    let mut ledger = load_exposures(conn, &batch.opt_outs).await?;
    let claim = claim.filter(|claim| claim.limit > 0);
    let (active, mut claiming) = match claim {
        None => (active_accounts(conn, &ledger).await?, None),
        Some(claim) => {
            let targets = delivery_targets(conn, &ledger, batch.recorded_at).await?;
            (targets.active(), Some(Claiming::new(claim, targets)))
        }
    };
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
            let notice_id = NoticeId::generate(batch.recorded_at);
            let payload: Arc<[u8]> = Arc::from(payload);
            let active = active.contains(&account);
            let lease_until = match claiming.as_mut() {
                Some(claiming) if active => {
                    claiming.take(notice_id, &account, &payload, batch.recorded_at)
                }
                _ => None,
            };
            notice_rows.push(NoticeRow {
                id: notice_id.to_string(),
                opt_out_id: opt_out.id.to_string(),
                account,
                payload,
                state: if active { "pending" } else { "waiting" },
                lease_until,
            });
            notices += 1;
        }
        opt_out_rows.push(OptOutRow {
            id: opt_out.id.to_string(),
            contact_id: opt_out.contact_id.as_str(),
            opted_out_at: to_millis(opt_out.opted_out_at),
            notices,
        });
        results.push(OptOutRecorded {
            opt_out_id: opt_out.id,
            notices,
        });
    }
    let recorded_at = to_millis(batch.recorded_at);
    insert_opt_outs(conn, &opt_out_rows, recorded_at).await?;
    insert_notices(conn, &notice_rows, recorded_at).await?;
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
    Ok(IntakeClaimed {
        recorded: results,
        claimed: claiming
            .map(|claiming| claiming.claimed)
            .unwrap_or_default(),
    })
}

/// A new opt-out's row.
struct OptOutRow<'a> {
    id: String,
    contact_id: &'a str,
    opted_out_at: i64,
    notices: u64,
}

/// Inserts the new opt-outs, recorded at `recorded_at`.
async fn insert_opt_outs(
    conn: &mut SqliteConnection,
    rows: &[OptOutRow<'_>],
    recorded_at: i64,
) -> Result<(), StoreError> {
    for chunk in crate::values::chunks(rows) {
        let sql = format!(
            "INSERT INTO opt_outs (id, contact_id, opted_out_at, recorded_at, notices) {}",
            crate::values::values_clause(5, chunk.len())
        );
        let mut insert = sqlx::query(&sql);
        for row in chunk {
            insert = insert
                .bind(row.id.as_str())
                .bind(row.contact_id)
                .bind(row.opted_out_at)
                .bind(recorded_at)
                .bind(i64::try_from(row.notices).unwrap_or(i64::MAX));
        }
        insert.execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(())
}

/// A new notice's row.
struct NoticeRow {
    id: String,
    opt_out_id: String,
    account: String,
    payload: Arc<[u8]>,
    state: &'static str,
    /// Set when the intake claimed it.
    lease_until: Option<i64>,
}

/// Inserts the new notices, queued (or held) from `recorded_at`, and their bodies. A notice
/// claimed here is leased as a claim leases it: due again when the lease ends, with the claim's
/// first token.
async fn insert_notices(
    conn: &mut SqliteConnection,
    rows: &[NoticeRow],
    recorded_at: i64,
) -> Result<(), StoreError> {
    for chunk in crate::values::chunks(rows) {
        let sql = format!(
            "INSERT INTO notices (id, opt_out_id, account_id, state, next_attempt_at,
                                  lease_until, lease_token, created_at) {}",
            crate::values::values_clause(8, chunk.len())
        );
        let mut insert = sqlx::query(&sql);
        for row in chunk {
            insert = insert
                .bind(row.id.as_str())
                .bind(row.opt_out_id.as_str())
                .bind(row.account.as_str())
                .bind(row.state)
                .bind(row.lease_until.unwrap_or(recorded_at))
                .bind(row.lease_until)
                .bind(if row.lease_until.is_some() {
                    FIRST_LEASE_TOKEN
                } else {
                    0
                })
                .bind(recorded_at);
        }
        insert.execute(&mut *conn).await.map_err(map_err)?;
        let sql = format!(
            "INSERT INTO notice_payloads (notice_id, payload) {}",
            crate::values::values_clause(2, chunk.len())
        );
        let mut insert = sqlx::query(&sql);
        for row in chunk {
            insert = insert.bind(row.id.as_str()).bind(&*row.payload);
        }
        insert.execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(())
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

/// The delivery targets of the accounts among the ledger rows (those with an active
/// subscription), as of `now`.
async fn delivery_targets(
    conn: &mut SqliteConnection,
    ledger: &HashMap<String, Vec<LedgerRow>>,
    now: DateTime<Utc>,
) -> Result<Targets, StoreError> {
    let accounts: Vec<&str> = ledger
        .values()
        .flatten()
        .map(|(account, _)| account.as_str())
        .collect();
    let (targets, unreadable) = crate::notices::delivery_targets(conn, accounts, now).await?;
    Ok(Targets {
        targets,
        unreadable,
    })
}

/// The subscribed accounts of an intake: readable ones by id, and those whose subscription row
/// cannot be read (subscribed, but their notices are left for the queue).
struct Targets {
    targets: HashMap<String, rows::DeliveryTarget>,
    unreadable: HashSet<String>,
}

impl Targets {
    fn active(&self) -> HashSet<String> {
        self.targets
            .keys()
            .chain(&self.unreadable)
            .cloned()
            .collect()
    }
}

/// The notices an intake claims, up to the claim's limits.
struct Claiming {
    claim: IntakeClaim,
    targets: Targets,
    per_account: HashMap<String, u32>,
    claimed: Vec<ClaimedNotice>,
}

impl Claiming {
    fn new(claim: IntakeClaim, targets: Targets) -> Self {
        let per_account = claim
            .saturated_accounts
            .iter()
            .map(|account| (account.as_str().to_owned(), claim.per_account_limit))
            .collect();
        Self {
            claim,
            targets,
            per_account,
            claimed: Vec::new(),
        }
    }

    /// Claims the new due notice if the limits allow and its account's target is readable;
    /// returns the lease's end in the stored form, for its row.
    fn take(
        &mut self,
        notice_id: NoticeId,
        account: &str,
        payload: &Arc<[u8]>,
        created_at: DateTime<Utc>,
    ) -> Option<i64> {
        // An account with a subscription row that cannot be read is left to the queue's
        // claim, which holds its notices until the row is fixed.
        if self.claimed.len() >= self.claim.limit as usize
            || self.targets.unreadable.contains(account)
        {
            return None;
        }
        // A saturated account starts at the limit.
        let taken = self.per_account.entry(account.to_owned()).or_insert(0);
        if *taken >= self.claim.per_account_limit {
            return None;
        }
        let target = self.targets.targets.get(account)?;
        let (_, account_id) = rows::claimed_notice_ids(&notice_id.to_string(), account)?;
        *taken += 1;
        self.claimed.push(ClaimedNotice {
            notice_id,
            lease_token: FIRST_LEASE_TOKEN,
            account_id,
            subscription_id: target.subscription_id,
            url: target.url.clone(),
            secret: target.secret.clone(),
            previous_secret: target.previous_secret.clone(),
            payload: Arc::clone(payload),
            attempt: 1,
            created_at,
        });
        Some(to_millis(self.claim.lease_until))
    }
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
    let mut datapoints: Vec<(&str, &Datapoint)> = Vec::new();
    let mut suppressions: Vec<(&str, String, String)> = Vec::new();
    for opt_out in opt_outs {
        let contact = opt_out.contact_id.as_str();
        let id = opt_out.id.to_string();
        match &opt_out.datapoints {
            None => {
                whole_contacts.push(contact);
                suppressions.push((contact, WHOLE_CONTACT.to_owned(), id));
            }
            Some(chosen) => {
                for datapoint in chosen {
                    datapoints.push((contact, datapoint));
                    suppressions.push((contact, suppression_key(datapoint), id.clone()));
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
    for chunk in crate::values::chunks(&datapoints) {
        let sql = format!(
            "DELETE FROM exposures
             WHERE (contact_id, datapoint_type, datapoint_id) IN ({})",
            crate::values::values_clause(3, chunk.len())
        );
        let mut delete = sqlx::query(&sql);
        for (contact, datapoint) in chunk {
            delete = delete
                .bind(*contact)
                .bind(datapoint.kind.as_str())
                .bind(datapoint.value.as_str());
        }
        delete.execute(&mut *conn).await.map_err(map_err)?;
    }
    for chunk in crate::values::chunks(&suppressions) {
        let sql = format!(
            "INSERT INTO suppressions (contact_id, datapoint_key, opt_out_id) {}
             ON CONFLICT DO NOTHING",
            crate::values::values_clause(3, chunk.len())
        );
        let mut insert = sqlx::query(&sql);
        for (contact, key, opt_out_id) in chunk {
            insert = insert
                .bind(*contact)
                .bind(key.as_str())
                .bind(opt_out_id.as_str());
        }
        insert.execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(())
}

fn serde_json_array(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}

fn parse_json_array(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("opt-out id list {text:?}")))
}
