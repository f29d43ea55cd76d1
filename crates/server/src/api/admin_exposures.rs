//! `POST /admin/exposures`: recording who received which datapoints.

use axum::extract::State;
use axum::Json;
use optout_core::{AccountId, ContactId, ExposureIntake, NewExposure};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Operator;
use super::error::{ApiError, ErrorOut};
use super::item_fields::{bounded_text, datapoints, instant};
use super::json_body::{BulkBody, JsonObject};
use super::state::AppState;

/// Items written per transaction, so a large request does not hold the write lock for long.
const ITEMS_PER_TRANSACTION: usize = 2000;
/// Longest `partnerClientId`.
const MAX_PARTNER_CLIENT_ID_CHARS: usize = 256;

/// What an exposure intake did, counted per datapoint.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ExposureIntakeOut {
    /// Datapoints newly recorded.
    accepted: u64,
    /// Datapoints already recorded (the earliest `exposedAt` is kept).
    duplicates: u64,
    /// Datapoints refused.
    refused: u64,
    /// One entry per item with refused datapoints.
    refusals: Vec<RefusalOut>,
}

/// Why an item's datapoints were refused.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RefusalOut {
    index: usize,
    #[schema(example = "contact has opted out of this data")]
    reason: &'static str,
}

impl From<ExposureIntake> for ExposureIntakeOut {
    fn from(intake: ExposureIntake) -> Self {
        Self {
            accepted: intake.accepted,
            duplicates: intake.duplicates,
            refused: intake.refused,
            refusals: intake
                .refusals
                .into_iter()
                .map(|refusal| RefusalOut {
                    index: refusal.index,
                    reason: refusal.reason.as_str(),
                })
                .collect(),
        }
    }
}

/// Records exposures: a JSON array (or one object) or NDJSON of exposure items. Validation is
/// all-or-nothing; valid items are idempotent; datapoints of opted-out contacts are refused.
#[utoipa::path(
    post, path = "/admin/exposures", tag = "admin",
    request_body(content = [super::request_schemas::ExposureIn], content_type = "application/json",
                 description = "A JSON array, or NDJSON with Content-Type application/x-ndjson"),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Recorded", body = ExposureIntakeOut),
        (status = 400, description = "Validation failed: every bad item is named by index", body = ErrorOut),
        (status = 401, description = "Invalid admin token", body = ErrorOut),
        (status = 413, description = "Payload too large (64 MiB)", body = ErrorOut),
        (status = 408, description = "Request body not received in time", body = ErrorOut),
    )
)]
pub(crate) async fn record_exposures(
    State(state): State<AppState>,
    _operator: Operator,
    body: BulkBody,
) -> Result<Json<ExposureIntakeOut>, ApiError> {
    let now = state.clock.now();
    let mut problems = Vec::new();
    let mut items = Vec::with_capacity(body.items.len());
    for (index, value) in body.items.into_iter().enumerate() {
        match parse_item(value, index, now) {
            Ok(item) => items.push(item),
            Err(mut item_problems) => problems.append(&mut item_problems),
        }
    }
    if items.is_empty() && problems.is_empty() {
        problems.push("at least one exposure is required".to_owned());
    }
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let mut intake = ExposureIntake::default();
    for (chunk_index, chunk) in items.chunks(ITEMS_PER_TRANSACTION).enumerate() {
        let recorded = state.store.record_exposures(chunk).await?;
        intake.absorb(recorded, chunk_index * ITEMS_PER_TRANSACTION);
    }
    tracing::info!(
        accepted = intake.accepted,
        duplicates = intake.duplicates,
        refused = intake.refused,
        "exposures recorded"
    );
    Ok(Json(intake.into()))
}

/// Parses one exposure item; the problems name its index.
pub(crate) fn parse_item(
    value: serde_json::Value,
    index: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<NewExposure, Vec<String>> {
    let mut object = JsonObject::item(value, index).map_err(|problem| vec![problem])?;
    let account_id = object
        .required_string("accountId")
        .and_then(|text| AccountId::parse(&text).map_err(|p| object.problem(p)).ok());
    let contact_id = object
        .required_string("contactId")
        .and_then(|text| ContactId::parse(&text).map_err(|p| object.problem(p)).ok());
    let datapoints = datapoints(&mut object, "datapoints", true);
    let exposed_at = instant(&mut object, "exposedAt");
    let partner_client_id =
        bounded_text(&mut object, "partnerClientId", MAX_PARTNER_CLIENT_ID_CHARS);
    let problems = object.finish_item(index);
    match (account_id, contact_id, datapoints) {
        (Some(account_id), Some(contact_id), Some(datapoints)) if problems.is_empty() => {
            Ok(NewExposure {
                account_id,
                contact_id,
                datapoints,
                exposed_at: exposed_at.unwrap_or(now),
                partner_client_id,
            })
        }
        _ => Err(problems),
    }
}
