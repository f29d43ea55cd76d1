//! The offline commands on the database: `exposures import`, `opt-out` and `opt-outs import`,
//! and `serve` delivering the notices they create.

mod common;

use common::api;
use common::process::{
    create_account, database_url, printed_field, relay, run, stderr_of, stdout_of, CreatedAccount,
    Server, ADMIN_TOKEN,
};
use common::receiver::Receiver;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// An exposure item of `contact` to `account`, with email datapoints.
fn exposure(account: &str, contact: &str, emails: &[&str]) -> Value {
    let datapoints: Vec<Value> = emails
        .iter()
        .map(|email| json!({ "datapointId": email, "datapointType": "email" }))
        .collect();
    json!({ "accountId": account, "contactId": contact, "datapoints": datapoints })
}

/// Writes `lines` as an NDJSON file in `dir`.
fn ndjson(dir: &Path, name: &str, lines: &[Value]) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create file"));
    for line in lines {
        writeln!(file, "{line}").expect("write line");
    }
    file.flush().expect("flush");
    path
}

fn import(dir: &Path, what: &str, file: &Path) -> Output {
    run(relay().args([what, "import"]).arg(file).args([
        "--quiet",
        "--database-url",
        &database_url(dir),
    ]))
}

/// Runs `exposures import` and returns its stdout, failing if it fails.
fn import_exposures(dir: &Path, file: &Path) -> String {
    let output = import(dir, "exposures", file);
    assert!(
        output.status.success(),
        "exposures import failed: {}",
        stderr_of(&output)
    );
    stdout_of(&output)
}

/// Runs `opt-outs import` and returns its stdout, failing if it fails.
fn import_opt_outs(dir: &Path, file: &Path) -> String {
    let output = import(dir, "opt-outs", file);
    assert!(
        output.status.success(),
        "opt-outs import failed: {}",
        stderr_of(&output)
    );
    stdout_of(&output)
}

/// Runs `opt-out` for `contact` and returns (opt-out id, notices).
fn opt_out(dir: &Path, contact: &str) -> (String, u64) {
    let output = run(relay()
        .args([
            "opt-out",
            "--contact-id",
            contact,
            "--full-name",
            "Jane Doe",
        ])
        .args(["--database-url", &database_url(dir)]));
    assert!(
        output.status.success(),
        "opt-out failed: {}",
        stderr_of(&output)
    );
    let stdout = stdout_of(&output);
    let notices = printed_field(&stdout, "notices:")
        .parse()
        .unwrap_or_else(|_| panic!("notices is not a number in {stdout}"));
    (printed_field(&stdout, "opt-out id:"), notices)
}

fn accounts(dir: &Path, ids: &[&str]) -> Vec<CreatedAccount> {
    ids.iter()
        .map(|id| create_account(dir, &["--account-id", id]))
        .collect()
}

#[test]
fn exposures_import_prints_the_counts_and_a_second_run_counts_duplicates() {
    let dir = tempfile::tempdir().expect("temp dir");
    accounts(dir.path(), &["1001", "1002"]);
    let file = ndjson(
        dir.path(),
        "exposures.ndjson",
        &[
            exposure("1001", "c1", &["a@example.com", "b@example.com"]),
            exposure("1002", "c2", &["c@example.com"]),
            exposure("9999", "c3", &["d@example.com"]),
        ],
    );

    let first = import_exposures(dir.path(), &file);
    let second = import_exposures(dir.path(), &file);

    assert!(
        first.contains("3 lines: 3 datapoints accepted, 0 duplicates, 1 refused"),
        "{first}"
    );
    assert!(first.contains("item 2: unknown account"), "{first}");
    assert!(
        second.contains("3 lines: 0 datapoints accepted, 3 duplicates, 1 refused"),
        "{second}"
    );
}

#[test]
fn exposures_import_with_one_bad_line_imports_nothing_and_names_the_bad_item() {
    // More good lines than one write batch (2,000) come first: an importer that wrote as it
    // read would have committed them before meeting the bad line.
    const GOOD: usize = 2500;
    let dir = tempfile::tempdir().expect("temp dir");
    accounts(dir.path(), &["1001"]);
    let mut lines: Vec<Value> = (0..GOOD)
        .map(|n| exposure("1001", &format!("c{n}"), &[&format!("p{n}@example.com")]))
        .collect();
    let good = ndjson(dir.path(), "good.ndjson", &lines);
    lines.push(json!({ "accountId": "1001", "contactId": "bad",
                       "datapoints": [{ "datapointId": "x", "datapointType": "fax" }] }));
    let bad = ndjson(dir.path(), "bad.ndjson", &lines);

    let refused = import(dir.path(), "exposures", &bad);
    let after = import_exposures(dir.path(), &good);

    assert!(!refused.status.success(), "a bad line fails the import");
    let stderr = stderr_of(&refused);
    assert!(
        stderr.contains(&format!("[{GOOD}]")) && stderr.contains("datapointType"),
        "the bad item is named: {stderr}"
    );
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    assert!(
        !stdout_of(&refused).contains("accepted"),
        "no counts for a refused file"
    );
    assert!(
        after.contains(&format!(
            "{GOOD} lines: {GOOD} datapoints accepted, 0 duplicates, 0 refused"
        )),
        "the refused import left something behind: {after}"
    );
}

