//! The reference receiver end to end: `serve` delivers to `receive` (both child processes, a
//! recording proxy between them), and the suppression list, `suppression check|export` and
//! `verify` are checked from the outside.

mod common;

use common::api::client;
use common::capture::{CaptureProxy, Captured};
use common::process::{
    relay, run, run_with_input, stderr_of, stdout_of, Daemon, Server, ADMIN_TOKEN, PATIENCE,
};
use optout_webhook::{sign_lusha, Secret};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

/// A secret of the receiver-only tests (any `whsec_` string works for the Lusha scheme).
const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const WRONG_SECRET: &str = "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

/// Every flag of `receive` and its environment twin.
const RECEIVE_FLAGS: [(&str, &str); 4] = [
    ("--secret", "OPTOUT_RELAY_RECEIVER_SECRET"),
    ("--listen", "OPTOUT_RELAY_RECEIVER_LISTEN"),
    ("--store", "OPTOUT_RELAY_RECEIVER_STORE"),
    ("--tolerance-secs", "OPTOUT_RELAY_RECEIVER_TOLERANCE_SECS"),
];

/// A running `receive`, killed when dropped.
struct ReceiverProcess {
    daemon: Daemon,
    address: String,
    store: PathBuf,
}

impl ReceiverProcess {
    /// Starts `receive` on port 0 with `secrets`, storing into `store`, and waits for its
    /// "listening" log line.
    fn start(store: &Path, secrets: &[&str]) -> Self {
        let mut command = relay();
        command
            .args(["receive", "--listen", "127.0.0.1:0", "--store"])
            .arg(store);
        for secret in secrets {
            command.args(["--secret", secret]);
        }
        let daemon = Daemon::spawn(&mut command);
        let line = daemon.wait_for_line("optout-relay receiver listening", PATIENCE);
        let address = line
            .split("address=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Self {
            address: format!("http://{address}"),
            daemon,
            store: store.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `suppression check VALUE` on this receiver's store.
    fn check(&self, value: &str) -> Output {
        check(&self.store, value)
    }

    /// `suppression export --format ndjson`, parsed.
    fn export(&self) -> Vec<Value> {
        let output = run(relay()
            .args(["suppression", "export", "--format", "ndjson", "--store"])
            .arg(&self.store));
        assert!(output.status.success(), "export: {}", stderr_of(&output));
        stdout_of(&output)
            .lines()
            .map(|line| serde_json::from_str(line).expect("an NDJSON line"))
            .collect()
    }

    /// POSTs `body` with `headers` straight to the receiver; returns the status and JSON answer.
    fn post(&self, headers: &[(&str, &str)], body: &[u8]) -> (StatusCode, Value) {
        let mut request = client().post(self.url("/webhooks/optout"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .body(body.to_vec())
            .send()
            .expect("receiver answers");
        let status = response.status();
        let text = response.text().expect("body");
        let answer = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, answer)
    }
}

fn check(store: &Path, value: &str) -> Output {
    run(relay()
        .args(["suppression", "check", value, "--store"])
        .arg(store))
}

fn unix_now() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(since.as_secs()).expect("fits")
}

/// A notice body as the relay would send it for one email datapoint.
fn notice_body(contact_id: &str, email: &str) -> Vec<u8> {
    json!({
        "contactId": contact_id,
        "fullName": "Test Person",
        "contactOptOutDate": "2026-04-22 14:32:11.412",
        "contactExposureDate": "2025-08-03 09:15:47",
        "datapoints": [{ "datapointId": email, "datapointType": "email" }],
        "partnerClientId": null,
    })
    .to_string()
    .into_bytes()
}

/// Signs `body` with `secret` at `timestamp` and posts it as delivery `webhook_id`.
fn post_signed(
    receiver: &ReceiverProcess,
    secret: &str,
    timestamp: i64,
    webhook_id: &str,
    body: &[u8],
) -> (StatusCode, Value) {
    let signature = sign_lusha(&Secret::new(secret), timestamp, body);
    let timestamp = timestamp.to_string();
    receiver.post(
        &[
            ("content-type", "application/json"),
            ("X-Lusha-Timestamp", &timestamp),
            ("X-Lusha-Signature", &signature),
            ("X-Lusha-Webhook-Id", webhook_id),
        ],
        body,
    )
}

/// The (datapointId, datapointType, contactId) triples of an export.
fn triples(rows: &[Value]) -> BTreeSet<(String, String, String)> {
    rows.iter()
        .map(|row| {
            let field = |name: &str| row[name].as_str().expect(name).to_owned();
            (
                field("datapointId"),
                field("datapointType"),
                field("contactId"),
            )
        })
        .collect()
}

fn triple(value: &str, kind: &str, contact: &str) -> (String, String, String) {
    (value.to_owned(), kind.to_owned(), contact.to_owned())
}

/// `serve` (SQLite) and `receive`, with an account whose opt-out subscription points at the
/// receiver through a recording proxy; the challenge is answered by the receiver.
struct Relay {
    server: Server,
    receiver: ReceiverProcess,
    proxy: CaptureProxy,
    account_id: String,
    secret: String,
    _dir: tempfile::TempDir,
}

impl Relay {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Server::start(
            dir.path(),
            &[
                "--admin-token",
                ADMIN_TOKEN,
                "--allow-insecure-urls",
                "--allow-private-targets",
                "--retry-schedule",
                "200ms,200ms,200ms",
            ],
        );
        let account = common::api::create_account(&server, "Acme Corp");
        let secret = api_json(
            client()
                .post(server.url("/api/account/secret/regenerate"))
                .header("api_key", &account.api_key),
            StatusCode::OK,
        )["secret"]
            .as_str()
            .expect("secret")
            .to_owned();
        let receiver =
            ReceiverProcess::start(&dir.path().join("receiver/suppressions.db"), &[&secret]);
        let proxy = CaptureProxy::start(&receiver.address);
        api_json(
            client()
                .post(server.url("/api/subscriptions/opt-out"))
                .header("api_key", &account.api_key)
                .json(&json!({ "entityType": "contact", "url": proxy.url("/webhooks/optout") })),
            StatusCode::CREATED,
        );
        Self {
            server,
            receiver,
            proxy,
            account_id: account.id,
            secret,
            _dir: dir,
        }
    }
}

/// Sends `request`, asserts `expected`, returns the JSON body.
fn api_json(request: reqwest::blocking::RequestBuilder, expected: StatusCode) -> Value {
    let response = request.send().expect("request reaches the server");
    let status = response.status();
    let text = response.text().expect("body");
    assert_eq!(status, expected, "unexpected answer: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

fn assert_suppressed(output: &Output, value: &str) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{value}: {} {}",
        stdout_of(output),
        stderr_of(output)
    );
    assert_eq!(stdout_of(output).trim(), "suppressed", "{value}");
}

fn assert_not_suppressed(output: &Output, value: &str) {
    assert_eq!(
        output.status.code(),
        Some(1),
        "{value}: {} {}",
        stdout_of(output),
        stderr_of(output)
    );
    assert_eq!(stdout_of(output).trim(), "not suppressed", "{value}");
}

#[test]
fn opt_outs_delivered_by_serve_put_exactly_the_received_datapoints_on_the_suppression_list() {
    let relay = Relay::start();
    let other = common::api::create_account(&relay.server, "Not subscribed to this receiver");
    let exposures = [
        json!({ "accountId": "", "contactId": "c1", "datapoints": [
            { "datapointId": "jane.doe@example.com", "datapointType": "email" },
            { "datapointId": "+14155550199", "datapointType": "phone" } ] }),
        json!({ "accountId": "", "contactId": "c2", "datapoints": [
            { "datapointId": "bob@example.com", "datapointType": "email" } ] }),
        json!({ "accountId": "", "contactId": "c3", "datapoints": [
            { "datapointId": "carol@example.com", "datapointType": "email" } ] }),
    ];
    let account_id = relay.account_id.clone();
    let mut items: Vec<Value> = exposures
        .into_iter()
        .map(|mut item| {
            item["accountId"] = json!(account_id);
            item
        })
        .collect();
    items.push(
        json!({ "accountId": other.id, "contactId": "c4", "datapoints": [
        { "datapointId": "dave@example.com", "datapointType": "email" } ] }),
    );
    let intake = common::api::record_exposures(&relay.server, &items);
    // One per datapoint.
    assert_eq!(intake["accepted"], json!(5), "{intake}");

    // c3 does not opt out; c4's notice goes to the other account, not to this receiver.
    let recorded = common::api::record_opt_outs_ndjson(
        &relay.server,
        &[
            json!({ "contactId": "c1", "fullName": "Jane Doe", "companyName": "Acme Corp" }),
            json!({ "contactId": "c2", "fullName": "Bob Roe" }),
            json!({ "contactId": "c4", "fullName": "Dave Poe" }),
        ],
    );
    assert_eq!(recorded["notices"], json!(3), "{recorded}");

    let posts = relay.proxy.wait_for_posts(2, PATIENCE);
    for post in &posts {
        assert_eq!(post.status, 201, "receiver answer: {}", post.answer);
        let answer: Value = serde_json::from_str(&post.answer).expect("JSON answer");
        assert_eq!(answer["received"], json!(true));
        assert_eq!(
            answer["webhookId"].as_str(),
            post.header("x-lusha-webhook-id")
        );
    }
    for value in [
        "jane.doe@example.com",
        "+14155550199",
        "bob@example.com",
        // The same values as a person might type them.
        "Jane.Doe@Example.com",
        "+1 415 555 0199",
    ] {
        assert_suppressed(&relay.receiver.check(value), value);
    }
    for value in ["carol@example.com", "dave@example.com"] {
        assert_not_suppressed(&relay.receiver.check(value), value);
    }
    let rows = relay.receiver.export();
    assert_eq!(
        triples(&rows),
        BTreeSet::from([
            triple("jane.doe@example.com", "email", "c1"),
            triple("+14155550199", "phone", "c1"),
            triple("bob@example.com", "email", "c2"),
        ])
    );
    assert_eq!(rows.len(), 3, "no duplicate rows: {rows:?}");
    let delivered_ids: BTreeSet<&str> = posts
        .iter()
        .filter_map(|post| post.header("x-lusha-webhook-id"))
        .collect();
    for row in &rows {
        let opted_out_at = row["optedOutAt"].as_str().expect("optedOutAt");
        assert_eq!(opted_out_at.len(), "2026-04-22 14:32:11.412".len(), "{row}");
        assert!(
            delivered_ids.contains(row["webhookId"].as_str().expect("webhookId")),
            "{row} names a delivered notice"
        );
    }
    // Names never reach the receiver's log.
    let log = relay.receiver.daemon.stderr();
    assert!(
        !log.contains("Jane Doe") && !log.contains("jane.doe@example.com"),
        "{log}"
    );
}

#[test]
fn a_captured_delivery_replayed_byte_for_byte_is_answered_201_and_applied_once() {
    let relay = Relay::start();
    let account_id = relay.account_id.clone();
    common::api::record_exposures(
        &relay.server,
        &[
            json!({ "accountId": account_id, "contactId": "c1", "datapoints": [
            { "datapointId": "jane.doe@example.com", "datapointType": "email" },
            { "datapointId": "+14155550199", "datapointType": "phone" } ] }),
        ],
    );
    common::api::record_opt_outs_ndjson(
        &relay.server,
        &[json!({ "contactId": "c1", "fullName": "Jane Doe" })],
    );
    let captured: Captured = relay
        .proxy
        .wait_for_posts(1, PATIENCE)
        .into_iter()
        .next()
        .expect("one delivery");
    assert_eq!(captured.status, 201, "{}", captured.answer);
    let webhook_id = captured.header("x-lusha-webhook-id").expect("webhook id");
    relay
        .receiver
        .daemon
        .wait_for_line(&format!("webhook_id=\"{webhook_id}\""), PATIENCE);
    let before = relay.receiver.export();
    assert_eq!(before.len(), 2);

    let headers: Vec<(&str, &str)> = captured
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let (status, answer) = relay.receiver.post(&headers, &captured.body);

    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["webhookId"], json!(webhook_id));
    assert_eq!(relay.receiver.export(), before, "nothing changed");
    let line = relay
        .receiver
        .daemon
        .wait_for_line("notice replayed", PATIENCE);
    assert!(line.contains(webhook_id), "{line}");
    // The captured request also passes the offline check, with the account's secret.
    let timestamp = captured.header("x-lusha-timestamp").expect("timestamp");
    let signature = captured.header("x-lusha-signature").expect("signature");
    let output = verify(&relay.secret, timestamp, signature, &captured.body, &[]);
    assert_eq!(stdout_of(&output).trim(), "valid", "{}", stderr_of(&output));
}

