//! The exposure ledger and the suppression check at intake.

use optout_core::{ExposureIntake, NewExposure};
use optout_store::plan::{plan_exposures, ExposureKey};
use optout_store::StoreError;
use sqlx::PgConnection;
use std::collections::{BTreeMap, HashSet};

use crate::error::map_err;
use crate::locks::{self, ContactAccess};

pub(crate) async fn record(
    conn: &mut PgConnection,
    items: &[NewExposure],
) -> Result<ExposureIntake, StoreError> {
    // A fixed number of statements per call, whatever its size: a million-row import would
    // otherwise pay one round trip per datapoint.
    let mut contacts: Vec<&str> = items.iter().map(|item| item.contact_id.as_str()).collect();
    contacts.sort_unstable();
    contacts.dedup();
    // Shared: intakes run together, but not while an opt-out of one of these contacts is
    // between reading the ledger and recording its suppression.
    locks::lock_contacts(conn, contacts.iter().copied(), ContactAccess::Shared).await?;
    let known = known_accounts(conn, items).await?;
    let suppressed = suppressions(conn, &contacts).await?;
    let plan = plan_exposures(items, &known, &suppressed);
    let inserted = upsert_keeping_earliest(conn, &plan.candidates).await?;
    Ok(plan.finish(inserted))
}

async fn known_accounts(
    conn: &mut PgConnection,
    items: &[NewExposure],
) -> Result<HashSet<String>, StoreError> {
    let mut accounts: Vec<&str> = items.iter().map(|item| item.account_id.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let known: Vec<String> = sqlx::query_scalar("SELECT id FROM accounts WHERE id = ANY($1)")
        .bind(&accounts)
        .fetch_all(conn)
        .await
        .map_err(map_err)?;
    Ok(known.into_iter().collect())
}

async fn suppressions(
    conn: &mut PgConnection,
    contacts: &[&str],
) -> Result<HashSet<(String, String)>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT contact_id, datapoint_key FROM suppressions WHERE contact_id = ANY($1)",
    )
    .bind(contacts)
    .fetch_all(conn)
    .await
    .map_err(map_err)?;
    Ok(rows.into_iter().collect())
}

/// Inserts new exposures and, for known ones, keeps the earliest date (and that exposure's
/// partner id when it has one). Returns how many were new.
async fn upsert_keeping_earliest(
    conn: &mut PgConnection,
    candidates: &BTreeMap<ExposureKey, (i64, Option<&str>)>,
) -> Result<u64, StoreError> {
    if candidates.is_empty() {
        return Ok(0);
    }
    let size = candidates.len();
    let mut contacts = Vec::with_capacity(size);
    let mut accounts = Vec::with_capacity(size);
    let mut kinds = Vec::with_capacity(size);
    let mut values = Vec::with_capacity(size);
    let mut dates = Vec::with_capacity(size);
    let mut partners = Vec::with_capacity(size);
    for ((contact, account, kind, value), (exposed_at, partner)) in candidates {
        contacts.push(contact.clone());
        accounts.push(account.clone());
        kinds.push(*kind);
        values.push(value.clone());
        dates.push(*exposed_at);
        partners.push(partner.map(str::to_owned));
    }
    // A known row is rewritten only when the new exposure changes it. `xmax = 0` marks the rows
    // this statement inserted (an updated row carries the updating transaction's id).
    let inserted: Vec<bool> = sqlx::query_scalar(
        "INSERT INTO exposures AS e
             (contact_id, account_id, datapoint_type, datapoint_id, exposed_at, partner_client_id)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[],
                              $6::text[])
         ON CONFLICT (contact_id, account_id, datapoint_type, datapoint_id) DO UPDATE
         SET partner_client_id = CASE WHEN excluded.exposed_at < e.exposed_at
                                      THEN COALESCE(excluded.partner_client_id, e.partner_client_id)
                                      ELSE COALESCE(e.partner_client_id, excluded.partner_client_id)
                                 END,
             exposed_at = LEAST(e.exposed_at, excluded.exposed_at)
         WHERE excluded.exposed_at < e.exposed_at
            OR (e.partner_client_id IS NULL AND excluded.partner_client_id IS NOT NULL)
         RETURNING e.xmax = 0",
    )
    .bind(contacts)
    .bind(accounts)
    .bind(kinds)
    .bind(values)
    .bind(dates)
    .bind(partners)
    .fetch_all(conn)
    .await
    .map_err(map_err)?;
    Ok(inserted.into_iter().filter(|&fresh| fresh).count() as u64)
}
