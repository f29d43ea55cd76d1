//! The audit log: one row per delivery attempt.

use chrono::{DateTime, Utc};
use optout_core::time_format::{from_millis, to_millis};
use optout_core::{
    AccountId, AuditEntry, AuditFilter, AuditStats, AuditStatus, NoticeId, ObjectId, Page,
    PageRequest, SubscriptionId, WebhookUrl,
};
use optout_store::{AccountAuditEntry, StoreError};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::error::map_err;

/// One row to insert.
#[derive(Debug)]
pub(crate) struct AuditRow {
    pub id: ObjectId,
    pub account_id: AccountId,
    pub subscription_id: SubscriptionId,
    pub notice_id: String,
    pub status: AuditStatus,
    pub status_code: Option<u16>,
    pub url: String,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// Inserts rows, a chunk of rows per statement.
pub(crate) async fn insert_many(
    conn: &mut SqliteConnection,
    rows: Vec<AuditRow>,
) -> Result<(), StoreError> {
    for chunk in crate::values::chunks(&rows) {
        let sql = format!(
            "INSERT INTO audit_log (id, account_id, subscription_id, notice_id, status,
                                    status_code, url, attempted_at, duration_ms, error) {}",
            crate::values::values_clause(10, chunk.len())
        );
        let mut insert = sqlx::query(&sql);
        for row in chunk {
            insert = insert
                .bind(row.id.to_string())
                .bind(row.account_id.as_str())
                .bind(row.subscription_id.to_string())
                .bind(row.notice_id.as_str())
                .bind(row.status.as_str())
                .bind(row.status_code.map(i64::from))
                .bind(row.url.as_str())
                .bind(to_millis(row.attempted_at))
                .bind(i64::try_from(row.duration_ms).unwrap_or(i64::MAX))
                .bind(row.error.as_deref());
        }
        insert.execute(&mut *conn).await.map_err(map_err)?;
    }
    Ok(())
}

pub(crate) async fn insert_entry(
    conn: &mut SqliteConnection,
    account_id: &AccountId,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    insert_many(
        conn,
        vec![AuditRow {
            id: entry.id,
            account_id: account_id.clone(),
            subscription_id: entry.subscription_id,
            notice_id: entry.notice_id.to_string(),
            status: entry.status,
            status_code: entry.status_code,
            url: entry.url.as_str().to_owned(),
            attempted_at: entry.attempted_at,
            duration_ms: entry.duration_ms,
            error: entry.error.clone(),
        }],
    )
    .await
}

fn push_filters<'a>(
    query: &mut QueryBuilder<'a, Sqlite>,
    account_id: &'a AccountId,
    subscription_id: Option<SubscriptionId>,
    status: Option<AuditStatus>,
) {
    query
        .push(" WHERE account_id = ")
        .push_bind(account_id.as_str());
    if let Some(id) = subscription_id {
        query
            .push(" AND subscription_id = ")
            .push_bind(id.to_string());
    }
    if let Some(status) = status {
        query.push(" AND status = ").push_bind(status.as_str());
    }
}

type AuditDbRow = (
    String,
    String,
    String,
    String,
    Option<i64>,
    String,
    i64,
    i64,
    Option<String>,
);

pub(crate) async fn list(
    pool: &sqlx::SqlitePool,
    account_id: &AccountId,
    filter: AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEntry>, StoreError> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    let mut count = QueryBuilder::new("SELECT COUNT(*) FROM audit_log");
    push_filters(
        &mut count,
        account_id,
        filter.subscription_id,
        filter.status,
    );
    let total: i64 = count
        .build_query_scalar()
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let mut select = QueryBuilder::new(
        "SELECT id, subscription_id, notice_id, status, status_code, url, attempted_at,
                duration_ms, error FROM audit_log",
    );
    push_filters(
        &mut select,
        account_id,
        filter.subscription_id,
        filter.status,
    );
    select
        .push(" ORDER BY attempted_at DESC, rowid DESC LIMIT ")
        .push_bind(i64::from(page.limit))
        .push(" OFFSET ")
        .push_bind(i64::try_from(page.offset).unwrap_or(i64::MAX));
    let rows: Vec<AuditDbRow> = select
        .build_query_as()
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
    tx.commit().await.map_err(map_err)?;
    Ok(Page {
        items: rows.into_iter().map(entry).collect::<Result<_, _>>()?,
        total: total.unsigned_abs(),
    })
}

fn entry(row: AuditDbRow) -> Result<AuditEntry, StoreError> {
    let (id, subscription, notice, status, status_code, url, attempted_at, duration_ms, error) =
        row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("{what} of audit row {id}"));
    Ok(AuditEntry {
        id: ObjectId::parse(&id).ok_or_else(|| corrupt("id"))?,
        subscription_id: SubscriptionId::parse(&subscription)
            .ok_or_else(|| corrupt("subscription"))?,
        notice_id: NoticeId::parse(&notice).ok_or_else(|| corrupt("notice"))?,
        status: AuditStatus::parse(&status).ok_or_else(|| corrupt("status"))?,
        status_code: status_code.and_then(|code| u16::try_from(code).ok()),
        url: WebhookUrl::from_stored(&url).ok_or_else(|| corrupt("url"))?,
        attempted_at: from_millis(attempted_at),
        duration_ms: duration_ms.unsigned_abs(),
        error,
    })
}

pub(crate) async fn stats(
    pool: &sqlx::SqlitePool,
    account_id: &AccountId,
    subscription_id: Option<SubscriptionId>,
) -> Result<AuditStats, StoreError> {
    let mut query =
        QueryBuilder::new("SELECT COUNT(*), COALESCE(SUM(status = 'success'), 0) FROM audit_log");
    push_filters(&mut query, account_id, subscription_id, None);
    let (total, success): (i64, i64) = query
        .build_query_as()
        .fetch_one(pool)
        .await
        .map_err(map_err)?;
    Ok(AuditStats {
        total: total.unsigned_abs(),
        success: success.unsigned_abs(),
        failed: (total - success).unsigned_abs(),
    })
}

/// An audit row led by its account id.
type AccountAuditDbRow = (
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    String,
    i64,
    i64,
    Option<String>,
);

/// The `limit` most recent failed attempts of all accounts, newest first.
pub(crate) async fn recent_failures(
    pool: &sqlx::SqlitePool,
    limit: u32,
) -> Result<Vec<AccountAuditEntry>, StoreError> {
    let rows: Vec<AccountAuditDbRow> = sqlx::query_as(
        "SELECT account_id, id, subscription_id, notice_id, status, status_code, url,
                    attempted_at, duration_ms, error
             FROM audit_log WHERE status <> 'success'
             ORDER BY attempted_at DESC, rowid DESC LIMIT ?1",
    )
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.into_iter()
        .map(
            |(account, id, subscription, notice, status, code, url, at, ms, error)| {
                let account_id = AccountId::parse(&account)
                    .map_err(|_| StoreError::Corrupt(format!("account of audit row {id}")))?;
                let entry = entry((id, subscription, notice, status, code, url, at, ms, error))?;
                Ok(AccountAuditEntry { account_id, entry })
            },
        )
        .collect()
}
