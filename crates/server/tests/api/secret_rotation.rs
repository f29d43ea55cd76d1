//! C3: `POST /api/account/secret/regenerate?graceSeconds=N`. The new secret signs
//! `X-Lusha-Signature` at once; while the grace lasts the replaced one also signs
//! `X-Lusha-Signature-Previous` and a second `webhook-signature` entry, for notices and A8 test
//! deliveries alike.

use optout_webhook::{header, verify_lusha, verify_standard, Secret, VerifyError};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::delivery_receiver::{Delivery, DeliveryReceiver};
use crate::helpers::{assert_error, errors_of, spawn_app, spawn_app_with_engine, text, TestApp};
use crate::operator::{email, exposure, opt_out};
use crate::propagation::Subscriber;

/// How far a signed timestamp may be from the test's clock.
const TOLERANCE_SECS: i64 = 300;

/// A1 with `query`, which must succeed; the new secret.
async fn regenerate(app: &TestApp, api_key: &str, query: &str) -> String {
    let response = app
        .post_empty(&format!("/api/account/secret/regenerate?{query}"), api_key)
        .await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "A1 answered {body}");
    text(&body["secret"])
}

/// Rotates the subscriber's secret with `query` and tells the receiver to expect the new one in
/// `X-Lusha-Signature`; the new secret.
async fn rotate(
    app: &TestApp,
    receiver: &DeliveryReceiver,
    path: &str,
    subscriber: &Subscriber,
    query: &str,
) -> String {
    let secret = regenerate(app, &subscriber.account.api_key, query).await;
    receiver.set_secret(path, &secret);
    secret
}

/// Sends one opt-out to the subscriber through the engine and returns its delivery.
async fn deliver_one_notice(
    app: &TestApp,
    receiver: &DeliveryReceiver,
    path: &str,
    subscriber: &Subscriber,
) -> Delivery {
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-1",
        &[email("a@example.com")],
    )])
    .await;
    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    app.wait_for_recipient(&opt_out_id, &subscriber.account.id, "delivered")
        .await;
    let mut notices = receiver.notices(path);
    assert_eq!(notices.len(), 1);
    notices.remove(0)
}

/// Sends an A8 test delivery (mode direct) and returns it.
async fn deliver_one_test(
    app: &TestApp,
    receiver: &DeliveryReceiver,
    path: &str,
    subscriber: &Subscriber,
) -> Delivery {
    let response = app
        .test_delivery(
            &subscriber.account.api_key,
            &subscriber.subscription_id,
            "mode=direct",
        )
        .await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["isSuccess"], json!(true), "{body}");
    let mut deliveries = receiver.deliveries(path);
    assert_eq!(deliveries.len(), 1);
    deliveries.remove(0)
}

/// Verifies one Lusha signature header value against one secret.
fn lusha_signed_by(delivery: &Delivery, signature: &str, secret: &str) -> Result<(), VerifyError> {
    verify_lusha(
        &[Secret::new(secret)],
        delivery.required_header(header::TIMESTAMP),
        signature,
        &delivery.body,
        chrono::Utc::now().timestamp(),
        TOLERANCE_SECS,
    )
}

/// Verifies one `webhook-signature` entry against one secret.
fn standard_signed_by(delivery: &Delivery, entry: &str, secret: &str) -> Result<(), VerifyError> {
    verify_standard(
        &[Secret::new(secret)],
        delivery.required_header(header::STD_ID),
        delivery.required_header(header::STD_TIMESTAMP),
        entry,
        &delivery.body,
        chrono::Utc::now().timestamp(),
        TOLERANCE_SECS,
    )
}

/// The space-separated entries of `webhook-signature`.
fn standard_entries(delivery: &Delivery) -> Vec<&str> {
    delivery
        .required_header(header::STD_SIGNATURE)
        .split(' ')
        .collect()
}

/// Checks that a delivery is signed with `new` and, during a grace, also with `old`.
fn assert_signed_during_grace(delivery: &Delivery, new: &str, old: &str) {
    let signature = delivery.required_header(header::SIGNATURE);
    let previous = delivery.required_header(header::SIGNATURE_PREVIOUS);
    assert_eq!(lusha_signed_by(delivery, signature, new), Ok(()));
    assert_eq!(lusha_signed_by(delivery, previous, old), Ok(()));
    assert_eq!(
        lusha_signed_by(delivery, signature, old),
        Err(VerifyError::Mismatch),
        "X-Lusha-Signature is the new secret's only"
    );

    let entries = standard_entries(delivery);
    assert_eq!(entries.len(), 2, "two v1 entries: {entries:?}");
    assert!(entries.iter().all(|entry| entry.starts_with("v1,")));
    assert_eq!(standard_signed_by(delivery, entries[0], new), Ok(()));
    assert_eq!(standard_signed_by(delivery, entries[1], old), Ok(()));
    assert_eq!(
        standard_signed_by(delivery, entries[0], old),
        Err(VerifyError::Mismatch),
        "the new secret's entry comes first"
    );
}

