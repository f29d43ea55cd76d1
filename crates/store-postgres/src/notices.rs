//! The queue: claiming due notices under a lease, recording attempt outcomes, holding and
//! releasing an account's notices as its subscription comes and goes.

use chrono::{DateTime, Utc};
use optout_core::time_format::{from_millis, to_millis};
use optout_core::{
    AccountId, AttemptOutcome, AttemptResult, AuditStatus, ClaimRequest, ClaimedNotice,
    NoticeDisposition, ObjectId,
};
use optout_store::StoreError;
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::error::map_err;
use crate::locks::{self, AccountAccess};
use optout_store::rows;

/// The block reason set when a notice exhausts its retries (spec C2).
pub(crate) const MAX_RETRIES_EXCEEDED: &str = "Max retries exceeded";
/// How many due rows a claim looks at per notice it may take, so that capping each account's
/// share still fills the batch when a few accounts dominate the queue.
const CLAIM_SCAN_FACTOR: u32 = 4;

/// Holds every queued notice of the accounts (their subscription is gone or inactive). The
/// caller holds the accounts' row locks. A notice under a lease is left to it: its attempt may
/// be under way, and releasing it from `waiting` would let it be claimed and delivered a second
/// time. Its outcome, or the claim after its lease ends, holds it if the account still has no
/// subscription then.
pub(crate) async fn hold_accounts(
    conn: &mut PgConnection,
    accounts: &[&str],
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE notices SET state = 'waiting'
         WHERE account_id = ANY($1) AND state = 'pending' AND lease_until IS NULL",
    )
    .bind(accounts)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// Releases every held notice of the account: due now, with a fresh set of attempts. The caller
/// holds the account's row lock. Returns how many were released.
pub(crate) async fn release_account(
    conn: &mut PgConnection,
    account_id: &AccountId,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE notices SET state = 'pending', attempts = 0, next_attempt_at = $2
         WHERE account_id = $1 AND state = 'waiting'",
    )
    .bind(account_id.as_str())
    .bind(to_millis(now))
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(done.rows_affected())
}

/// A claimed row: id, account, payload, attempts so far, new lease token, due time before the
/// claim, creation instant.
type ClaimRow = (String, String, Vec<u8>, i32, i64, i64, i64);

pub(crate) async fn claim(
    conn: &mut PgConnection,
    request: &ClaimRequest,
) -> Result<Vec<ClaimedNotice>, StoreError> {
    let saturated: Vec<&str> = request
        .saturated_accounts
        .iter()
        .map(AccountId::as_str)
        .collect();
    let lease_until = to_millis(request.lease_until);
    // Each CTE is MATERIALIZED so it runs exactly once: a `FOR UPDATE SKIP LOCKED ... LIMIT`
    // subquery the planner is free to re-run (as in `WHERE id IN (...)`) can lock a different
    // set each time and claim more than the limit. Candidates locked but not chosen (over an
    // account's share) are released at commit, a few milliseconds later.
    // The claim moves next_attempt_at to the lease's end: if the worker dies, the notice simply
    // becomes due again then. The token is the fence for recording the outcome.
    let mut claimed: Vec<ClaimRow> = sqlx::query_as(
        "WITH candidates AS MATERIALIZED (
             SELECT id, account_id, next_attempt_at FROM notices
             WHERE state = 'pending' AND next_attempt_at <= $1
               AND account_id <> ALL($2::text[])
             ORDER BY next_attempt_at
             LIMIT $3
             FOR UPDATE SKIP LOCKED
         ),
         chosen AS MATERIALIZED (
             SELECT id, next_attempt_at FROM (
                 SELECT id, next_attempt_at,
                        ROW_NUMBER() OVER (PARTITION BY account_id
                                           ORDER BY next_attempt_at, id) AS account_rank
                 FROM candidates
             ) AS ranked
             WHERE account_rank <= $5
             ORDER BY next_attempt_at, id
             LIMIT $6
         )
         UPDATE notices AS n
         SET next_attempt_at = $4, lease_until = $4, lease_token = n.lease_token + 1
         FROM chosen
         WHERE n.id = chosen.id
         RETURNING n.id, n.account_id, n.payload, n.attempts, n.lease_token,
                   chosen.next_attempt_at, n.created_at",
    )
    .bind(to_millis(request.now))
    .bind(&saturated)
    .bind(i64::from(request.limit.saturating_mul(CLAIM_SCAN_FACTOR)))
    .bind(lease_until)
    .bind(i64::from(request.per_account_limit))
    .bind(i64::from(request.limit))
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    if claimed.is_empty() {
        return Ok(Vec::new());
    }
    // Oldest due first, as they were chosen.
    claimed.sort_by(|a, b| (a.5, &a.0).cmp(&(b.5, &b.0)));

    let (targets, unreadable) = delivery_targets(conn, &claimed, request.now).await?;
    let mut notices = Vec::with_capacity(claimed.len());
    let mut orphans = Vec::new();
    for (id, account, payload, attempts, lease_token, _, created_at) in claimed {
        if unreadable.contains(&account) {
            // Its lease is kept: it comes due again when the lease ends, and is delivered once
            // the row is fixed. Nothing else waits for it.
            continue;
        }
        let Some(target) = targets.get(&account) else {
            orphans.push(id);
            continue;
        };
        let Some((notice_id, account_id)) = rows::claimed_notice_ids(&id, &account) else {
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
    if !orphans.is_empty() {
        hold_orphans(conn, &orphans).await?;
    }
    Ok(notices)
}

/// Holds claimed notices whose account had no active subscription: this is how a notice that
/// was under a lease when its account's subscription went away is held (see `hold_accounts`).
/// One whose account has an active subscription by now keeps its lease and comes due again
/// when the lease ends.
async fn hold_orphans(conn: &mut PgConnection, ids: &[String]) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE notices SET state = 'waiting', lease_until = NULL
         WHERE id = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM subscriptions s
                           WHERE s.account_id = notices.account_id AND s.is_active)",
    )
    .bind(ids)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

