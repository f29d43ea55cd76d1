//! The API's one error type and its one mapping to HTTP.

use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use optout_core::SealError;
use optout_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Every error the API answers with. Each variant maps to exactly one status and message.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// Missing, malformed, unknown or revoked `api_key`.
    InvalidApiKey,
    /// Missing or wrong admin bearer token.
    InvalidAdminToken,
    /// The request is well-formed JSON but its values are wrong; every problem is listed.
    Validation(Vec<String>),
    /// The body is not JSON.
    MalformedJson(String),
    /// The body is not declared as `application/json`.
    UnsupportedContentType,
    /// The webhook URL's target or challenge failed.
    UrlValidationFailed(Vec<String>),
    /// The body is over the size limit.
    PayloadTooLarge,
    /// No such resource, or another account's.
    NotFound,
    /// The account has no secret (A2).
    SecretNotFound,
    /// The account has no secret, so it cannot subscribe (A3).
    SecretRequired,
    /// The account already has its opt-out subscription.
    SubscriptionExists,
    /// The resource exists already (operator API).
    Conflict(&'static str),
    /// The path exists but not with this method.
    MethodNotAllowed,
    /// The account is over its rate limit; it may retry after this many seconds.
    RateLimited {
        /// The `Retry-After` value.
        retry_after_secs: u64,
    },
    /// The request body did not arrive in time.
    BodyTimeout,
    /// Anything unexpected; details are logged, never sent.
    Internal,
}

/// The error body of every endpoint: `statusCode` equals the HTTP status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ErrorOut {
    /// The HTTP status.
    #[schema(example = 400)]
    pub status_code: u16,
    /// What went wrong.
    #[schema(example = "Validation failed")]
    pub message: String,
    /// Every validation problem, when there are several.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!(["url must use https"]))]
    pub errors: Option<Vec<String>>,
}

/// The message shared by A2's 404 and A3's 403.
pub(crate) const SECRET_NOT_FOUND: &str = "Account secret not found. Please generate one first.";

impl ApiError {
    /// The message and listed problems, as one line.
    pub(crate) fn describe(self) -> String {
        let (_, message, errors) = self.parts();
        match errors {
            Some(errors) => format!("{message}: {}", errors.join("; ")),
            None => message.to_owned(),
        }
    }

    fn parts(self) -> (StatusCode, &'static str, Option<Vec<String>>) {
        use ApiError::*;
        match self {
            InvalidApiKey => (StatusCode::UNAUTHORIZED, "Invalid API key", None),
            InvalidAdminToken => (StatusCode::UNAUTHORIZED, "Invalid admin token", None),
            Validation(errors) => (StatusCode::BAD_REQUEST, "Validation failed", Some(errors)),
            MalformedJson(detail) => (
                StatusCode::BAD_REQUEST,
                "Malformed JSON",
                Some(vec![detail]),
            ),
            UnsupportedContentType => (
                StatusCode::BAD_REQUEST,
                "Content-Type must be application/json",
                None,
            ),
            UrlValidationFailed(errors) => (
                StatusCode::BAD_REQUEST,
                "URL validation failed",
                Some(errors),
            ),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large", None),
            NotFound => (StatusCode::NOT_FOUND, "Resource not found", None),
            SecretNotFound => (StatusCode::NOT_FOUND, SECRET_NOT_FOUND, None),
            SecretRequired => (StatusCode::FORBIDDEN, SECRET_NOT_FOUND, None),
            SubscriptionExists => (
                StatusCode::FORBIDDEN,
                "An opt-out subscription already exists for this account",
                None,
            ),
            Conflict(message) => (StatusCode::CONFLICT, message, None),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", None),
            RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "Too many requests", None),
            BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "Request body not received in time",
                None,
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                None,
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = match self {
            Self::RateLimited { retry_after_secs } => Some(retry_after_secs),
            _ => None,
        };
        let (status, message, errors) = self.parts();
        let body = ErrorOut {
            status_code: status.as_u16(),
            message: message.to_owned(),
            errors,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => Self::NotFound,
            StoreError::SubscriptionExists => Self::SubscriptionExists,
            StoreError::SecretMissing => Self::SecretRequired,
            StoreError::AccountExists => Self::Conflict("Account already exists"),
            StoreError::IdempotencyMismatch => {
                Self::Conflict("Idempotency-Key was already used for a different request")
            }
            other => {
                tracing::error!(error = %other, "store failure");
                Self::Internal
            }
        }
    }
}

impl From<SealError> for ApiError {
    /// A stored secret that does not open is the operator's problem (a master key missing from
    /// the keyring, or a row altered), never the caller's: logged, answered as a 500.
    fn from(error: SealError) -> Self {
        tracing::error!(%error, "an account secret does not open with the configured master keys");
        Self::Internal
    }
}

/// Answers unknown paths in the error shape.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// Answers known paths called with the wrong method in the error shape.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
