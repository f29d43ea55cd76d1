//! A6: changing a subscription.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_api_timestamp, assert_error, assert_fields_in_order, errors_of, keys_of, sorted,
    spawn_app, spawn_app_with, text, NOT_FOUND_BODY, UNKNOWN_ID,
};
use crate::lusha_schema::{assert_matches, Properties};
use crate::receiver::{Behaviour, TestReceiver};
use crate::snapshot;
use crate::subscriptions_read::SUBSCRIPTION_FIELDS;

fn time(value: &Value) -> DateTime<Utc> {
    let text = text(value);
    assert_api_timestamp(&text);
    text.parse().expect("timestamp")
}

#[tokio::test]
async fn patching_the_name_changes_it_and_nothing_else() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);

    let response = app
        .patch_subscription(&account.api_key, &id, &json!({ "name": "Renamed" }))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let raw = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        keys_of(&body),
        sorted(&SUBSCRIPTION_FIELDS),
        "no secret: {raw}"
    );
    assert_fields_in_order(&raw, &SUBSCRIPTION_FIELDS);
    assert_matches(&body, "SubscriptionResponse", Properties::Open);
    assert_matches(&body, "SubscriptionWithoutSecret", Properties::Closed);
    assert_eq!(body["name"], json!("Renamed"));
    for field in [
        "id",
        "entityType",
        "entityId",
        "signalTypes",
        "url",
        "isActive",
        "createdAt",
    ] {
        assert_eq!(body[field], created[field], "{field} changed");
    }
    assert!(time(&body["updatedAt"]) >= time(&created["createdAt"]));
    let fetched: Value = app
        .get_subscription(&account.api_key, &id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, body);
    app.shutdown().await;
}

#[tokio::test]
async fn patching_the_url_challenges_the_new_url() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let new_receiver = TestReceiver::spawn().await;
    let new_url = new_receiver.url();

    let response = app
        .patch_subscription(&account.api_key, &id, &json!({ "url": new_url }))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["url"], json!(new_url));
    assert_eq!(
        new_receiver.challenges().len(),
        1,
        "the new URL is challenged"
    );
    assert_eq!(
        app.receiver.request_count(),
        1,
        "the old URL only at creation"
    );
    let fetched: Value = app
        .get_subscription(&account.api_key, &id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["url"], json!(new_url));
    app.shutdown().await;
}

#[tokio::test]
async fn patching_the_url_to_a_receiver_that_fails_the_challenge_is_400_and_keeps_the_old_url() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let before = app.snapshot().await;

    for behaviour in [
        Behaviour::WrongEcho,
        Behaviour::ServerError,
        Behaviour::Hang,
    ] {
        let bad = TestReceiver::spawn_with(behaviour).await;
        let response = app
            .patch_subscription(
                &account.api_key,
                &id,
                &json!({ "url": bad.url(), "name": "New", "regenerateSecret": true }),
            )
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "URL validation failed").await;
        assert_eq!(bad.request_count(), 1, "{behaviour:?}");
        assert_eq!(
            app.snapshot().await,
            before,
            "{behaviour:?} changed the database"
        );
    }
    let fetched: Value = app
        .get_subscription(&account.api_key, &id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched["url"], created["url"]);
    assert_eq!(fetched["name"], created["name"]);
    app.shutdown().await;
}

#[tokio::test]
async fn patching_the_url_to_http_is_refused_when_insecure_urls_are_not_allowed() {
    let app = spawn_app_with(|config| {
        config.url_policy.allow_insecure = false;
        config.url_challenge = false;
    })
    .await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let response = app
        .create_subscription(&account.api_key, "https://127.0.0.1:9/webhook")
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = text(&response.json::<Value>().await.unwrap()["id"]);
    let before = app.snapshot().await;

    let response = app
        .patch_subscription(&account.api_key, &id, &json!({ "url": app.receiver.url() }))
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    assert_eq!(errors_of(&body), ["url must use https"]);
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn is_active_false_pauses_and_true_resumes() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);

    let paused: Value = app
        .patch_subscription(&account.api_key, &id, &json!({ "isActive": false }))
        .await
        .json()
        .await
        .unwrap();
    let fetched: Value = app
        .get_subscription(&account.api_key, &id)
        .await
        .json()
        .await
        .unwrap();
    let resumed: Value = app
        .patch_subscription(&account.api_key, &id, &json!({ "isActive": true }))
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(paused["isActive"], json!(false));
    assert_eq!(
        paused["blockReason"],
        Value::Null,
        "pausing by hand is no block"
    );
    assert_eq!(fetched["isActive"], json!(false));
    assert_eq!(resumed["isActive"], json!(true));
    assert_eq!(resumed["name"], created["name"]);
    assert_eq!(resumed["url"], created["url"]);
    app.shutdown().await;
}

