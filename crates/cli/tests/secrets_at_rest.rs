//! Account secrets at rest: the database files (SQLite's `.db`, `-wal` and `-shm`; a dump of a
//! PostgreSQL database) hold no API key and no webhook secret in plain text, deliveries are still
//! signed with the right secrets, master keys rotate, and secrets written in plain text by earlier
//! versions are resealed at startup.

mod common;

use common::api::{self, client};
use common::postgres::TestDatabase;
use common::process::{relay, run, stderr_of, CreatedAccount, Server, ADMIN_TOKEN};
use common::receiver::Receiver;
use optout_core::{MasterKey, WebhookSecret};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// How long deliveries may take to arrive.
const DELIVERY: Duration = Duration::from_secs(20);
/// A rotation grace long enough to last the whole test.
const GRACE_SECONDS: u32 = 3600;

fn new_key() -> String {
    MasterKey::generate().expose_base64()
}

fn key_id(key: &str) -> String {
    MasterKey::parse(key)
        .expect("a master key")
        .id()
        .to_string()
}

fn serve_flags(master_keys: &str) -> Vec<&str> {
    vec![
        "--admin-token",
        ADMIN_TOKEN,
        "--allow-insecure-urls",
        "--allow-private-targets",
        "--master-key",
        master_keys,
    ]
}