#[test]
fn exposures_import_with_a_line_that_is_not_json_imports_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    accounts(dir.path(), &["1001"]);
    let good = ndjson(
        dir.path(),
        "good.ndjson",
        &[
            exposure("1001", "c1", &["a@example.com"]),
            exposure("1001", "c2", &["b@example.com"]),
        ],
    );
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(
        &bad,
        format!(
            "{}\n{{\"accountId\": \"1001\",\n{}\n",
            exposure("1001", "c1", &["a@example.com"]),
            exposure("1001", "c2", &["b@example.com"])
        ),
    )
    .expect("write file");

    let refused = import(dir.path(), "exposures", &bad);
    let after = import_exposures(dir.path(), &good);

    assert!(!refused.status.success());
    let stderr = stderr_of(&refused);
    assert!(stderr.contains("[1]"), "the bad line is named: {stderr}");
    assert!(
        after.contains("2 lines: 2 datapoints accepted, 0 duplicates, 0 refused"),
        "{after}"
    );
}

#[test]
fn opt_out_prints_its_id_and_notices_and_later_exposures_of_the_contact_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    accounts(dir.path(), &["1001", "1002", "1003"]);
    let exposures = ndjson(
        dir.path(),
        "exposures.ndjson",
        &[
            exposure("1001", "jane", &["jane@example.com"]),
            exposure("1002", "jane", &["jane@example.com", "j.doe@example.com"]),
            exposure("1003", "john", &["john@example.com"]),
        ],
    );
    import_exposures(dir.path(), &exposures);

    let (id, notices) = opt_out(dir.path(), "jane");
    let (_, unexposed) = opt_out(dir.path(), "nobody");

    assert_eq!(id.len(), 24, "{id:?}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id:?}");
    assert_eq!(
        notices, 2,
        "one notice per account that received jane's data"
    );
    assert_eq!(
        unexposed, 0,
        "an opt-out of unexposed data creates no notice"
    );
    let later = ndjson(
        dir.path(),
        "later.ndjson",
        &[
            exposure("1003", "jane", &["jane@example.com"]),
            exposure("1003", "nobody", &["nobody@example.com"]),
            exposure("1001", "john", &["john@example.com"]),
        ],
    );
    let printed = import_exposures(dir.path(), &later);
    assert!(
        printed.contains("3 lines: 1 datapoints accepted, 0 duplicates, 2 refused"),
        "{printed}"
    );
    assert!(
        printed.contains("item 0: contact has opted out of this data")
            && printed.contains("item 1: contact has opted out of this data"),
        "{printed}"
    );
}

/// 1,200 contacts, one per line, spread over accounts 1001..1003; the first 300 also went to a
/// second account. 1,500 notices in all, over more than one import batch (500).
fn opt_out_workload(dir: &Path) -> (PathBuf, PathBuf, u64) {
    const CONTACTS: usize = 1200;
    const TWICE: usize = 300;
    let accounts = ["1001", "1002", "1003"];
    let mut exposures = Vec::new();
    for n in 0..CONTACTS {
        let contact = format!("contact-{n}");
        let email = format!("person{n}@example.com");
        exposures.push(exposure(accounts[n % 3], &contact, &[&email]));
        if n < TWICE {
            exposures.push(exposure(accounts[(n + 1) % 3], &contact, &[&email]));
        }
    }
    let opt_outs: Vec<Value> = (0..CONTACTS)
        .map(|n| json!({ "contactId": format!("contact-{n}"), "fullName": format!("Person {n}") }))
        .collect();
    (
        ndjson(dir, "exposures.ndjson", &exposures),
        ndjson(dir, "opt-outs.ndjson", &opt_outs),
        (CONTACTS + TWICE) as u64,
    )
}

#[test]
fn opt_outs_import_records_every_line_and_a_second_run_creates_nothing_new() {
    let dir = tempfile::tempdir().expect("temp dir");
    accounts(dir.path(), &["1001", "1002", "1003"]);
    let (exposures, opt_outs, notices) = opt_out_workload(dir.path());
    import_exposures(dir.path(), &exposures);

    let first = import_opt_outs(dir.path(), &opt_outs);
    let second = import_opt_outs(dir.path(), &opt_outs);

    assert!(
        first.contains(&format!("1200 opt-outs recorded, {notices} notices queued")),
        "{first}"
    );
    // A run that recorded the opt-outs again would find no exposures left and report 0
    // notices; an idempotent one answers with the first run's results.
    assert_eq!(second, first, "the second run replays the first");
    let refused = import_exposures(
        dir.path(),
        &ndjson(
            dir.path(),
            "again.ndjson",
            &[exposure("1001", "contact-7", &["new@example.com"])],
        ),
    );
    assert!(refused.contains("1 refused"), "{refused}");
}

