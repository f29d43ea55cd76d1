//! Integration tests of the `optout-relay` binary: its subcommands run as child processes.

mod common;

use common::api;
use common::process::{
    create_account, database_url, relay, run, stdout_of, strip_ansi, Server, ADMIN_TOKEN,
};
use common::receiver::Receiver;
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// Every flag of `serve` and its environment twin.
const SERVE_FLAGS: [(&str, &str); 7] = [
    ("--listen", "OPTOUT_RELAY_LISTEN"),
    ("--database-url", "OPTOUT_RELAY_DATABASE_URL"),
    ("--admin-token", "OPTOUT_RELAY_ADMIN_TOKEN"),
    ("--allow-insecure-urls", "OPTOUT_RELAY_ALLOW_INSECURE_URLS"),
    (
        "--allow-private-targets",
        "OPTOUT_RELAY_ALLOW_PRIVATE_TARGETS",
    ),
    ("--allow-target", "OPTOUT_RELAY_ALLOW_TARGETS"),
    ("--no-url-challenge", "OPTOUT_RELAY_NO_URL_CHALLENGE"),
];

fn client() -> reqwest::blocking::Client {
    common::api::client()
}

#[test]
fn account_create_prints_an_account_id_and_an_api_key() {
    let dir = tempfile::tempdir().unwrap();

    let account = create_account(dir.path(), &[]);

    assert!(
        !account.id.is_empty() && account.id.bytes().all(|b| b.is_ascii_digit()),
        "account id {:?}",
        account.id
    );
    assert!(account.api_key.starts_with("oor_"), "{:?}", account.api_key);
    assert_eq!(account.api_key.len(), 4 + 32 + 6);
    assert!(dir.path().join("optout-relay.db").exists());
}

#[test]
fn account_create_uses_a_chosen_account_id_and_refuses_a_duplicate() {
    let dir = tempfile::tempdir().unwrap();

    let account = create_account(dir.path(), &["--account-id", "431705"]);
    let duplicate = run(relay()
        .args([
            "account",
            "create",
            "--name",
            "Again",
            "--account-id",
            "431705",
        ])
        .args(["--database-url", &database_url(dir.path())]));

    assert_eq!(account.id, "431705");
    assert!(!duplicate.status.success(), "a duplicate id is refused");
    assert!(
        !stdout_of(&duplicate).contains("oor_"),
        "no key for a refused account"
    );
}

#[test]
fn account_create_refuses_a_non_numeric_account_id() {
    let dir = tempfile::tempdir().unwrap();

    let output = run(relay()
        .args(["account", "create", "--name", "Acme", "--account-id", "12a"])
        .args(["--database-url", &database_url(dir.path())]));

    assert!(!output.status.success());
    assert!(!stdout_of(&output).contains("oor_"));
}

#[test]
fn serve_accepts_the_printed_key_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let account = create_account(dir.path(), &[]);
    let mut server = Server::start(
        dir.path(),
        &[
            "--admin-token",
            ADMIN_TOKEN,
            "--allow-insecure-urls",
            "--allow-private-targets",
            "--no-url-challenge",
        ],
    );
    let client = client();

    let response = client
        .get(server.url("/api/account/secret"))
        .header("api_key", &account.api_key)
        .send()
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::NOT_FOUND);
    let body: Value = response.json().unwrap();
    assert_eq!(
        body,
        json!({ "statusCode": 404, "message": "Account secret not found. Please generate one first." })
    );
    let admin = client
        .post(server.url("/admin/accounts"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "name": "Second" }))
        .send()
        .unwrap();
    assert_eq!(
        admin.status(),
        reqwest::StatusCode::CREATED,
        "the configured token works"
    );

    let status = server.terminate();

    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
}

