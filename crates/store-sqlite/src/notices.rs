//! The queue: claiming due notices under a lease, recording attempt outcomes, holding and
//! releasing an account's notices as its subscription comes and goes.

use chrono::{DateTime, Utc};
use optout_core::time_format::{from_millis, to_millis};
use optout_core::{
    AccountId, AttemptOutcome, AttemptResult, AuditStatus, ClaimRequest, ClaimedNotice,
    NoticeDisposition, ObjectId,
};
use optout_store::StoreError;
use sqlx::SqliteConnection;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::error::map_err;
use optout_store::rows;

/// The block reason set when a notice exhausts its retries (spec C2).
pub(crate) const MAX_RETRIES_EXCEEDED: &str = "Max retries exceeded";
/// Most pages of the due index one claim reads (some 30,000 rows at most).
const MAX_CLAIM_SCANS: usize = 128;
/// Fewest rows of the due index read by a claim's first page, and by the first page after a
/// seek (see [`fresh_page_rows`]). Each page that needs no seek reads twice as many as the one
/// before, up to [`CLAIM_MAX_PAGE_ROWS`].
const CLAIM_FIRST_PAGE_ROWS: usize = 32;
/// Rows of the due index read at most at a time by a claim.
const CLAIM_MAX_PAGE_ROWS: usize = 256;
/// How many rows of one left-out account and instant a claim passes over, one after the other,
/// before it seeks past the rest of them.
const CLAIM_SKIP_ALLOWANCE: usize = 8;

pub(crate) async fn account_has_active_subscription(
    conn: &mut SqliteConnection,
    account_id: &str,
) -> Result<bool, StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM subscriptions WHERE account_id = ?1 AND is_active = 1")
            .bind(account_id)
            .fetch_optional(conn)
            .await
            .map_err(map_err)?;
    Ok(found.is_some())
}

