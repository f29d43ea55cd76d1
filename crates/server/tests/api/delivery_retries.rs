//! Retries and exhaustion (spec C2): a failing receiver is retried, a notice that exhausts its
//! retries disables the subscription and waits with every later notice until reactivation.

use serde_json::{json, Value};

use crate::delivery_receiver::{Delivery, DeliveryReceiver, Reply};
use crate::eventually::eventually;
use crate::helpers::{assert_api_timestamp, spawn_app_with_engine, text};
use crate::operator::{email, exposure, opt_out};
use crate::propagation::rows;

#[tokio::test]
async fn a_notice_that_fails_twice_is_delivered_on_the_third_attempt_and_audited_per_attempt() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/flaky").await;
    receiver.reply("/flaky", Reply::FailNext(2));
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

    assert_eq!(recipient["attempts"], json!(3), "{recipient}");
    assert_eq!(recipient["lastStatusCode"], json!(200), "{recipient}");
    assert_api_timestamp(&text(&recipient["deliveredAt"]));
    let notice_id = recipient["noticeId"].clone();
    let logs = app.audit_logs(&subscriber.account.api_key, "").await;
    let rows = rows(&logs);
    let statuses: Vec<&Value> = rows.iter().map(|row| &row["status"]).collect();
    assert_eq!(
        statuses,
        [&json!("success"), &json!("failed"), &json!("failed")],
        "{logs}"
    );
    for row in rows {
        assert_eq!(row["payloadId"], notice_id, "{logs}");
        assert_eq!(
            row["subscriptionId"],
            json!(subscriber.subscription_id),
            "{logs}"
        );
    }
    assert_eq!(rows[0]["statusCode"], json!(200), "{logs}");
    assert_eq!(rows[0]["error"], Value::Null, "{logs}");
    assert_eq!(rows[2]["statusCode"], json!(500), "{logs}");
    assert_eq!(rows[2]["error"], json!("HTTP 500"), "{logs}");
    assert_eq!(receiver.notices("/flaky").len(), 3);
}

#[tokio::test]
async fn exhausted_retries_disable_the_subscription_and_hold_every_notice_until_reactivation() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/down").await;
    let api_key = &subscriber.account.api_key;
    let account_id = &subscriber.account.id;
    receiver.reply("/down", Reply::AlwaysFail);
    app.expose(&[
        exposure(account_id, "c-1", &[email("one@example.com")]),
        exposure(account_id, "c-2", &[email("two@example.com")]),
    ])
    .await;

    let exhausted = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    let disabled = eventually("the subscription to be disabled", || async {
        let subscription = app.subscription(api_key, &subscriber.subscription_id).await;
        if subscription["isActive"] == json!(false) {
            Ok(subscription)
        } else {
            Err(subscription.to_string())
        }
    })
    .await;

    assert_eq!(
        disabled["blockReason"],
        json!("Max retries exceeded"),
        "{disabled}"
    );
    assert_api_timestamp(&text(&disabled["blockedAt"]));
    let attempts: Vec<u32> = receiver
        .notices("/down")
        .iter()
        .map(Delivery::attempt)
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4], "one attempt and three retries");
    let logs = app.audit_logs(api_key, "").await;
    let statuses: Vec<&Value> = rows(&logs).iter().map(|row| &row["status"]).collect();
    assert_eq!(
        statuses,
        [
            &json!("permanent_failure"),
            &json!("failed"),
            &json!("failed"),
            &json!("failed")
        ],
        "{logs}"
    );
    assert_eq!(
        app.audit_stats(api_key, "").await,
        json!({ "total": 4, "success": 0, "failed": 4, "successRate": "0.00%" })
    );
    let held = app.recipient(&exhausted, account_id).await;
    assert_eq!(
        held["status"],
        json!("waiting"),
        "the exhausted notice is held: {held}"
    );
    assert_eq!(held["attempts"], json!(4), "{held}");
    assert_eq!(held["lastStatusCode"], json!(500), "{held}");

    // Later notices wait too, and nothing more is sent while the subscription is disabled.
    let later = app.opt_out_id(&opt_out("c-2", "John Roe")).await;
    assert_eq!(
        app.recipient(&later, account_id).await["status"],
        json!("waiting")
    );
    assert_eq!(receiver.notices("/down").len(), 4);

    receiver.reply("/down", Reply::Ok);
    let response = app
        .patch_subscription(
            api_key,
            &subscriber.subscription_id,
            &json!({ "isActive": true }),
        )
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let reactivated: Value = response.json().await.expect("json");
    assert_eq!(reactivated["isActive"], json!(true), "{reactivated}");
    assert_eq!(reactivated["blockReason"], Value::Null, "{reactivated}");
    assert_eq!(reactivated["blockedAt"], Value::Null, "{reactivated}");

    let first = app
        .wait_for_recipient(&exhausted, account_id, "delivered")
        .await;
    let second = app
        .wait_for_recipient(&later, account_id, "delivered")
        .await;
    let delivered: Vec<String> = receiver
        .notices("/down")
        .iter()
        .filter(|delivery| delivery.status == reqwest::StatusCode::OK)
        .map(|delivery| delivery.webhook_id().to_owned())
        .collect();
    assert_eq!(delivered.len(), 2, "each held notice is delivered once");
    assert!(delivered.contains(&text(&first["noticeId"])));
    assert!(delivered.contains(&text(&second["noticeId"])));
    let subscription = app.subscription(api_key, &subscriber.subscription_id).await;
    assert_eq!(subscription["isActive"], json!(true), "{subscription}");
    assert_eq!(subscription["blockReason"], Value::Null, "{subscription}");
    assert_eq!(subscription["blockedAt"], Value::Null, "{subscription}");
    // The engine stops with the server, having nothing left in flight.
    app.shutdown().await;
}