#[test]
fn serve_exits_0_on_sigterm_sent_as_soon_as_it_logs_listening() {
    // Once `serve` says it is listening, an orchestrator may stop it at any moment; the
    // graceful shutdown must already be armed. The race is narrow, so try several times.
    const ATTEMPTS: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let mut statuses = Vec::new();
    for _ in 0..ATTEMPTS {
        let mut server = Server::start(dir.path(), &["--admin-token", ADMIN_TOKEN]);
        statuses.push(server.terminate());
    }
    let failed: Vec<&ExitStatus> = statuses
        .iter()
        .filter(|status| status.code() != Some(0))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {ATTEMPTS} starts did not exit 0 on SIGTERM: {failed:?}",
        failed.len()
    );
}

#[test]
fn serve_help_lists_every_flag_with_its_environment_twin() {
    let output = run(relay().args(["serve", "--help"]));

    assert!(output.status.success());
    let help = stdout_of(&output);
    for (flag, env) in SERVE_FLAGS {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
        assert!(help.contains(env), "{env} missing from:\n{help}");
    }
    // Every flag shown, not only the known ones, has its twin.
    let shown: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '<')
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .collect();
    for flag in shown {
        if flag == "--help" || flag == "--version" {
            continue;
        }
        let env = format!(
            "OPTOUT_RELAY_{}",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase()
        );
        assert!(help.contains(&env), "{flag} has no {env} twin in:\n{help}");
    }
}

#[test]
fn serve_without_an_admin_token_creates_a_private_token_file_and_never_logs_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &[]);
    let token_file: PathBuf = data.join("admin-token");

    let mode = std::fs::metadata(&token_file)
        .expect("admin-token exists")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "mode {:o}", mode & 0o777);
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.len() >= 16, "token too short");
    let response = client()
        .post(server.url("/admin/accounts"))
        .bearer_auth(&token)
        .json(&json!({ "name": "Via file token" }))
        .send()
        .unwrap();
    assert_eq!(
        response.status(),
        reqwest::StatusCode::CREATED,
        "the file's token is the one in force"
    );

    let status = server.terminate();

    assert_eq!(status.code(), Some(0));
    let stderr = server.stderr();
    assert!(stderr.contains("optout-relay listening"));
    assert!(
        !stderr.contains(&token),
        "the token appears in the log:\n{stderr}"
    );
}

#[test]
fn serve_reuses_the_token_file_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(dir.path(), &[]);
    let token = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    let health = client().get(first.url("/healthz")).send().unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    assert_eq!(first.terminate().code(), Some(0));

    let mut second = Server::start(dir.path(), &[]);

    assert_eq!(
        std::fs::read_to_string(dir.path().join("admin-token")).unwrap(),
        token
    );
    let response = client()
        .post(second.url("/admin/accounts"))
        .bearer_auth(token.trim())
        .json(&json!({ "name": "Again" }))
        .send()
        .unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    assert_eq!(second.terminate().code(), Some(0));
}

#[test]
fn serve_refuses_a_short_admin_token() {
    let dir = tempfile::tempdir().unwrap();

    let output = run(relay()
        .args(["serve", "--listen", "127.0.0.1:0", "--admin-token", "short"])
        .args(["--database-url", &database_url(dir.path())]));

    assert!(!output.status.success());
    let stderr = strip_ansi(&String::from_utf8_lossy(&output.stderr));
    assert!(stderr.contains("at least 16"), "{stderr}");
}

#[test]
fn openapi_prints_the_document_as_valid_json() {
    let output = run(relay().arg("openapi"));

    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).expect("valid JSON");
    let generated: Value = serde_json::from_str(&optout_server::openapi_document()).unwrap();
    assert_eq!(printed, generated);
    assert!(printed["paths"]["/api/subscriptions/opt-out"].is_object());
}