#[test]
fn a_forged_delivery_is_refused_with_401_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = ReceiverProcess::start(&dir.path().join("suppressions.db"), &[SECRET]);
    let body = notice_body("c9", "mallory@example.com");

    let (status, answer) = post_signed(&receiver, WRONG_SECRET, unix_now(), "forged-1", &body);

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer,
        json!({ "statusCode": 401, "message": "Invalid signature" })
    );
    assert_not_suppressed(&receiver.check("mallory@example.com"), "mallory");
    assert!(receiver.export().is_empty());
    // The same body signed with the right secret is accepted: the refusal was the signature's.
    let (status, _) = post_signed(&receiver, SECRET, unix_now(), "forged-1", &body);
    assert_eq!(status, StatusCode::CREATED);
    assert_suppressed(&receiver.check("mallory@example.com"), "mallory");
}

#[test]
fn a_delivery_with_a_stale_timestamp_is_refused_with_401() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = ReceiverProcess::start(&dir.path().join("suppressions.db"), &[SECRET]);
    let body = notice_body("c9", "late@example.com");

    let ten_minutes_ago = unix_now() - 600;
    let (status, answer) = post_signed(&receiver, SECRET, ten_minutes_ago, "late-1", &body);

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer,
        json!({ "statusCode": 401, "message": "Stale timestamp" })
    );
    assert_not_suppressed(&receiver.check("late@example.com"), "late");
    assert!(receiver.export().is_empty());
}

