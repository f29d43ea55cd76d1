//! `spawn_app()`, the app under test and the requests the tests send to it.

use optout_core::rate_limit::RateLimit;
use optout_core::{Clock, Keyring, RetryPolicy, SystemClock, UrlPolicy};
use optout_server::metrics::{sample_once, Metrics};
use optout_server::{AdminToken, App, AppConfig, EngineConfig};
use optout_store::Store;
use optout_store_sqlite::SqliteStore;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::receiver::TestReceiver;
use crate::snapshot::{self, Snapshot};

/// The operator token every test app is configured with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
/// The challenge timeout of test apps: short, so that a hanging receiver fails fast.
pub const CHALLENGE_TIMEOUT: Duration = Duration::from_millis(500);
/// The master key of test apps (base64 of the bytes 0 to 31): fixed, so an app restarted on the
/// same database opens the secrets it sealed.
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// A well-formed subscription id that no test ever creates.
pub const UNKNOWN_ID: &str = "0123456789abcdef01234567";

/// The exact 401 body of Part A.
pub const INVALID_API_KEY_BODY: &str = r#"{"statusCode":401,"message":"Invalid API key"}"#;
/// The exact 404 body of A5, A6 and unknown routes.
pub const NOT_FOUND_BODY: &str = r#"{"statusCode":404,"message":"Resource not found"}"#;
/// The message of A2's 404 and A3's 403.
pub const SECRET_NOT_FOUND: &str = "Account secret not found. Please generate one first.";

/// A running app, its database and a receiver for webhook URLs.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// The admin bearer token.
    pub admin_token: String,
    /// The SQLite file.
    pub db_path: PathBuf,
    /// A client with no proxy and no redirects.
    pub client: reqwest::Client,
    /// A receiver that echoes challenges, for subscriptions' URLs.
    pub receiver: TestReceiver,
    store: SqliteStore,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    /// The delivery engine's task, when the app runs one.
    engine: Option<JoinHandle<()>>,
    dir: TempDir,
}

/// An account created through the admin API.
#[derive(Debug, Clone)]
pub struct TestAccount {
    pub id: String,
    pub api_key: String,
    pub key_id: String,
}

/// The rate limit of test apps: high enough for tests that poll, low enough to stay on.
pub const TEST_RATE_LIMIT: u32 = 100_000;

/// The configuration of test apps: insecure URLs and private targets allowed (the receiver is
/// `http://127.0.0.1`), challenges on with a short timeout, a rate limit no test reaches unless
/// it lowers it.
pub fn test_config() -> AppConfig {
    let mut config = AppConfig::new(
        AdminToken::new(ADMIN_TOKEN).expect("valid admin token"),
        Keyring::parse(MASTER_KEY).expect("valid master key"),
    );
    config.url_policy = UrlPolicy {
        allow_insecure: true,
    };
    config.allow_private_targets = true;
    config.url_challenge = true;
    config.challenge_timeout = CHALLENGE_TIMEOUT;
    config.rate_limit = RateLimit::new(TEST_RATE_LIMIT, Duration::from_secs(60));
    config
}

/// The retry delay of test engines: short, so a notice uses its four attempts in well under a
/// second.
pub const TEST_RETRY_DELAY: Duration = Duration::from_millis(50);

/// The delivery engine of test apps: three short retries without jitter, and a poll interval
/// short enough that a retry due while the engine slept is not waited for long.
pub fn test_engine_config(attempt_timeout: Duration) -> EngineConfig {
    let mut config = EngineConfig::new(attempt_timeout);
    config.poll_interval = Duration::from_millis(100);
    config.retry = RetryPolicy::new(vec![TEST_RETRY_DELAY; 3], 0.0);
    config
}

/// Spawns an app with [`test_config`] on a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns an app on a fresh database, with [`test_config`] changed by `configure`.
pub async fn spawn_app_with(configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_app_in(dir, configure).await
}

/// Spawns an app on a fresh database with its delivery engine running, [`test_config`] changed by
/// `configure_app` and [`test_engine_config`] by `configure_engine`.
pub async fn spawn_app_with_engine(
    configure_app: impl FnOnce(&mut AppConfig),
    configure_engine: impl FnOnce(&mut EngineConfig),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn(dir, configure_app, Some(configure_engine)).await
}

/// Spawns an app on a fresh database with its delivery engine running, telling time by `clock`.
pub async fn spawn_app_with_engine_and_clock(clock: Arc<dyn Clock>) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    spawn_on_clock(dir, |_| {}, Some(|_: &mut EngineConfig| {}), clock).await
}

/// Spawns an app on the database kept in `dir` (created if missing).
pub async fn spawn_app_in(dir: TempDir, configure: impl FnOnce(&mut AppConfig)) -> TestApp {
    spawn(dir, configure, None::<fn(&mut EngineConfig)>).await
}

