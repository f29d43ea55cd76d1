//! `POST /admin/opt-outs` and `GET /admin/opt-outs/{optOutId}`: recording opt-outs and their
//! compliance record.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use optout_core::time_format::{api_timestamp, truncate_to_millis};
use optout_core::{
    ContactDetails, ContactId, DatapointEvidence, Idempotency, NewOptOut, OptOutBatch, OptOutId,
    OptOutRecorded,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::auth::Operator;
use super::error::{ApiError, ErrorOut};
use super::item_fields::{bounded_text, datapoints, instant};
use super::json_body::{BulkBody, JsonObject};
use super::path_id::PathId;
use super::state::AppState;

/// The header that makes a request safe to repeat.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Longest idempotency key.
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// Longest name, company, title or URL of a contact.
const MAX_DETAIL_CHARS: usize = 500;
/// Most opt-outs in one request (they are recorded in one transaction).
const MAX_OPT_OUTS_PER_REQUEST: usize = 10_000;

/// One recorded opt-out.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OptOutRecordedOut {
    #[schema(example = "6a0ca910b402df368d2aff07")]
    opt_out_id: String,
    /// Notices created: one per account that received any covered datapoint.
    notices: u64,
}

/// The answer to a bulk request.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OptOutsRecordedOut {
    results: Vec<OptOutRecordedOut>,
    /// Notices created in all.
    notices: u64,
}

impl From<&OptOutRecorded> for OptOutRecordedOut {
    fn from(recorded: &OptOutRecorded) -> Self {
        Self {
            opt_out_id: recorded.opt_out_id.to_string(),
            notices: recorded.notices,
        }
    }
}

/// Records opt-outs (one object, a JSON array, or NDJSON) in one transaction and queues one
/// notice per exposed account. A repeat with the same `Idempotency-Key` returns the first
/// answer and creates nothing.
#[utoipa::path(
    post, path = "/admin/opt-outs", tag = "admin",
    request_body(content = super::request_schemas::OptOutIn, content_type = "application/json",
                 description = "One object, a JSON array of them, or NDJSON (application/x-ndjson)"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to repeat (at most 255 characters)")),
    security(("admin_token" = [])),
    responses(
        (status = 202, description = "Recorded; one object for a single opt-out", body = OptOutRecordedOut),
        (status = 400, description = "Validation failed: every bad item is named by index", body = ErrorOut),
        (status = 401, description = "Invalid admin token", body = ErrorOut),
        (status = 409, description = "The Idempotency-Key was used for a different request", body = ErrorOut),
        (status = 413, description = "Payload too large (64 MiB)", body = ErrorOut),
        (status = 408, description = "Request body not received in time", body = ErrorOut),
    )
)]
pub(crate) async fn record_opt_outs(
    State(state): State<AppState>,
    _operator: Operator,
    headers: HeaderMap,
    body: BulkBody,
) -> Result<Response, ApiError> {
    let recorded_at = truncate_to_millis(state.clock.now());
    let mut problems = Vec::new();
    let idempotency = idempotency(&headers, &body.raw, &mut problems);
    if body.items.is_empty() {
        problems.push("at least one opt-out is required".to_owned());
    }
    if body.items.len() > MAX_OPT_OUTS_PER_REQUEST {
        problems.push(format!(
            "at most {MAX_OPT_OUTS_PER_REQUEST} opt-outs per request"
        ));
    }
    let mut opt_outs = Vec::with_capacity(body.items.len());
    for (index, value) in body.items.into_iter().enumerate() {
        match parse_item(value, index, recorded_at) {
            Ok(opt_out) => opt_outs.push(opt_out),
            Err(mut item_problems) => problems.append(&mut item_problems),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let results = state
        .opt_out_commits
        .record(OptOutBatch {
            opt_outs,
            idempotency,
            recorded_at,
        })
        .await?;
    state.signal.notify();
    let total: u64 = results.iter().map(|result| result.notices).sum();
    tracing::info!(
        opt_outs = results.len(),
        notices = total,
        "opt-outs recorded"
    );
    let response = if body.single {
        let first = results.first().ok_or(ApiError::Internal)?;
        (StatusCode::ACCEPTED, Json(OptOutRecordedOut::from(first))).into_response()
    } else {
        let out = OptOutsRecordedOut {
            results: results.iter().map(OptOutRecordedOut::from).collect(),
            notices: total,
        };
        (StatusCode::ACCEPTED, Json(out)).into_response()
    };
    Ok(response)
}

fn idempotency(headers: &HeaderMap, raw: &[u8], problems: &mut Vec<String>) -> Option<Idempotency> {
    let value = headers.get(IDEMPOTENCY_KEY)?;
    let key = value.to_str().ok().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.chars().count() > MAX_IDEMPOTENCY_KEY_CHARS {
        problems.push(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} visible ASCII characters"
        ));
        return None;
    }
    Some(Idempotency {
        key: key.to_owned(),
        fingerprint: hex::encode(Sha256::digest(raw)),
    })
}

