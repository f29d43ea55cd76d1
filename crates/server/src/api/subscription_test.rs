//! A8: a signed test delivery to a subscription, now.

use axum::extract::{RawQuery, State};
use axum::Json;
use optout_core::time_format::{api_timestamp, exposure_date, opt_out_date};
use optout_core::{AttemptResult, AuditEntry, AuditStatus, NoticeId, ObjectId};
use optout_webhook::{Datapoint, DatapointType, OptOutNotice};
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

use super::auth::CallerAccount;
use super::error::{ApiError, ErrorOut};
use super::path_id::PathId;
use super::query::QueryParams;
use super::state::AppState;
use super::subscriptions::find_caller_subscription;
use crate::delivery::Sending;

/// The outcome of the test call.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FlowCheckOut {
    success: bool,
    /// Omitted when no response came.
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
    duration_ms: u64,
    /// Why it failed; omitted on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A8's answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TestDeliveryOut {
    subscription_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription_name: Option<String>,
    url: String,
    #[schema(example = "full")]
    mode: &'static str,
    flow_check: FlowCheckOut,
    is_success: bool,
    timestamp: String,
}

/// A8: sends a signed test notice (`X-Lusha-Test: true`, a fake contact) to the subscription.
/// It never counts towards auto-disable; `full` (default) records the attempt in the audit log.
#[utoipa::path(
    post, path = "/api/subscriptions/{id}/test", tag = "subscriptions",
    params(
        ("api_key" = String, Header, description = "The account's API key"),
        ("id" = String, Path, description = "24 hex characters"),
        ("mode" = Option<String>, Query, description = "`full` (default, audited) or `direct`"),
    ),
    responses(
        (status = 200, description = "The test's outcome, also when the receiver failed", body = TestDeliveryOut),
        (status = 400, description = "Invalid or unknown query parameter", body = ErrorOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
        (status = 429, description = "Too many requests from this account", body = ErrorOut,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 403, description = "The account has no secret", body = ErrorOut),
        (status = 404, description = "Resource not found", body = ErrorOut),
    )
)]
pub(crate) async fn test_subscription(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
    PathId(id): PathId,
    RawQuery(query): RawQuery,
) -> Result<Json<TestDeliveryOut>, ApiError> {
    let mut params = QueryParams::parse(query.as_deref(), &["mode"]);
    let mode = match params.text("mode") {
        None | Some("full") => "full",
        Some("direct") => "direct",
        Some(_) => {
            params.problem("mode must be one of: direct, full".to_owned());
            "full"
        }
    };
    params.finish().map_err(ApiError::Validation)?;
    let subscription = find_caller_subscription(&state, &account_id, &id).await?;
    let now = state.clock.now();
    // Signed like a notice claimed now: with the previous secret too during its grace (C3).
    let sealed = state
        .store
        .find_account_secrets(&account_id, now)
        .await?
        .ok_or(ApiError::SecretRequired)?;
    let secrets = state.config.keyring.open_all(&sealed, &account_id)?;
    let webhook_id = NoticeId::generate(now);
    let sent = state
        .sender
        .send(Sending {
            webhook_id: &webhook_id.to_string(),
            url: &subscription.url,
            secret: &secrets.secret,
            previous_secret: secrets.previous_secret.as_ref(),
            payload: test_payload(now),
            attempt: 1,
            test: true,
        })
        .await;
    let (success, status_code, error) = match &sent.result {
        AttemptResult::Delivered { status_code } => (true, Some(*status_code), None),
        AttemptResult::Failed { status_code, error } => (false, *status_code, Some(error.clone())),
    };
    if mode == "full" {
        let entry = AuditEntry {
            id: ObjectId::generate(sent.started_at),
            subscription_id: subscription.id,
            notice_id: webhook_id,
            status: if success {
                AuditStatus::Success
            } else {
                AuditStatus::Failed
            },
            status_code,
            url: subscription.url.clone(),
            attempted_at: sent.started_at,
            duration_ms: sent.duration_ms,
            error: error.clone(),
        };
        state.store.record_test_attempt(&account_id, entry).await?;
    }
    tracing::info!(subscription_id = %subscription.id, mode, success, "test delivery sent");
    Ok(Json(TestDeliveryOut {
        subscription_id: subscription.id.to_string(),
        subscription_name: subscription.name.map(|name| name.as_str().to_owned()),
        url: subscription.url.to_string(),
        mode,
        flow_check: FlowCheckOut {
            success,
            status_code,
            duration_ms: sent.duration_ms,
            error,
        },
        is_success: success,
        timestamp: api_timestamp(now),
    }))
}

/// A notice about a contact that clearly does not exist.
fn test_payload(now: chrono::DateTime<chrono::Utc>) -> Arc<[u8]> {
    let notice = OptOutNotice {
        contact_id: "test-contact-0000".to_owned(),
        full_name: "Test Contact (not a real person)".to_owned(),
        company_name: Some("Example Test Company".to_owned()),
        job_title: None,
        linkedin_url: None,
        contact_opt_out_date: opt_out_date(now),
        contact_exposure_date: exposure_date(now),
        datapoints: vec![Datapoint {
            datapoint_id: "test.contact@example.invalid".to_owned(),
            datapoint_type: DatapointType::Email,
        }],
        partner_client_id: None,
    };
    Arc::from(notice.to_json_bytes())
}