/// Spawns an app with its delivery engine on the database kept in `dir`, with [`test_config`]
/// changed by `configure_app` and [`test_engine_config`] by `configure_engine`.
pub async fn spawn_app_in_with_engine(
    dir: TempDir,
    configure_app: impl FnOnce(&mut AppConfig),
    configure_engine: impl FnOnce(&mut EngineConfig),
) -> TestApp {
    spawn(dir, configure_app, Some(configure_engine)).await
}

/// Spawns an app, and its delivery engine if `configure_engine` is given.
async fn spawn(
    dir: TempDir,
    configure: impl FnOnce(&mut AppConfig),
    configure_engine: Option<impl FnOnce(&mut EngineConfig)>,
) -> TestApp {
    spawn_on_clock(dir, configure, configure_engine, Arc::new(SystemClock)).await
}

/// [`spawn`], telling time by `clock`.
async fn spawn_on_clock(
    dir: TempDir,
    configure: impl FnOnce(&mut AppConfig),
    configure_engine: Option<impl FnOnce(&mut EngineConfig)>,
    clock: Arc<dyn Clock>,
) -> TestApp {
    let db_path = dir.path().join("optout-relay.db");
    let store = SqliteStore::open(&db_path).await.expect("open store");
    let mut config = test_config();
    configure(&mut config);
    let attempt_timeout = config.attempt_timeout;
    let app =
        App::new(Arc::new(store.clone()) as Arc<dyn Store>, config, clock).expect("build app");
    let metrics = app.metrics();
    let engine = configure_engine.map(|configure_engine| {
        let mut engine_config = test_engine_config(attempt_timeout);
        configure_engine(&mut engine_config);
        app.delivery_engine(engine_config)
    });
    // Bound before `run` is spawned: the first request is queued by the kernel, no sleep needed.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app");
    let address = format!("http://{}", listener.local_addr().expect("app address"));
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(app.run(listener, shutdown.clone()));
    let engine = engine.map(|engine| tokio::spawn(engine.run(shutdown.clone())));
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    TestApp {
        address,
        admin_token: ADMIN_TOKEN.to_owned(),
        db_path,
        client,
        receiver: TestReceiver::spawn().await,
        store,
        metrics,
        shutdown,
        server,
        engine,
        dir,
    }
}

impl TestApp {
    /// Stops the server and the engine, waits for both (the engine finishes and records its
    /// in-flight deliveries), closes the store, and hands back the database's folder.
    pub async fn shutdown(self) -> TempDir {
        self.shutdown.cancel();
        self.server
            .await
            .expect("server task joins")
            .expect("server ends cleanly");
        if let Some(engine) = self.engine {
            engine.await.expect("engine task joins");
        }
        self.store.close().await;
        self.dir
    }

    /// The app's store, for calling what the app runs in the background (the retention purge).
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::new(self.store.clone())
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Samples the queue now for the dashboard's chart, as the app's sampler does every 10 s.
    pub async fn sample_queue(&self) {
        sample_once(&self.store, &SystemClock, &self.metrics).await;
    }

    /// Every table of the database, now.
    pub async fn snapshot(&self) -> Snapshot {
        snapshot::snapshot(&self.db_path).await
    }

