//! Every way a request to the receiver is refused, and the one place that maps them to HTTP.

use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use optout_webhook::VerifyError;
use serde::Serialize;

/// A refused request; its response body is `{"statusCode":N,"message":"..."}`.
#[derive(Debug)]
pub(crate) enum Rejection {
    /// A `GET` without a `challenge` query parameter, or with an unreadable query.
    MissingChallenge,
    /// The body could not be read (too large, or the connection broke).
    Body(BytesRejection),
    /// The signature or its timestamp did not verify.
    Unverified(VerifyError),
    /// `X-Lusha-Webhook-Id` is absent.
    MissingWebhookId,
    /// `X-Lusha-Webhook-Id` is empty, too long, or not printable ASCII.
    BadWebhookId,
    /// The verified body is not an opt-out notice.
    BadNotice,
    /// The store failed; the cause is logged where it happened, never sent.
    Internal,
}

impl From<QueryRejection> for Rejection {
    fn from(_: QueryRejection) -> Self {
        Self::MissingChallenge
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    status_code: u16,
    message: &'static str,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::MissingChallenge => (StatusCode::BAD_REQUEST, "Missing challenge"),
            Self::Body(rejection) => match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => (StatusCode::PAYLOAD_TOO_LARGE, "Body too large"),
                _ => (StatusCode::BAD_REQUEST, "Unreadable body"),
            },
            // Outside the window either way: too old is a replay or a late retry, too new is a
            // skewed clock or a forgery; the sender's remedy is the same.
            Self::Unverified(VerifyError::TooOld | VerifyError::TooNew) => {
                (StatusCode::UNAUTHORIZED, "Stale timestamp")
            }
            Self::Unverified(_) => (StatusCode::UNAUTHORIZED, "Invalid signature"),
            Self::MissingWebhookId => (StatusCode::BAD_REQUEST, "Missing X-Lusha-Webhook-Id"),
            Self::BadWebhookId => (StatusCode::BAD_REQUEST, "Invalid X-Lusha-Webhook-Id"),
            Self::BadNotice => (StatusCode::BAD_REQUEST, "Invalid opt-out notice"),
            Self::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
        };
        let body = ErrorBody {
            status_code: status.as_u16(),
            message,
        };
        (status, Json(body)).into_response()
    }
}
