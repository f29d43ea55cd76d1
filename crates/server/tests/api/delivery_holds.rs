//! Notices wait while their account has no active subscription (spec A6, A7, B) and are
//! delivered once it has one again; nothing is dropped.

use serde_json::{json, Value};
use std::time::Duration;

use crate::delivery_receiver::{DeliveryReceiver, Reply};
use crate::helpers::{spawn_app_with_engine, text};
use crate::operator::{email, exposure, opt_out};

#[tokio::test]
async fn a_notice_for_an_account_without_a_subscription_waits_and_is_delivered_once_subscribed() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let (account, _secret) = app.account_with_secret(&receiver, "/late").await;
    app.expose(&[exposure(&account.id, "c-1", &[email("a@example.com")])])
        .await;

    let recorded = app.record_opt_out(&opt_out("c-1", "Jane Doe")).await;

    assert_eq!(recorded["notices"], json!(1), "{recorded}");
    let opt_out_id = text(&recorded["optOutId"]);
    let waiting = app.recipient(&opt_out_id, &account.id).await;
    assert_eq!(waiting["status"], json!("waiting"), "{waiting}");
    assert_eq!(waiting["attempts"], json!(0), "{waiting}");
    assert!(receiver.deliveries("/late").is_empty());

    app.subscribe(&account.api_key, &receiver.url("/late"))
        .await;

    let delivered = app
        .wait_for_recipient(&opt_out_id, &account.id, "delivered")
        .await;
    let notices = receiver.notices("/late");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].webhook_id(), text(&delivered["noticeId"]));
}

#[tokio::test]
async fn deleting_the_subscription_keeps_pending_notices_for_the_next_subscription() {
    // A long retry delay keeps the failed notice pending while the subscription is deleted.
    let app = spawn_app_with_engine(
        |_| {},
        |engine| {
            engine.retry = optout_core::RetryPolicy::new(vec![Duration::from_secs(600); 3], 0.0)
        },
    )
    .await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/old").await;
    let account = &subscriber.account;
    receiver.reply("/old", Reply::AlwaysFail);
    app.expose(&[
        exposure(&account.id, "c-1", &[email("one@example.com")]),
        exposure(&account.id, "c-2", &[email("two@example.com")]),
    ])
    .await;
    let pending = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    let failed = app
        .wait_for_recipient(&pending, &account.id, "failed")
        .await;
    assert_eq!(failed["attempts"], json!(1), "{failed}");
    assert_eq!(failed["lastStatusCode"], json!(500), "{failed}");
    assert_eq!(failed["deliveredAt"], Value::Null, "{failed}");

    let response = app
        .delete_subscriptions(&account.api_key, &[&subscriber.subscription_id])
        .await;
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let deleted: Value = response.json().await.expect("json");
    assert_eq!(deleted["successful"], json!(1), "{deleted}");

    assert_eq!(
        app.recipient(&pending, &account.id).await["status"],
        json!("waiting")
    );
    let created_after = app.opt_out_id(&opt_out("c-2", "John Roe")).await;
    assert_eq!(
        app.recipient(&created_after, &account.id).await["status"],
        json!("waiting")
    );

    receiver.set_secret("/new", &subscriber.secret);
    app.subscribe(&account.api_key, &receiver.url("/new")).await;

    let first = app
        .wait_for_recipient(&pending, &account.id, "delivered")
        .await;
    let second = app
        .wait_for_recipient(&created_after, &account.id, "delivered")
        .await;
    let mut delivered: Vec<String> = receiver
        .notices("/new")
        .iter()
        .map(|delivery| delivery.webhook_id().to_owned())
        .collect();
    delivered.sort();
    let mut expected = vec![text(&first["noticeId"]), text(&second["noticeId"])];
    expected.sort();
    assert_eq!(delivered, expected);
    assert_eq!(
        receiver.notices("/old").len(),
        1,
        "nothing more went to the old URL"
    );
}

#[tokio::test]
async fn pausing_a_subscription_holds_new_notices_and_reactivating_releases_them() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/paused").await;
    let account = &subscriber.account;
    app.expose(&[exposure(&account.id, "c-1", &[email("a@example.com")])])
        .await;
    let paused = app
        .patch_subscription(
            &account.api_key,
            &subscriber.subscription_id,
            &json!({ "isActive": false }),
        )
        .await;
    assert_eq!(paused.status(), reqwest::StatusCode::OK);
    let paused: Value = paused.json().await.expect("json");
    assert_eq!(paused["isActive"], json!(false), "{paused}");
    assert_eq!(
        paused["blockReason"],
        Value::Null,
        "pausing by hand is no block: {paused}"
    );

    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;

    assert_eq!(
        app.recipient(&opt_out_id, &account.id).await["status"],
        json!("waiting")
    );
    assert!(receiver.deliveries("/paused").is_empty());

    let resumed = app
        .patch_subscription(
            &account.api_key,
            &subscriber.subscription_id,
            &json!({ "isActive": true }),
        )
        .await;
    assert_eq!(resumed.status(), reqwest::StatusCode::OK);

    let delivered = app
        .wait_for_recipient(&opt_out_id, &account.id, "delivered")
        .await;
    let notices = receiver.notices("/paused");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].webhook_id(), text(&delivered["noticeId"]));
}