    /// `POST /admin/accounts` with `body` and the admin token.
    pub async fn post_admin_accounts(&self, body: &Value) -> Response {
        self.client
            .post(self.url("/admin/accounts"))
            .bearer_auth(&self.admin_token)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Creates an account (id allocated) and returns its first key.
    pub async fn create_account(&self) -> TestAccount {
        let response = self
            .post_admin_accounts(&json!({ "name": "Test account" }))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        TestAccount {
            id: text(&body["accountId"]),
            api_key: text(&body["apiKey"]),
            key_id: text(&body["keyId"]),
        }
    }

    /// `POST /api/account/secret/regenerate` (A1) and the new secret.
    pub async fn regenerate_secret(&self, api_key: &str) -> String {
        let response = self
            .post_empty("/api/account/secret/regenerate", api_key)
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("json");
        text(&body["secret"])
    }

    /// `GET /api/account/secret` (A2).
    pub async fn get_secret(&self, api_key: &str) -> Response {
        self.get("/api/account/secret", api_key).await
    }

    /// `POST /api/subscriptions/opt-out` (A3) for `url`, with no name.
    pub async fn create_subscription(&self, api_key: &str, url: &str) -> Response {
        self.post_json(
            "/api/subscriptions/opt-out",
            api_key,
            &json!({ "entityType": "contact", "url": url }),
        )
        .await
    }

    /// An account with a secret and a subscription to the app's receiver; the 201 body.
    pub async fn subscribed_account(&self) -> (TestAccount, Value) {
        let account = self.create_account().await;
        self.regenerate_secret(&account.api_key).await;
        let response = self
            .post_json(
                "/api/subscriptions/opt-out",
                &account.api_key,
                &json!({ "entityType": "contact", "url": self.receiver.url(), "name": "Main" }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.expect("json");
        (account, body)
    }

    /// `GET /api/subscriptions/{id}` (A5).
    pub async fn get_subscription(&self, api_key: &str, id: &str) -> Response {
        self.get(&format!("/api/subscriptions/{id}"), api_key).await
    }

    /// `PATCH /api/subscriptions/{id}` (A6).
    pub async fn patch_subscription(&self, api_key: &str, id: &str, body: &Value) -> Response {
        self.client
            .patch(self.url(&format!("/api/subscriptions/{id}")))
            .header("api_key", api_key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// `POST /api/subscriptions/delete` (A7).
    pub async fn delete_subscriptions(&self, api_key: &str, ids: &[&str]) -> Response {
        self.post_json("/api/subscriptions/delete", api_key, &json!({ "ids": ids }))
            .await
    }

    /// `GET path` with an `api_key`.
    pub async fn get(&self, path: &str, api_key: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("api_key", api_key)
            .send()
            .await
            .expect("request")
    }

    /// `POST path` with an `api_key` and no body.
    pub async fn post_empty(&self, path: &str, api_key: &str) -> Response {
        self.client
            .post(self.url(path))
            .header("api_key", api_key)
            .send()
            .await
            .expect("request")
    }

    /// `POST path` with an `api_key` and a JSON body.
    pub async fn post_json(&self, path: &str, api_key: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .header("api_key", api_key)
            .json(body)
            .send()
            .await
            .expect("request")
    }
}

/// An app with an account that has a secret and a subscription, so that a request that wrongly
/// changed anything would show in the snapshot.
pub async fn populated_app() -> (TestApp, TestAccount, String) {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = created["id"].as_str().expect("id").to_owned();
    (app, account, id)
}

/// `POST /api/subscriptions/opt-out` with a raw body and content type.
pub async fn post_raw(
    app: &TestApp,
    api_key: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/api/subscriptions/opt-out"))
        .header("api_key", api_key)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    request.send().await.expect("request")
}

/// A JSON string's text; panics on anything else.
pub fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

/// Checks that `response` is an error in the contract's shape with this status and message,
/// and returns its body. `statusCode` must equal the HTTP status, and no other key may appear.
pub async fn assert_error(response: Response, status: StatusCode, message: &str) -> Value {
    assert_eq!(response.status(), status, "HTTP status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "error content type is {content_type:?}"
    );
    let raw = response.text().await.expect("body");
    let body: Value = serde_json::from_str(&raw).unwrap_or_else(|_| panic!("not JSON: {raw}"));
    let object = body.as_object().expect("error body is an object");
    for key in object.keys() {
        assert!(
            ["statusCode", "message", "errors"].contains(&key.as_str()),
            "unexpected key {key} in {raw}"
        );
    }
    assert_eq!(
        body["statusCode"],
        json!(status.as_u16()),
        "statusCode of {raw}"
    );
    assert_eq!(body["message"], json!(message), "message of {raw}");
    if let Some(errors) = object.get("errors") {
        let errors = errors.as_array().expect("errors is an array");
        assert!(!errors.is_empty(), "errors is empty in {raw}");
        assert!(errors.iter().all(Value::is_string), "errors are strings");
    }
    body
}

/// The `errors` list of an error body.
pub fn errors_of(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {body}"))
        .iter()
        .map(text)
        .collect()
}

/// Checks that `text` is `YYYY-MM-DDTHH:MM:SS.mmmZ` exactly.
pub fn assert_api_timestamp(text: &str) {
    let pattern = "dddd-dd-ddTdd:dd:dd.dddZ";
    let matches = text.len() == pattern.len()
        && text.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            other => c == other,
        });
    assert!(matches, "{text:?} is not an API timestamp");
}

/// Checks that `text` is 24 lowercase hex characters.
pub fn assert_object_id(text: &str) {
    assert_eq!(text.len(), 24, "{text:?} is not 24 characters");
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{text:?} is not lowercase hex"
    );
}

/// Checks that each `"field":` occurs in `raw` and that they occur in this order.
///
/// `serde_json::Value` sorts keys, so order can only be seen in the raw text.
pub fn assert_fields_in_order(raw: &str, fields: &[&str]) {
    let positions: Vec<usize> = fields
        .iter()
        .map(|field| {
            raw.find(&format!("\"{field}\":"))
                .unwrap_or_else(|| panic!("{field} missing from {raw}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "fields not in the order {fields:?} in {raw}"
    );
}

/// The keys of a JSON object, sorted.
pub fn keys_of(value: &Value) -> Vec<String> {
    let mut keys: Vec<String> = value
        .as_object()
        .unwrap_or_else(|| panic!("{value} is not an object"))
        .keys()
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// `fields`, sorted, for comparing with [`keys_of`].
pub fn sorted(fields: &[&str]) -> Vec<String> {
    let mut fields: Vec<String> = fields.iter().map(|field| (*field).to_owned()).collect();
    fields.sort();
    fields
}
