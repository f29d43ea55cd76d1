//! The verification snippets of `docs/receiving.md`, run against a real delivery: the Python and
//! Node functions are taken from the document as they are, and the Standard Webhooks one runs
//! with the official `standardwebhooks` package from PyPI.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use optout_core::{
    AccountId, AccountName, ContactDetails, ContactId, Datapoint, Keyring, MasterKey, NewAccount,
    NewApiKey, NewExposure, NewOptOut, NewSubscription, OptOutBatch, OptOutId, SubscriptionId,
    SystemClock, UrlPolicy, WebhookSecret, WebhookUrl,
};
use optout_server::{AdminToken, App, AppConfig, EngineConfig};
use optout_store::Store;
use optout_store_sqlite::SqliteStore;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// One captured delivery: its headers (lowercase names) and raw body.
#[derive(Debug, Clone)]
struct Captured {
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

type Captures = Arc<Mutex<Vec<Captured>>>;

async fn challenge(Query(query): Query<HashMap<String, String>>) -> Json<Value> {
    Json(json!({ "challenge": query.get("challenge").cloned().unwrap_or_default() }))
}

async fn capture(
    State(captures): State<Captures>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    let headers = headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    captures.lock().expect("test setup").push(Captured {
        headers,
        body: body.to_vec(),
    });
    "ok"
}

/// Runs the service with its engine, has it deliver one notice, and returns that delivery and
/// the account secret.
async fn one_real_delivery() -> (Captured, String) {
    let captures: Captures = Arc::default();
    let receiver = TcpListener::bind("127.0.0.1:0").await.expect("test setup");
    let receiver_url = format!("http://{}/hook", receiver.local_addr().expect("test setup"));
    let router = Router::new()
        .route("/hook", get(challenge).post(capture))
        .with_state(Arc::clone(&captures));
    tokio::spawn(async move { axum::serve(receiver, router).await.expect("test setup") });

    let dir = tempfile::tempdir().expect("test setup");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("db"))
            .await
            .expect("test setup"),
    );
    let now = Utc::now();
    let account = AccountId::from_number(431_705);
    let (_, key) = NewApiKey::generate(now);
    store
        .create_account(
            NewAccount {
                id: Some(account.clone()),
                name: AccountName::parse("Docs").expect("test setup"),
                created_at: now,
            },
            key,
        )
        .await
        .expect("test setup");
    let secret = WebhookSecret::generate();
    let keyring = Keyring::new(MasterKey::generate(), Vec::new()).expect("test setup");
    store
        .record_account_secret(&account, &keyring.seal(&secret, &account), now)
        .await
        .expect("test setup");
    store
        .create_subscription(NewSubscription {
            id: SubscriptionId::generate(now),
            account_id: account.clone(),
            url: WebhookUrl::parse(
                &receiver_url,
                UrlPolicy {
                    allow_insecure: true,
                },
            )
            .expect("test setup"),
            name: None,
            created_at: now,
        })
        .await
        .expect("test setup");
    store
        .record_exposures(&[NewExposure {
            account_id: account,
            contact_id: ContactId::parse("987654321").expect("test setup"),
            datapoints: vec![
                Datapoint::parse("zoë.ångström@exämple.com", "email").expect("test setup"),
                Datapoint::parse("+14155550199", "phone").expect("test setup"),
            ],
            exposed_at: now,
            partner_client_id: Some("tenant \"42\" \\ 李".to_owned()),
        }])
        .await
        .expect("test setup");
    store
        .record_opt_outs(OptOutBatch {
            opt_outs: vec![NewOptOut {
                id: OptOutId::generate(now),
                contact_id: ContactId::parse("987654321").expect("test setup"),
                details: ContactDetails {
                    full_name: "Zoë \"Z\" Ångström".to_owned(),
                    company_name: Some("Acme\u{2028}Corp".to_owned()),
                    job_title: None,
                    linkedin_url: None,
                },
                opted_out_at: now,
                datapoints: None,
            }],
            idempotency: None,
            recorded_at: now,
        })
        .await
        .expect("test setup");

    let mut config = AppConfig::new(
        AdminToken::new("docs-test-admin-token").expect("test setup"),
        keyring,
    );
    config.allow_private_targets = true;
    let app = App::new(Arc::clone(&store), config, Arc::new(SystemClock)).expect("test setup");
    let shutdown = CancellationToken::new();
    let engine = tokio::spawn(
        app.delivery_engine(EngineConfig::new(Duration::from_secs(5)))
            .run(shutdown.clone()),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let delivery = loop {
        if let Some(first) = captures.lock().expect("test setup").first().cloned() {
            break first;
        }
        assert!(Instant::now() < deadline, "no delivery within 10 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    shutdown.cancel();
    engine.await.expect("test setup");
    (delivery, secret.expose().to_owned())
}

/// The code blocks of `docs/receiving.md` in `language`, in order.
fn doc_blocks(language: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/receiving.md");
    let text = std::fs::read_to_string(path).expect("test setup");
    let fence = format!("```{language}\n");
    text.split(fence.as_str())
        .skip(1)
        .map(|rest| rest.split("```").next().expect("test setup").to_owned())
        .collect()
}

/// Runs `program` with `script` in a fresh file, the delivery's body in another; its exit code.
fn run_script(
    program: &Path,
    extension: &str,
    script: &str,
    body: &[u8],
    env: &[(&str, &str)],
) -> bool {
    let dir = tempfile::tempdir().expect("test setup");
    let script_path = dir.path().join(format!("snippet.{extension}"));
    let body_path = dir.path().join("body.json");
    std::fs::write(&script_path, script).expect("test setup");
    std::fs::write(&body_path, body).expect("test setup");
    let output = Command::new(program)
        .arg(&script_path)
        .arg(&body_path)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {}: {error}", program.display()));
    if !output.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    }
    output.status.success()
}

fn tampered(body: &[u8]) -> Vec<u8> {
    String::from_utf8(body.to_vec())
        .expect("test setup")
        .replacen("987654321", "987654322", 1)
        .into_bytes()
}

const PYTHON_LUSHA_MAIN: &str = r#"
import os, sys
body = open(sys.argv[1], "rb").read()
ok = verify_lusha(os.environ["SECRET"], os.environ["TIMESTAMP"], os.environ["SIGNATURE"], body)
sys.exit(0 if ok else 1)
"#;

const NODE_MAIN: &str = r#"
const body = require("node:fs").readFileSync(process.argv[2]);
const ok = verifyLusha(process.env.SECRET, process.env.TIMESTAMP, process.env.SIGNATURE, body);
process.exit(ok ? 0 : 1);
"#;

const PYTHON_STANDARD_MAIN: &str = r#"
import os, sys
body = open(sys.argv[1], "rb").read()
headers = {name: os.environ[name.upper().replace("-", "_")] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
try:
    notice = verify_standard(os.environ["SECRET"], headers, body)
except Exception as error:
    print(error, file=sys.stderr)
    sys.exit(1)
sys.exit(0 if notice["contactId"] == "987654321" else 2)
"#;

fn lusha_env<'a>(delivery: &'a Captured, secret: &'a str) -> [(&'static str, &'a str); 3] {
    [
        ("SECRET", secret),
        ("TIMESTAMP", &delivery.headers["x-lusha-timestamp"]),
        ("SIGNATURE", &delivery.headers["x-lusha-signature"]),
    ]
}

#[tokio::test]
async fn the_documented_python_snippet_verifies_a_real_delivery() {
    let (delivery, secret) = one_real_delivery().await;
    let script = format!("{}\n{PYTHON_LUSHA_MAIN}", doc_blocks("python")[0]);
    let python = PathBuf::from("python3");
    let env = lusha_env(&delivery, &secret);
    assert!(run_script(&python, "py", &script, &delivery.body, &env));
    assert!(!run_script(
        &python,
        "py",
        &script,
        &tampered(&delivery.body),
        &env
    ));
    let wrong = [("SECRET", "whsec_not_the_secret"), env[1], env[2]];
    assert!(!run_script(&python, "py", &script, &delivery.body, &wrong));
}

#[tokio::test]
async fn the_documented_node_snippet_verifies_a_real_delivery() {
    let (delivery, secret) = one_real_delivery().await;
    let script = format!("{}\n{NODE_MAIN}", doc_blocks("js")[0]);
    let node = PathBuf::from("node");
    let env = lusha_env(&delivery, &secret);
    assert!(
        run_script(&node, "js", &script, &delivery.body, &env),
        "node must be installed and the snippet must accept a real delivery"
    );
    assert!(!run_script(
        &node,
        "js",
        &script,
        &tampered(&delivery.body),
        &env
    ));
}

/// A Python with the `standardwebhooks` package: `target/test-venv`, created on first use
/// (`.ci/run` creates it ahead of the tests).
fn python_with_standardwebhooks() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-venv");
    let python = venv.join("bin/python");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import standardwebhooks"])
            .output()
            .is_ok_and(|output| output.status.success())
    };
    if !ready(&python) {
        let created = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status();
        assert!(
            created.is_ok_and(|status| status.success()),
            "python3 -m venv failed"
        );
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "standardwebhooks"])
            .status();
        assert!(
            installed.is_ok_and(|status| status.success()),
            "pip install standardwebhooks failed"
        );
    }
    assert!(
        ready(&python),
        "standardwebhooks is not importable in {}",
        venv.display()
    );
    python
}

#[tokio::test]
async fn deliveries_verify_with_the_official_standard_webhooks_package() {
    let (delivery, secret) = one_real_delivery().await;
    let python = python_with_standardwebhooks();
    let script = format!("{}\n{PYTHON_STANDARD_MAIN}", doc_blocks("python")[1]);
    let env = [
        ("SECRET", secret.as_str()),
        ("WEBHOOK_ID", &delivery.headers["webhook-id"]),
        ("WEBHOOK_TIMESTAMP", &delivery.headers["webhook-timestamp"]),
        ("WEBHOOK_SIGNATURE", &delivery.headers["webhook-signature"]),
    ];
    assert_eq!(
        delivery.headers["webhook-id"], delivery.headers["x-lusha-webhook-id"],
        "webhook-id is the notice id"
    );
    assert!(run_script(&python, "py", &script, &delivery.body, &env));
    assert!(!run_script(
        &python,
        "py",
        &script,
        &tampered(&delivery.body),
        &env
    ));
}