/// Parses one opt-out item; the problems name its index.
pub(crate) fn parse_item(
    value: serde_json::Value,
    index: usize,
    recorded_at: chrono::DateTime<chrono::Utc>,
) -> Result<NewOptOut, Vec<String>> {
    let mut object = JsonObject::item(value, index).map_err(|problem| vec![problem])?;
    let contact_id = object
        .required_string("contactId")
        .and_then(|text| ContactId::parse(&text).map_err(|p| object.problem(p)).ok());
    let full_name = object.required_string("fullName");
    if full_name
        .as_deref()
        .is_some_and(|name| name.trim().is_empty() || name.chars().count() > MAX_DETAIL_CHARS)
    {
        object.problem(format!(
            "fullName must be 1 to {MAX_DETAIL_CHARS} characters"
        ));
    }
    if full_name
        .as_deref()
        .is_some_and(|name| name.chars().any(char::is_control))
    {
        object.problem("fullName must not contain control characters");
    }
    let company_name = bounded_text(&mut object, "companyName", MAX_DETAIL_CHARS);
    let job_title = bounded_text(&mut object, "jobTitle", MAX_DETAIL_CHARS);
    let linkedin_url = bounded_text(&mut object, "linkedinUrl", MAX_DETAIL_CHARS);
    let opted_out_at = instant(&mut object, "optedOutAt");
    let covered = datapoints(&mut object, "datapoints", false);
    let problems = object.finish_item(index);
    match (contact_id, full_name) {
        (Some(contact_id), Some(full_name)) if problems.is_empty() => Ok(NewOptOut {
            id: OptOutId::generate(recorded_at),
            contact_id,
            details: ContactDetails {
                full_name,
                company_name,
                job_title,
                linkedin_url,
            },
            opted_out_at: opted_out_at.map_or(recorded_at, truncate_to_millis),
            datapoints: covered,
        }),
        _ => Err(problems),
    }
}

/// One recipient of an opt-out's notices.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RecipientOut {
    account_id: String,
    notice_id: String,
    /// `pending`, `delivering`, `delivered`, `waiting` (no active subscription) or `failed`
    /// (the last attempt failed; a retry is scheduled).
    #[schema(example = "delivered")]
    status: &'static str,
    attempts: u32,
    last_status_code: Option<u16>,
    delivered_at: Option<String>,
    /// When the notice's body was purged after its retention; `null` while it is kept.
    payload_purged_at: Option<String>,
    /// What was kept of the notice's datapoints when its body was purged; `null` while it is
    /// kept.
    datapoint_evidence: Option<DatapointEvidenceOut>,
}

/// The salted hashes kept of a purged notice's datapoints. Each `sha256` is
/// `hex(SHA-256(salt bytes || "<type>:<datapointId>"))`: recompute it for a candidate value to
/// prove the notice carried it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DatapointEvidenceOut {
    /// The notice's random salt: 16 bytes as 32 lowercase hex characters.
    #[schema(example = "9f2c4a7be01d55c3a8e6f0b2d4c6e8a1")]
    salt: String,
    /// One hash per datapoint, in the notice's order.
    hashes: Vec<DatapointHashOut>,
}

/// The salted hash of one datapoint.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DatapointHashOut {
    /// `email` or `phone`.
    #[serde(rename = "type")]
    #[schema(example = "email")]
    datapoint_type: &'static str,
    /// 64 lowercase hex characters.
    sha256: String,
}

impl From<DatapointEvidence> for DatapointEvidenceOut {
    fn from(evidence: DatapointEvidence) -> Self {
        Self {
            salt: evidence.salt.to_hex(),
            hashes: evidence
                .hashes
                .into_iter()
                .map(|hash| DatapointHashOut {
                    datapoint_type: hash.kind.as_str(),
                    sha256: hash.sha256,
                })
                .collect(),
        }
    }
}

/// The compliance record of an opt-out.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ComplianceRecordOut {
    opt_out_id: String,
    contact_id: String,
    opted_out_at: String,
    recorded_at: String,
    recipients: Vec<RecipientOut>,
}

/// The compliance record: per recipient account, its notice and where it stands.
///
/// Once a delivered notice's body is purged (after the payload retention), its entry keeps the
/// ids, times and outcome, and the salted hashes of its datapoints.
#[utoipa::path(
    get, path = "/admin/opt-outs/{optOutId}", tag = "admin",
    params(("optOutId" = String, Path, description = "24 hex characters")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The record", body = ComplianceRecordOut),
        (status = 401, description = "Invalid admin token", body = ErrorOut),
        (status = 404, description = "Resource not found", body = ErrorOut),
    )
)]
pub(crate) async fn get_compliance_record(
    State(state): State<AppState>,
    _operator: Operator,
    PathId(opt_out_id): PathId,
) -> Result<Json<ComplianceRecordOut>, ApiError> {
    let id = OptOutId::parse(&opt_out_id).ok_or(ApiError::NotFound)?;
    let record = state
        .store
        .find_compliance_record(id, state.clock.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(ComplianceRecordOut {
        opt_out_id: record.opt_out_id.to_string(),
        contact_id: record.contact_id.as_str().to_owned(),
        opted_out_at: api_timestamp(record.opted_out_at),
        recorded_at: api_timestamp(record.recorded_at),
        recipients: record
            .recipients
            .into_iter()
            .map(|recipient| RecipientOut {
                account_id: recipient.account_id.to_string(),
                notice_id: recipient.notice_id.to_string(),
                status: recipient.status.as_str(),
                attempts: recipient.attempts,
                last_status_code: recipient.last_status_code,
                delivered_at: recipient.delivered_at.map(api_timestamp),
                payload_purged_at: recipient.payload_purged_at.map(api_timestamp),
                datapoint_evidence: recipient.evidence.map(DatapointEvidenceOut::from),
            })
            .collect(),
    }))
}