#[test]
fn opt_outs_import_with_a_bad_line_records_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    accounts(dir.path(), &["1001", "1002", "1003"]);
    let (exposures, opt_outs, notices) = opt_out_workload(dir.path());
    import_exposures(dir.path(), &exposures);
    let mut text = std::fs::read_to_string(&opt_outs).expect("read opt-outs");
    text.push_str("{\"contactId\":\"late\"}\n");
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, text).expect("write file");

    let refused = import(dir.path(), "opt-outs", &bad);
    let after = import_opt_outs(dir.path(), &opt_outs);

    assert!(!refused.status.success());
    let stderr = stderr_of(&refused);
    assert!(
        stderr.contains("[1200]") && stderr.contains("fullName"),
        "the bad item is named: {stderr}"
    );
    assert!(
        after.contains(&format!("1200 opt-outs recorded, {notices} notices queued")),
        "the refused import recorded opt-outs (their exposures are gone): {after}"
    );
}

#[test]
fn serve_delivers_the_notices_the_cli_records_while_it_runs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let created = accounts(dir.path(), &["1001", "1002", "1003"]);
    let (exposures, opt_outs, imported_notices) = opt_out_workload(dir.path());
    import_exposures(dir.path(), &exposures);
    let single = ndjson(
        dir.path(),
        "single.ndjson",
        &[exposure("1002", "jane", &["jane@example.com"])],
    );
    import_exposures(dir.path(), &single);
    let receiver = Receiver::start(Duration::from_millis(1));
    let server = Server::start(
        dir.path(),
        &[
            "--admin-token",
            ADMIN_TOKEN,
            "--allow-insecure-urls",
            "--allow-private-targets",
        ],
    );
    for account in &created {
        api::subscribe(&server, account, &receiver);
    }

    // Another process commits the notices: `serve` can only find them by polling.
    let (jane, jane_notices) = opt_out(dir.path(), "jane");
    let printed = import_opt_outs(dir.path(), &opt_outs);
    let expected = imported_notices + jane_notices;

    assert!(
        printed.contains(&format!("{imported_notices} notices queued")),
        "{printed}"
    );
    assert_eq!(jane_notices, 1);
    let seen = receiver
        .wait_until(Duration::from_secs(60), |seen| {
            seen.unique() as u64 >= expected
        })
        .unwrap_or_else(|seen| {
            panic!(
                "serve delivered {} of {expected} notices within 60 s; stderr:\n{}",
                seen.unique(),
                server.stderr()
            )
        });
    assert_eq!(seen.unique() as u64, expected);
    assert!(seen.bad_signatures.is_empty(), "{:?}", seen.bad_signatures);
    let contacts: HashSet<&str> = seen
        .deliveries
        .iter()
        .map(|delivery| delivery.contact_id.as_str())
        .collect();
    assert!(contacts.contains("jane") && contacts.contains("contact-1199"));
    assert_eq!(contacts.len(), 1201);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let record = api::compliance_record(&server, &jane);
        if api::recipient_statuses(&record) == ["delivered"] {
            assert_eq!(record["recipients"][0]["accountId"], json!("1002"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "jane's opt-out is not recorded as delivered: {record}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn offline_commands_log_no_personal_data_or_key_at_trace_level() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = database_url(dir.path());
    let traced = |command: &mut std::process::Command| {
        let output = run(command
            .env("RUST_LOG", "trace")
            .args(["--database-url", &url]));
        assert!(output.status.success(), "{}", stderr_of(&output));
        output
    };
    let created = traced(relay().args([
        "account",
        "create",
        "--name",
        "Acme Corp",
        "--account-id",
        "4242",
    ]));
    let api_key = printed_field(&stdout_of(&created), "api key:");
    let created = stderr_of(&created);
    let file = ndjson(
        dir.path(),
        "exposures.ndjson",
        &[
            exposure("4242", "c-trace", &["trace.marker.zq91@example.com"]),
            exposure("4242", "c-trace", &["not-an-email-zq92"]),
        ],
    );
    let imported = stderr_of(&traced(relay().args(["exposures", "import"]).arg(&file)));
    let opted_out = stderr_of(&traced(relay().args([
        "opt-out",
        "--contact-id",
        "c-trace",
        "--full-name",
        "Tracy Markerzq93",
    ])));

    let logs = format!("{created}\n{imported}\n{opted_out}");
    assert!(logs.contains("TRACE") || logs.contains("DEBUG"), "{logs}");
    for marker in [
        "trace.marker.zq91",
        "not-an-email-zq92",
        "Markerzq93",
        api_key.as_str(),
        api_key.trim_start_matches("oor_"),
    ] {
        assert!(!logs.contains(marker), "{marker:?} in the logs:\n{logs}");
    }
}
