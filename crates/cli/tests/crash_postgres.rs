//! The crash test with two nodes on one PostgreSQL database: one node is killed with SIGKILL
//! while deliveries are in flight, and the survivor must deliver every notice, those the killed
//! node had claimed included once their leases expire (duplicates allowed, losses not).

mod common;

use common::api::{self, recipient_statuses};
use common::postgres::TestDatabase;
use common::process::{Server, ADMIN_TOKEN, MASTER_KEY};
use common::receiver::{Receiver, Seen};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const NODE_A: &str = "Lusha-Webhooks/1.0 node-a";
const NODE_B: &str = "Lusha-Webhooks/1.0 node-b";
const ACCOUNTS: usize = 20;
const NOTICES: usize = 2000;
/// Deliveries the receiver must have seen before node A is killed: under a third, so that a
/// good part is left for both nodes when the kill is decided.
const SEEN_BEFORE_KILL: usize = 600;
/// How long each delivery takes the receiver to answer. Node A is killed right after one of its
/// POSTs arrives, so its deliveries are in flight and their outcomes unrecorded when the kill
/// lands. Long enough, too, that the remaining work outlasts a node's poll interval (1 s): with
/// a few milliseconds node B sometimes delivered everything while node A sat out a poll,
/// leaving nothing to kill it in the middle of.
const RECEIVER_DELAY: Duration = Duration::from_millis(400);
/// The lease of a claim: 2 x attempt timeout (3 s) + 5 s. A notice node A had claimed is due
/// again only when it ends.
const LEASE: Duration = Duration::from_secs(11);
/// How long node B may take to deliver everything after the kill: a lease, and ample margin.
const RECOVERY: Duration = Duration::from_secs(60);
/// Every this many opt-outs, one compliance record is read back through node B.
const COMPLIANCE_SAMPLE_STEP: usize = 10;

fn serve_flags(user_agent: &str) -> Vec<&str> {
    vec![
        "--admin-token",
        ADMIN_TOKEN,
        "--master-key",
        MASTER_KEY,
        "--allow-insecure-urls",
        "--allow-private-targets",
        "--retry-schedule",
        "200ms,200ms,200ms",
        // Shortens the lease of the killed node's claims from 25 s to 11 s.
        "--attempt-timeout",
        "3s",
        "--user-agent",
        user_agent,
    ]
}