#[test]
fn a_second_secret_is_accepted_during_a_rotation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver =
        ReceiverProcess::start(&dir.path().join("suppressions.db"), &[WRONG_SECRET, SECRET]);
    let body = notice_body("c9", "rotated@example.com");

    let (status, _) = post_signed(&receiver, SECRET, unix_now(), "rot-1", &body);

    assert_eq!(status, StatusCode::CREATED);
    assert_suppressed(&receiver.check("rotated@example.com"), "rotated");
}

#[test]
fn receive_answers_the_url_challenge_on_any_path_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut receiver = ReceiverProcess::start(&dir.path().join("suppressions.db"), &[SECRET]);

    let response = client()
        .get(receiver.url("/any/path?challenge=abcdefghijklmnop_-12"))
        .send()
        .expect("receiver answers");

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().expect("JSON"),
        json!({ "challenge": "abcdefghijklmnop_-12" })
    );
    let status = receiver.daemon.terminate();
    assert_eq!(
        status.code(),
        Some(0),
        "stderr:\n{}",
        receiver.daemon.stderr()
    );
}

/// Runs `verify` with the body on stdin.
fn verify(secret: &str, timestamp: &str, signature: &str, body: &[u8], extra: &[&str]) -> Output {
    run_with_input(
        relay()
            .args(["verify", "--secret", secret, "--timestamp", timestamp])
            .args(["--signature", signature])
            .args(extra),
        body,
    )
}