/// The active subscription and secrets of every account among the claimed notices.
async fn delivery_targets(
    conn: &mut PgConnection,
    claimed: &[ClaimRow],
    now: DateTime<Utc>,
) -> Result<(HashMap<String, rows::DeliveryTarget>, HashSet<String>), StoreError> {
    let mut accounts: Vec<&str> = claimed.iter().map(|row| row.1.as_str()).collect();
    accounts.sort_unstable();
    accounts.dedup();
    let target_rows: Vec<rows::DeliveryTargetRow> = sqlx::query_as(
        "SELECT s.account_id, s.id, s.url, k.secret,
                CASE WHEN k.previous_valid_until > $2 THEN k.previous_secret END
         FROM subscriptions s JOIN account_secrets k ON k.account_id = s.account_id
         WHERE s.is_active AND s.account_id = ANY($1)",
    )
    .bind(&accounts)
    .bind(to_millis(now))
    .fetch_all(conn)
    .await
    .map_err(map_err)?;
    Ok(rows::delivery_targets(target_rows))
}

/// The outcomes of a batch, column by column, for one UPDATE.
#[derive(Debug, Default)]
struct OutcomeColumns {
    ids: Vec<String>,
    tokens: Vec<i64>,
    delivered: Vec<bool>,
    attempts: Vec<i32>,
    next: Vec<i64>,
    status_codes: Vec<Option<i32>>,
    errors: Vec<Option<String>>,
    finished: Vec<i64>,
}