#[test]
fn every_notice_is_delivered_when_one_of_two_postgres_nodes_is_killed() {
    // Declared first, dropped last: the servers are killed before their database goes.
    let database = TestDatabase::create();
    let receiver = Receiver::start(RECEIVER_DELAY);
    let mut node_a = Server::start_on(database.url(), &serve_flags(NODE_A));
    let node_b = Server::start_on(database.url(), &serve_flags(NODE_B));

    let accounts: Vec<_> = (0..ACCOUNTS)
        .map(|n| {
            let account = api::create_account(&node_a, &format!("Customer {n}"));
            api::subscribe(&node_a, &account, &receiver);
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
    let intake = api::record_exposures(&node_b, &exposures);
    assert_eq!(intake["accepted"], json!(NOTICES), "{intake}");
    // One request, one transaction: every notice exists before the first delivery starts. It
    // goes through node A; node B learns of the work through NOTIFY.
    let opt_outs: Vec<Value> = (0..NOTICES)
        .map(|n| json!({ "contactId": format!("contact-{n}"), "fullName": format!("Person {n}") }))
        .collect();
    let recorded = api::record_opt_outs_ndjson(&node_a, &opt_outs);
    let expected = recorded["notices"].as_u64().expect("notices") as usize;
    let opt_out_ids: Vec<String> = recorded["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| result["optOutId"].as_str().expect("optOutId").to_owned())
        .collect();
    assert_eq!(expected, NOTICES, "one notice per opt-out");
    assert_eq!(opt_out_ids.len(), NOTICES);

    // The kill lands while node A is delivering: its latest POST has just arrived.
    let before_kill = receiver
        .wait_until(Duration::from_secs(30), |seen| {
            seen.unique() >= expected
                || (seen.unique() >= SEEN_BEFORE_KILL
                    && seen
                        .deliveries
                        .last()
                        .is_some_and(|delivery| delivery.user_agent == NODE_A))
        })
        .unwrap_or_else(|seen| {
            panic!(
                "{} deliveries within 30 s, per node: {:?}; node A's stderr:\n{}",
                seen.unique(),
                seen.per_user_agent(),
                node_a.stderr()
            )
        });
    node_a.kill_hard();
    let killed_at = Instant::now();
    let at_kill = receiver.seen();
    assert!(
        at_kill.unique() < expected,
        "the kill landed after all {expected} notices were delivered ({} seen when it was \
         decided, {} after): the test proves nothing; slow the receiver down",
        before_kill.unique(),
        at_kill.unique()
    );
    println!(
        "crash_postgres: killed node A after {} of {expected} notices were delivered (per node: \
         {:?})",
        at_kill.unique(),
        at_kill.per_user_agent()
    );

    let delivered = receiver
        .wait_until(RECOVERY, |seen| seen.unique() >= expected)
        .unwrap_or_else(|seen| {
            panic!(
                "after the kill only {} of {expected} notices were delivered within \
                 {RECOVERY:?}; node B's stderr:\n{}",
                seen.unique(),
                node_b.stderr()
            )
        });
    let recovery = killed_at.elapsed();

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
    let contacts: HashSet<&str> = delivered
        .deliveries
        .iter()
        .map(|delivery| delivery.contact_id.as_str())
        .collect();
    assert_eq!(contacts.len(), NOTICES, "every contact's notice arrived");
    // Node B's claims outlive its attempts, so only a notice the killed node had sent may arrive
    // twice.
    let repeated_without_a = repeated_notices_never_sent_by(&delivered, NODE_A);
    assert!(
        repeated_without_a.is_empty(),
        "{} notices arrived twice though node A never sent them, e.g. {:?}",
        repeated_without_a.len(),
        repeated_without_a.first()
    );
    // Notices node A had claimed are due again only when their leases end, long after node B
    // has delivered the rest: their late arrival shows the killed node's claims came back.
    let recovered = delivered
        .deliveries
        .iter()
        .filter(|delivery| delivery.user_agent == NODE_B && delivery.at >= killed_at + LEASE / 2)
        .count();
    assert!(
        recovered > 0,
        "no notice arrived after node A's leases could have ended: the kill caught node A \
         holding no claims, and the test proves nothing about their recovery"
    );

    // The compliance records catch up once the outcomes are recorded; then no redelivery is
    // pending, and the duplicate count is final.
    let deadline = Instant::now() + Duration::from_secs(30);
    for id in opt_out_ids.iter().step_by(COMPLIANCE_SAMPLE_STEP) {
        loop {
            let record = api::compliance_record(&node_b, id);
            if recipient_statuses(&record) == ["delivered"] {
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
        "crash_postgres: {expected} notices, {} duplicates ({} POSTs, per node: {:?}), \
         {recovered} delivered by node B after node A's leases ended, all delivered {:.1} s \
         after the kill",
        end.duplicates(),
        end.posts(),
        end.per_user_agent(),
        recovery.as_secs_f64()
    );
}

/// The notices that arrived more than once with no POST from `user_agent` among them.
fn repeated_notices_never_sent_by(seen: &Seen, user_agent: &str) -> Vec<String> {
    let mut senders: HashMap<&str, Vec<&str>> = HashMap::new();
    for delivery in &seen.deliveries {
        senders
            .entry(delivery.notice_id.as_str())
            .or_default()
            .push(delivery.user_agent.as_str());
    }
    senders
        .into_iter()
        .filter(|(_, agents)| agents.len() > 1 && !agents.contains(&user_agent))
        .map(|(id, _)| id.to_owned())
        .collect()
}
