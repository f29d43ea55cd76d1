//! `GET /admin/opt-outs/{optOutId}` (spec Part B): the compliance record of an opt-out.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::delivery_receiver::DeliveryReceiver;
use crate::eventually::eventually;
use crate::helpers::{
    assert_api_timestamp, assert_error, assert_object_id, keys_of, sorted, spawn_app,
    spawn_app_with_engine, text, NOT_FOUND_BODY, UNKNOWN_ID,
};
use crate::operator::{email, exposure, opt_out, phone, Caller};
use crate::propagation::recipient_of;

/// Every field of a recipient entry.
const RECIPIENT_FIELDS: [&str; 8] = [
    "accountId",
    "noticeId",
    "status",
    "attempts",
    "lastStatusCode",
    "deliveredAt",
    "payloadPurgedAt",
    "datapointEvidence",
];

#[tokio::test]
async fn the_compliance_record_reports_each_recipient_and_its_notice() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscribed = app.subscriber(&receiver, "/told").await;
    let (unsubscribed, _) = app.account_with_secret(&receiver, "/not-yet").await;
    app.expose(&[
        exposure(&subscribed.account.id, "c-1", &[email("a@example.com")]),
        exposure(&unsubscribed.id, "c-1", &[phone("+15550001")]),
    ])
    .await;
    let mut item = opt_out("c-1", "Jane Doe");
    item["optedOutAt"] = json!("2026-04-22T14:32:11.412Z");
    let opt_out_id = app.opt_out_id(&item).await;

    app.wait_for_recipient(&opt_out_id, &subscribed.account.id, "delivered")
        .await;
    let record = app.compliance_record(&opt_out_id).await;

    assert_eq!(
        keys_of(&record),
        sorted(&[
            "optOutId",
            "contactId",
            "optedOutAt",
            "recordedAt",
            "recipients"
        ]),
        "{record}"
    );
    assert_eq!(record["optOutId"], json!(opt_out_id));
    assert_eq!(record["contactId"], json!("c-1"));
    assert_eq!(record["optedOutAt"], json!("2026-04-22T14:32:11.412Z"));
    assert_api_timestamp(&text(&record["recordedAt"]));
    assert_eq!(
        record["recipients"].as_array().map(Vec::len),
        Some(2),
        "{record}"
    );
    for recipient in record["recipients"].as_array().expect("recipients") {
        assert_eq!(keys_of(recipient), sorted(&RECIPIENT_FIELDS), "{recipient}");
        assert_object_id(&text(&recipient["noticeId"]));
    }

    let told = recipient_of(&record, &subscribed.account.id);
    assert_eq!(told["status"], json!("delivered"), "{record}");
    assert_eq!(told["attempts"], json!(1), "{record}");
    assert_eq!(told["lastStatusCode"], json!(200), "{record}");
    assert_api_timestamp(&text(&told["deliveredAt"]));
    assert_eq!(told["payloadPurgedAt"], Value::Null, "{record}");
    assert_eq!(told["datapointEvidence"], Value::Null, "{record}");
    let deliveries = receiver.notices("/told");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(told["noticeId"], json!(deliveries[0].webhook_id()));

    let waiting = recipient_of(&record, &unsubscribed.id);
    assert_eq!(waiting["status"], json!("waiting"), "{record}");
    assert_eq!(waiting["attempts"], json!(0), "{record}");
    assert_eq!(waiting["lastStatusCode"], Value::Null, "{record}");
    assert_eq!(waiting["deliveredAt"], Value::Null, "{record}");
    assert_ne!(waiting["noticeId"], told["noticeId"], "{record}");
}

#[tokio::test]
async fn a_new_notice_is_pending_until_an_engine_claims_it() {
    // No engine runs in this app: the notice stays as it was queued.
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/queued").await;
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-1",
        &[email("a@example.com")],
    )])
    .await;

    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;

    let pending = app.recipient(&opt_out_id, &subscriber.account.id).await;
    assert_eq!(pending["status"], json!("pending"), "{pending}");
    assert_eq!(pending["attempts"], json!(0), "{pending}");
    assert_eq!(pending["lastStatusCode"], Value::Null, "{pending}");
    assert_eq!(pending["deliveredAt"], Value::Null, "{pending}");
}

#[tokio::test]
async fn a_notice_whose_attempt_is_in_flight_is_delivering() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/busy").await;
    receiver.close_gate("/busy");
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-1",
        &[email("a@example.com")],
    )])
    .await;

    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;

    eventually("the delivery to reach the receiver", || async {
        match receiver.in_flight("/busy") {
            1 => Ok(()),
            other => Err(format!("{other} in flight")),
        }
    })
    .await;
    let delivering = app.recipient(&opt_out_id, &subscriber.account.id).await;
    assert_eq!(delivering["status"], json!("delivering"), "{delivering}");
    assert_eq!(delivering["deliveredAt"], Value::Null, "{delivering}");
    receiver.open_gate("/busy");
    let delivered = app
        .wait_for_recipient(&opt_out_id, &subscriber.account.id, "delivered")
        .await;
    assert_eq!(delivered["attempts"], json!(1), "{delivered}");
}

#[tokio::test]
async fn unknown_or_malformed_opt_out_ids_are_404() {
    let app = spawn_app().await;
    let recorded = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;

    for id in [
        UNKNOWN_ID.to_owned(),
        "not-an-id".to_owned(),
        format!("{recorded}0"),
    ] {
        let response = app.get_compliance_record(&id, Caller::Operator).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
        assert_eq!(response.text().await.expect("body"), NOT_FOUND_BODY, "{id}");
    }
}

#[tokio::test]
async fn the_compliance_record_requires_the_admin_token() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let recorded = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;

    for caller in [
        Caller::Anonymous,
        Caller::Token("wrong-token-0123456789"),
        Caller::Token(&account.api_key),
    ] {
        let response = app.get_compliance_record(&recorded, caller).await;
        assert_error(response, StatusCode::UNAUTHORIZED, "Invalid admin token").await;
    }
}
