//! The account webhook secret (spec A1, A2).

use axum::extract::{RawQuery, State};
use axum::Json;
use chrono::Duration;
use optout_core::WebhookSecret;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::CallerAccount;
use super::error::{ApiError, ErrorOut};
use super::query::QueryParams;
use super::state::AppState;

/// The account secret.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SecretOut {
    /// `whsec_` + base64 of 32 random bytes.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAECAwQFBgc=")]
    secret: String,
}

/// The longest rotation grace (spec C3): a week, long enough for a receiver to roll the new
/// secret out on a weekly release, short enough that a leaked old secret does not live on.
const MAX_GRACE_SECONDS: u64 = 7 * 24 * 60 * 60;

/// A1: creates or replaces the account's webhook secret. With `graceSeconds`, deliveries are
/// also signed with the replaced secret until the grace ends (spec C3).
#[utoipa::path(
    post, path = "/api/account/secret/regenerate", tag = "account",
    params(
        ("api_key" = String, Header, description = "The account's API key"),
        ("graceSeconds" = Option<u32>, Query, description = "0 to 604800 (7 days), default 0: for \
            this long deliveries also carry `X-Lusha-Signature-Previous` and a second \
            `webhook-signature` entry, signed with the replaced secret", maximum = 604800),
    ),
    responses(
        (status = 200, description = "The new secret", body = SecretOut),
        (status = 400, description = "Invalid or unknown query parameter", body = ErrorOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
        (status = 429, description = "Too many requests from this account", body = ErrorOut,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn regenerate_secret(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
    RawQuery(query): RawQuery,
) -> Result<Json<SecretOut>, ApiError> {
    let mut params = QueryParams::parse(query.as_deref(), &["graceSeconds"]);
    let grace_seconds = params.integer("graceSeconds", 0, MAX_GRACE_SECONDS, 0);
    params.finish().map_err(ApiError::Validation)?;
    let secret = WebhookSecret::generate();
    let sealed = state.config.keyring.seal(&secret, &account_id);
    let now = state.clock.now();
    // A grace of 0 keeps no previous secret. (At most a week: the conversion cannot fail.)
    let previous_valid_until = i64::try_from(grace_seconds)
        .ok()
        .filter(|&seconds| seconds > 0)
        .map(|seconds| now + Duration::seconds(seconds));
    state
        .store
        .record_account_secret_rotation(&account_id, &sealed, now, previous_valid_until)
        .await?;
    tracing::info!(account_id = %account_id, grace_seconds, "account secret regenerated");
    Ok(Json(SecretOut {
        secret: secret.expose().to_owned(),
    }))
}

/// A2: the account's webhook secret.
#[utoipa::path(
    get, path = "/api/account/secret", tag = "account",
    params(("api_key" = String, Header, description = "The account's API key")),
    responses(
        (status = 200, description = "The secret", body = SecretOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
        (status = 429, description = "Too many requests from this account", body = ErrorOut,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 404, description = "Account secret not found. Please generate one first.", body = ErrorOut),
    )
)]
pub(crate) async fn get_secret(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
) -> Result<Json<SecretOut>, ApiError> {
    let sealed = state
        .store
        .find_account_secret(&account_id)
        .await?
        .ok_or(ApiError::SecretNotFound)?;
    let secret = state.config.keyring.open(&sealed, &account_id)?;
    Ok(Json(SecretOut {
        secret: secret.expose().to_owned(),
    }))
}