#[tokio::test]
async fn reactivating_a_blocked_subscription_clears_block_reason_and_blocked_at() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    // The delivery engine blocks a subscription after exhausted retries (spec C2); set that
    // state directly.
    snapshot::execute(
        &app.db_path,
        &format!(
            "UPDATE subscriptions
             SET is_active = 0, block_reason = 'Max retries exceeded', blocked_at = 1767225600123
             WHERE id = '{id}'"
        ),
    )
    .await;
    let blocked: Value = app
        .get_subscription(&account.api_key, &id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(blocked["isActive"], json!(false));
    assert_eq!(blocked["blockReason"], json!("Max retries exceeded"));
    assert_eq!(blocked["blockedAt"], json!("2026-01-01T00:00:00.123Z"));
    assert_matches(&blocked, "SubscriptionWithoutSecret", Properties::Closed);

    let response = app
        .patch_subscription(&account.api_key, &id, &json!({ "isActive": true }))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let resumed: Value = response.json().await.unwrap();
    assert_eq!(resumed["isActive"], json!(true));
    assert_eq!(resumed["blockReason"], Value::Null);
    assert_eq!(resumed["blockedAt"], Value::Null);
    let fetched: Value = app
        .get_subscription(&account.api_key, &id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, resumed);
    app.shutdown().await;
}

#[tokio::test]
async fn regenerate_secret_returns_the_new_secret_only_then() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let old: Value = app.get_secret(&account.api_key).await.json().await.unwrap();

    let response = app
        .patch_subscription(&account.api_key, &id, &json!({ "regenerateSecret": true }))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let raw = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&raw).unwrap();
    let secret = text(&body["secret"]);
    assert!(secret.starts_with("whsec_"));
    assert_ne!(secret, text(&old["secret"]));
    assert_matches(&body, "SubscriptionResponse", Properties::Open);
    let now: Value = app.get_secret(&account.api_key).await.json().await.unwrap();
    assert_eq!(
        text(&now["secret"]),
        secret,
        "A2 returns the regenerated secret"
    );

    let later = app
        .patch_subscription(&account.api_key, &id, &json!({ "name": "Later" }))
        .await
        .text()
        .await
        .unwrap();
    assert!(!later.contains("secret"), "secret shown again: {later}");
    let fetched = app
        .get_subscription(&account.api_key, &id)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        !fetched.contains("secret"),
        "A5 shows the secret: {fetched}"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn regenerate_secret_false_keeps_the_secret_and_shows_none() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let old = app.get_secret(&account.api_key).await.text().await.unwrap();

    let response = app
        .patch_subscription(&account.api_key, &id, &json!({ "regenerateSecret": false }))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let raw = response.text().await.unwrap();
    assert!(!raw.contains("secret"), "{raw}");
    assert_eq!(
        app.get_secret(&account.api_key).await.text().await.unwrap(),
        old
    );
    app.shutdown().await;
}

#[tokio::test]
async fn signal_types_opt_out_is_accepted() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);

    let response = app
        .patch_subscription(&account.api_key, &id, &json!({ "signalTypes": ["optOut"] }))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["signalTypes"], json!(["optOut"]));
    app.shutdown().await;
}

#[tokio::test]
async fn signal_types_other_than_opt_out_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let before = app.snapshot().await;

    for signals in [
        json!(["promotion"]),
        json!([]),
        json!(["optOut", "companyChange"]),
        json!("optOut"),
        json!([1]),
    ] {
        let response = app
            .patch_subscription(
                &account.api_key,
                &id,
                &json!({ "signalTypes": signals, "name": "Changed" }),
            )
            .await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
        let errors = errors_of(&body);
        assert_eq!(errors.len(), 1, "{signals}: {errors:?}");
        assert!(errors[0].contains("signalTypes"), "{signals}: {errors:?}");
        assert_eq!(
            app.snapshot().await,
            before,
            "{signals} changed the database"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn patch_lists_every_problem_at_once() {
    let app = spawn_app_with(|config| config.url_policy.allow_insecure = false).await;
    let account = app.create_account().await;
    let before = app.snapshot().await;

    let response = app
        .patch_subscription(
            &account.api_key,
            UNKNOWN_ID,
            &json!({
                "url": "http://example.com/webhook",
                "name": "n".repeat(101),
                "isActive": "yes",
                "regenerateSecret": 1,
                "colour": "blue",
            }),
        )
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    let mut errors = errors_of(&body);
    errors.sort();
    assert_eq!(
        errors,
        sorted(&[
            "url must use https",
            "name must be at most 100 characters",
            "isActive must be a boolean",
            "regenerateSecret must be a boolean",
            "property colour should not exist",
        ])
    );
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn patching_an_unknown_or_malformed_id_is_404_and_changes_nothing() {
    let app = spawn_app().await;
    let (account, _) = app.subscribed_account().await;
    let before = app.snapshot().await;

    for id in [UNKNOWN_ID, "not-an-id", "0123456789abcdef0123456"] {
        let response = app
            .patch_subscription(
                &account.api_key,
                id,
                &json!({ "name": "x", "regenerateSecret": true }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{id}");
        assert_eq!(response.text().await.unwrap(), NOT_FOUND_BODY, "{id}");
    }
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}
