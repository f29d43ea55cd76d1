//! A receiver of deliveries (spec Part C) that the tests program path by path.
//!
//! It answers the URL challenge (spec A10) on every path, records every POST (path, headers, raw
//! body bytes) and answers it as its path was told to: 200, 500 a few times then 200, always
//! 500, or only once the path's gate opens. Like a careful receiver, it checks every request with
//! our own `optout-webhook` crate and the account secret registered for the path: the Lusha
//! signature over the raw body, the Lusha signature over the body re-serialised the way Lusha's
//! sample verifier does (`JSON.stringify(JSON.parse(body))`, which must give the same bytes), and
//! the Standard Webhooks signature when its headers are present.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use optout_webhook::{header, verify_lusha, verify_standard, Secret};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How far a signed timestamp may be from the receiver's clock: Lusha's and Standard Webhooks'
/// usual five minutes.
const TOLERANCE_SECS: i64 = 300;

/// How a path answers deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// 200, every time.
    Ok,
    /// 500 for the next `n` requests, then 200.
    FailNext(usize),
    /// 500, every time.
    AlwaysFail,
    /// This status with an empty body, every time.
    Status(StatusCode),
    /// 307 to this path of the same receiver, every time.
    RedirectTo(&'static str),
}

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The request path.
    pub path: String,
    /// Every header, as received.
    pub headers: HeaderMap,
    /// The raw body bytes.
    pub body: Bytes,
    /// The status the receiver answered with.
    pub status: StatusCode,
    /// `Ok` if every signature checked out; otherwise what did not.
    pub verification: Result<(), String>,
}

impl Delivery {
    /// A header's value as text; `None` when absent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|value| value.to_str().expect("header value is visible ASCII"))
    }

    /// A header that must be present.
    pub fn required_header(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("delivery to {} has no {name} header", self.path))
    }

    /// `X-Lusha-Webhook-Id`: the notice id.
    pub fn webhook_id(&self) -> &str {
        self.required_header(header::WEBHOOK_ID)
    }

    /// `X-Lusha-Attempt`, as a number.
    pub fn attempt(&self) -> u32 {
        let text = self.required_header(header::ATTEMPT);
        text.parse()
            .unwrap_or_else(|_| panic!("X-Lusha-Attempt {text:?} is not a number"))
    }

    /// Whether this is an A8 test delivery (`X-Lusha-Test: true`).
    pub fn is_test(&self) -> bool {
        self.header(header::TEST) == Some("true")
    }

    /// The body as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("delivery body is UTF-8")
    }

    /// The body parsed (keys in the order received).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("delivery body is not JSON ({error}): {}", self.text()))
    }
}

/// One path's programming and counters.
#[derive(Debug)]
struct Route {
    secret: Option<Secret>,
    reply: Reply,
    /// `true` while the gate is open; requests wait while it is closed.
    gate: watch::Sender<bool>,
    in_flight: usize,
    max_in_flight: usize,
}

impl Default for Route {
    fn default() -> Self {
        Self {
            secret: None,
            reply: Reply::Ok,
            gate: watch::Sender::new(true),
            in_flight: 0,
            max_in_flight: 0,
        }
    }
}

impl Route {
    /// The status of the next answer, counting down [`Reply::FailNext`].
    fn next_status(&mut self) -> StatusCode {
        match self.reply {
            Reply::Ok => StatusCode::OK,
            Reply::AlwaysFail => StatusCode::INTERNAL_SERVER_ERROR,
            Reply::Status(status) => status,
            Reply::RedirectTo(_) => StatusCode::TEMPORARY_REDIRECT,
            Reply::FailNext(0) => {
                self.reply = Reply::Ok;
                StatusCode::OK
            }
            Reply::FailNext(left) => {
                self.reply = Reply::FailNext(left - 1);
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    deliveries: Mutex<Vec<Delivery>>,
}

impl Shared {
    fn routes(&self) -> MutexGuard<'_, HashMap<String, Route>> {
        self.routes.lock().expect("routes lock")
    }

    fn deliveries(&self) -> MutexGuard<'_, Vec<Delivery>> {
        self.deliveries.lock().expect("deliveries lock")
    }
}

/// An axum server on `127.0.0.1:0`, stopped when dropped.
#[derive(Debug)]
pub struct DeliveryReceiver {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl DeliveryReceiver {
    /// Starts a receiver; every path answers 200 until told otherwise.
    pub async fn spawn() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind delivery receiver");
        let address = format!(
            "http://{}",
            listener.local_addr().expect("delivery receiver address")
        );
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("delivery receiver serves");
        });
        Self {
            address,
            shared,
            server,
        }
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Verifies later deliveries to `path` with this account secret.
    pub fn set_secret(&self, path: &str, secret: &str) {
        self.shared
            .routes()
            .entry(path.to_owned())
            .or_default()
            .secret = Some(Secret::new(secret));
    }

    /// Changes how later deliveries to `path` are answered.
    pub fn reply(&self, path: &str, reply: Reply) {
        self.shared
            .routes()
            .entry(path.to_owned())
            .or_default()
            .reply = reply;
    }

    /// Makes later deliveries to `path` wait, unanswered, until [`Self::open_gate`].
    pub fn close_gate(&self, path: &str) {
        self.shared
            .routes()
            .entry(path.to_owned())
            .or_default()
            .gate
            .send_replace(false);
    }

