//! What one attempt's outcome is (spec C2): any 2xx is success; a redirect (never followed), a
//! timeout or any other status is a failure.

use optout_core::RetryPolicy;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

use crate::delivery_receiver::{DeliveryReceiver, Reply};
use crate::helpers::{spawn_app_with_engine, text, TestApp};
use crate::operator::{email, exposure, opt_out};
use crate::propagation::{rows, Subscriber};

/// Retries far in the future: a failed notice stays `failed` after its first attempt.
fn no_retry_soon(engine: &mut optout_server::EngineConfig) {
    engine.retry = RetryPolicy::new(vec![Duration::from_secs(600); 3], 0.0);
}

/// Exposes one contact to the subscriber and opts it out; the opt-out id.
async fn notify(app: &TestApp, subscriber: &Subscriber, contact: &str) -> String {
    app.expose(&[exposure(
        &subscriber.account.id,
        contact,
        &[email(&format!("{contact}@example.com"))],
    )])
    .await;
    app.opt_out_id(&opt_out(contact, "Jane Doe")).await
}

#[tokio::test]
async fn any_2xx_answer_is_a_success() {
    let app = spawn_app_with_engine(|_| {}, no_retry_soon).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/accepted").await;

    for status in [
        StatusCode::NO_CONTENT,
        StatusCode::ACCEPTED,
        StatusCode::CREATED,
    ] {
        receiver.reply("/accepted", Reply::Status(status));
        let opt_out_id = notify(&app, &subscriber, &format!("c-{}", status.as_u16())).await;
        let delivered = app
            .wait_for_recipient(&opt_out_id, &subscriber.account.id, "delivered")
            .await;
        assert_eq!(delivered["attempts"], json!(1), "{delivered}");
        assert_eq!(
            delivered["lastStatusCode"],
            json!(status.as_u16()),
            "{delivered}"
        );
    }
    let logs = app.audit_logs(&subscriber.account.api_key, "").await;
    assert!(
        rows(&logs)
            .iter()
            .all(|row| row["status"] == json!("success")),
        "{logs}"
    );
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let app = spawn_app_with_engine(|_| {}, no_retry_soon).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/moved").await;
    receiver.set_secret("/elsewhere", &subscriber.secret);
    receiver.reply("/moved", Reply::RedirectTo("/elsewhere"));

    let opt_out_id = notify(&app, &subscriber, "c-1").await;
    let failed = app
        .wait_for_recipient(&opt_out_id, &subscriber.account.id, "failed")
        .await;

    assert_eq!(failed["lastStatusCode"], json!(307), "{failed}");
    assert!(
        receiver.deliveries("/elsewhere").is_empty(),
        "the redirect was followed"
    );
    let logs = app.audit_logs(&subscriber.account.api_key, "").await;
    let row = &rows(&logs)[0];
    assert_eq!(row["status"], json!("failed"), "{logs}");
    assert_eq!(row["statusCode"], json!(307), "{logs}");
    assert!(!text(&row["error"]).is_empty(), "{logs}");
}

#[tokio::test]
async fn a_receiver_slower_than_the_attempt_timeout_fails_the_attempt_without_a_status_code() {
    let app = spawn_app_with_engine(
        |config| config.attempt_timeout = Duration::from_millis(300),
        no_retry_soon,
    )
    .await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/slow").await;
    receiver.close_gate("/slow");

    let opt_out_id = notify(&app, &subscriber, "c-1").await;
    let failed = app
        .wait_for_recipient(&opt_out_id, &subscriber.account.id, "failed")
        .await;

    assert_eq!(failed["lastStatusCode"], Value::Null, "{failed}");
    assert_eq!(receiver.deliveries("/slow").len(), 1);
    let logs = app.audit_logs(&subscriber.account.api_key, "").await;
    let row = &rows(&logs)[0];
    assert_eq!(row["status"], json!("failed"), "{logs}");
    assert!(
        row.get("statusCode").is_none(),
        "no response, yet a status code: {logs}"
    );
    assert!(text(&row["error"]).starts_with("timeout"), "{logs}");
    receiver.open_gate("/slow");
}
