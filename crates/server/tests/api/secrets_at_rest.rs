//! Account secrets sealed at rest, seen through the API: a secret that does not open with the
//! app's master keys is never used to sign, and never sent unsigned.

use optout_core::{Keyring, MasterKey, RetryPolicy};
use optout_server::delivery::UNOPENED_SECRET_ERROR;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

use crate::delivery_receiver::DeliveryReceiver;
use crate::eventually::eventually;
use crate::helpers::{spawn_app, spawn_app_in, spawn_app_in_with_engine, text};
use crate::operator::{email, exposure, opt_out};
use crate::propagation::{rows, Subscriber};
use crate::snapshot;

/// An app, an account subscribed to `receiver`, and one opt-out of its contact, recorded with
/// no engine running; the app is stopped and its database folder returned.
async fn one_undelivered_notice(
    receiver: &DeliveryReceiver,
) -> (tempfile::TempDir, Subscriber, String) {
    let app = spawn_app().await;
    let subscriber = app.subscriber(receiver, "/hook").await;
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-1",
        &[email("a@example.com")],
    )])
    .await;
    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    (app.shutdown().await, subscriber, opt_out_id)
}

#[tokio::test]
async fn a_node_without_the_master_key_spends_no_attempt_and_a_node_with_it_delivers() {
    let receiver = DeliveryReceiver::spawn().await;
    let (dir, subscriber, opt_out_id) = one_undelivered_notice(&receiver).await;

    // The same database under another master key, as a node not yet given a rotated key.
    let other = Keyring::new(MasterKey::generate(), Vec::new()).expect("keyring");
    let lagging = spawn_app_in_with_engine(
        dir,
        |config| config.keyring = other,
        |engine| engine.lease = Duration::from_millis(300),
    )
    .await;
    eventually("the lagging node to claim the notice", || async {
        let record = lagging.recipient(&opt_out_id, &subscriber.account.id).await;
        if record["status"] == json!("delivering") {
            Ok(())
        } else {
            Err(record.to_string())
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let record = lagging.recipient(&opt_out_id, &subscriber.account.id).await;
    assert_eq!(record["attempts"], json!(0), "no attempt spent: {record}");
    assert!(receiver.deliveries("/hook").is_empty(), "nothing is sent");
    let logs: Value = lagging.audit_logs(&subscriber.account.api_key, "").await;
    assert!(rows(&logs).is_empty(), "{logs}");
    // Reading the secret is the operator's problem, not the caller's: a 500, nothing leaked.
    let response = lagging.get_secret(&subscriber.account.api_key).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = response.text().await.expect("body");
    assert!(!body.contains(&subscriber.secret), "{body}");
    let dir = lagging.shutdown().await;

    // The node that has the key delivers it once the lease ends, signed as usual.
    let app = spawn_app_in_with_engine(dir, |_| {}, |_| {}).await;
    let delivered = app
        .wait_for_recipient(&opt_out_id, &subscriber.account.id, "delivered")
        .await;
    assert_eq!(delivered["attempts"], json!(1), "{delivered}");
    assert_eq!(receiver.notices("/hook").len(), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn a_sealed_secret_moved_to_another_account_never_signs_and_its_attempt_fails() {
    let receiver = DeliveryReceiver::spawn().await;
    let (dir, subscriber, opt_out_id) = one_undelivered_notice(&receiver).await;
    // Another account's sealed secret, copied onto this account's row around the API.
    let app = spawn_app_in(dir, |_| {}).await;
    let other = app.create_account().await;
    app.regenerate_secret(&other.api_key).await;
    let dir = app.shutdown().await;
    snapshot::execute(
        &dir.path().join("optout-relay.db"),
        &format!(
            "UPDATE account_secrets SET secret = (SELECT secret FROM account_secrets
             WHERE account_id = '{}') WHERE account_id = '{}'",
            other.id, subscriber.account.id
        ),
    )
    .await;

    let app = spawn_app_in_with_engine(
        dir,
        |_| {},
        |engine| engine.retry = RetryPolicy::new(vec![Duration::from_secs(600); 3], 0.0),
    )
    .await;
    let failed = app
        .wait_for_recipient(&opt_out_id, &subscriber.account.id, "failed")
        .await;
    assert_eq!(failed["attempts"], json!(1), "{failed}");
    assert!(receiver.deliveries("/hook").is_empty(), "nothing is sent");
    let logs: Value = app.audit_logs(&subscriber.account.api_key, "").await;
    let rows = rows(&logs);
    assert_eq!(rows.len(), 1, "{logs}");
    assert_eq!(text(&rows[0]["error"]), UNOPENED_SECRET_ERROR, "{logs}");
    app.shutdown().await;
}

#[tokio::test]
async fn a_previous_secret_that_does_not_open_is_dropped_when_the_current_one_is_resealed() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let other = app.create_account().await;
    app.regenerate_secret(&other.api_key).await;
    app.regenerate_secret(&account.api_key).await;
    let rotated: Value = app
        .post_empty(
            "/api/account/secret/regenerate?graceSeconds=3600",
            &account.api_key,
        )
        .await
        .json()
        .await
        .expect("json");
    let dir = app.shutdown().await;
    let db_path = dir.path().join("optout-relay.db");
    // The previous secret replaced, around the API, by another account's: it no longer opens.
    snapshot::execute(
        &db_path,
        &format!(
            "UPDATE account_secrets SET previous_secret = (SELECT secret FROM account_secrets
             WHERE account_id = '{}') WHERE account_id = '{}'",
            other.id, account.id
        ),
    )
    .await;

    let store = optout_store_sqlite::SqliteStore::open(&db_path)
        .await
        .expect("open store");
    let old = Keyring::parse(crate::helpers::MASTER_KEY).expect("keyring");
    let new_key = MasterKey::generate();
    let new_id = new_key.id().as_str().to_owned();
    let rotated_keyring = Keyring::new(new_key, vec![old.active().clone()]).expect("keyring");
    let report = optout_server::reseal_account_secrets(&store, &rotated_keyring)
        .await
        .expect("reseal");
    store.close().await;

    assert_eq!(report.resealed, 2, "{report:?}");
    let mut conn = snapshot::connect(&db_path, true).await;
    let (secret, previous): (String, Option<String>) =
        sqlx::query_as("SELECT secret, previous_secret FROM account_secrets WHERE account_id = ?1")
            .bind(&account.id)
            .fetch_one(&mut conn)
            .await
            .expect("row");
    assert!(secret.starts_with(&format!("v1.{new_id}.")), "{secret}");
    assert_eq!(previous, None, "the unopenable previous secret is dropped");
    // The current secret still opens, under the new key alone.
    let app = spawn_app_in(dir, |config| {
        config.keyring =
            Keyring::new(rotated_keyring.active().clone(), Vec::new()).expect("keyring");
    })
    .await;
    let current: Value = app
        .get_secret(&account.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(current["secret"], rotated["secret"]);
    app.shutdown().await;
}
