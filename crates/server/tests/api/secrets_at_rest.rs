//! Account secrets sealed at rest, seen through the API: a secret that does not open with the
//! app's master keys is never used to sign, and never sent unsigned.

use optout_core::{Keyring, MasterKey, RetryPolicy};
use optout_server::delivery::UNOPENED_SECRET_ERROR;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

use crate::delivery_receiver::DeliveryReceiver;
use crate::helpers::{spawn_app, spawn_app_in_with_engine, text};
use crate::operator::{email, exposure, opt_out};
use crate::propagation::rows;

#[tokio::test]
async fn a_notice_whose_secret_does_not_open_is_not_sent_and_its_attempt_fails() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/hook").await;
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-1",
        &[email("a@example.com")],
    )])
    .await;
    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    let dir = app.shutdown().await;

    // The same database under another master key: the secret is sealed with a key it lacks.
    let other = Keyring::new(MasterKey::generate(), Vec::new()).expect("keyring");
    let app = spawn_app_in_with_engine(
        dir,
        |config| config.keyring = other,
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

    // Reading the secret is the operator's problem, not the caller's: a 500, nothing leaked.
    let response = app.get_secret(&subscriber.account.api_key).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = response.text().await.expect("body");
    assert!(!body.contains(&subscriber.secret), "{body}");
}
