//! The operator dashboard at `/ui`: server-rendered HTML behind the admin token.
//!
//! It shows the queue (cards and a chart of its recent history), every subscription's state, the
//! recent failed attempts, and an opt-out's compliance record on search. It is not an API: its
//! routes are left out of the OpenAPI document, and scripts should use `/admin` and `/metrics`.
//!
//! Design decision a newcomer may question: there is no JavaScript and nothing is loaded from
//! elsewhere. Every page is rendered on the server, the chart is inline SVG, and the stylesheet
//! is served from `/ui/style.css`, so the Content-Security-Policy can forbid scripts, inline
//! styles and every other origin outright.

mod chart;
mod dashboard;
mod html;
mod login;
mod page;
mod search;
mod session;
mod summary;
mod tables;

use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::api::state::AppState;

/// What a dashboard page may load: its own stylesheet and data-URL images, nothing else; no
/// scripts at all, forms only to itself, and no framing.
const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's routes, with its security headers on every response.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ui", get(dashboard::show))
        .route("/ui/login", post(login::login))
        .route("/ui/logout", post(login::logout))
        .route("/ui/style.css", get(page::stylesheet))
        .layer(middleware::from_fn(security_headers))
}

/// Adds the dashboard's security headers to a response.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY_VALUE),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
        (CACHE_CONTROL, "no-store"),
        (X_FRAME_OPTIONS, "DENY"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}
