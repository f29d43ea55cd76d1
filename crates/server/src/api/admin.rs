//! The operator's account management (spec Part B).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use optout_core::{AccountId, AccountName, ApiKeyId, NewAccount, NewApiKey};
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::Operator;
use super::error::{ApiError, ErrorOut};
use super::json_body::JsonObject;
use super::path_id::PathId;
use super::state::AppState;

/// A new account and its first API key, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountCreatedOut {
    #[schema(example = "431705")]
    account_id: String,
    #[schema(example = "Acme Corp")]
    name: String,
    /// The key in plain text; only its hash is stored.
    api_key: String,
    /// The key's id, to revoke it.
    key_id: String,
}

/// A new API key, shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiKeyCreatedOut {
    account_id: String,
    /// The key in plain text; only its hash is stored.
    api_key: String,
    /// The key's id, to revoke it.
    key_id: String,
}

/// Creates an account with its first API key.
#[utoipa::path(
    post, path = "/admin/accounts", tag = "admin",
    request_body = super::request_schemas::AccountIn,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Created; the key is shown once", body = AccountCreatedOut),
        (status = 400, description = "Validation failed", body = ErrorOut),
        (status = 401, description = "Invalid admin token", body = ErrorOut),
        (status = 408, description = "Request body not received in time", body = ErrorOut),
        (status = 409, description = "Account already exists", body = ErrorOut),
        (status = 413, description = "Payload too large", body = ErrorOut),
    )
)]
pub(crate) async fn create_account(
    State(state): State<AppState>,
    _operator: Operator,
    mut body: JsonObject,
) -> Result<(StatusCode, Json<AccountCreatedOut>), ApiError> {
    let name = body
        .required_string("name")
        .and_then(|text| AccountName::parse(&text).map_err(|p| body.problem(p)).ok());
    let id = body
        .optional_string("accountId")
        .and_then(|text| AccountId::parse(&text).map_err(|p| body.problem(p)).ok());
    body.finish()?;
    let name = name.ok_or(ApiError::Internal)?;
    let now = state.clock.now();
    let (key, stored_key) = NewApiKey::generate(now);
    let key_id = stored_key.id;
    let account = state
        .store
        .create_account(
            NewAccount {
                id,
                name,
                created_at: now,
            },
            stored_key,
        )
        .await?;
    tracing::info!(account_id = %account.id, key_id = %key_id, "account created");
    Ok((
        StatusCode::CREATED,
        Json(AccountCreatedOut {
            account_id: account.id.to_string(),
            name: account.name.as_str().to_owned(),
            api_key: key.expose().to_owned(),
            key_id: key_id.to_string(),
        }),
    ))
}

/// Issues another API key for an account.
#[utoipa::path(
    post, path = "/admin/accounts/{accountId}/api-keys", tag = "admin",
    params(("accountId" = String, Path, description = "The account id")),
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Created; the key is shown once", body = ApiKeyCreatedOut),
        (status = 401, description = "Invalid admin token", body = ErrorOut),
        (status = 404, description = "Resource not found", body = ErrorOut),
    )
)]
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    _operator: Operator,
    PathId(account_id): PathId,
) -> Result<(StatusCode, Json<ApiKeyCreatedOut>), ApiError> {
    let account_id = AccountId::parse(&account_id).map_err(|_| ApiError::NotFound)?;
    let (key, stored_key) = NewApiKey::generate(state.clock.now());
    let key_id = stored_key.id;
    state.store.create_api_key(&account_id, stored_key).await?;
    tracing::info!(account_id = %account_id, key_id = %key_id, "api key issued");
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreatedOut {
            account_id: account_id.to_string(),
            api_key: key.expose().to_owned(),
            key_id: key_id.to_string(),
        }),
    ))
}

/// Revokes an API key at once.
#[utoipa::path(
    delete, path = "/admin/api-keys/{keyId}", tag = "admin",
    params(("keyId" = String, Path, description = "The key id")),
    security(("admin_token" = [])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Invalid admin token", body = ErrorOut),
        (status = 404, description = "Resource not found", body = ErrorOut),
    )
)]
pub(crate) async fn revoke_api_key(
    State(state): State<AppState>,
    _operator: Operator,
    PathId(key_id): PathId,
) -> Result<StatusCode, ApiError> {
    let key_id = ApiKeyId::parse(&key_id).ok_or(ApiError::NotFound)?;
    if state
        .store
        .revoke_api_key(key_id, state.clock.now())
        .await?
    {
        tracing::info!(key_id = %key_id, "api key revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}
