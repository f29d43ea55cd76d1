//! The audit log: one row per delivery attempt.

use chrono::{DateTime, Utc};
use optout_core::time_format::{from_millis, to_millis};
use optout_core::{
    AccountId, AuditEntry, AuditFilter, AuditStats, AuditStatus, NoticeId, ObjectId, Page,
    PageRequest, SubscriptionId, WebhookUrl,
};
use optout_store::StoreError;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::error::map_err;

/// One row to insert.
pub(crate) struct AuditRow<'a> {
    pub id: ObjectId,
    pub account_id: &'a AccountId,
    pub subscription_id: SubscriptionId,
    pub notice_id: &'a str,
    pub status: AuditStatus,
    pub status_code: Option<u16>,
    pub url: &'a str,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub error: Option<&'a str>,
}

pub(crate) async fn insert(
    conn: &mut SqliteConnection,
    row: &AuditRow<'_>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (id, account_id, subscription_id, notice_id, status, status_code,
                                url, attempted_at, duration_ms, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )
    .bind(row.id.to_string())
    .bind(row.account_id.as_str())
    .bind(row.subscription_id.to_string())
    .bind(row.notice_id)
    .bind(row.status.as_str())
    .bind(row.status_code.map(i64::from))
    .bind(row.url)
    .bind(to_millis(row.attempted_at))
    .bind(i64::try_from(row.duration_ms).unwrap_or(i64::MAX))
    .bind(row.error)
    .execute(conn)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(crate) async fn insert_entry(
    conn: &mut SqliteConnection,
    account_id: &AccountId,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    insert(
        conn,
        &AuditRow {
            id: entry.id,
            account_id,
            subscription_id: entry.subscription_id,
            notice_id: &entry.notice_id.to_string(),
            status: entry.status,
            status_code: entry.status_code,
            url: entry.url.as_str(),
            attempted_at: entry.attempted_at,
            duration_ms: entry.duration_ms,
            error: entry.error.as_deref(),
        },
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