#[test]
fn verify_accepts_a_correct_signature_and_rejects_a_tampered_body_with_a_reason() {
    let body = notice_body("c1", "jane.doe@example.com");
    let timestamp = unix_now();
    let signature = sign_lusha(&Secret::new(SECRET), timestamp, &body);
    let timestamp = timestamp.to_string();

    let valid = verify(SECRET, &timestamp, &signature, &body, &[]);
    let tampered_body = String::from_utf8(body.clone())
        .expect("utf-8")
        .replace("jane.doe", "john.doe");
    let tampered = verify(
        SECRET,
        &timestamp,
        &signature,
        tampered_body.as_bytes(),
        &[],
    );

    assert_eq!(valid.status.code(), Some(0), "{}", stderr_of(&valid));
    assert_eq!(stdout_of(&valid).trim(), "valid");
    assert!(!tampered.status.success());
    assert_eq!(stdout_of(&tampered).trim(), "invalid: no signature matches");
}

#[test]
fn verify_rejects_an_old_capture_unless_told_to_ignore_the_timestamp() {
    let body = notice_body("c1", "jane.doe@example.com");
    let an_hour_ago = unix_now() - 3600;
    let signature = sign_lusha(&Secret::new(SECRET), an_hour_ago, &body);
    let timestamp = an_hour_ago.to_string();

    let strict = verify(SECRET, &timestamp, &signature, &body, &[]);
    let lenient = verify(SECRET, &timestamp, &signature, &body, &["--no-tolerance"]);
    let wide = verify(
        SECRET,
        &timestamp,
        &signature,
        &body,
        &["--tolerance-secs", "7200"],
    );

    assert!(!strict.status.success());
    assert_eq!(stdout_of(&strict).trim(), "invalid: timestamp is too old");
    assert!(stderr_of(&strict).contains("--no-tolerance"));
    assert_eq!(stdout_of(&lenient).trim(), "valid");
    assert_eq!(stdout_of(&wide).trim(), "valid");
}