/// Holds every queued notice of the account (its subscription is gone or inactive). A notice
/// under a lease is left to it: its attempt may be under way, and releasing it from `waiting`
/// would let it be claimed and delivered a second time. Its outcome, or the claim after its
/// lease ends, holds it if the account still has no subscription then.
pub(crate) async fn hold_account(
    conn: &mut SqliteConnection,
    account_id: &AccountId,
) -> Result<(), StoreError> {
    // `state <> 'delivered'` lets SQLite use the partial index `notices_by_account`.
    sqlx::query(
        "UPDATE notices SET state = 'waiting'
         WHERE account_id = ?1 AND state <> 'delivered' AND state = 'pending'
           AND lease_until IS NULL",
    )
    .bind(account_id.as_str())
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Most held notices released in one transaction. Releasing rewrites each notice's row and
/// index entries (some 8 µs each): a larger backlog is released a chunk per transaction, so that
/// the writer, and every write queued behind it, waits tens of milliseconds at a time rather
/// than seconds. With 1,000,000 held, chunks of 4,000 halved the longest opt-out request during
/// the release against chunks of 10,000 (91 against 208 ms, median of three runs each) and made
/// the release some 15 % longer.
pub(crate) const RELEASE_CHUNK: u64 = 4_000;

/// Releases up to `most` held notices of the account, provided it has an active subscription:
/// due at `now`, with a fresh set of attempts. Returns how many were released: fewer than `most`
/// means that none is left.
///
/// Called a chunk per transaction once the subscription's activation is committed (see
/// `SqliteStore::release_rest`). Should the subscription go away between two chunks, the rest
/// stay held, as they must. Should the process stop before the last chunk, [`release_interrupted`]
/// releases the rest when the store is opened again.
pub(crate) async fn release_account(
    conn: &mut SqliteConnection,
    account_id: &AccountId,
    now: DateTime<Utc>,
    most: u64,
) -> Result<u64, StoreError> {
    // `state <> 'delivered'` lets SQLite use the partial index `notices_by_account`.
    let released = sqlx::query(
        "UPDATE notices SET state = 'pending', attempts = 0, next_attempt_at = ?2
         WHERE rowid IN (SELECT rowid FROM notices
                         WHERE account_id = ?1 AND state <> 'delivered' AND state = 'waiting'
                         LIMIT ?3)
           AND EXISTS (SELECT 1 FROM subscriptions WHERE account_id = ?1 AND is_active = 1)",
    )
    .bind(account_id.as_str())
    .bind(to_millis(now))
    .bind(i64::try_from(most).unwrap_or(i64::MAX))
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(released.rows_affected())
}

/// Releases the notices still held for accounts whose subscription is active: those a release
/// in chunks left behind when the process stopped before its last chunk. Due at once (their
/// creation instant), with a fresh set of attempts. Returns how many were released.
pub(crate) async fn release_interrupted(
    executor: impl sqlx::SqliteExecutor<'_>,
) -> Result<u64, sqlx::Error> {
    let released = sqlx::query(
        "UPDATE notices SET state = 'pending', attempts = 0, next_attempt_at = created_at
         WHERE state <> 'delivered' AND state = 'waiting'
           AND account_id IN (SELECT account_id FROM subscriptions WHERE is_active = 1)",
    )
    .execute(executor)
    .await?;
    Ok(released.rows_affected())
}

/// A claimed row: id, account, body (none if its row is missing), attempts so far, new lease
/// token, creation instant.
type ClaimRow = (String, String, Option<Vec<u8>>, i64, i64, i64);

pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    request: &ClaimRequest,
) -> Result<Vec<ClaimedNotice>, StoreError> {
    let chosen = choose_due(conn, request).await?;
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let lease_until = to_millis(request.lease_until);
    // The claim moves next_attempt_at to the lease's end: if the worker dies, the notice simply
    // becomes due again then. The token is the fence for recording the outcome.
    let claimed: Vec<ClaimRow> = sqlx::query_as(
        "UPDATE notices
         SET next_attempt_at = ?2, lease_until = ?2, lease_token = lease_token + 1
         WHERE rowid IN (SELECT value FROM json_each(?1)) AND state = 'pending'
         RETURNING id, account_id,
                   (SELECT payload FROM notice_payloads WHERE notice_id = notices.id),
                   attempts, lease_token, created_at",
    )
    .bind(serde_json::to_string(&chosen).map_err(StoreError::backend)?)
    .bind(lease_until)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }

    let accounts = claimed.iter().map(|row| row.1.as_str()).collect();
    let (targets, unreadable) = delivery_targets(conn, accounts, request.now).await?;
    let mut notices = Vec::with_capacity(claimed.len());
    for (id, account, payload, attempts, lease_token, created_at) in claimed {
        if unreadable.contains(&account) {
            // Its lease is kept: it comes due again when the lease ends, and is delivered once
            // the row is fixed. Nothing else waits for it.
            continue;
        }
        let Some(target) = targets.get(&account) else {
            // No active subscription: hold it. This is how a notice that was under a lease when
            // its account's subscription went away is held (see `hold_account`).
            sqlx::query("UPDATE notices SET state = 'waiting', lease_until = NULL WHERE id = ?1")
                .bind(&id)
                .execute(&mut *conn)
                .await
                .map_err(map_err)?;
            continue;
        };
        let Some((notice_id, account_id)) = rows::claimed_notice_ids(&id, &account) else {
            continue;
        };
        let Some(payload) = payload else {
            // Never sent without its body: left under its lease, as an unreadable row is.
            tracing::error!(notice_id = %id, "the body of a queued notice is missing");
            continue;
        };
        notices.push(ClaimedNotice {
            notice_id,
            lease_token,
            account_id,
            subscription_id: target.subscription_id,
            url: target.url.clone(),
            secret: target.secret.clone(),
            previous_secret: target.previous_secret.clone(),
            payload: Arc::from(payload),
            attempt: u32::try_from(attempts).unwrap_or(u32::MAX - 1) + 1,
            created_at: from_millis(created_at),
        });
    }
    Ok(notices)
}

