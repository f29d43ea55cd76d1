//! `serve --no-delivery` beside `worker`: the API process records, the worker delivers.

mod common;

use common::api;
use common::process::{database_url, relay, Daemon, Server, ADMIN_TOKEN, PATIENCE};
use common::receiver::Receiver;
use serde_json::{json, Value};
use std::time::Duration;

const ACCOUNTS: usize = 3;
const OPT_OUTS: usize = 30;
/// How long `serve --no-delivery` is watched for a delivery it must not make. The engine of a
/// delivering `serve` is woken the moment opt-outs commit and would deliver within
/// milliseconds; the poll it would fall back on runs every second.
const SILENCE: Duration = Duration::from_millis(1500);

#[test]
fn serve_without_delivery_only_records_and_the_worker_delivers_then_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start(Duration::from_millis(1));
    let server = Server::start(
        dir.path(),
        &[
            "--admin-token",
            ADMIN_TOKEN,
            "--allow-insecure-urls",
            "--allow-private-targets",
            "--no-delivery",
        ],
    );
    let accounts: Vec<_> = (0..ACCOUNTS)
        .map(|n| {
            let account = api::create_account(&server, &format!("Customer {n}"));
            api::subscribe(&server, &account, &receiver);
            account
        })
        .collect();
    let exposures: Vec<Value> = (0..OPT_OUTS)
        .map(|n| {
            json!({
                "accountId": accounts[n % ACCOUNTS].id,
                "contactId": format!("contact-{n}"),
                "datapoints": [{ "datapointId": format!("+1415555{n:04}"), "datapointType": "phone" }],
            })
        })
        .collect();
    api::record_exposures(&server, &exposures);
    let opt_outs: Vec<Value> = (0..OPT_OUTS)
        .map(|n| json!({ "contactId": format!("contact-{n}"), "fullName": format!("Person {n}") }))
        .collect();
    let recorded = api::record_opt_outs_ndjson(&server, &opt_outs);
    let expected = recorded["notices"].as_u64().expect("notices") as usize;
    assert_eq!(expected, OPT_OUTS);

    let premature = receiver.wait_until(SILENCE, |seen| seen.posts() > 0);
    assert!(
        premature.is_err(),
        "serve --no-delivery delivered {} notices",
        receiver.posts()
    );

    // The receiver is on 127.0.0.1: the worker reaches it through an allowed range.
    let mut worker = Daemon::spawn(relay().args([
        "worker",
        "--database-url",
        &database_url(dir.path()),
        "--allow-target",
        "127.0.0.0/8",
    ]));
    let seen = receiver
        .wait_until(Duration::from_secs(30), |seen| seen.unique() >= expected)
        .unwrap_or_else(|seen| {
            panic!(
                "the worker delivered {} of {expected} notices within 30 s; stderr:\n{}",
                seen.unique(),
                worker.stderr()
            )
        });
    assert_eq!(seen.unique(), expected);
    assert!(seen.bad_signatures.is_empty(), "{:?}", seen.bad_signatures);
    let first = recorded["results"][0]["optOutId"]
        .as_str()
        .expect("optOutId");
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let record = api::compliance_record(&server, first);
        if api::recipient_statuses(&record) == ["delivered"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the worker's delivery is not in the compliance record: {record}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let status = worker.terminate();

    assert_eq!(status.code(), Some(0), "stderr:\n{}", worker.stderr());
}