/// Sends `request`, asserts a 2xx, and returns the JSON body.
fn ok_json(request: reqwest::blocking::RequestBuilder) -> Value {
    let response = request.send().expect("request reaches the server");
    let status = response.status();
    let text = response.text().expect("response body");
    assert!(status.is_success(), "unexpected answer {status}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// A1: a new secret for the account, the replaced one signing beside it for `grace` seconds.
fn regenerate(server: &Server, account: &CreatedAccount, grace: u32) -> String {
    let body = ok_json(
        client()
            .post(server.url(&format!(
                "/api/account/secret/regenerate?graceSeconds={grace}"
            )))
            .header("api_key", &account.api_key),
    );
    body["secret"].as_str().expect("secret").to_owned()
}

/// A2: the account's secret as the server reads it back.
fn current_secret(server: &Server, account: &CreatedAccount) -> String {
    let body = ok_json(
        client()
            .get(server.url("/api/account/secret"))
            .header("api_key", &account.api_key),
    );
    body["secret"].as_str().expect("secret").to_owned()
}

fn create_subscription(server: &Server, account: &CreatedAccount, receiver: &Receiver) {
    let response = client()
        .post(server.url("/api/subscriptions/opt-out"))
        .header("api_key", &account.api_key)
        .json(&json!({ "entityType": "contact", "url": receiver.url_for(&account.id) }))
        .send()
        .expect("request reaches the server");
    assert_eq!(response.status(), StatusCode::CREATED);
}

/// Exposes contact `contact` to the account, opts it out, and waits until the receiver has seen
/// `expected` distinct notices, all signed right.
fn deliver_one(
    server: &Server,
    account: &CreatedAccount,
    receiver: &Receiver,
    contact: &str,
    expected: usize,
) {
    api::record_exposures(
        server,
        &[json!({
            "accountId": account.id,
            "contactId": contact,
            "datapoints": [{ "datapointId": format!("{contact}@example.com"), "datapointType": "email" }],
        })],
    );
    api::record_opt_outs_ndjson(
        server,
        &[json!({ "contactId": contact, "fullName": "Zoë Example" })],
    );
    let seen = receiver
        .wait_until(DELIVERY, |seen| seen.unique() >= expected)
        .unwrap_or_else(|seen| {
            panic!(
                "{} of {expected} notices delivered; server log:\n{}",
                seen.unique(),
                server.stderr()
            )
        });
    assert!(
        seen.bad_signatures.is_empty(),
        "bad signatures: {:?}",
        seen.bad_signatures
    );
}

/// The texts that must not appear at rest: each key or secret whole, and its base64 core.
fn needles(texts: &[&str]) -> Vec<String> {
    texts
        .iter()
        .flat_map(|text| {
            let core = text
                .strip_prefix("oor_")
                .or_else(|| text.strip_prefix("whsec_"))
                .unwrap_or(text);
            [text.to_string(), core.to_owned()]
        })
        .collect()
}

fn assert_absent(haystack: &[u8], needles: &[String], place: &str) {
    for needle in needles {
        assert!(
            !haystack
                .windows(needle.len())
                .any(|window| window == needle.as_bytes()),
            "{place} holds a key or secret in plain text"
        );
    }
}

/// Every SQLite file of the database in `dir` that exists: the database, its WAL and its
/// shared-memory index.
fn assert_absent_from_sqlite_files(dir: &Path, needles: &[String]) {
    let mut read = 0;
    for suffix in ["", "-wal", "-shm"] {
        let path = dir.join(format!("optout-relay.db{suffix}"));
        if let Ok(bytes) = std::fs::read(&path) {
            read += 1;
            assert_absent(&bytes, needles, &path.display().to_string());
        }
    }
    assert!(read > 0, "no database file in {}", dir.display());
}

/// An account with an API key, a secret replaced with a grace (so a previous secret is kept),
/// a subscription and a delivery; returns the account and its secrets, newest first.
fn scenario(server: &Server, receiver: &Receiver) -> (CreatedAccount, Vec<String>) {
    let account = api::create_account(server, "Acme Corp");
    let first = regenerate(server, &account, 0);
    let second = regenerate(server, &account, GRACE_SECONDS);
    assert_ne!(first, second);
    receiver.trust(&account.id, &second);
    create_subscription(server, &account, receiver);
    deliver_one(server, &account, receiver, "contact-1", 1);
    assert_eq!(current_secret(server, &account), second);
    (account, vec![second, first])
}

#[test]
fn sqlite_files_hold_no_api_key_or_secret_in_plain_text() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start(Duration::ZERO);
    let key = new_key();
    let mut server = Server::start(dir.path(), &serve_flags(&key));
    let (account, secrets) = scenario(&server, &receiver);
    let needles = needles(&[&account.api_key, &secrets[0], &secrets[1]]);

    assert_absent_from_sqlite_files(dir.path(), &needles);
    assert!(server.terminate().success());
    assert_absent_from_sqlite_files(dir.path(), &needles);
}

#[test]
fn a_postgres_dump_holds_no_api_key_or_secret_in_plain_text() {
    let database = TestDatabase::create();
    let receiver = Receiver::start(Duration::ZERO);
    let key = new_key();
    let server = Server::start_on(database.url(), &serve_flags(&key));
    let (account, secrets) = scenario(&server, &receiver);
    let needles = needles(&[&account.api_key, &secrets[0], &secrets[1]]);

    let dump = postgres_dump(database.url());
    // The dump does hold the rows: the key's hash, which is what is stored instead of it.
    let key_hash = hex::encode(Sha256::digest(account.api_key.as_bytes()));
    assert!(dump.contains(&key_hash), "the dump lacks the api_keys rows");
    assert_absent(dump.as_bytes(), &needles, "the PostgreSQL dump");
}

/// The data of a PostgreSQL database as text: `pg_dump` if installed, else every row of every
/// table as text.
fn postgres_dump(url: &str) -> String {
    if let Ok(output) = Command::new("pg_dump")
        .args(["--data-only", "--dbname", url])
        .output()
    {
        if output.status.success() {
            return String::from_utf8_lossy(&output.stdout).into_owned();
        }
    }
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list tables");
        let mut dump = String::new();
        for table in tables {
            let rows: Vec<String> =
                sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
                    .fetch_all(&mut conn)
                    .await
                    .expect("select rows");
            dump.push_str(&format!("-- {table}\n{}\n", rows.join("\n")));
        }
        dump
    })
}