/// The rows to claim: due notices in due order, at most `per_account_limit` of any account and
/// at most `limit` in all, saturated accounts left out.
///
/// Read from the covering index `notices_due` (due instant, then account, then rowid) a page at a
/// time, pages growing while no seek is needed. Rows of an account left out (saturated, or at
/// its share in this claim) are passed over; after [`CLAIM_SKIP_ALLOWANCE`] of them in a row of
/// one instant and account, the next page starts past the rest of those in one seek. A backlog
/// released at one instant (a subscription resumed) sorts account by account, so a saturated
/// account's whole backlog costs a few rows and one seek instead of being read row by row, and a
/// claim still spreads over the other accounts. (A window function over the scan cost several
/// times more per claimed notice.)
async fn choose_due(
    conn: &mut SqliteConnection,
    request: &ClaimRequest,
) -> Result<Vec<i64>, StoreError> {
    let limit = request.limit as usize;
    let mut left_out: HashSet<String> = request
        .saturated_accounts
        .iter()
        .map(|account| account.as_str().to_owned())
        .collect();
    let mut taken: HashMap<String, u32> = HashMap::new();
    let mut chosen = Vec::with_capacity(limit);
    let mut from = ScanFrom::PastGroup(i64::MIN, String::new());
    let fresh_rows = fresh_page_rows(request.per_account_limit);
    let mut page_rows = fresh_rows;
    for _ in 0..MAX_CLAIM_SCANS {
        if chosen.len() == limit {
            break;
        }
        let page = due_rows(conn, request.now, &from, page_rows).await?;
        let read_all = page.len() < page_rows;
        // Rows passed over in a row, all of one instant and account.
        let mut run = 0;
        let mut seek = false;
        for (rowid, account, due) in page {
            if chosen.len() == limit {
                break;
            }
            if !left_out.contains(&account) {
                let count = taken.entry(account.clone()).or_insert(0);
                if *count < request.per_account_limit {
                    *count += 1;
                    chosen.push(rowid);
                    from = ScanFrom::AfterRow(due, account, rowid);
                    run = 0;
                    continue;
                }
                left_out.insert(account.clone());
            }
            let same_group =
                matches!(&from, ScanFrom::AfterRow(d, a, _) if *d == due && *a == account);
            run = if same_group { run + 1 } else { 1 };
            if run > CLAIM_SKIP_ALLOWANCE {
                from = ScanFrom::PastGroup(due, account);
                seek = true;
                break;
            }
            from = ScanFrom::AfterRow(due, account, rowid);
        }
        if read_all && !seek {
            break;
        }
        page_rows = if seek {
            fresh_rows
        } else {
            (page_rows * 2).min(CLAIM_MAX_PAGE_ROWS)
        };
    }
    Ok(chosen)
}

/// Rows read by a claim's first page, and by the first page after a seek: one account's share
/// of the claim and the run of rows passed over that ends it. Where one account's rows follow
/// each other (a backlog released at one instant), each page then takes an account's share and
/// seeks past the rest of its rows: a page per account, where pages of a fixed size took two
/// or three (each page is a statement, a round trip to SQLite's thread). Where the next rows
/// are mostly passed over, the page is small enough to cost little.
fn fresh_page_rows(per_account_limit: u32) -> usize {
    usize::try_from(per_account_limit)
        .unwrap_or(usize::MAX)
        .saturating_add(CLAIM_SKIP_ALLOWANCE + 1)
        .clamp(CLAIM_FIRST_PAGE_ROWS, CLAIM_MAX_PAGE_ROWS)
}

/// Where a page of the due index starts.
enum ScanFrom {
    /// Just after this row (due instant, account, rowid).
    AfterRow(i64, String, i64),
    /// Past every row of this due instant and account.
    PastGroup(i64, String),
}

