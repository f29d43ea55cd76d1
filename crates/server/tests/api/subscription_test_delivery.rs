//! A8 `POST /api/subscriptions/{id}/test`: a signed test delivery now, audited in `full` mode,
//! never counted towards auto-disable.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::delivery_receiver::{Delivery, DeliveryReceiver, Reply};
use crate::helpers::{
    assert_api_timestamp, assert_error, spawn_app, text, NOT_FOUND_BODY, UNKNOWN_ID,
};
use crate::lusha_schema::{assert_matches, Properties};
use crate::propagation::rows;

/// Domains reserved for examples and tests (RFC 2606, RFC 6761): no real person has them.
const RESERVED_DOMAINS: [&str; 6] = [
    ".invalid",
    ".test",
    ".example",
    "example.com",
    "example.net",
    "example.org",
];

/// Checks that a delivery is an A8 test: marked, signed, and about a contact nobody could
/// mistake for a real one.
fn assert_test_delivery(delivery: &Delivery) {
    assert_eq!(delivery.header("x-lusha-test"), Some("true"));
    let body = delivery.json();
    assert_matches(&body, "OptOutWebhookPayload", Properties::Closed);
    assert!(
        text(&body["fullName"]).to_lowercase().contains("test"),
        "the test contact's name does not say it is a test: {body}"
    );
    for datapoint in body["datapoints"].as_array().expect("datapoints") {
        if datapoint["datapointType"] == json!("email") {
            let address = text(&datapoint["datapointId"]);
            assert!(
                RESERVED_DOMAINS
                    .iter()
                    .any(|domain| address.ends_with(domain)),
                "the test contact's email {address} could be real"
            );
        }
    }
}

async fn answered(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, StatusCode::OK, "A8 answered {body}");
    body
}

#[tokio::test]
async fn a_full_test_delivery_is_signed_marked_and_audited() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let (account, _) = app.account_with_secret(&receiver, "/tested").await;
    let api_key = &account.api_key;
    let created = app
        .post_json(
            "/api/subscriptions/opt-out",
            api_key,
            &json!({ "entityType": "contact", "url": receiver.url("/tested"), "name": "My Test Webhook" }),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let subscription_id = text(&created.json::<Value>().await.expect("json")["id"]);

    let body = answered(app.test_delivery(api_key, &subscription_id, "").await).await;

    assert_matches(&body, "TestSubscriptionResponse", Properties::Closed);
    assert_eq!(body["subscriptionId"], json!(subscription_id));
    assert_eq!(body["subscriptionName"], json!("My Test Webhook"));
    assert_eq!(body["url"], json!(receiver.url("/tested")));
    assert_eq!(body["mode"], json!("full"));
    assert_eq!(body["isSuccess"], json!(true));
    assert_eq!(body["flowCheck"]["success"], json!(true), "{body}");
    assert_eq!(body["flowCheck"]["statusCode"], json!(200), "{body}");
    assert!(body["flowCheck"]["durationMs"].is_u64(), "{body}");
    assert_api_timestamp(&text(&body["timestamp"]));
    let deliveries = receiver.deliveries("/tested");
    assert_eq!(deliveries.len(), 1);
    assert_test_delivery(&deliveries[0]);
    let logs = app.audit_logs(api_key, "").await;
    let rows = rows(&logs);
    assert_eq!(rows.len(), 1, "{logs}");
    assert_eq!(rows[0]["status"], json!("success"), "{logs}");
    assert_eq!(rows[0]["statusCode"], json!(200), "{logs}");
    assert_eq!(
        rows[0]["payloadId"],
        json!(deliveries[0].webhook_id()),
        "{logs}"
    );
}

#[tokio::test]
async fn a_direct_test_delivery_is_sent_but_not_audited() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/direct").await;
    let api_key = &subscriber.account.api_key;

    let body = answered(
        app.test_delivery(api_key, &subscriber.subscription_id, "mode=direct")
            .await,
    )
    .await;

    assert_eq!(body["mode"], json!("direct"), "{body}");
    assert_eq!(body["isSuccess"], json!(true), "{body}");
    let deliveries = receiver.deliveries("/direct");
    assert_eq!(deliveries.len(), 1);
    assert_test_delivery(&deliveries[0]);
    assert_eq!(
        app.audit_logs(api_key, "").await["pagination"]["total"],
        json!(0)
    );
    assert_eq!(app.audit_stats(api_key, "").await["total"], json!(0));
}

#[tokio::test]
async fn a_failing_receiver_gives_200_with_is_success_false_and_never_disables_the_subscription() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/broken").await;
    let api_key = &subscriber.account.api_key;
    receiver.reply("/broken", Reply::AlwaysFail);

    // More failures than a notice's four attempts, in both modes.
    for mode in ["full", "direct", "full", "direct", "full", "full"] {
        let body = answered(
            app.test_delivery(
                api_key,
                &subscriber.subscription_id,
                &format!("mode={mode}"),
            )
            .await,
        )
        .await;
        assert_matches(&body, "TestSubscriptionResponse", Properties::Open);
        assert_eq!(body["isSuccess"], json!(false), "{body}");
        assert_eq!(body["flowCheck"]["success"], json!(false), "{body}");
        assert_eq!(body["flowCheck"]["statusCode"], json!(500), "{body}");
    }

    assert_eq!(receiver.deliveries("/broken").len(), 6);
    let subscription = app.subscription(api_key, &subscriber.subscription_id).await;
    assert_eq!(subscription["isActive"], json!(true), "{subscription}");
    assert_eq!(subscription["blockReason"], Value::Null, "{subscription}");
    let failed = app.audit_logs(api_key, "status=failed").await;
    assert_eq!(failed["pagination"]["total"], json!(4), "{failed}");
    let permanent = app.audit_logs(api_key, "status=permanent_failure").await;
    assert_eq!(permanent["pagination"]["total"], json!(0), "{permanent}");
}

#[tokio::test]
async fn testing_an_unknown_or_another_accounts_subscription_is_404() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let owner = app.subscriber(&receiver, "/owner").await;
    let stranger = app.subscriber(&receiver, "/stranger").await;

    for id in [UNKNOWN_ID, owner.subscription_id.as_str(), "not-an-id"] {
        let response = app.test_delivery(&stranger.account.api_key, id, "").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
        assert_eq!(response.text().await.expect("body"), NOT_FOUND_BODY);
    }
    assert!(receiver.deliveries("/owner").is_empty());
    assert!(receiver.deliveries("/stranger").is_empty());
}

#[tokio::test]
async fn an_unknown_test_mode_or_query_parameter_is_400() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/modes").await;

    for query in ["mode=bogus", "mode=DIRECT", "mode=full&verbose=1"] {
        let response = app
            .test_delivery(
                &subscriber.account.api_key,
                &subscriber.subscription_id,
                query,
            )
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    }
    assert!(receiver.deliveries("/modes").is_empty());
}