#[test]
fn master_keys_rotate_and_a_secret_under_a_missing_key_stops_startup_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start(Duration::ZERO);
    let (a, b, c) = (new_key(), new_key(), new_key());

    let mut server = Server::start(dir.path(), &serve_flags(&a));
    let (account, secrets) = scenario(&server, &receiver);
    assert!(server.terminate().success());

    // B first, A after it: the secrets are resealed with B, and still sign.
    let b_then_a = format!("{b},{a}");
    let mut server = Server::start(dir.path(), &serve_flags(&b_then_a));
    let log = server.stderr();
    assert!(
        log.contains("account secrets resealed") && log.contains("resealed=1"),
        "no reseal logged:\n{log}"
    );
    assert_eq!(current_secret(&server, &account), secrets[0]);
    deliver_one(&server, &account, &receiver, "contact-2", 2);
    assert!(server.terminate().success());

    // B alone opens everything now.
    let mut server = Server::start(dir.path(), &serve_flags(&b));
    assert!(!server.stderr().contains("account secrets resealed"));
    assert_eq!(current_secret(&server, &account), secrets[0]);
    deliver_one(&server, &account, &receiver, "contact-3", 3);
    assert!(server.terminate().success());

    // C alone lacks B: startup fails, naming B's id and the way out.
    for wrong in [&c, &a] {
        let output = run(relay()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--database-url", &common::process::database_url(dir.path())])
            .args(serve_flags(wrong)));
        let stderr = stderr_of(&output);
        assert!(!output.status.success(), "started without key B:\n{stderr}");
        assert!(stderr.contains(&key_id(&b)), "{stderr}");
        assert!(stderr.contains("--master-key"), "{stderr}");
        assert!(!stderr.contains("optout-relay listening"), "{stderr}");
    }
}

#[test]
fn a_secret_stored_in_plain_text_is_resealed_at_startup_and_still_signs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start(Duration::ZERO);
    let key = new_key();
    let mut server = Server::start(dir.path(), &serve_flags(&key));
    let (account, _) = scenario(&server, &receiver);
    assert!(server.terminate().success());

    // As an earlier version wrote them: both secrets in plain text, the grace still running.
    let plain = WebhookSecret::generate().expose().to_owned();
    let plain_previous = WebhookSecret::generate().expose().to_owned();
    write_plain_text_secrets(dir.path(), &account.id, &plain, &plain_previous);
    let db = std::fs::read(dir.path().join("optout-relay.db")).expect("read the database");
    assert!(
        db.windows(plain.len())
            .any(|window| window == plain.as_bytes()),
        "the plain text was written where the check looks"
    );

    let mut server = Server::start(dir.path(), &serve_flags(&key));
    let log = server.stderr();
    assert!(
        log.contains("were_plain_text=1"),
        "no plain-text reseal logged:\n{log}"
    );
    assert_eq!(current_secret(&server, &account), plain);
    receiver.trust(&account.id, &plain);
    deliver_one(&server, &account, &receiver, "contact-2", 2);
    assert_absent_from_sqlite_files(dir.path(), &needles(&[&plain, &plain_previous]));
    assert!(server.terminate().success());
    assert_absent_from_sqlite_files(dir.path(), &needles(&[&plain, &plain_previous]));
}

/// Overwrites the account's secrets with plain text, straight in the SQLite file.
fn write_plain_text_secrets(dir: &Path, account: &str, secret: &str, previous: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}", dir.join("optout-relay.db").display());
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("open the database");
        let valid_until = chrono::Utc::now().timestamp_millis() + i64::from(GRACE_SECONDS) * 1000;
        let done = sqlx::query(
            "UPDATE account_secrets
             SET secret = ?2, previous_secret = ?3, previous_valid_until = ?4
             WHERE account_id = ?1",
        )
        .bind(account)
        .bind(secret)
        .bind(previous)
        .bind(valid_until)
        .execute(&mut conn)
        .await
        .expect("write plain text");
        assert_eq!(done.rows_affected(), 1);
        conn.close().await.expect("close");
    });
}

#[test]
fn nodes_on_postgres_refuse_to_start_without_a_configured_master_key() {
    let database = TestDatabase::create();
    let dir = tempfile::tempdir().expect("temp dir");
    for command in ["serve", "worker"] {
        let output = run(relay()
            .current_dir(dir.path())
            .env_remove("OPTOUT_RELAY_MASTER_KEY")
            .args([command, "--database-url", database.url()]));

        assert!(!output.status.success(), "{command} must not start");
        let stderr = stderr_of(&output);
        assert!(
            stderr.contains("with PostgreSQL, set --master-key"),
            "{command}: {stderr}"
        );
        assert!(
            !dir.path().join("data/master-key").exists(),
            "{command} generated no local key"
        );
    }
}