pub(crate) async fn record_attempts(
    conn: &mut PgConnection,
    outcomes: &[AttemptOutcome],
) -> Result<usize, StoreError> {
    // Exhaustion disables a subscription and holds the account's notices: it locks the accounts
    // before any notice row, in the order every use case follows.
    let mut exhausted_accounts: Vec<&str> = outcomes
        .iter()
        .filter(|outcome| outcome.disposition == NoticeDisposition::Exhausted)
        .map(|outcome| outcome.account_id.as_str())
        .collect();
    exhausted_accounts.sort_unstable();
    exhausted_accounts.dedup();
    locks::lock_accounts(conn, &exhausted_accounts, AccountAccess::Change).await?;

    // One UPDATE for the whole batch: a batch may hold a thousand outcomes. In notice id order,
    // so two batches that share a notice (a stale lease's outcome) lock rows in the same order.
    let mut by_notice: Vec<&AttemptOutcome> = outcomes.iter().collect();
    by_notice.sort_by_key(|outcome| outcome.notice_id);
    let mut columns = OutcomeColumns::default();
    for outcome in by_notice {
        let finished_at = finished_at(outcome);
        let (status_code, error) = result_parts(&outcome.result);
        let next_attempt_at = match outcome.disposition {
            NoticeDisposition::RetryAt(at) => at,
            NoticeDisposition::Delivered | NoticeDisposition::Exhausted => finished_at,
        };
        columns.ids.push(outcome.notice_id.to_string());
        columns.tokens.push(outcome.lease_token);
        columns
            .delivered
            .push(outcome.disposition == NoticeDisposition::Delivered);
        columns
            .attempts
            .push(i32::try_from(outcome.attempt).unwrap_or(i32::MAX));
        columns.next.push(to_millis(next_attempt_at));
        columns.status_codes.push(status_code.map(i32::from));
        columns.errors.push(error.map(str::to_owned));
        columns.finished.push(to_millis(finished_at));
    }
    let recorded: Vec<String> = sqlx::query_scalar(
        "UPDATE notices
         SET state = CASE WHEN o.delivered THEN 'delivered' ELSE notices.state END,
             attempts = o.attempt,
             next_attempt_at = o.next,
             lease_until = NULL,
             -- The outcome ends the lease: the same outcome recorded twice changes nothing.
             lease_token = notices.lease_token + 1,
             last_status_code = o.status,
             last_error = o.error,
             delivered_at = CASE WHEN o.delivered THEN o.finished ELSE notices.delivered_at END
         FROM UNNEST($1::text[], $2::int8[], $3::bool[], $4::int4[], $5::int8[], $6::int4[],
                     $7::text[], $8::int8[])
              AS o(id, token, delivered, attempt, next, status, error, finished)
         WHERE notices.id = o.id AND notices.lease_token = o.token
           AND notices.state <> 'delivered'
         RETURNING notices.id",
    )
    .bind(&columns.ids)
    .bind(&columns.tokens)
    .bind(&columns.delivered)
    .bind(&columns.attempts)
    .bind(&columns.next)
    .bind(&columns.status_codes)
    .bind(&columns.errors)
    .bind(&columns.finished)
    .fetch_all(&mut *conn)
    .await
    .map_err(map_err)?;
    let recorded: HashSet<String> = recorded.into_iter().collect();
    let mut audit_rows = Vec::with_capacity(recorded.len());
    let mut exhausted = Vec::new();
    for outcome in outcomes {
        let notice_id = outcome.notice_id.to_string();
        if !recorded.contains(&notice_id) {
            tracing::warn!(notice_id = %notice_id, "stale lease: attempt outcome ignored");
            continue;
        }
        if outcome.disposition == NoticeDisposition::Exhausted {
            exhausted.push(outcome);
        }
        audit_rows.push(audit_row(outcome, notice_id));
    }
    disable_subscriptions(conn, &exhausted).await?;
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

/// Disables the subscriptions of exhausted outcomes and holds the notices of every account left
/// without an active subscription. The caller holds the accounts' row locks.
async fn disable_subscriptions(
    conn: &mut PgConnection,
    exhausted: &[&AttemptOutcome],
) -> Result<(), StoreError> {
    if exhausted.is_empty() {
        return Ok(());
    }
    // The first outcome of a subscription disables it; later ones find it inactive already.
    let mut seen = HashSet::new();
    let (mut subscriptions, mut accounts, mut dates) = (Vec::new(), Vec::new(), Vec::new());
    for outcome in exhausted {
        if seen.insert(outcome.subscription_id) {
            subscriptions.push(outcome.subscription_id.to_string());
            accounts.push(outcome.account_id.as_str());
            dates.push(to_millis(finished_at(outcome)));
        }
        tracing::warn!(
            subscription_id = %outcome.subscription_id,
            notice_id = %outcome.notice_id,
            "retries exhausted: subscription disabled, its notices wait for reactivation"
        );
    }
    sqlx::query(
        "UPDATE subscriptions AS s
         SET is_active = FALSE, block_reason = $4, blocked_at = d.at, updated_at = d.at
         FROM UNNEST($1::text[], $2::text[], $3::int8[]) AS d(id, account, at)
         WHERE s.id = d.id AND s.account_id = d.account AND s.is_active",
    )
    .bind(&subscriptions)
    .bind(&accounts)
    .bind(&dates)
    .bind(MAX_RETRIES_EXCEEDED)
    .execute(&mut *conn)
    .await
    .map_err(map_err)?;
    sqlx::query(
        // Notices under a lease are left to it, as `hold_accounts` leaves them.
        "UPDATE notices SET state = 'waiting'
         WHERE account_id = ANY($1) AND state = 'pending' AND lease_until IS NULL
           AND NOT EXISTS (SELECT 1 FROM subscriptions s
                           WHERE s.account_id = notices.account_id AND s.is_active)",
    )
    .bind(&accounts)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn next_due_at(pool: &sqlx::PgPool) -> Result<Option<DateTime<Utc>>, StoreError> {
    let next: Option<i64> =
        sqlx::query_scalar("SELECT MIN(next_attempt_at) FROM notices WHERE state = 'pending'")
            .fetch_one(pool)
            .await
            .map_err(map_err)?;
    Ok(next.map(optout_core::time_format::from_millis))
}
