//! What only the PostgreSQL store does: explicit migration, and wake-ups across nodes.

mod common;

use chrono::{TimeZone, Utc};
use common::TestDatabase;
use optout_core::{
    AccountName, ContactDetails, ContactId, Datapoint, NewAccount, NewApiKey, NewExposure,
    NewOptOut, NewSubscription, OptOutBatch, OptOutId, SubscriptionChanges, SubscriptionId,
    WebhookUrl,
};
use optout_store::Store;
use optout_store_postgres::{PostgresStore, WorkListener};
use std::time::Duration;

/// Long enough for a loaded machine; a wake-up normally arrives within milliseconds.
const WAKE_TIMEOUT: Duration = Duration::from_secs(10);

async fn woken(listener: &mut WorkListener) {
    tokio::time::timeout(WAKE_TIMEOUT, listener.recv())
        .await
        .expect("a wake-up within the timeout")
        .expect("the listener is running");
}

async fn table_exists(store: &PostgresStore, table: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
        .bind(table)
        .fetch_one(store.pool())
        .await
        .expect("query")
}

#[tokio::test]
async fn connect_leaves_the_schema_alone_and_migrate_creates_it_once() {
    let database = TestDatabase::create().await;
    let store = PostgresStore::connect(&database.url)
        .await
        .expect("connect");
    assert!(!table_exists(&store, "notices").await);
    store.migrate().await.expect("migrate");
    assert!(table_exists(&store, "notices").await);
    store.migrate().await.expect("migrating again is a no-op");
    let reopened = PostgresStore::open(&database.url).await.expect("open");
    reopened.ping().await.expect("ping");
    reopened.close().await;
    store.close().await;
    database.drop_database().await;
}

fn t(seconds: i64) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(seconds)
}

fn opt_out(contact: &str) -> OptOutBatch {
    OptOutBatch {
        opt_outs: vec![NewOptOut {
            id: OptOutId::generate(t(0)),
            contact_id: ContactId::parse(contact).expect("a valid contact id"),
            details: ContactDetails {
                full_name: "Jane Doe".to_owned(),
                company_name: None,
                job_title: None,
                linkedin_url: None,
            },
            opted_out_at: t(0),
            datapoints: None,
        }],
        idempotency: None,
        recorded_at: t(1),
    }
}

#[tokio::test]
async fn the_work_listener_wakes_whenever_notices_become_due() {
    let database = TestDatabase::create().await;
    let store = database.open_store().await;
    let mut listener = WorkListener::connect(&database.url).await.expect("listen");

    let account = store
        .create_account(
            NewAccount {
                id: None,
                name: AccountName::parse("Acme").unwrap(),
                created_at: t(0),
            },
            NewApiKey::generate(t(0)).1,
        )
        .await
        .unwrap()
        .id;
    store
        .record_account_secret(
            &account,
            &optout_store_conformance::setup::sealed_secret(),
            t(0),
        )
        .await
        .unwrap();
    for contact in ["c1", "c2"] {
        store
            .record_exposures(&[NewExposure {
                account_id: account.clone(),
                contact_id: ContactId::parse(contact).expect("a valid contact id"),
                datapoints: vec![Datapoint::parse("a@x.io", "email").unwrap()],
                exposed_at: t(0),
                partner_client_id: None,
            }])
            .await
            .unwrap();
    }

    // Held (no subscription yet), then released by the first subscription.
    store.record_opt_outs(opt_out("c1")).await.unwrap();
    let subscription = store
        .create_subscription(NewSubscription {
            id: SubscriptionId::generate(t(2)),
            account_id: account.clone(),
            url: WebhookUrl::from_stored("https://receiver.example/hook").unwrap(),
            name: None,
            created_at: t(2),
        })
        .await
        .unwrap();
    woken(&mut listener).await;

    // Queued at once.
    store.record_opt_outs(opt_out("c2")).await.unwrap();
    woken(&mut listener).await;

    // Held by a pause, released by the resumption.
    let pause = |is_active, at| SubscriptionChanges {
        url: None,
        name: None,
        is_active: Some(is_active),
        new_secret: None,
        updated_at: at,
    };
    store
        .update_subscription(&account, subscription.id, pause(false, t(3)))
        .await
        .unwrap();
    store
        .update_subscription(&account, subscription.id, pause(true, t(4)))
        .await
        .unwrap();
    woken(&mut listener).await;

    drop(listener);
    store.close().await;
    database.drop_database().await;
}

#[tokio::test]
async fn the_work_listener_reconnects_after_losing_its_connection() {
    let database = TestDatabase::create().await;
    let store = database.open_store().await;
    let mut listener = WorkListener::connect(&database.url).await.expect("listen");

    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(&database.name)
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(
        killed,
        vec![true],
        "one listening connection was terminated"
    );

    // The listener wakes its engine once it listens again, as notifications may have been lost.
    woken(&mut listener).await;
    sqlx::query("SELECT pg_notify('optout_relay_work', '')")
        .execute(store.pool())
        .await
        .unwrap();
    woken(&mut listener).await;

    drop(listener);
    store.close().await;
    database.drop_database().await;
}