/// A page of up to `limit` due rows (rowid, account, due instant) in the order of `notices_due`.
///
/// SQLite does not seek on a row-value comparison such as `(next_attempt_at, account_id) > (?, ?)`:
/// it starts at the first row of that instant and account and steps over the rest of them. So
/// the page is the union of ranges that each start with a seek: the rest of the row's own
/// instant and account (after a row), later accounts of the same instant, then later instants.
/// Each range is read in the index's order, which puts rows of one instant and account in rowid
/// order (naming `rowid` in its `ORDER BY` would make SQLite sort each such group instead).
async fn due_rows(
    conn: &mut SqliteConnection,
    now: DateTime<Utc>,
    from: &ScanFrom,
    limit: usize,
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    const ROWS: &str = "SELECT rowid AS row_id, account_id, next_attempt_at FROM notices
                        WHERE state = 'pending' AND";
    let (due, account, rowid) = match from {
        ScanFrom::AfterRow(due, account, rowid) => (*due, account, Some(*rowid)),
        ScanFrom::PastGroup(due, account) => (*due, account, None),
    };
    let mut ranges = Vec::with_capacity(3);
    if rowid.is_some() {
        ranges.push(format!(
            "SELECT * FROM ({ROWS} next_attempt_at = ?2 AND account_id = ?3 AND rowid > ?4
                            ORDER BY rowid LIMIT ?5)"
        ));
    }
    ranges.push(format!(
        "SELECT * FROM ({ROWS} next_attempt_at = ?2 AND account_id > ?3
                        ORDER BY account_id LIMIT ?5)"
    ));
    ranges.push(format!(
        "SELECT * FROM ({ROWS} next_attempt_at > ?2 AND next_attempt_at <= ?1
                        ORDER BY next_attempt_at, account_id LIMIT ?5)"
    ));
    let sql = format!(
        "{} ORDER BY next_attempt_at, account_id, row_id LIMIT ?5",
        ranges.join(" UNION ALL ")
    );
    sqlx::query_as(&sql)
        .bind(to_millis(now))
        .bind(due)
        .bind(account.as_str())
        .bind(rowid)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(conn)
        .await
        .map_err(map_err)
}

/// The active subscription and secrets as of `now` of each of `accounts` that has one, and
/// those whose subscription row cannot be read.
pub(crate) async fn delivery_targets(
    conn: &mut SqliteConnection,
    mut accounts: Vec<&str>,
    now: DateTime<Utc>,
) -> Result<(HashMap<String, rows::DeliveryTarget>, HashSet<String>), StoreError> {
    accounts.sort_unstable();
    accounts.dedup();
    let accounts = serde_json::to_string(&accounts).map_err(StoreError::backend)?;
    let target_rows: Vec<rows::DeliveryTargetRow> = sqlx::query_as(
        "SELECT s.account_id, s.id, s.url, k.secret,
                CASE WHEN k.previous_valid_until > ?2 THEN k.previous_secret END
         FROM subscriptions s JOIN account_secrets k ON k.account_id = s.account_id
         WHERE s.is_active = 1 AND s.account_id IN (SELECT value FROM json_each(?1))",
    )
    .bind(accounts)
    .bind(to_millis(now))
    .fetch_all(conn)
    .await
    .map_err(map_err)?;
    Ok(rows::delivery_targets(target_rows))
}

