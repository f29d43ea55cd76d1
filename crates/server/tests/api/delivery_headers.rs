//! The headers of a delivery (spec C1): content type, user agent, the notice id on every retry,
//! the attempt number, the timestamp, and both signature schemes.

use optout_webhook::header;
use serde_json::json;

use crate::delivery_receiver::{Delivery, DeliveryReceiver, Reply};
use crate::helpers::{assert_object_id, spawn_app_with_engine, text};
use crate::operator::{email, exposure, opt_out};

/// How far `X-Lusha-Timestamp` may be from the test's clock: both run on this machine, so this
/// only allows for the test's own pace.
const CLOCK_SLACK_SECS: i64 = 5;

/// Checks the headers every delivery of a notice carries, whatever its attempt.
fn assert_c1_headers(delivery: &Delivery, notice_id: &str) {
    assert_eq!(delivery.header("content-type"), Some("application/json"));
    assert_eq!(delivery.header("user-agent"), Some("Lusha-Webhooks/1.0"));
    assert_eq!(delivery.webhook_id(), notice_id);
    let timestamp: i64 = delivery
        .required_header(header::TIMESTAMP)
        .parse()
        .expect("X-Lusha-Timestamp is a Unix time in seconds");
    let now = chrono::Utc::now().timestamp();
    assert!(
        (now - timestamp).abs() <= CLOCK_SLACK_SECS,
        "X-Lusha-Timestamp {timestamp} is not now ({now})"
    );
    let signature = delivery.required_header(header::SIGNATURE);
    assert_eq!(signature.len(), 64, "hex HMAC-SHA256: {signature}");
    assert!(
        signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "X-Lusha-Signature is not lowercase hex: {signature}"
    );
    assert_eq!(delivery.header(header::TEST), None, "a notice is no test");
}

#[tokio::test]
async fn every_attempt_carries_the_c1_headers_the_same_webhook_id_and_its_attempt_number() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/headers").await;
    receiver.reply("/headers", Reply::FailNext(2));
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-1",
        &[email("a@example.com")],
    )])
    .await;

    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    let recipient = app
        .wait_for_recipient(&opt_out_id, &subscriber.account.id, "delivered")
        .await;

    let notice_id = text(&recipient["noticeId"]);
    assert_object_id(&notice_id);
    // `deliveries` also checks both signature schemes of each one.
    let deliveries = receiver.deliveries("/headers");
    assert_eq!(deliveries.len(), 3);
    let attempts: Vec<u32> = deliveries.iter().map(Delivery::attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
    for delivery in &deliveries {
        assert_c1_headers(delivery, &notice_id);
        assert_eq!(
            delivery.header(header::STD_TIMESTAMP),
            delivery.header(header::TIMESTAMP)
        );
        assert!(
            delivery
                .required_header(header::STD_SIGNATURE)
                .starts_with("v1,"),
            "webhook-signature is v1,<base64>"
        );
    }
    // Standard Webhooks: the message id stays the same when a message is sent again.
    let std_ids: Vec<&str> = deliveries
        .iter()
        .map(|delivery| delivery.required_header(header::STD_ID))
        .collect();
    assert!(
        std_ids.windows(2).all(|pair| pair[0] == pair[1]),
        "webhook-id changed between retries: {std_ids:?}"
    );
    // The same frozen bytes every time.
    assert!(deliveries
        .windows(2)
        .all(|pair| pair[0].body == pair[1].body));
}

#[tokio::test]
async fn standard_webhooks_headers_are_left_out_when_disabled() {
    let app = spawn_app_with_engine(|config| config.standard_webhooks = false, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/lusha-only").await;
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-1",
        &[email("a@example.com")],
    )])
    .await;

    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    let recipient = app
        .wait_for_recipient(&opt_out_id, &subscriber.account.id, "delivered")
        .await;

    let deliveries = receiver.deliveries("/lusha-only");
    assert_eq!(deliveries.len(), 1);
    assert_c1_headers(&deliveries[0], &text(&recipient["noticeId"]));
    for name in [header::STD_ID, header::STD_TIMESTAMP, header::STD_SIGNATURE] {
        assert_eq!(deliveries[0].header(name), None, "{name} is sent");
    }
    assert_eq!(recipient["lastStatusCode"], json!(200));
}
