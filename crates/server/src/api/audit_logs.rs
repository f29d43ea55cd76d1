//! The audit log of delivery attempts (spec A9).

use axum::extract::{RawQuery, State};
use axum::Json;
use optout_core::time_format::api_timestamp;
use optout_core::{AuditEntry, AuditFilter, AuditStatus, PageRequest, SubscriptionId};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::CallerAccount;
use super::error::{ApiError, ErrorOut};
use super::query::QueryParams;
use super::state::AppState;
use super::subscription_out::PaginationOut;

/// Largest page (spec).
const MAX_PAGE_SIZE: u64 = 100;
/// Page size when none is asked for (spec).
const DEFAULT_PAGE_SIZE: u64 = 50;

/// One delivery attempt.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditEntryOut {
    id: String,
    subscription_id: String,
    /// The notice id, the same on every retry.
    payload_id: String,
    #[schema(example = "success")]
    status: &'static str,
    /// Omitted when no response came.
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
    url: String,
    /// When the attempt was made.
    delivered_at: String,
    duration_ms: u64,
    /// Null on success, otherwise a short reason.
    #[schema(example = "HTTP 503")]
    error: Option<String>,
}

impl From<AuditEntry> for AuditEntryOut {
    fn from(entry: AuditEntry) -> Self {
        Self {
            id: entry.id.to_string(),
            subscription_id: entry.subscription_id.to_string(),
            payload_id: entry.notice_id.to_string(),
            status: entry.status.as_str(),
            status_code: entry.status_code,
            url: entry.url.to_string(),
            delivered_at: api_timestamp(entry.attempted_at),
            duration_ms: entry.duration_ms,
            error: entry.error,
        }
    }
}

/// A page of audit rows.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditLogsOut {
    data: Vec<AuditEntryOut>,
    pagination: PaginationOut,
}

/// Attempt counts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AuditStatsOut {
    total: u64,
    success: u64,
    /// `failed` and `permanent_failure` attempts.
    failed: u64,
    #[schema(example = "95.00%")]
    success_rate: String,
}

/// A9: the account's delivery attempts, newest first.
#[utoipa::path(
    get, path = "/api/audit-logs", tag = "audit",
    params(
        ("api_key" = String, Header, description = "The account's API key"),
        ("subscriptionId" = Option<String>, Query, description = "Only this subscription"),
        ("status" = Option<String>, Query, description = "success, failed or permanent_failure"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 50"),
        ("offset" = Option<u64>, Query, description = "0 or more, default 0"),
    ),
    responses(
        (status = 200, description = "A page of attempts", body = AuditLogsOut),
        (status = 400, description = "Invalid or unknown query parameter", body = ErrorOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
        (status = 429, description = "Too many requests from this account", body = ErrorOut,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn list_audit_logs(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditLogsOut>, ApiError> {
    let mut params = QueryParams::parse(
        query.as_deref(),
        &["subscriptionId", "status", "limit", "offset"],
    );
    let limit = params.integer("limit", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE);
    let offset = params.integer("offset", 0, i64::MAX as u64, 0);
    let filter = AuditFilter {
        subscription_id: subscription_filter(&mut params),
        status: status_filter(&mut params),
    };
    params.finish().map_err(ApiError::Validation)?;
    let request = PageRequest {
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
        offset,
    };
    let page = state
        .store
        .list_audit_entries(&account_id, filter, request)
        .await?;
    let has_more = page.has_more(request);
    Ok(Json(AuditLogsOut {
        pagination: PaginationOut {
            total: page.total,
            limit: request.limit,
            offset: request.offset,
            has_more,
        },
        data: page.items.into_iter().map(AuditEntryOut::from).collect(),
    }))
}

/// A9: counts of the account's attempts.
#[utoipa::path(
    get, path = "/api/audit-logs/stats", tag = "audit",
    params(
        ("api_key" = String, Header, description = "The account's API key"),
        ("subscriptionId" = Option<String>, Query, description = "Only this subscription"),
    ),
    responses(
        (status = 200, description = "Counts", body = AuditStatsOut),
        (status = 400, description = "Invalid or unknown query parameter", body = ErrorOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
        (status = 429, description = "Too many requests from this account", body = ErrorOut,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn audit_stats(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
    RawQuery(query): RawQuery,
) -> Result<Json<AuditStatsOut>, ApiError> {
    let mut params = QueryParams::parse(query.as_deref(), &["subscriptionId"]);
    let subscription_id = subscription_filter(&mut params);
    params.finish().map_err(ApiError::Validation)?;
    let stats = state
        .store
        .find_audit_stats(&account_id, subscription_id)
        .await?;
    Ok(Json(AuditStatsOut {
        total: stats.total,
        success: stats.success,
        failed: stats.failed,
        success_rate: stats.success_rate(),
    }))
}

fn subscription_filter(params: &mut QueryParams) -> Option<SubscriptionId> {
    let text = params.text("subscriptionId")?.to_owned();
    let id = SubscriptionId::parse(&text);
    if id.is_none() {
        params.problem("subscriptionId must be 24 hexadecimal characters".to_owned());
    }
    id
}

fn status_filter(params: &mut QueryParams) -> Option<AuditStatus> {
    let text = params.text("status")?.to_owned();
    let status = AuditStatus::parse(&text);
    if status.is_none() {
        params.problem("status must be one of: success, failed, permanent_failure".to_owned());
    }
    status
}