pub(crate) async fn record_attempts(
    conn: &mut SqliteConnection,
    outcomes: &[AttemptOutcome],
) -> Result<usize, StoreError> {
    let mut recorded: HashSet<String> = HashSet::with_capacity(outcomes.len());
    for chunk in crate::values::chunks(outcomes) {
        let sql = format!(
            "WITH o (id, token, delivered, attempt, next, status, error, finished) AS ({})
             UPDATE notices
             SET state = CASE WHEN o.delivered THEN 'delivered' ELSE notices.state END,
                 attempts = o.attempt,
                 next_attempt_at = o.next,
                 lease_until = NULL,
                 -- The outcome ends the lease: the same outcome recorded twice changes nothing.
                 lease_token = notices.lease_token + 1,
                 last_status_code = o.status,
                 last_error = o.error,
                 delivered_at = CASE WHEN o.delivered THEN o.finished
                                     ELSE notices.delivered_at END
             FROM o
             WHERE notices.id = o.id AND notices.lease_token = o.token
               AND notices.state <> 'delivered'
             RETURNING notices.id",
            crate::values::values_clause(8, chunk.len())
        );
        let mut update = sqlx::query_scalar::<_, String>(&sql);
        for outcome in chunk {
            let finished_at = finished_at(outcome);
            let (status_code, error) = result_parts(&outcome.result);
            let next_attempt_at = match outcome.disposition {
                NoticeDisposition::RetryAt(at) => at,
                NoticeDisposition::Delivered | NoticeDisposition::Exhausted => finished_at,
            };
            update = update
                .bind(outcome.notice_id.to_string())
                .bind(outcome.lease_token)
                .bind(outcome.disposition == NoticeDisposition::Delivered)
                .bind(i64::from(outcome.attempt))
                .bind(to_millis(next_attempt_at))
                .bind(status_code.map(i64::from))
                .bind(error)
                .bind(to_millis(finished_at));
        }
        recorded.extend(update.fetch_all(&mut *conn).await.map_err(map_err)?);
    }
    let mut audit_rows = Vec::with_capacity(recorded.len());
    for outcome in outcomes {
        let notice_id = outcome.notice_id.to_string();
        if !recorded.contains(&notice_id) {
            tracing::warn!(notice_id = %notice_id, "stale lease: attempt outcome ignored");
            continue;
        }
        if outcome.disposition == NoticeDisposition::Exhausted {
            disable_subscription(conn, outcome).await?;
        }
        audit_rows.push(audit_row(outcome, notice_id));
    }
    crate::audit::insert_many(conn, audit_rows).await?;
    Ok(recorded.len())
}

fn finished_at(outcome: &AttemptOutcome) -> DateTime<Utc> {
    outcome.started_at
        + chrono::Duration::milliseconds(i64::try_from(outcome.duration_ms).unwrap_or(i64::MAX))
}

fn result_parts(result: &AttemptResult) -> (Option<u16>, Option<&str>) {
    match result {
        AttemptResult::Delivered { status_code } => (Some(*status_code), None),
        AttemptResult::Failed { status_code, error } => (*status_code, Some(error.as_str())),
    }
}

/// The audit row of a recorded outcome.
fn audit_row(outcome: &AttemptOutcome, notice_id: String) -> crate::audit::AuditRow {
    let (status_code, error) = result_parts(&outcome.result);
    crate::audit::AuditRow {
        id: ObjectId::generate(outcome.started_at),
        account_id: outcome.account_id.clone(),
        subscription_id: outcome.subscription_id,
        notice_id,
        status: match outcome.disposition {
            NoticeDisposition::Delivered => AuditStatus::Success,
            NoticeDisposition::RetryAt(_) => AuditStatus::Failed,
            NoticeDisposition::Exhausted => AuditStatus::PermanentFailure,
        },
        status_code,
        url: outcome.url.as_str().to_owned(),
        attempted_at: outcome.started_at,
        duration_ms: outcome.duration_ms,
        error: error.map(str::to_owned),
    }
}

/// Disables the subscription after exhausted retries and holds all of the account's notices.
async fn disable_subscription(
    conn: &mut SqliteConnection,
    outcome: &AttemptOutcome,
) -> Result<(), StoreError> {
    let at = finished_at(outcome);
    sqlx::query(
        "UPDATE subscriptions
         SET is_active = 0, block_reason = ?3, blocked_at = ?4, updated_at = ?4
         WHERE id = ?1 AND account_id = ?2 AND is_active = 1",
    )
    .bind(outcome.subscription_id.to_string())
    .bind(outcome.account_id.as_str())
    .bind(MAX_RETRIES_EXCEEDED)
    .bind(to_millis(at))
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    if !account_has_active_subscription(conn, outcome.account_id.as_str()).await? {
        hold_account(conn, &outcome.account_id).await?;
    }
    tracing::warn!(
        subscription_id = %outcome.subscription_id,
        notice_id = %outcome.notice_id,
        "retries exhausted: subscription disabled, its notices wait for reactivation"
    );
    Ok(())
}