#[test]
fn a_bad_allow_target_range_stops_serve_and_worker_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let database = database_url(dir.path());
    for (args, env, expected) in [
        (
            vec!["serve", "--allow-target", "10.0.0.1/8"],
            None,
            "host bits are set (did you mean 10.0.0.0/8?)",
        ),
        (
            vec!["worker", "--allow-target", "localhost"],
            None,
            "\"localhost\" is not an IP address",
        ),
        (
            vec!["serve"],
            Some("10.0.0.0/8,::1/129"),
            "the prefix length must be a number from 0 to 128",
        ),
    ] {
        let mut command = relay();
        command.args(&args).args(["--database-url", &database]);
        if let Some(ranges) = env {
            command.env("OPTOUT_RELAY_ALLOW_TARGETS", ranges);
        }
        let output = run(&mut command);

        assert_eq!(output.status.code(), Some(2), "{args:?} {env:?}");
        let stderr = strip_ansi(&String::from_utf8_lossy(&output.stderr));
        assert!(stderr.contains("--allow-target"), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert!(
        !dir.path().join("optout-relay.db").exists(),
        "nothing starts on a bad range"
    );
}

/// Creates a subscribed account, exposes one contact's `email` to it, opts the contact out as
/// `full_name`, and waits until `receiver` has the notice, correctly signed; the account.
fn deliver_one_opt_out(
    server: &Server,
    receiver: &Receiver,
    email: &str,
    full_name: &str,
) -> common::process::CreatedAccount {
    let account = api::create_account(server, "Delivered");
    api::subscribe(server, &account, receiver);
    api::record_exposures(
        server,
        &[json!({
            "accountId": account.id,
            "contactId": "contact-1",
            "datapoints": [{ "datapointId": email, "datapointType": "email" }],
        })],
    );
    api::record_opt_outs_ndjson(
        server,
        &[json!({ "contactId": "contact-1", "fullName": full_name })],
    );
    let seen = receiver
        .wait_until(Duration::from_secs(30), |seen| seen.unique() >= 1)
        .unwrap_or_else(|_| panic!("no delivery; stderr:\n{}", server.stderr()));
    assert!(seen.bad_signatures.is_empty(), "{:?}", seen.bad_signatures);
    account
}

#[test]
fn serve_reaches_a_receiver_in_an_allowed_range_without_allowing_private_targets() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(Duration::from_millis(1));
    let mut server = Server::start(
        dir.path(),
        &[
            "--admin-token",
            ADMIN_TOKEN,
            "--allow-insecure-urls",
            "--allow-target",
            "10.0.0.0/8",
            "--allow-target",
            "127.0.0.0/8",
        ],
    );
    // The challenge and the delivery both go to 127.0.0.1.
    deliver_one_opt_out(&server, &receiver, "jane@example.com", "Jane Doe");
    assert_eq!(server.terminate().code(), Some(0), "{}", server.stderr());
}

#[test]
fn json_logs_have_one_line_per_delivery_attempt_with_ids_and_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(Duration::from_millis(1));
    let mut server = Server::start(
        dir.path(),
        &[
            "--admin-token",
            ADMIN_TOKEN,
            "--allow-insecure-urls",
            "--allow-private-targets",
            "--log-format",
            "json",
        ],
    );
    let account = deliver_one_opt_out(
        &server,
        &receiver,
        "json.marker@example.com",
        "Jsonia Markerson",
    );
    assert_eq!(server.terminate().code(), Some(0), "{}", server.stderr());

    let stderr = server.stderr();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let attempts: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|line| line["message"] == json!("delivery attempt"))
        .collect();
    assert_eq!(attempts.len(), 1, "{stderr}");
    let attempt = attempts[0];
    assert_eq!(attempt["level"], json!("INFO"));
    assert_eq!(attempt["outcome"], json!("delivered"));
    assert_eq!(attempt["status"], json!(200));
    assert_eq!(attempt["attempt"], json!(1));
    assert!(attempt["duration_ms"].is_u64(), "{attempt}");
    assert_eq!(
        attempt["notice_id"].as_str().map(str::len),
        Some(24),
        "{attempt}"
    );
    assert_eq!(attempt["subscription_id"].as_str().map(str::len), Some(24));
    for marker in ["json.marker", "Markerson", account.api_key.as_str()] {
        assert!(!stderr.contains(marker), "{marker} in the logs:\n{stderr}");
    }
}
