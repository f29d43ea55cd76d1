//! Accepting a webhook URL: the SSRF guard, then the challenge (spec A10), as A3 and A6 share.

use optout_core::WebhookUrl;

use super::error::ApiError;
use super::state::AppState;
use crate::challenge::run_challenge;

/// Checks that `url` may be dialled and, unless challenges are off, that its owner echoes a
/// challenge. Any failure is a 400 "URL validation failed" naming the reason.
pub(crate) async fn accept_url(state: &AppState, url: &WebhookUrl) -> Result<(), ApiError> {
    // The DNS lookup is bounded like the challenge: a slow resolver must not hold the request.
    let target = tokio::time::timeout(state.config.challenge_timeout, state.guard.vet(url))
        .await
        .map_err(|_| {
            ApiError::UrlValidationFailed(vec!["url host could not be resolved in time".to_owned()])
        })?
        .map_err(|refused| ApiError::UrlValidationFailed(vec![refused.to_string()]))?;
    if !state.config.url_challenge {
        return Ok(());
    }
    run_challenge(
        url,
        &target,
        state.config.challenge_timeout,
        &state.config.user_agent,
    )
    .await
    .map_err(|reason| ApiError::UrlValidationFailed(vec![reason]))
}
