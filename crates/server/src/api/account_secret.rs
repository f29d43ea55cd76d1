//! The account webhook secret (spec A1, A2).

use axum::extract::{RawQuery, State};
use axum::Json;
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

/// A1: creates or replaces the account's webhook secret.
#[utoipa::path(
    post, path = "/api/account/secret/regenerate", tag = "account",
    params(("api_key" = String, Header, description = "The account's API key")),
    responses(
        (status = 200, description = "The new secret", body = SecretOut),
        (status = 400, description = "Unknown query parameter", body = ErrorOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
    )
)]
pub(crate) async fn regenerate_secret(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
    RawQuery(query): RawQuery,
) -> Result<Json<SecretOut>, ApiError> {
    QueryParams::parse(query.as_deref(), &[])
        .finish()
        .map_err(ApiError::Validation)?;
    let secret = WebhookSecret::generate();
    state
        .store
        .record_account_secret(&account_id, &secret, state.clock.now())
        .await?;
    tracing::info!(account_id = %account_id, "account secret regenerated");
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
        (status = 404, description = "Account secret not found. Please generate one first.", body = ErrorOut),
    )
)]
pub(crate) async fn get_secret(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
) -> Result<Json<SecretOut>, ApiError> {
    let secret = state
        .store
        .find_account_secret(&account_id)
        .await?
        .ok_or(ApiError::SecretNotFound)?;
    Ok(Json(SecretOut {
        secret: secret.expose().to_owned(),
    }))
}