    /// Answers every waiting and later delivery to `path`.
    pub fn open_gate(&self, path: &str) {
        self.shared
            .routes()
            .entry(path.to_owned())
            .or_default()
            .gate
            .send_replace(true);
    }

    /// Deliveries to `path` not answered yet.
    pub fn in_flight(&self, path: &str) -> usize {
        self.shared
            .routes()
            .get(path)
            .map_or(0, |route| route.in_flight)
    }

    /// The most deliveries to `path` that were unanswered at once.
    pub fn max_in_flight(&self, path: &str) -> usize {
        self.shared
            .routes()
            .get(path)
            .map_or(0, |route| route.max_in_flight)
    }

    /// Every POST to `path` so far, in arrival order. Panics if any failed verification: a
    /// delivery whose signatures do not check out is a bug whatever the test is about.
    pub fn deliveries(&self, path: &str) -> Vec<Delivery> {
        let deliveries: Vec<Delivery> = self
            .shared
            .deliveries()
            .iter()
            .filter(|delivery| delivery.path == path)
            .cloned()
            .collect();
        for delivery in &deliveries {
            if let Err(problem) = &delivery.verification {
                panic!(
                    "delivery to {path} failed verification: {problem}\nbody: {}",
                    delivery.text()
                );
            }
        }
        deliveries
    }

    /// The notices (not A8 test deliveries) POSTed to `path` so far.
    pub fn notices(&self, path: &str) -> Vec<Delivery> {
        self.deliveries(path)
            .into_iter()
            .filter(|delivery| !delivery.is_test())
            .collect()
    }
}

impl Drop for DeliveryReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Counts a delivery out of its path's in-flight number when its answer is sent, or when the
/// sender gives up and the request is dropped.
struct InFlight {
    shared: Arc<Shared>,
    path: String,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(route) = self.shared.routes().get_mut(&self.path) {
            route.in_flight -= 1;
        }
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method == Method::GET {
        let challenge = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(key, _)| key == "challenge")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        return axum::Json(serde_json::json!({ "challenge": challenge })).into_response();
    }
    let path = uri.path().to_owned();
    let (status, location, mut gate) = {
        let mut routes = shared.routes();
        let route = routes.entry(path.clone()).or_default();
        let status = route.next_status();
        let location = match route.reply {
            Reply::RedirectTo(target) => Some(target),
            _ => None,
        };
        route.in_flight += 1;
        route.max_in_flight = route.max_in_flight.max(route.in_flight);
        let verification = verify(route.secret.as_ref(), &headers, &body);
        shared.deliveries().push(Delivery {
            path: path.clone(),
            headers,
            body,
            status,
            verification,
        });
        (status, location, route.gate.subscribe())
    };
    let _in_flight = InFlight {
        shared: Arc::clone(&shared),
        path,
    };
    // The sender of the gate lives in the route, which is never removed.
    gate.wait_for(|open| *open)
        .await
        .expect("the gate outlives its requests");
    match location {
        Some(target) => (status, [(axum::http::header::LOCATION, target)]).into_response(),
        None => status.into_response(),
    }
}

/// Checks every signature of a request with `secret`.
fn verify(secret: Option<&Secret>, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let secret = secret.ok_or("no account secret registered for this path")?;
    let secrets = std::slice::from_ref(secret);
    let now = chrono::Utc::now().timestamp();
    let text = |name: &'static str| {
        headers
            .get(name)
            .map(|value| value.to_str().map_err(|_| format!("{name} is not ASCII")))
            .transpose()
    };
    let timestamp = text(header::TIMESTAMP)?.ok_or("no X-Lusha-Timestamp")?;
    let signature = text(header::SIGNATURE)?.ok_or("no X-Lusha-Signature")?;
    verify_lusha(secrets, timestamp, signature, body, now, TOLERANCE_SECS)
        .map_err(|error| format!("Lusha signature over the raw body: {error}"))?;

    let reserialised = reserialise_like_lusha_sample(body)?;
    if reserialised != body {
        return Err(format!(
            "JSON.stringify(JSON.parse(body)) differs from the body:\n sent: {}\n  got: {}",
            String::from_utf8_lossy(body),
            String::from_utf8_lossy(&reserialised)
        ));
    }
    verify_lusha(
        secrets,
        timestamp,
        signature,
        &reserialised,
        now,
        TOLERANCE_SECS,
    )
    .map_err(|error| format!("Lusha signature over the re-serialised body: {error}"))?;

    match (
        text(header::STD_ID)?,
        text(header::STD_TIMESTAMP)?,
        text(header::STD_SIGNATURE)?,
    ) {
        (None, None, None) => Ok(()),
        (Some(id), Some(timestamp), Some(signature)) => {
            verify_standard(secrets, id, timestamp, signature, body, now, TOLERANCE_SECS)
                .map_err(|error| format!("Standard Webhooks signature: {error}"))
        }
        _ => Err("only some of the Standard Webhooks headers are present".to_owned()),
    }
}

/// What Lusha's sample verifier signs: `JSON.stringify(JSON.parse(body))`, i.e. the body parsed
/// with its key order kept and written back compactly.
fn reserialise_like_lusha_sample(body: &[u8]) -> Result<Vec<u8>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        format!(
            "body is not JSON ({error}): {}",
            String::from_utf8_lossy(body)
        )
    })?;
    serde_json::to_vec(&value).map_err(|error| format!("cannot re-serialise: {error}"))
}
