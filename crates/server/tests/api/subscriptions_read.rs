//! A4 and A5: listing and reading subscriptions.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_api_timestamp, assert_error, assert_fields_in_order, errors_of, keys_of, sorted,
    spawn_app, text, NOT_FOUND_BODY, UNKNOWN_ID,
};
use crate::lusha_schema::{assert_matches, Properties};
use crate::snapshot;

/// The fields of a Subscription object in A4 and A5, in the contract's order.
pub const SUBSCRIPTION_FIELDS: [&str; 11] = [
    "id",
    "entityType",
    "entityId",
    "signalTypes",
    "url",
    "name",
    "isActive",
    "blockReason",
    "blockedAt",
    "createdAt",
    "updatedAt",
];

#[tokio::test]
async fn empty_list_has_default_pagination() {
    let app = spawn_app().await;
    let account = app.create_account().await;

    let response = app.get("/api/subscriptions", &account.api_key).await;

    assert_eq!(response.status(), StatusCode::OK);
    let raw = response.text().await.unwrap();
    assert_eq!(
        raw,
        r#"{"data":[],"pagination":{"total":0,"limit":10,"offset":0,"hasMore":false}}"#
    );
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_matches(&body, "SubscriptionListResponse", Properties::Closed);
    app.shutdown().await;
}