#[tokio::test]
async fn a_closed_work_listener_lets_go_of_its_connection() {
    let database = TestDatabase::create().await;
    let store = database.open_store().await;
    let listener = WorkListener::connect(&database.url).await.expect("listen");
    let listening: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'",
    )
    .bind(&database.name)
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(listening.len(), 1, "one connection listens");
    let still_there = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(listening[0])
            .fetch_one(store.pool())
            .await
            .unwrap()
            > 0
    };

    listener.close().await;
    // The connection was closed (not only told to stop listening); its server process ends a
    // moment later.
    let mut gone = !still_there().await;
    for _ in 0..50 {
        if gone {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        gone = !still_there().await;
    }
    assert!(
        gone,
        "the listening connection's server process is gone once closed"
    );

    store.close().await;
    database.drop_database().await;
}

/// Three nodes (three stores, each with its own connection pool) on one database share one rate
/// limit per account: between them they allow exactly the limit, not three times it.
#[tokio::test]
async fn the_rate_limit_holds_across_nodes() {
    use optout_core::rate_limit::{RateDecision, RateLimit};

    let database = TestDatabase::create().await;
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(PostgresStore::open(&database.url).await.expect("open"));
    }
    let (_, key) = NewApiKey::generate(t(0));
    let account = nodes[0]
        .create_account(
            NewAccount {
                id: None,
                name: AccountName::parse("Acme").expect("a valid name"),
                created_at: t(0),
            },
            key,
        )
        .await
        .expect("account")
        .id;
    let limit = RateLimit::new(12, Duration::from_secs(60)).expect("a valid limit");
    let mut requests = tokio::task::JoinSet::new();
    for request in 0..60 {
        let node = nodes[request % 3].clone();
        let account = account.clone();
        requests.spawn(async move {
            node.take_rate_limit_slot(&account, limit, t(5))
                .await
                .expect("slot decided")
        });
    }
    let mut allowed = 0;
    while let Some(decision) = requests.join_next().await {
        if matches!(
            decision.expect("request finished"),
            RateDecision::Allowed { .. }
        ) {
            allowed += 1;
        }
    }

    assert_eq!(allowed, 12, "the nodes together allow exactly the limit");
    for node in nodes {
        node.close().await;
    }
    database.drop_database().await;
}

/// The queue's delivered count is the notices ever created less the undelivered ones, so the
/// migration that starts keeping the totals counts the notices already there.
#[tokio::test]
async fn notices_created_before_their_totals_were_kept_are_counted() {
    use optout_core::NoticeDisposition;
    use optout_store_conformance::setup::{
        at, claim, email, expose, opt_out as new_opt_out, outcome, record, record_opt_outs,
        subscribed_account,
    };
    use sqlx::migrate::{Migrate, Migrator};

    /// The migration that starts keeping the totals.
    const TOTALS: i64 = 6;
    let database = TestDatabase::create().await;
    let store = PostgresStore::connect(&database.url)
        .await
        .expect("connect");
    let migrations = Migrator::new(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/migrations"
    )))
    .await
    .expect("migrations");
    let mut conn = store.pool().acquire().await.expect("connection");
    conn.ensure_migrations_table()
        .await
        .expect("migrations table");
    for migration in migrations.iter().filter(|m| m.version < TOTALS) {
        conn.apply(migration).await.expect("migration");
    }
    drop(conn);

    let subscribed = subscribed_account(&store).await;
    for contact in ["c1", "c2", "c3", "c4"] {
        expose(&store, &subscribed.account, contact, vec![email("a@x.io")]).await;
    }
    let delivered = |notice| outcome(notice, at(2), NoticeDisposition::Delivered);
    record_opt_outs(
        &store,
        vec![new_opt_out("c1", None), new_opt_out("c2", None)],
        at(1),
    )
    .await;
    let claimed = claim(&store, at(2)).await;
    assert_eq!(
        record(&store, &claimed.iter().map(delivered).collect::<Vec<_>>()).await,
        2
    );
    record_opt_outs(&store, vec![new_opt_out("c3", None)], at(3)).await;

    store.migrate().await.expect("migrate");
    let counted = store.find_queue_metrics(at(4)).await.expect("metrics");
    assert_eq!((counted.delivered, counted.pending), (2, 1));

    record_opt_outs(&store, vec![new_opt_out("c4", None)], at(5)).await;
    let counted = store.find_queue_metrics(at(6)).await.expect("metrics");
    assert_eq!((counted.delivered, counted.pending), (2, 2));

    store.close().await;
    database.drop_database().await;
}
