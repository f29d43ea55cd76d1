//! A1 and A2: the account webhook secret.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app, text, SECRET_NOT_FOUND};

fn assert_secret_format(secret: &str) {
    let encoded = secret
        .strip_prefix("whsec_")
        .unwrap_or_else(|| panic!("{secret:?} lacks the whsec_ prefix"));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap_or_else(|_| panic!("{encoded:?} is not standard padded base64"));
    assert_eq!(bytes.len(), 32, "a secret carries 32 random bytes");
}

#[tokio::test]
async fn secret_is_404_with_the_exact_message_before_one_is_generated() {
    let app = spawn_app().await;
    let account = app.create_account().await;

    let response = app.get_secret(&account.api_key).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        response.text().await.unwrap(),
        format!(r#"{{"statusCode":404,"message":"{SECRET_NOT_FOUND}"}}"#)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn regenerate_returns_a_whsec_secret_of_32_random_bytes() {
    let app = spawn_app().await;
    let account = app.create_account().await;

    let response = app
        .post_empty("/api/account/secret/regenerate", &account.api_key)
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "only `secret`: {body}");
    assert_secret_format(&text(&body["secret"]));
    app.shutdown().await;
}

#[tokio::test]
async fn get_secret_returns_the_generated_secret() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let secret = app.regenerate_secret(&account.api_key).await;

    let response = app.get_secret(&account.api_key).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        format!(r#"{{"secret":"{secret}"}}"#)
    );
    app.shutdown().await;
}

#[tokio::test]
async fn regenerating_replaces_the_secret() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let first = app.regenerate_secret(&account.api_key).await;
    let before = app.snapshot().await;

    let second = app.regenerate_secret(&account.api_key).await;

    assert_ne!(first, second);
    assert_ne!(
        app.snapshot().await,
        before,
        "the snapshot sees a replaced secret"
    );
    assert_secret_format(&second);
    let body: Value = app.get_secret(&account.api_key).await.json().await.unwrap();
    assert_eq!(text(&body["secret"]), second);
    app.shutdown().await;
}

#[tokio::test]
async fn secrets_of_two_accounts_differ() {
    let app = spawn_app().await;
    let a = app.create_account().await;
    let b = app.create_account().await;

    let secret_a = app.regenerate_secret(&a.api_key).await;
    let secret_b = app.regenerate_secret(&b.api_key).await;

    assert_ne!(secret_a, secret_b);
    let body: Value = app.get_secret(&a.api_key).await.json().await.unwrap();
    assert_eq!(text(&body["secret"]), secret_a);
    app.shutdown().await;
}

#[tokio::test]
async fn regenerate_with_an_unknown_query_parameter_is_400_and_changes_nothing() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let secret = app.regenerate_secret(&account.api_key).await;
    let before = app.snapshot().await;

    let response = app
        .post_empty(
            "/api/account/secret/regenerate?colour=blue",
            &account.api_key,
        )
        .await;

    assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    assert_eq!(app.snapshot().await, before);
    let body: Value = app.get_secret(&account.api_key).await.json().await.unwrap();
    assert_eq!(text(&body["secret"]), secret);
    app.shutdown().await;
}
