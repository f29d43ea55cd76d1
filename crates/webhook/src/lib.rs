//! Signing and verification of optout-relay opt-out notices.
//!
//! The relay signs every delivery with this crate and receivers verify with it, so the two sides
//! cannot drift apart. A delivery (spec Part C) can carry two signatures over the same body:
//!
//! - **Lusha** (`X-Lusha-Signature`): lowercase hex HMAC-SHA256 over `<timestamp>.<body>`; see
//!   [`sign_lusha`] and [`verify_lusha`].
//! - **Standard Webhooks** (`webhook-signature`): `v1,<base64>` HMAC-SHA256 over
//!   `<id>.<timestamp>.<body>`; see [`sign_standard`] and [`verify_standard`].
//!
//! [`OptOutNotice`] is the body's shape, [`header`] names the headers, and [`Verifier`] bundles
//! secrets, tolerance and an injectable clock for receivers.
//!
//! # What it is not
//!
//! Not an HTTP client or server, not async, not a secret store or generator, and not a retry
//! policy. It works on bytes and header strings so that it fits any framework. It never
//! re-serialises a body to check it: a signature covers the exact bytes received.
//!
//! # The decision you will question
//!
//! One secret string yields two different HMAC keys. The Lusha scheme keys HMAC with the
//! secret's literal UTF-8 text, `whsec_` prefix included; Standard Webhooks keys it with the
//! base64-decoded bytes after the prefix. That looks like a bug, but it is wire compatibility:
//! receivers written against Lusha's documentation use the text as it is, and Standard Webhooks
//! libraries decode it. Secrets are issued as `whsec_` + base64 precisely so both work (spec A1).
//!
//! # A complete receiver (axum)
//!
//! It answers the URL challenge, verifies every delivery on the raw body (401 otherwise),
//! parses the notice, and acknowledges with 2xx. A real receiver stores the notice, keyed by
//! `X-Lusha-Webhook-Id` so a repeated delivery is applied once, before answering.
//!
//! ```no_run
//! use axum::body::Bytes;
//! use axum::extract::Query;
//! use axum::http::{HeaderMap, StatusCode};
//! use axum::routing::post;
//! use axum::{Json, Router};
//! use optout_webhook::{header, OptOutNotice, Secret, Verifier};
//! use std::collections::HashMap;
//! use std::sync::Arc;
//!
//! /// Spec A10: echo the challenge sent when the URL is registered.
//! async fn challenge(Query(query): Query<HashMap<String, String>>) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "challenge": query.get("challenge") }))
//! }
//!
//! fn receive(verifier: &Verifier, headers: &HeaderMap, body: &[u8]) -> StatusCode {
//!     let header_value = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
//!     if let Err(error) = verifier.verify_lusha(header_value, body) {
//!         eprintln!("refused delivery: {error}");
//!         return StatusCode::UNAUTHORIZED;
//!     }
//!     let Ok(notice) = OptOutNotice::from_json_slice(body) else {
//!         return StatusCode::BAD_REQUEST;
//!     };
//!     let Some(webhook_id) = header_value(header::WEBHOOK_ID) else {
//!         return StatusCode::BAD_REQUEST;
//!     };
//!     // Store (webhook_id, notice) once, then delete these datapoints from your systems.
//!     for datapoint in &notice.datapoints {
//!         let _ = (webhook_id, &datapoint.datapoint_id, datapoint.datapoint_type);
//!     }
//!     StatusCode::CREATED
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let secret = std::env::var("OPTOUT_WEBHOOK_SECRET").expect("set the account secret");
//!     let verifier = Arc::new(Verifier::new(vec![Secret::new(secret)]));
//!     let app = Router::new().route(
//!         "/webhook",
//!         post(move |headers: HeaderMap, body: Bytes| {
//!             let verifier = Arc::clone(&verifier);
//!             async move { receive(&verifier, &headers, &body) }
//!         })
//!         .get(challenge),
//!     );
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
//!     axum::serve(listener, app).await
//! }
//! ```
#![deny(missing_docs)]

mod error;
pub mod header;
mod lusha;
mod mac;
mod payload;
mod secret;
mod standard;
mod timestamp;
mod verifier;

pub use error::{SignError, VerifyError};
pub use lusha::{sign_lusha, verify_lusha};
pub use payload::{Datapoint, DatapointType, OptOutNotice};
pub use secret::Secret;
pub use standard::{sign_standard, verify_standard};
pub use verifier::Verifier;

/// How far, in seconds, a signed timestamp may lie from the receiver's clock, either way.
///
/// Five minutes is what Standard Webhooks and most providers use: wide enough for clock skew and
/// slow networks, narrow enough that a captured request cannot be replayed for long.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;
