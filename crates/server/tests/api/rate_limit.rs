//! The account API's rate limit: 429 with `Retry-After` over it, per account, changing nothing.

use optout_core::rate_limit::RateLimit;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

use crate::helpers::{spawn_app_with, TestApp};

const LIMIT: u32 = 5;
const TOO_MANY_BODY: &str = r#"{"statusCode":429,"message":"Too many requests"}"#;

async fn limited_app() -> TestApp {
    spawn_app_with(|config| {
        config.rate_limit = RateLimit::new(LIMIT, Duration::from_secs(60));
    })
    .await
}

/// Spends `count` of the account's requests on `GET /api/subscriptions`, each answered 200.
async fn spend(app: &TestApp, api_key: &str, count: u32) {
    for request in 0..count {
        let response = app.get("/api/subscriptions", api_key).await;
        assert_eq!(response.status(), StatusCode::OK, "request {request}");
    }
}

#[tokio::test]
async fn requests_over_the_limit_get_429_with_retry_after() {
    let app = limited_app().await;
    let account = app.create_account().await;
    spend(&app, &account.api_key, LIMIT).await;

    let refused = app.get("/api/subscriptions", &account.api_key).await;

    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = refused
        .headers()
        .get("retry-after")
        .expect("Retry-After header")
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("whole seconds");
    assert!((1..=120).contains(&retry_after), "{retry_after}");
    assert_eq!(refused.text().await.unwrap(), TOO_MANY_BODY);
    app.shutdown().await;
}

#[tokio::test]
async fn another_account_and_the_operator_are_not_limited_by_it() {
    let app = limited_app().await;
    let busy = app.create_account().await;
    let quiet = app.create_account().await;
    spend(&app, &busy.api_key, LIMIT).await;
    assert_eq!(
        app.get("/api/subscriptions", &busy.api_key).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    spend(&app, &quiet.api_key, LIMIT).await;
    // The admin API is the operator's, not an account's: it is not counted.
    for _ in 0..LIMIT + 2 {
        app.create_account().await;
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_refused_request_changes_nothing() {
    let app = limited_app().await;
    let account = app.create_account().await;
    let secret = app.regenerate_secret(&account.api_key).await;
    spend(&app, &account.api_key, LIMIT - 1).await;
    let before = app.snapshot().await;

    let refused = app
        .post_empty("/api/account/secret/regenerate", &account.api_key)
        .await;

    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.snapshot().await, before);
    let dir = app.shutdown().await;
    // The same database, without a limit: the secret is still the one generated first.
    let app = crate::helpers::spawn_app_in(dir, |config| config.rate_limit = None).await;
    let current: Value = app.get_secret(&account.api_key).await.json().await.unwrap();
    assert_eq!(current["secret"], Value::String(secret));
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_keys_are_refused_before_they_are_counted() {
    let app = limited_app().await;
    let account = app.create_account().await;
    for _ in 0..LIMIT * 2 {
        let response = app.get("/api/subscriptions", "oor_not-a-key").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    spend(&app, &account.api_key, LIMIT).await;
    app.shutdown().await;
}

#[tokio::test]
async fn without_a_limit_nothing_is_refused() {
    let app = spawn_app_with(|config| config.rate_limit = None).await;
    let account = app.create_account().await;
    spend(&app, &account.api_key, LIMIT * 4).await;
    app.shutdown().await;
}
