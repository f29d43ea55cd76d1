//! A recording proxy in the test process: every request is forwarded to a target (a `receive`
//! child process) and every POST is kept with its headers, body and answer, so that a test can
//! replay exactly what the relay sent. It runs on its own runtime, stopped when dropped.

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One POST as the relay sent it, and what the target answered.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The request headers, names lowercase, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, byte for byte.
    pub body: Vec<u8>,
    /// The target's status code.
    pub status: u16,
    /// The target's body.
    pub answer: String,
}

impl Captured {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Shared {
    target: String,
    client: reqwest::Client,
    posts: Mutex<Vec<Captured>>,
    changed: Condvar,
}

/// The proxy, on `127.0.0.1:0`, forwarding any path and query to the target.
#[derive(Debug)]
pub struct CaptureProxy {
    address: String,
    shared: Arc<Shared>,
    // Dropping the runtime stops the proxy.
    _runtime: tokio::runtime::Runtime,
}

impl CaptureProxy {
    /// Starts a proxy forwarding to `target` (`http://host:port`).
    pub fn start(target: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("proxy runtime");
        let shared = Arc::new(Shared {
            target: target.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("proxy client"),
            posts: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        });
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind proxy");
        let address = format!("http://{}", listener.local_addr().expect("proxy address"));
        let router = Router::new()
            .fallback(forward)
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

    /// The URL of `path` on the proxy.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Waits, within `patience`, until `count` POSTs have been forwarded and answered; returns
    /// them all, or fails naming how many arrived.
    pub fn wait_for_posts(&self, count: usize, patience: Duration) -> Vec<Captured> {
        let deadline = Instant::now() + patience;
        let mut posts = self.shared.posts.lock().expect("posts lock");
        loop {
            if posts.len() >= count {
                return posts.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "only {} of {count} deliveries within {patience:?}: {posts:?}",
                posts.len()
            );
            posts = self
                .shared
                .changed
                .wait_timeout(posts, left)
                .expect("posts lock")
                .0;
        }
    }
}

/// Forwards the request as it came (path, query, headers, body) and answers with the target's
/// status and body.
async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = shared
        .client
        .request(method.clone(), format!("{}{path}", shared.target))
        .body(body.clone());
    let mut kept = Vec::new();
    for (name, value) in &headers {
        if matches!(name.as_str(), "host" | "content-length" | "connection") {
            continue;
        }
        request = request.header(name, value);
        kept.push((
            name.as_str().to_owned(),
            value.to_str().unwrap_or_default().to_owned(),
        ));
    }
    let (status, answer) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.text().await.unwrap_or_default())
        }
        Err(error) => (502, format!("proxy could not reach the target: {error}")),
    };
    if method == Method::POST {
        shared.posts.lock().expect("posts lock").push(Captured {
            headers: kept,
            body: body.to_vec(),
            status,
            answer: answer.clone(),
        });
        shared.changed.notify_all();
    }
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
        .header("content-type", "application/json")
        .body(Body::from(answer))
        .expect("response")
}