pub(crate) async fn next_due_at(
    pool: &sqlx::SqlitePool,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let next: Option<i64> =
        sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM notices WHERE state = 'pending'")
            .fetch_one(pool)
            .await
            .map_err(map_err)?;
    Ok(next.map(optout_core::time_format::from_millis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;
    use optout_core::{SubscriptionChanges, SubscriptionId};
    use optout_store::Store;
    use optout_store_conformance::setup::{
        at, claim, email, expose, opt_out, record_opt_outs, subscribed_account,
    };
    use std::path::Path;

    /// An account with a subscription and `count` notices held while it was paused.
    async fn paused_with_held_notices(
        store: &SqliteStore,
        count: usize,
    ) -> (AccountId, SubscriptionId) {
        let subscribed = subscribed_account(store).await;
        let (account, id) = (subscribed.account, subscribed.subscription.id);
        set_active(store, &account, id, false, 1).await;
        let contacts: Vec<String> = (0..count).map(|n| format!("c{n}")).collect();
        for contact in &contacts {
            expose(store, &account, contact, vec![email("a@x.io")]).await;
        }
        let opt_outs = contacts.iter().map(|c| opt_out(c, None)).collect();
        record_opt_outs(store, opt_outs, at(2)).await;
        assert_eq!(held(store).await, count as i64);
        (account, id)
    }

    async fn set_active(
        store: &SqliteStore,
        account: &AccountId,
        id: SubscriptionId,
        active: bool,
        seconds: i64,
    ) {
        let changes = SubscriptionChanges {
            url: None,
            name: None,
            is_active: Some(active),
            new_secret: None,
            updated_at: at(seconds),
        };
        store
            .update_subscription(account, id, changes)
            .await
            .unwrap()
            .expect("the subscription exists");
    }

    async fn held(store: &SqliteStore) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM notices WHERE state = 'waiting'")
            .fetch_one(&store.reader)
            .await
            .unwrap()
    }

    async fn open(path: &Path) -> SqliteStore {
        SqliteStore::open(path).await.unwrap()
    }

    #[tokio::test]
    async fn a_backlog_of_several_chunks_is_released_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir.path().join("relay.db")).await;
        store.release_chunk = 2;
        let (account, id) = paused_with_held_notices(&store, 5).await;

        set_active(&store, &account, id, true, 3).await;
        assert_eq!(held(&store).await, 0);
        assert_eq!(claim(&store, at(3)).await.len(), 5);
    }

    #[tokio::test]
    async fn a_chunk_releases_nothing_while_the_subscription_is_inactive() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir.path().join("relay.db")).await;
        let (account, _) = paused_with_held_notices(&store, 3).await;

        let mut conn = store.writer.acquire().await.unwrap();
        let released = release_account(&mut conn, &account, at(3), 10)
            .await
            .unwrap();
        assert_eq!(released, 0);
        drop(conn);
        assert_eq!(held(&store).await, 3);
    }

    /// The process stopped after the subscription became active, before its notices were all
    /// released: opening the store again releases them.
    #[tokio::test]
    async fn a_release_cut_short_is_finished_when_the_store_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        let store = open(&path).await;
        let (_, id) = paused_with_held_notices(&store, 3).await;
        // Held notices of another account without a subscription stay held.
        let other = optout_store_conformance::setup::account(&store).await;
        expose(&store, &other, "d0", vec![email("b@x.io")]).await;
        record_opt_outs(&store, vec![opt_out("d0", None)], at(2)).await;
        sqlx::query("UPDATE subscriptions SET is_active = 1 WHERE id = ?1")
            .bind(id.to_string())
            .execute(&store.writer)
            .await
            .unwrap();
        store.close().await;

        let reopened = open(&path).await;
        assert_eq!(held(&reopened).await, 1);
        assert_eq!(claim(&reopened, at(3)).await.len(), 3);
    }
}