#[test]
fn suppression_check_exits_1_for_an_unknown_value_and_2_for_a_missing_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("suppressions.db");
    let receiver = ReceiverProcess::start(&store, &[SECRET]);

    let unknown = receiver.check("nobody@example.com");
    let missing = check(&dir.path().join("elsewhere.db"), "nobody@example.com");

    assert_not_suppressed(&unknown, "nobody");
    assert_eq!(missing.status.code(), Some(2), "{}", stdout_of(&missing));
    assert!(
        stderr_of(&missing).contains("no suppression store"),
        "{}",
        stderr_of(&missing)
    );
    assert!(
        stdout_of(&missing).is_empty(),
        "no answer when there is none"
    );
    assert!(!dir.path().join("elsewhere.db").exists());
}

#[test]
fn suppression_export_writes_csv_with_a_header_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = ReceiverProcess::start(&dir.path().join("suppressions.db"), &[SECRET]);
    let body = notice_body("c1", "jane.doe@example.com");
    let (status, _) = post_signed(&receiver, SECRET, unix_now(), "csv-1", &body);
    assert_eq!(status, StatusCode::CREATED);

    let output = run(relay()
        .args(["suppression", "export", "--store"])
        .arg(&receiver.store));

    assert!(output.status.success(), "{}", stderr_of(&output));
    let text = stdout_of(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "contact_id,datapoint_id,datapoint_type,opted_out_at,received_at,webhook_id"
    );
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].starts_with("c1,jane.doe@example.com,email,2026-04-22 14:32:11.412,"),
        "{}",
        lines[1]
    );
    assert!(lines[1].ends_with(",csv-1"), "{}", lines[1]);
}

#[test]
fn receive_help_lists_every_flag_with_its_environment_twin() {
    let output = run(relay().args(["receive", "--help"]));
    assert!(output.status.success());
    let help = stdout_of(&output);
    for (flag, env) in RECEIVE_FLAGS {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
        assert!(help.contains(env), "{env} missing from:\n{help}");
    }
}
