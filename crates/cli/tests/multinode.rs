//! Several `serve` nodes on one PostgreSQL database: opt-outs recorded through any node are
//! delivered exactly once between them, and every node takes a share of the deliveries (work
//! committed on one node wakes the others through `NOTIFY`).

mod common;

use common::api::{self, recipient_statuses};
use common::postgres::TestDatabase;
use common::process::{CreatedAccount, Server, ADMIN_TOKEN, MASTER_KEY};
use common::receiver::Receiver;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// One `User-Agent` per node, so the receiver can tell who delivered what.
const NODES: [&str; 3] = [
    "Lusha-Webhooks/1.0 node-a",
    "Lusha-Webhooks/1.0 node-b",
    "Lusha-Webhooks/1.0 node-c",
];
const ACCOUNTS: usize = 20;
/// One notice per opt-out: contact n is exposed to one account only.
const NOTICES: usize = 20_000;
/// Opt-outs per bulk request; the requests go to the nodes in turn.
const OPT_OUTS_PER_REQUEST: usize = 1_000;
/// Exposures per request: about 130 bytes each, well under the 1 MiB body limit.
const EXPOSURES_PER_REQUEST: usize = 4_000;
/// How long each delivery takes the receiver to answer.
const RECEIVER_DELAY: Duration = Duration::from_millis(1);
/// How long the nodes may take to deliver everything, counted from the first opt-out request.
const DELIVERY: Duration = Duration::from_secs(120);
/// Every this many opt-outs, one compliance record is read back (through each node in turn).
const COMPLIANCE_SAMPLE_STEP: usize = 100;

fn serve_flags(user_agent: &str) -> Vec<&str> {
    vec![
        "--admin-token",
        ADMIN_TOKEN,
        "--master-key",
        MASTER_KEY,
        "--allow-insecure-urls",
        "--allow-private-targets",
        "--user-agent",
        user_agent,
    ]
}

#[test]
fn three_nodes_on_one_postgres_database_deliver_every_notice() {
    // Declared first, dropped last: the servers are killed before their database goes.
    let database = TestDatabase::create();
    let receiver = Receiver::start(RECEIVER_DELAY);
    let nodes: Vec<Server> = NODES
        .iter()
        .map(|user_agent| Server::start_on(database.url(), &serve_flags(user_agent)))
        .collect();
    let node = |n: usize| &nodes[n % nodes.len()];

    let accounts: Vec<CreatedAccount> = (0..ACCOUNTS)
        .map(|n| {
            let account = api::create_account(&nodes[0], &format!("Customer {n}"));
            api::subscribe(&nodes[0], &account, &receiver);
            account
        })
        .collect();
    let exposures: Vec<Value> = (0..NOTICES)
        .map(|n| {
            json!({
                "accountId": accounts[n % ACCOUNTS].id,
                "contactId": format!("contact-{n}"),
                "datapoints": [{ "datapointId": format!("person{n}@example.com"), "datapointType": "email" }],
            })
        })
        .collect();
    for (request, chunk) in exposures.chunks(EXPOSURES_PER_REQUEST).enumerate() {
        let intake = api::record_exposures(node(request), chunk);
        assert_eq!(intake["accepted"], json!(chunk.len()), "{intake}");
    }

    let started = Instant::now();
    let opt_outs: Vec<Value> = (0..NOTICES)
        .map(|n| json!({ "contactId": format!("contact-{n}"), "fullName": format!("Person {n}") }))
        .collect();
    let mut created = 0;
    let mut opt_out_ids = Vec::with_capacity(NOTICES);
    for (request, chunk) in opt_outs.chunks(OPT_OUTS_PER_REQUEST).enumerate() {
        let recorded = api::record_opt_outs_ndjson(node(request), chunk);
        created += recorded["notices"].as_u64().expect("notices") as usize;
        opt_out_ids.extend(
            recorded["results"]
                .as_array()
                .expect("results")
                .iter()
                .map(|result| result["optOutId"].as_str().expect("optOutId").to_owned()),
        );
    }
    let recorded_in = started.elapsed();
    assert_eq!(created, NOTICES, "one notice per opt-out");
    assert_eq!(opt_out_ids.len(), NOTICES);

    let delivered = receiver
        .wait_until(DELIVERY, |seen| seen.unique() >= NOTICES)
        .unwrap_or_else(|seen| {
            panic!(
                "only {} of {NOTICES} notices were delivered within {DELIVERY:?} (per node: \
                 {:?}); node A's stderr:\n{}",
                seen.unique(),
                seen.per_user_agent(),
                nodes[0].stderr()
            )
        });
    let delivered_in = started.elapsed();

    assert_eq!(
        delivered.unique(),
        NOTICES,
        "no notice id beyond those created"
    );
    assert!(
        delivered.bad_signatures.is_empty(),
        "deliveries with bad signatures: {:?}",
        &delivered.bad_signatures[..delivered.bad_signatures.len().min(5)]
    );
    // The outcomes are recorded by whichever node delivered; any node reads them back.
    let deadline = Instant::now() + Duration::from_secs(30);
    for (n, id) in opt_out_ids
        .iter()
        .enumerate()
        .step_by(COMPLIANCE_SAMPLE_STEP)
    {
        loop {
            let record = api::compliance_record(node(n / COMPLIANCE_SAMPLE_STEP), id);
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
    let per_node = end.per_user_agent();
    let duplicates = end.duplicates();
    println!(
        "multinode: {NOTICES} notices, {duplicates} duplicates, per node: {per_node:?} \
         (recorded in {:.1} s, all delivered {:.1} s after the first opt-out request)",
        recorded_in.as_secs_f64(),
        delivered_in.as_secs_f64()
    );
    assert_eq!(end.unique(), NOTICES);
    assert_eq!(
        duplicates, 0,
        "no node crashed, so no notice may arrive twice"
    );
    for user_agent in NODES {
        assert!(
            end.posts_by(user_agent) > 0,
            "{user_agent:?} delivered nothing: per node: {per_node:?}"
        );
    }
    assert_eq!(
        NODES
            .iter()
            .map(|user_agent| end.posts_by(user_agent))
            .sum::<usize>(),
        NOTICES,
        "every delivery came from one of the nodes: {per_node:?}"
    );
}
