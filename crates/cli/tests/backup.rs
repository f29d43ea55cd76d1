//! `backup`: a copy taken while `serve` runs restores the whole service: accounts, keys,
//! secrets (sealed under the same master key) and compliance records.

mod common;

use common::api::{self, client};
use common::process::{
    database_url, relay, run, stderr_of, stdout_of, Server, ADMIN_TOKEN, MASTER_KEY,
};
use reqwest::StatusCode;
use serde_json::json;

fn serve_flags() -> [&'static str; 4] {
    ["--admin-token", ADMIN_TOKEN, "--master-key", MASTER_KEY]
}

#[test]
fn a_backup_taken_while_serving_restores_accounts_and_compliance_records() {
    let dir = tempfile::tempdir().unwrap();
    let backup = dir.path().join("backups").join("optout-relay-backup.db");
    std::fs::create_dir_all(backup.parent().unwrap()).unwrap();
    let mut server = Server::start(dir.path(), &serve_flags());
    let account = api::create_account(&server, "Backed up");
    api::record_exposures(
        &server,
        &[json!({
            "accountId": account.id,
            "contactId": "contact-1",
            "datapoints": [{ "datapointId": "jane@example.com", "datapointType": "email" }],
        })],
    );
    let recorded = api::record_opt_outs_ndjson(
        &server,
        &[json!({ "contactId": "contact-1", "fullName": "Jane" })],
    );
    let opt_out_id = recorded["results"][0]["optOutId"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = api::compliance_record(&server, &opt_out_id);

    let output = run(relay()
        .args(["backup", "--database-url", &database_url(dir.path())])
        .arg("--to")
        .arg(&backup));
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert!(
        stdout_of(&output).contains("backed up"),
        "{}",
        stdout_of(&output)
    );

    // Lose the database, then restore the copy in its place.
    server.terminate();
    for suffix in ["", "-wal", "-shm"] {
        let file = dir.path().join(format!("optout-relay.db{suffix}"));
        if file.exists() {
            std::fs::remove_file(file).unwrap();
        }
    }
    std::fs::copy(&backup, dir.path().join("optout-relay.db")).unwrap();
    let restored = Server::start(dir.path(), &serve_flags());

    assert_eq!(api::compliance_record(&restored, &opt_out_id), before);
    let secret = client()
        .post(restored.url("/api/account/secret/regenerate"))
        .header("api_key", &account.api_key)
        .send()
        .unwrap();
    assert_eq!(
        secret.status(),
        StatusCode::OK,
        "the account's API key survives"
    );
}

#[test]
fn a_backup_never_overwrites_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &serve_flags());
    let existing = dir.path().join("precious.db");
    std::fs::write(&existing, b"keep me").unwrap();

    let output = run(relay()
        .args(["backup", "--database-url", &database_url(dir.path())])
        .arg("--to")
        .arg(&existing));

    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("already exists"),
        "{}",
        stderr_of(&output)
    );
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    drop(server);
}

#[test]
fn a_backup_of_postgresql_points_to_its_own_tools() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(relay()
        .args([
            "backup",
            "--database-url",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ])
        .arg("--to")
        .arg(dir.path().join("x.db")));

    assert!(!output.status.success());
    assert!(
        stderr_of(&output).contains("pg_dump"),
        "{}",
        stderr_of(&output)
    );
    assert!(!dir.path().join("x.db").exists());
}