#[tokio::test]
async fn list_shows_the_subscription_with_null_block_fields_and_no_secret() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let secret = app.regenerate_secret(&account.api_key).await;

    let response = app.get("/api/subscriptions", &account.api_key).await;

    assert_eq!(response.status(), StatusCode::OK);
    let raw = response.text().await.unwrap();
    assert!(!raw.contains(&secret), "the secret leaks into A4");
    assert!(!raw.contains("\"secret\""));
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_matches(&body, "SubscriptionListResponse", Properties::Closed);
    assert_eq!(
        body["pagination"],
        json!({ "total": 1, "limit": 10, "offset": 0, "hasMore": false })
    );
    let item = &body["data"][0];
    assert_eq!(keys_of(item), sorted(&SUBSCRIPTION_FIELDS));
    assert_fields_in_order(&raw, &SUBSCRIPTION_FIELDS);
    assert_eq!(item["blockReason"], Value::Null);
    assert_eq!(item["blockedAt"], Value::Null);
    for field in [
        "id",
        "entityType",
        "entityId",
        "signalTypes",
        "url",
        "name",
        "isActive",
        "createdAt",
        "updatedAt",
    ] {
        assert_eq!(
            item[field], created[field],
            "{field} differs from A3's answer"
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn offset_past_the_end_gives_an_empty_page_with_the_total() {
    let app = spawn_app().await;
    let (account, _) = app.subscribed_account().await;

    let response = app
        .get("/api/subscriptions?limit=1&offset=1", &account.api_key)
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"], json!([]));
    assert_eq!(
        body["pagination"],
        json!({ "total": 1, "limit": 1, "offset": 1, "hasMore": false })
    );
    app.shutdown().await;
}

#[tokio::test]
async fn extreme_valid_limits_and_offsets_are_accepted() {
    let app = spawn_app().await;
    let (account, _) = app.subscribed_account().await;

    for (query, limit, offset, items) in [
        ("limit=1", 1, 0, 1),
        ("limit=100", 100, 0, 1),
        ("offset=0", 10, 0, 1),
        ("limit=100&offset=1000000", 100, 1_000_000, 0),
    ] {
        let response = app
            .get(&format!("/api/subscriptions?{query}"), &account.api_key)
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["pagination"]["limit"], json!(limit), "{query}");
        assert_eq!(body["pagination"]["offset"], json!(offset), "{query}");
        assert_eq!(body["data"].as_array().unwrap().len(), items, "{query}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn has_more_is_true_while_items_remain_past_the_page_and_newest_comes_first() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    // One opt-out subscription per account is all the API allows; an older second row, seeded
    // straight into the database, is what it takes to have more than one page.
    snapshot::execute(
        &app.db_path,
        &format!(
            "INSERT INTO subscriptions
                 (id, account_id, signal_type, url, name, is_active, created_at, updated_at)
             VALUES ('000000010000000000000001', '{}', 'seeded', 'https://example.com/old',
                     NULL, 1, 1000, 1000)",
            account.id
        ),
    )
    .await;

    let first: Value = app
        .get("/api/subscriptions?limit=1", &account.api_key)
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .get("/api/subscriptions?limit=1&offset=1", &account.api_key)
        .await
        .json()
        .await
        .unwrap();
    let both: Value = app
        .get("/api/subscriptions", &account.api_key)
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(
        first["pagination"],
        json!({ "total": 2, "limit": 1, "offset": 0, "hasMore": true })
    );
    assert_eq!(first["data"][0]["id"], created["id"], "newest first");
    assert_eq!(
        second["pagination"],
        json!({ "total": 2, "limit": 1, "offset": 1, "hasMore": false })
    );
    assert_eq!(second["data"][0]["id"], json!("000000010000000000000001"));
    assert_eq!(both["data"].as_array().unwrap().len(), 2);
    assert_eq!(both["pagination"]["hasMore"], json!(false));
    assert_matches(&both, "SubscriptionListResponse", Properties::Closed);
    app.shutdown().await;
}

#[tokio::test]
async fn limit_and_offset_out_of_range_are_400_and_change_nothing() {
    let app = spawn_app().await;
    let (account, _) = app.subscribed_account().await;
    let before = app.snapshot().await;

    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=ten",
        "limit=",
        "limit=1.5",
        "offset=-1",
        "offset=abc",
        "offset=9223372036854775808",
    ] {
        let response = app
            .get(&format!("/api/subscriptions?{query}"), &account.api_key)
            .await;
        let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
        let errors = errors_of(&body);
        let name = query.split('=').next().unwrap();
        assert_eq!(errors.len(), 1, "{query}: {errors:?}");
        assert!(errors[0].starts_with(name), "{query}: {errors:?}");
    }
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_query_parameter_is_400_listing_every_problem() {
    let app = spawn_app().await;
    let (account, _) = app.subscribed_account().await;
    let before = app.snapshot().await;

    let response = app
        .get("/api/subscriptions?page=2&limit=0", &account.api_key)
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    let errors = errors_of(&body);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.contains(&"unknown query parameter page".to_owned()));
    assert!(errors.contains(&"limit must be an integer between 1 and 100".to_owned()));
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn get_returns_the_subscription_as_the_list_shows_it() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);

    let response = app.get_subscription(&account.api_key, &id).await;

    assert_eq!(response.status(), StatusCode::OK);
    let raw = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_matches(&body, "SubscriptionWithoutSecret", Properties::Closed);
    assert_eq!(keys_of(&body), sorted(&SUBSCRIPTION_FIELDS));
    assert_fields_in_order(&raw, &SUBSCRIPTION_FIELDS);
    let list: Value = app
        .get("/api/subscriptions", &account.api_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body, list["data"][0]);
    assert_eq!(body["isActive"], json!(true));
    assert_api_timestamp(&text(&body["createdAt"]));
    assert!(!raw.contains("secret"));
    app.shutdown().await;
}

#[tokio::test]
async fn get_accepts_the_id_in_uppercase() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);

    let response = app
        .get_subscription(&account.api_key, &id.to_uppercase())
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], json!(id), "the id is shown in lowercase");
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_id_is_404_resource_not_found() {
    let app = spawn_app().await;
    let (account, _) = app.subscribed_account().await;
    let before = app.snapshot().await;

    let response = app.get_subscription(&account.api_key, UNKNOWN_ID).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.text().await.unwrap(), NOT_FOUND_BODY);
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn malformed_id_is_404_like_an_unknown_one() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let before = app.snapshot().await;

    for malformed in [
        "x".to_owned(),
        id[..23].to_owned(),
        format!("{id}0"),
        format!("{}g", &id[..23]),
        "%20%20".to_owned(),
    ] {
        let response = app.get_subscription(&account.api_key, &malformed).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{malformed}");
        assert_eq!(
            response.text().await.unwrap(),
            NOT_FOUND_BODY,
            "{malformed}"
        );
    }
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}
