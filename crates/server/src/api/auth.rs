//! Authentication extractors: account API keys and the operator's admin token.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use optout_core::rate_limit::RateDecision;
use optout_core::{AccountId, ApiKey};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::state::AppState;

/// The header that carries an account's API key (Lusha's name).
pub(crate) const API_KEY_HEADER: &str = "api_key";

/// The account that made the request, authenticated by its `api_key` header and counted
/// against its rate limit (429 with `Retry-After` when over it).
#[derive(Debug, Clone)]
pub(crate) struct CallerAccount(pub AccountId);

impl FromRequestParts<AppState> for CallerAccount {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(ApiKey::parse)
            .ok_or(ApiError::InvalidApiKey)?;
        // The key is looked up by its SHA-256: equality on a hash of a high-entropy key leaks
        // nothing useful through timing.
        let account = state
            .store
            .find_account_by_api_key(&key.hash())
            .await?
            .ok_or(ApiError::InvalidApiKey)?;
        if let Some(limit) = state.config.rate_limit {
            let decision = state
                .store
                .take_rate_limit_slot(&account, limit, state.clock.now())
                .await?;
            if let RateDecision::Limited { retry_after_secs } = decision {
                return Err(ApiError::RateLimited { retry_after_secs });
            }
        }
        Ok(Self(account))
    }
}

/// Proof that the request carried the operator's admin token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let presented = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .ok_or(ApiError::InvalidAdminToken)?;
        if is_admin_token(presented, state.config.admin_token.expose()) {
            Ok(Self)
        } else {
            Err(ApiError::InvalidAdminToken)
        }
    }
}

/// Whether `presented` is the admin token, compared in constant time.
pub(crate) fn is_admin_token(presented: &str, expected: &str) -> bool {
    bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// The token of an `Authorization: Bearer <token>` value; the scheme name is case-insensitive.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}
