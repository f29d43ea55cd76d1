//! A7: deleting subscriptions in bulk.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{assert_error, errors_of, spawn_app, text, NOT_FOUND_BODY, UNKNOWN_ID};
use crate::lusha_schema::{assert_matches, Properties};

fn not_found(index: usize, id: &str) -> Value {
    json!({
        "index": index,
        "success": false,
        "error": { "code": "NOT_FOUND", "message": format!("Subscription with id '{id}' not found") },
    })
}

/// `count` distinct well-formed ids that no test creates.
fn unknown_ids(count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{n:024x}")).collect()
}

#[tokio::test]
async fn deleting_the_subscription_removes_it_and_reports_it() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);

    let response = app.delete_subscriptions(&account.api_key, &[&id]).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "total": 1,
            "successful": 1,
            "failed": 0,
            "results": [{
                "index": 0,
                "success": true,
                "subscription": {
                    "id": id,
                    "entityType": "contact",
                    "entityId": account.id,
                    "name": "Main",
                },
            }],
        })
    );
    assert_matches(&body, "DeleteSubscriptionResponse", Properties::Closed);
    let fetched = app.get_subscription(&account.api_key, &id).await;
    assert_eq!(fetched.status(), StatusCode::NOT_FOUND);
    assert_eq!(fetched.text().await.unwrap(), NOT_FOUND_BODY);
    let list: Value = app
        .get("/api/subscriptions", &account.api_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"], json!([]));
    assert_eq!(list["pagination"]["total"], json!(0));
    app.shutdown().await;
}

#[tokio::test]
async fn deleting_keeps_the_account_secret() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let secret = app.get_secret(&account.api_key).await.text().await.unwrap();

    app.delete_subscriptions(&account.api_key, &[&text(&created["id"])])
        .await;

    assert_eq!(
        app.get_secret(&account.api_key).await.text().await.unwrap(),
        secret
    );
    app.shutdown().await;
}

#[tokio::test]
async fn duplicate_ids_are_removed() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);

    let response = app
        .delete_subscriptions(&account.api_key, &[&id, UNKNOWN_ID, &id, UNKNOWN_ID, &id])
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["total"], json!(2));
    assert_eq!(body["successful"], json!(1));
    assert_eq!(body["failed"], json!(1));
    assert_eq!(body["results"][0]["index"], json!(0));
    assert_eq!(body["results"][0]["subscription"]["id"], json!(id));
    assert_eq!(body["results"][1], not_found(1, UNKNOWN_ID));
    assert_matches(&body, "DeleteSubscriptionResponse", Properties::Closed);
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_reported_not_found_with_the_exact_message() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let before = app.snapshot().await;

    let response = app
        .delete_subscriptions(&account.api_key, &[UNKNOWN_ID, "x", "not hex at all"])
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "total": 3,
            "successful": 0,
            "failed": 3,
            "results": [
                not_found(0, UNKNOWN_ID),
                not_found(1, "x"),
                not_found(2, "not hex at all"),
            ],
        })
    );
    assert_matches(&body, "DeleteSubscriptionResponse", Properties::Closed);
    assert_eq!(app.snapshot().await, before);
    let fetched = app.get_subscription(&account.api_key, &id).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    app.shutdown().await;
}

#[tokio::test]
async fn mixed_results_keep_the_request_order() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);

    let response = app
        .delete_subscriptions(&account.api_key, &[UNKNOWN_ID, &id, "x"])
        .await;

    let body: Value = response.json().await.unwrap();
    assert_eq!(body["total"], json!(3));
    assert_eq!(body["successful"], json!(1));
    assert_eq!(body["failed"], json!(2));
    assert_eq!(body["results"][0], not_found(0, UNKNOWN_ID));
    assert_eq!(body["results"][1]["index"], json!(1));
    assert_eq!(body["results"][1]["success"], json!(true));
    assert_eq!(body["results"][1]["subscription"]["id"], json!(id));
    assert_eq!(body["results"][2], not_found(2, "x"));
    app.shutdown().await;
}

#[tokio::test]
async fn twenty_five_ids_are_accepted() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let ids = unknown_ids(25);
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();

    let response = app.delete_subscriptions(&account.api_key, &ids).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["total"], json!(25));
    assert_eq!(body["failed"], json!(25));
    assert_eq!(body["results"][24], not_found(24, ids[24]));
    app.shutdown().await;
}

#[tokio::test]
async fn twenty_six_duplicates_of_few_ids_are_accepted() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let ids = vec![UNKNOWN_ID; 26];

    let response = app.delete_subscriptions(&account.api_key, &ids).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["total"], json!(1));
    app.shutdown().await;
}

#[tokio::test]
async fn zero_or_twenty_six_ids_are_400_and_delete_nothing() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let mut twenty_six = unknown_ids(25);
    twenty_six.push(id.clone());
    let twenty_six: Vec<&str> = twenty_six.iter().map(String::as_str).collect();
    let before = app.snapshot().await;

    for ids in [Vec::new(), twenty_six] {
        let response = app.delete_subscriptions(&account.api_key, &ids).await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
        assert_eq!(errors_of(&body).len(), 1, "{} ids", ids.len());
        assert_eq!(app.snapshot().await, before, "{} ids", ids.len());
    }
    let fetched = app.get_subscription(&account.api_key, &id).await;
    assert_eq!(fetched.status(), StatusCode::OK);
    app.shutdown().await;
}

#[tokio::test]
async fn missing_or_mistyped_ids_are_400_and_delete_nothing() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let before = app.snapshot().await;

    for body in [
        json!({}),
        json!({ "ids": null }),
        json!({ "ids": id }),
        json!({ "ids": [id, 7] }),
        json!({ "ids": [id], "force": true }),
    ] {
        let response = app
            .post_json("/api/subscriptions/delete", &account.api_key, &body)
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
        assert_eq!(app.snapshot().await, before, "{body}");
    }
    app.shutdown().await;
}
