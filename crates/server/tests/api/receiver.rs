//! A webhook receiver the tests control: it answers the URL challenge (spec A10) and can be told
//! to misbehave.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How the receiver answers a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 `{"challenge":"<the value>"}`: the challenge passes.
    Echo,
    /// 200 with a different value.
    WrongEcho,
    /// HTTP 500.
    ServerError,
    /// Never answers in time: sleeps far longer than the tests' challenge timeout.
    Hang,
    /// 302 to the same path, which would echo if followed; redirects must not be followed.
    Redirect,
    /// 204 with no body: a 2xx, but not the 200 with an echo the challenge asks for.
    NoContent,
}

/// How long [`Behaviour::Hang`] keeps a request waiting; far beyond the 500 ms timeout the tests
/// configure, and cut short anyway when the test's runtime ends.
const HANG_FOR: Duration = Duration::from_secs(30);

#[derive(Debug)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    requests: AtomicUsize,
    challenges: Mutex<Vec<String>>,
}

/// An axum server on `127.0.0.1:0` (or the address given to `spawn_on`), stopped when dropped.
#[derive(Debug)]
pub struct TestReceiver {
    /// `http://127.0.0.1:PORT` (or `http://[::1]:PORT`).
    pub address: String,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl TestReceiver {
    /// Starts a receiver that echoes challenges correctly.
    pub async fn spawn() -> Self {
        Self::spawn_on("127.0.0.1:0").await
    }

    /// Starts a receiver that echoes challenges correctly, bound on `address` (e.g. `[::1]:0`).
    pub async fn spawn_on(address: &str) -> Self {
        let listener = TcpListener::bind(address).await.expect("bind receiver");
        let address = format!(
            "http://{}",
            listener.local_addr().expect("receiver address")
        );
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(Behaviour::Echo),
            requests: AtomicUsize::new(0),
            challenges: Mutex::new(Vec::new()),
        });
        let router = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("receiver serves");
        });
        Self {
            address,
            shared,
            server,
        }
    }

    /// Starts a receiver that misbehaves from the start.
    pub async fn spawn_with(behaviour: Behaviour) -> Self {
        let receiver = Self::spawn().await;
        receiver.set_behaviour(behaviour);
        receiver
    }

    /// The webhook URL to register: `http://127.0.0.1:PORT/webhook`.
    pub fn url(&self) -> String {
        format!("{}/webhook", self.address)
    }

    /// Changes how later challenges are answered.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().expect("behaviour lock") = behaviour;
    }

    /// How many requests arrived so far.
    pub fn request_count(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The challenge values received so far, in order.
    pub fn challenges(&self) -> Vec<String> {
        self.shared
            .challenges
            .lock()
            .expect("challenges lock")
            .clone()
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let challenge = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(key, _)| key == "challenge")
        .map(|(_, value)| value.into_owned());
    if let Some(value) = &challenge {
        shared
            .challenges
            .lock()
            .expect("challenges lock")
            .push(value.clone());
    }
    let behaviour = *shared.behaviour.lock().expect("behaviour lock");
    match behaviour {
        Behaviour::Echo => {
            axum::Json(serde_json::json!({ "challenge": challenge.unwrap_or_default() }))
                .into_response()
        }
        Behaviour::WrongEcho => {
            axum::Json(serde_json::json!({ "challenge": "not-the-value-that-was-sent" }))
                .into_response()
        }
        Behaviour::ServerError => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Behaviour::Redirect => (
            StatusCode::FOUND,
            [(
                axum::http::header::LOCATION,
                format!("/echo?challenge={}", challenge.unwrap_or_default()),
            )],
        )
            .into_response(),
        Behaviour::NoContent => StatusCode::NO_CONTENT.into_response(),
        Behaviour::Hang => {
            tokio::time::sleep(HANG_FOR).await;
            StatusCode::OK.into_response()
        }
    }
}
