//! The crash test: `serve` is killed with SIGKILL while deliveries are in flight, restarted on the
//! same database, and must still deliver every notice (duplicates allowed, losses not).

mod common;

use common::api::{self, recipient_statuses};
use common::process::{Server, ADMIN_TOKEN};
use common::receiver::Receiver;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const ACCOUNTS: usize = 20;
const NOTICES: usize = 2000;
/// Deliveries the receiver must have seen before the kill: half. By then the outcomes of many
/// are recorded and others are in flight or unrecorded; the debug build delivers about 2,000 a
/// second on two cores, so the test reacts with about half a second to spare.
const SEEN_BEFORE_KILL: usize = NOTICES / 2;
/// How long each delivery takes the receiver to answer, so deliveries are in flight when the
/// kill lands.
const RECEIVER_DELAY: Duration = Duration::from_millis(2);
/// How long the restarted server may take to deliver everything. A notice claimed by the killed
/// process is due again only when its lease ends (2 x attempt timeout + 5 s = 11 s here).
const RECOVERY: Duration = Duration::from_secs(60);

fn serve_flags() -> Vec<&'static str> {
    vec![
        "--admin-token",
        ADMIN_TOKEN,
        "--allow-insecure-urls",
        "--allow-private-targets",
        "--retry-schedule",
        "200ms,200ms,200ms",
        // Shortens the lease of the killed process's claims from 25 s to 11 s.
        "--attempt-timeout",
        "3s",
    ]
}

#[test]
fn every_notice_is_delivered_after_serve_is_killed_mid_delivery_and_restarted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let receiver = Receiver::start(RECEIVER_DELAY);
    let mut first = Server::start(dir.path(), &serve_flags());

    let accounts: Vec<_> = (0..ACCOUNTS)
        .map(|n| {
            let account = api::create_account(&first, &format!("Customer {n}"));
            api::subscribe(&first, &account, &receiver);
            account
        })
        .collect();
    // Contact n is exposed to one account only, so each opt-out makes exactly one notice.
    let exposures: Vec<Value> = (0..NOTICES)
        .map(|n| {
            json!({
                "accountId": accounts[n % ACCOUNTS].id,
                "contactId": format!("contact-{n}"),
                "datapoints": [{ "datapointId": format!("person{n}@example.com"), "datapointType": "email" }],
            })
        })
        .collect();
    let intake = api::record_exposures(&first, &exposures);
    assert_eq!(intake["accepted"], json!(NOTICES), "{intake}");
    // One request, one transaction: every notice exists before the first delivery starts.
    let opt_outs: Vec<Value> = (0..NOTICES)
        .map(|n| json!({ "contactId": format!("contact-{n}"), "fullName": format!("Person {n}") }))
        .collect();
    let recorded = api::record_opt_outs_ndjson(&first, &opt_outs);
    let expected = recorded["notices"].as_u64().expect("notices") as usize;
    let opt_out_ids: Vec<String> = recorded["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| result["optOutId"].as_str().expect("optOutId").to_owned())
        .collect();
    assert_eq!(expected, NOTICES, "one notice per opt-out");
    assert_eq!(opt_out_ids.len(), NOTICES);

    let before_kill = receiver
        .wait_until(Duration::from_secs(30), |seen| {
            seen.unique() >= SEEN_BEFORE_KILL
        })
        .unwrap_or_else(|seen| {
            panic!(
                "only {} deliveries within 30 s; stderr:\n{}",
                seen.unique(),
                first.stderr()
            )
        });
    first.kill_hard();
    let at_kill = receiver.seen();
    assert!(
        at_kill.unique() < expected,
        "the kill landed after all {expected} notices were delivered ({} seen when it was \
         decided, {} after): the test proves nothing; slow the receiver down",
        before_kill.unique(),
        at_kill.unique()
    );
    println!(
        "crash test: killed serve after {} of {expected} notices were delivered",
        at_kill.unique()
    );

    let restarted_at = Instant::now();
    let second = Server::start(dir.path(), &serve_flags());
    let delivered = receiver
        .wait_until(RECOVERY, |seen| seen.unique() >= expected)
        .unwrap_or_else(|seen| {
            panic!(
                "after the restart only {} of {expected} notices were delivered within \
                 {RECOVERY:?}; stderr:\n{}",
                seen.unique(),
                second.stderr()
            )
        });
    let recovery = restarted_at.elapsed();

    assert_eq!(
        delivered.unique(),
        expected,
        "no notice id beyond those created"
    );
    assert!(
        delivered.bad_signatures.is_empty(),
        "deliveries with bad signatures: {:?}",
        &delivered.bad_signatures[..delivered.bad_signatures.len().min(5)]
    );
    // Only a notice the killed process had sent may arrive twice: the restarted one must not
    // repeat its own deliveries.
    let sent_before_kill = &at_kill.notice_ids;
    let mut first_posts = HashSet::new();
    let repeated_after_restart: Vec<&str> = delivered
        .deliveries
        .iter()
        .filter(|delivery| !first_posts.insert(delivery.notice_id.as_str()))
        .map(|delivery| delivery.notice_id.as_str())
        .filter(|id| !sent_before_kill.contains(*id))
        .collect();
    assert!(
        repeated_after_restart.is_empty(),
        "{} notices first sent after the restart arrived twice, e.g. {:?}",
        repeated_after_restart.len(),
        repeated_after_restart.first()
    );
    let contacts: HashSet<&str> = delivered
        .deliveries
        .iter()
        .map(|delivery| delivery.contact_id.as_str())
        .collect();
    assert_eq!(contacts.len(), NOTICES, "every contact's notice arrived");
    // The compliance records catch up once the outcomes are recorded; then no redelivery is
    // pending, and the duplicate count is final.
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in &opt_out_ids {
        loop {
            let record = api::compliance_record(&second, id);
            let statuses = recipient_statuses(&record);
            if statuses == ["delivered"] {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "opt-out {id} is not recorded as delivered: {record}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let end = receiver.seen();
    assert_eq!(end.unique(), expected);
    println!(
        "crash test: {expected} notices, {} duplicates ({} POSTs), all delivered {:.1} s after \
         the restart",
        end.duplicates(),
        end.posts(),
        recovery.as_secs_f64()
    );
}
