//! A webhook receiver in the test process: it answers URL challenges, verifies every delivery's
//! signature with our own `optout-webhook` crate, and records what it saw. The tests themselves
//! stay synchronous: the receiver runs on its own runtime, stopped when it is dropped.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use optout_webhook::{Secret, Verifier};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One delivery as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The account of the subscription URL it came to.
    pub account: String,
    /// `X-Lusha-Webhook-Id`: the notice id.
    pub notice_id: String,
    /// The payload's `contactId`.
    pub contact_id: String,
    /// The `User-Agent` header: which node sent it, when each node is given its own.
    pub user_agent: String,
    /// When it arrived.
    pub at: Instant,
}

/// Everything the receiver saw so far.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Every delivery POST, in arrival order (retries and duplicates included).
    pub deliveries: Vec<Delivery>,
    /// The distinct notice ids.
    pub notice_ids: HashSet<String>,
    /// Deliveries whose signature did not verify, with the reason.
    pub bad_signatures: Vec<String>,
}

impl Seen {
    /// Delivery POSTs in all.
    pub fn posts(&self) -> usize {
        self.deliveries.len()
    }

    /// Distinct notices delivered.
    pub fn unique(&self) -> usize {
        self.notice_ids.len()
    }

    /// POSTs beyond the first of each notice.
    pub fn duplicates(&self) -> usize {
        self.posts() - self.unique()
    }

    /// Delivery POSTs per `User-Agent` value (retries and duplicates included).
    pub fn per_user_agent(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for delivery in &self.deliveries {
            *counts.entry(delivery.user_agent.clone()).or_default() += 1;
        }
        counts
    }

    /// Delivery POSTs with `user_agent`.
    pub fn posts_by(&self, user_agent: &str) -> usize {
        self.deliveries
            .iter()
            .filter(|delivery| delivery.user_agent == user_agent)
            .count()
    }
}

#[derive(Debug)]
struct Shared {
    /// How long each delivery takes to answer, so that deliveries are in flight at any moment.
    delay: Duration,
    secrets: Mutex<HashMap<String, Secret>>,
    seen: Mutex<Seen>,
    changed: Condvar,
}

/// An axum server on `127.0.0.1:0`; subscription URLs are `/hook/<account id>`.
#[derive(Debug)]
pub struct Receiver {
    address: String,
    shared: Arc<Shared>,
    // Dropping the runtime stops the server.
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    /// Starts a receiver that answers each delivery 200 after `delay`.
    pub fn start(delay: Duration) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("receiver runtime");
        let shared = Arc::new(Shared {
            delay,
            secrets: Mutex::new(HashMap::new()),
            seen: Mutex::new(Seen::default()),
            changed: Condvar::new(),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind receiver");
        let address = format!(
            "http://{}",
            listener.local_addr().expect("receiver address")
        );
        let router = Router::new()
            .route("/hook/{account}", get(challenge).post(deliver))
            .with_state(Arc::clone(&shared));
        runtime.spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            address,
            shared,
            _runtime: runtime,
        }
    }

    /// The webhook URL to register for `account`.
    pub fn url_for(&self, account: &str) -> String {
        format!("{}/hook/{account}", self.address)
    }

    /// Verifies deliveries to `account`'s URL with `secret` from now on.
    pub fn trust(&self, account: &str, secret: &str) {
        self.shared
            .secrets
            .lock()
            .expect("secrets lock")
            .insert(account.to_owned(), Secret::new(secret));
    }

    /// A copy of what was seen so far.
    pub fn seen(&self) -> Seen {
        self.shared.seen.lock().expect("seen lock").clone()
    }

    /// How many delivery POSTs arrived so far.
    pub fn posts(&self) -> usize {
        self.shared.seen.lock().expect("seen lock").posts()
    }

    /// Waits until `done` holds of what was seen, or `patience` has passed; returns what was
    /// seen, `Ok` if `done` held.
    pub fn wait_until(
        &self,
        patience: Duration,
        done: impl Fn(&Seen) -> bool,
    ) -> Result<Seen, Seen> {
        let deadline = Instant::now() + patience;
        let mut seen = self.shared.seen.lock().expect("seen lock");
        loop {
            if done(&seen) {
                return Ok(seen.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(seen.clone());
            }
            seen = self
                .shared
                .changed
                .wait_timeout(seen, left)
                .expect("seen lock")
                .0;
        }
    }
}

/// The URL challenge (spec A10): echo the value.
async fn challenge(Query(query): Query<HashMap<String, String>>) -> (StatusCode, Json<Value>) {
    match query.get("challenge") {
        Some(value) => (StatusCode::OK, Json(json!({ "challenge": value }))),
        None => (StatusCode::BAD_REQUEST, Json(json!({}))),
    }
}

/// A delivery: recorded on arrival, as a receiver that acts on it would, answered after the
/// configured delay.
async fn deliver(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let at = Instant::now();
    let notice_id = header("x-lusha-webhook-id").unwrap_or_default().to_owned();
    let user_agent = header("user-agent").unwrap_or_default().to_owned();
    let contact_id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|payload| payload["contactId"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let secret = shared
        .secrets
        .lock()
        .expect("secrets lock")
        .get(&account)
        .cloned();
    let verified = match secret {
        Some(secret) => Verifier::new(vec![secret])
            .verify_lusha(header, &body)
            .map_err(|error| format!("{notice_id}: {error}")),
        None => Err(format!(
            "{notice_id}: no secret known for account {account}"
        )),
    };
    {
        let mut seen = shared.seen.lock().expect("seen lock");
        if let Err(problem) = verified {
            seen.bad_signatures.push(problem);
        }
        seen.notice_ids.insert(notice_id.clone());
        seen.deliveries.push(Delivery {
            account,
            notice_id,
            contact_id,
            user_agent,
            at,
        });
    }
    shared.changed.notify_all();
    tokio::time::sleep(shared.delay).await;
    StatusCode::OK
}