/// Checks that a delivery is signed with `new` only.
fn assert_signed_without_grace(delivery: &Delivery, new: &str) {
    let signature = delivery.required_header(header::SIGNATURE);
    assert_eq!(lusha_signed_by(delivery, signature, new), Ok(()));
    assert_eq!(delivery.header(header::SIGNATURE_PREVIOUS), None);
    let entries = standard_entries(delivery);
    assert_eq!(entries.len(), 1, "one v1 entry: {entries:?}");
    assert_eq!(standard_signed_by(delivery, entries[0], new), Ok(()));
}

#[tokio::test]
async fn a_notice_during_a_rotation_grace_is_signed_with_the_new_and_the_previous_secret() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/grace").await;

    let new = rotate(&app, &receiver, "/grace", &subscriber, "graceSeconds=3600").await;

    assert_ne!(new, subscriber.secret);
    let delivery = deliver_one_notice(&app, &receiver, "/grace", &subscriber).await;
    assert_signed_during_grace(&delivery, &new, &subscriber.secret);
    // A2 shows the new secret only.
    let body: Value = app
        .get_secret(&subscriber.account.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(text(&body["secret"]), new);
}

#[tokio::test]
async fn a_notice_after_a_regeneration_with_a_zero_grace_is_signed_with_the_new_secret_only() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/no-grace").await;

    let new = rotate(&app, &receiver, "/no-grace", &subscriber, "graceSeconds=0").await;

    let delivery = deliver_one_notice(&app, &receiver, "/no-grace", &subscriber).await;
    assert_signed_without_grace(&delivery, &new);
}

#[tokio::test]
async fn a_test_delivery_during_a_rotation_grace_is_signed_with_both_secrets() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/tested").await;

    let new = rotate(
        &app,
        &receiver,
        "/tested",
        &subscriber,
        "graceSeconds=604800",
    )
    .await;

    let delivery = deliver_one_test(&app, &receiver, "/tested", &subscriber).await;
    assert!(delivery.is_test());
    assert_signed_during_grace(&delivery, &new, &subscriber.secret);
}

#[tokio::test]
async fn regenerating_during_a_grace_keeps_only_the_secret_just_replaced() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/twice").await;
    let second = rotate(&app, &receiver, "/twice", &subscriber, "graceSeconds=3600").await;

    let third = rotate(&app, &receiver, "/twice", &subscriber, "graceSeconds=60").await;

    let delivery = deliver_one_test(&app, &receiver, "/twice", &subscriber).await;
    assert_signed_during_grace(&delivery, &third, &second);
    let previous = delivery.required_header(header::SIGNATURE_PREVIOUS);
    assert_eq!(
        lusha_signed_by(&delivery, previous, &subscriber.secret),
        Err(VerifyError::Mismatch),
        "the first secret's grace ended with the second regeneration"
    );
}

#[tokio::test]
async fn regenerating_without_a_grace_ends_the_current_one() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/ended").await;
    rotate(&app, &receiver, "/ended", &subscriber, "graceSeconds=3600").await;

    // No parameter: the default grace is 0.
    let new = rotate(&app, &receiver, "/ended", &subscriber, "").await;

    let delivery = deliver_one_test(&app, &receiver, "/ended", &subscriber).await;
    assert_signed_without_grace(&delivery, &new);
}

#[tokio::test]
async fn regenerating_through_a6_ends_a_grace() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/patched").await;
    rotate(
        &app,
        &receiver,
        "/patched",
        &subscriber,
        "graceSeconds=3600",
    )
    .await;

    let response = app
        .patch_subscription(
            &subscriber.account.api_key,
            &subscriber.subscription_id,
            &json!({ "regenerateSecret": true }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let new = text(&response.json::<Value>().await.expect("json")["secret"]);
    receiver.set_secret("/patched", &new);

    let delivery = deliver_one_test(&app, &receiver, "/patched", &subscriber).await;
    assert_signed_without_grace(&delivery, &new);
}

#[tokio::test]
async fn an_invalid_grace_is_400_and_keeps_the_secret() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let secret = app.regenerate_secret(&account.api_key).await;
    let before = app.snapshot().await;

    for grace in ["-1", "604801", "abc", "1.5", ""] {
        let response = app
            .post_empty(
                &format!("/api/account/secret/regenerate?graceSeconds={grace}"),
                &account.api_key,
            )
            .await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
        assert_eq!(
            errors_of(&body),
            ["graceSeconds must be an integer between 0 and 604800"],
            "graceSeconds={grace}"
        );
    }

    assert_eq!(app.snapshot().await, before);
    let body: Value = app
        .get_secret(&account.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(text(&body["secret"]), secret);
}
