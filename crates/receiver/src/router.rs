//! [`receiver_router`]: the URL challenge and the delivery endpoint, on every path.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use optout_webhook::{header, OptOutNotice, Secret, Verifier, DEFAULT_TOLERANCE_SECS};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::rejection::Rejection;
use crate::store::{Delivery, Recorded, SuppressionStore};

/// Largest body accepted: the relay's own limit (spec conventions). A notice is well under 4 KiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Longest webhook id accepted; the relay's are 24 characters.
const MAX_WEBHOOK_ID_LEN: usize = 128;

/// What the receiver trusts.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// The account's webhook secrets; a delivery signed with any of them is accepted. Give the
    /// old and the new one while rotating.
    pub secrets: Vec<Secret>,
    /// How far `X-Lusha-Timestamp` may lie from this receiver's clock, either way.
    pub tolerance: Duration,
}

impl ReceiverConfig {
    /// Trusts `secrets`, with the usual 5-minute tolerance.
    pub fn new(secrets: Vec<Secret>) -> Self {
        Self {
            secrets,
            tolerance: Duration::from_secs(DEFAULT_TOLERANCE_SECS.unsigned_abs()),
        }
    }
}

type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Everything the handlers need: the verifier built from a [`ReceiverConfig`], the store, and a
/// clock (the system's unless replaced).
pub struct ReceiverState {
    config: ReceiverConfig,
    verifier: Verifier,
    store: SuppressionStore,
    clock: Clock,
}

impl ReceiverState {
    /// The state of a receiver trusting `config` and recording into `store`.
    pub fn new(config: ReceiverConfig, store: SuppressionStore) -> Self {
        let clock: Clock = Arc::new(Utc::now);
        Self {
            verifier: verifier(&config, &clock),
            config,
            store,
            clock,
        }
    }

    /// Replaces the clock, for the timestamp window, `received_at` and the response (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self.verifier = verifier(&self.config, &self.clock);
        self
    }

    /// The store deliveries are recorded in.
    pub fn store(&self) -> &SuppressionStore {
        &self.store
    }
}

impl fmt::Debug for ReceiverState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The config's secrets print redacted; the clock is an opaque closure.
        f.debug_struct("ReceiverState")
            .field("config", &self.config)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn verifier(config: &ReceiverConfig, clock: &Clock) -> Verifier {
    let clock = Arc::clone(clock);
    Verifier::new(config.secrets.clone())
        .with_tolerance(config.tolerance)
        .with_clock(move || clock().timestamp())
}

/// The receiver: `GET <any path>?challenge=X` echoes `{"challenge":"X"}` (spec A10), and
/// `POST <any path>` takes a delivery (spec C1):
///
/// - 401 `Invalid signature` or `Stale timestamp` when `X-Lusha-Signature` does not verify;
///   nothing is read further or stored;
/// - 400 when `X-Lusha-Webhook-Id` is missing or the body is not an opt-out notice;
/// - 201 `{"received":true,"timestamp":"<now>","webhookId":"<id>"}` once the notice is recorded,
///   and the same for a replay, which records nothing. A test delivery (`X-Lusha-Test: true`,
///   a fake contact) is verified and answered but not recorded.
///
/// Any path is accepted, so the subscription URL can be whatever the operator's proxy exposes.
pub fn receiver_router(state: ReceiverState) -> Router {
    let endpoint = get(challenge).post(deliver);
    Router::new()
        .route("/", endpoint.clone())
        .route("/{*path}", endpoint)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(Arc::new(state))
}

#[derive(Deserialize)]
struct ChallengeQuery {
    challenge: Option<String>,
}

#[derive(Serialize)]
struct Echo {
    challenge: String,
}

async fn challenge(
    query: Result<Query<ChallengeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Echo>, Rejection> {
    let Query(query) = query?;
    let challenge = query.challenge.ok_or(Rejection::MissingChallenge)?;
    Ok(Json(Echo { challenge }))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Received {
    received: bool,
    timestamp: String,
    webhook_id: String,
}

async fn deliver(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Received>), Rejection> {
    let body = body.map_err(Rejection::Body)?;
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Err(error) = state.verifier.verify_lusha(header, &body) {
        // The id is not covered by the signature: logged as claimed, in Debug form.
        tracing::warn!(reason = %error, claimed_webhook_id = ?header(header::WEBHOOK_ID),
            "delivery refused: not verified");
        return Err(Rejection::Unverified(error));
    }
    let webhook_id = webhook_id(header(header::WEBHOOK_ID))?;
    let attempt = header(header::ATTEMPT).unwrap_or("?");
    let notice = OptOutNotice::from_json_slice(&body).map_err(|error| {
        tracing::warn!(webhook_id, category = ?error.classify(),
            "delivery refused: not an opt-out notice");
        Rejection::BadNotice
    })?;
    let now = (state.clock)();
    if header(header::TEST) == Some("true") {
        tracing::info!(webhook_id, "test delivery verified; not recorded");
    } else {
        let delivery = Delivery {
            webhook_id,
            body: &body,
            notice: &notice,
            received_at: now,
        };
        let datapoints = notice.datapoints.len();
        match state.store.record_delivery(delivery).await {
            Ok(Recorded::Applied { added }) => {
                tracing::info!(webhook_id, attempt, datapoints, added, "notice applied");
            }
            Ok(Recorded::Replayed) => {
                tracing::info!(
                    webhook_id,
                    attempt,
                    "notice replayed: already applied, nothing written"
                );
            }
            Ok(Recorded::AppliedUnderKnownId { added }) => {
                tracing::warn!(
                    webhook_id,
                    attempt,
                    datapoints,
                    added,
                    "webhook id seen before with a different body: applied anyway"
                );
            }
            Err(error) => {
                tracing::error!(webhook_id, %error, "cannot record the notice");
                return Err(Rejection::Internal);
            }
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(Received {
            received: true,
            timestamp: now.to_rfc3339_opts(SecondsFormat::Millis, true),
            webhook_id: webhook_id.to_owned(),
        }),
    ))
}

/// The webhook id, if it is one: 1 to 128 printable ASCII characters, no spaces.
fn webhook_id(raw: Option<&str>) -> Result<&str, Rejection> {
    let id = raw.ok_or(Rejection::MissingWebhookId)?;
    let printable = id.bytes().all(|byte| byte.is_ascii_graphic());
    if id.is_empty() || id.len() > MAX_WEBHOOK_ID_LEN || !printable {
        return Err(Rejection::BadWebhookId);
    }
    Ok(id)
}
