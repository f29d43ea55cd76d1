//! A restart on the same database file keeps every account, key, secret and subscription.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{spawn_app, spawn_app_in, text};

#[tokio::test]
async fn restart_keeps_all_data() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let secret = app.get_secret(&account.api_key).await.text().await.unwrap();
    let subscription = app
        .get_subscription(&account.api_key, &id)
        .await
        .text()
        .await
        .unwrap();
    let before = app.snapshot().await;
    let dir = app.shutdown().await;

    let app = spawn_app_in(dir, |_| {}).await;

    assert_eq!(
        app.snapshot().await,
        before,
        "the file is unchanged by a restart"
    );
    let response = app.get_secret(&account.api_key).await;
    assert_eq!(response.status(), StatusCode::OK, "the key still works");
    assert_eq!(response.text().await.unwrap(), secret);
    let response = app.get_subscription(&account.api_key, &id).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), subscription);
    let list: Value = app
        .get("/api/subscriptions", &account.api_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["pagination"]["total"], 1);
    let again = app
        .create_subscription(&account.api_key, &app.receiver.url())
        .await;
    assert_eq!(
        again.status(),
        StatusCode::FORBIDDEN,
        "the subscription is still there"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn account_ids_keep_counting_after_a_restart() {
    let app = spawn_app().await;
    let first = app.create_account().await;
    let dir = app.shutdown().await;

    let app = spawn_app_in(dir, |_| {}).await;
    let second = app.create_account().await;

    assert_ne!(first.id, second.id);
    assert_eq!(
        app.get_secret(&first.api_key).await.status(),
        StatusCode::NOT_FOUND,
        "the first account's key still authenticates"
    );
    app.shutdown().await;
}
