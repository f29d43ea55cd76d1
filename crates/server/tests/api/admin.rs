//! Part B: the operator's account management, and the probes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, assert_object_id, keys_of, sorted, spawn_app, text, TestApp, INVALID_API_KEY_BODY,
};

/// Whether `api_key` authenticates: A2 answers 404 (no secret yet) or 200, never 401.
async fn key_works(app: &TestApp, api_key: &str) -> bool {
    let status = app.get_secret(api_key).await.status();
    assert!(
        [
            StatusCode::OK,
            StatusCode::NOT_FOUND,
            StatusCode::UNAUTHORIZED
        ]
        .contains(&status),
        "unexpected status {status}"
    );
    status != StatusCode::UNAUTHORIZED
}

async fn revoke(app: &TestApp, key_id: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .delete(app.url(&format!("/admin/api-keys/{key_id}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

async fn issue_key(app: &TestApp, account_id: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/admin/accounts/{account_id}/api-keys")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn creating_an_account_returns_201_with_its_id_name_and_a_working_key() {
    let app = spawn_app().await;

    let response = app
        .post_admin_accounts(&json!({ "name": "Acme Corp" }))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        keys_of(&body),
        sorted(&["accountId", "name", "apiKey", "keyId"])
    );
    let account_id = text(&body["accountId"]);
    assert!(!account_id.is_empty() && account_id.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(body["name"], json!("Acme Corp"));
    let api_key = text(&body["apiKey"]);
    assert!(api_key.starts_with("oor_"), "{api_key}");
    assert_object_id(&text(&body["keyId"]));
    assert!(key_works(&app, &api_key).await);
    app.shutdown().await;
}

#[tokio::test]
async fn the_key_is_stored_only_as_a_hash() {
    let app = spawn_app().await;
    let account = app.create_account().await;

    let snapshot = format!("{:?}", app.snapshot().await);

    assert!(
        !snapshot.contains(&account.api_key),
        "the plain key is stored"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn allocated_account_ids_are_distinct() {
    let app = spawn_app().await;

    let a = app.create_account().await;
    let b = app.create_account().await;

    assert_ne!(a.id, b.id);
    assert_ne!(a.api_key, b.api_key);
    app.shutdown().await;
}

#[tokio::test]
async fn a_chosen_account_id_is_used() {
    let app = spawn_app().await;

    let response = app
        .post_admin_accounts(&json!({ "name": "Chosen", "accountId": "431705" }))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["accountId"], json!("431705"));
    assert!(key_works(&app, &text(&body["apiKey"])).await);
    app.shutdown().await;
}

#[tokio::test]
async fn an_allocated_account_id_after_the_largest_chosen_one_is_still_usable() {
    let app = spawn_app().await;
    let chosen = app
        .post_admin_accounts(&json!({ "name": "Largest", "accountId": "999999999999999999" }))
        .await;
    assert_eq!(chosen.status(), StatusCode::CREATED);

    let response = app.post_admin_accounts(&json!({ "name": "Next" })).await;

    // Allocation may refuse (no id left) but must never hand out an account it cannot serve.
    if response.status() == StatusCode::CREATED {
        let body: Value = response.json().await.unwrap();
        let account_id = text(&body["accountId"]);
        let status = app.get_secret(&text(&body["apiKey"])).await.status();
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "the key of new account {account_id} must work"
        );
        assert!(
            (1..=18).contains(&account_id.len()),
            "allocated account id {account_id} is not 1 to 18 digits"
        );
    } else {
        assert!(
            response.status().is_client_error(),
            "a refused allocation is a 4xx, got {}",
            response.status()
        );
    }
    app.shutdown().await;
}

#[tokio::test]
async fn a_duplicate_account_id_is_409_and_changes_nothing() {
    let app = spawn_app().await;
    let first = app
        .post_admin_accounts(&json!({ "name": "First", "accountId": "431705" }))
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let before = app.snapshot().await;

    let response = app
        .post_admin_accounts(&json!({ "name": "Second", "accountId": "431705" }))
        .await;

    assert_error(response, StatusCode::CONFLICT, "Account already exists").await;
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_account_bodies_are_400_listing_every_problem() {
    let app = spawn_app().await;
    let before = app.snapshot().await;

    let response = app
        .post_admin_accounts(&json!({ "name": " ", "accountId": "12a", "plan": "gold" }))
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 3, "{body}");
    assert_eq!(app.snapshot().await, before);

    let response = app.post_admin_accounts(&json!({})).await;
    assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn admin_routes_without_the_bearer_token_are_401_and_change_nothing() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let before = app.snapshot().await;

    let missing = app
        .client
        .post(app.url("/admin/accounts"))
        .json(&json!({ "name": "Nope" }))
        .send()
        .await
        .unwrap();
    assert_error(missing, StatusCode::UNAUTHORIZED, "Invalid admin token").await;

    let wrong = app
        .client
        .post(app.url("/admin/accounts"))
        .bearer_auth("test-admin-token-0123456780")
        .json(&json!({ "name": "Nope" }))
        .send()
        .await
        .unwrap();
    assert_error(wrong, StatusCode::UNAUTHORIZED, "Invalid admin token").await;

    let not_bearer = app
        .client
        .post(app.url("/admin/accounts"))
        .header("authorization", format!("Basic {}", app.admin_token))
        .json(&json!({ "name": "Nope" }))
        .send()
        .await
        .unwrap();
    assert_error(not_bearer, StatusCode::UNAUTHORIZED, "Invalid admin token").await;

    let api_key_instead = app
        .client
        .post(app.url("/admin/accounts"))
        .header("api_key", &account.api_key)
        .json(&json!({ "name": "Nope" }))
        .send()
        .await
        .unwrap();
    assert_error(
        api_key_instead,
        StatusCode::UNAUTHORIZED,
        "Invalid admin token",
    )
    .await;

    let issue = issue_key(&app, &account.id, None).await;
    assert_error(issue, StatusCode::UNAUTHORIZED, "Invalid admin token").await;
    let issue = issue_key(&app, &account.id, Some("wrong-token-wrong-token")).await;
    assert_error(issue, StatusCode::UNAUTHORIZED, "Invalid admin token").await;

    let revoked = revoke(&app, &account.key_id, None).await;
    assert_error(revoked, StatusCode::UNAUTHORIZED, "Invalid admin token").await;
    let revoked = revoke(&app, &account.key_id, Some("wrong-token-wrong-token")).await;
    assert_error(revoked, StatusCode::UNAUTHORIZED, "Invalid admin token").await;

    assert_eq!(app.snapshot().await, before);
    assert!(key_works(&app, &account.api_key).await);
    app.shutdown().await;
}

#[tokio::test]
async fn the_admin_token_is_not_an_api_key() {
    let app = spawn_app().await;

    let response = app.get_secret(&app.admin_token).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.text().await.unwrap(), INVALID_API_KEY_BODY);
    app.shutdown().await;
}

#[tokio::test]
async fn another_key_can_be_issued_and_both_work() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let secret = app.regenerate_secret(&account.api_key).await;

    let response = issue_key(&app, &account.id, Some(&app.admin_token)).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(keys_of(&body), sorted(&["accountId", "apiKey", "keyId"]));
    assert_eq!(body["accountId"], json!(account.id));
    let second = text(&body["apiKey"]);
    assert_ne!(second, account.api_key);
    assert_ne!(text(&body["keyId"]), account.key_id);
    let seen: Value = app.get_secret(&second).await.json().await.unwrap();
    assert_eq!(
        text(&seen["secret"]),
        secret,
        "the new key is the same account's"
    );
    assert!(key_works(&app, &account.api_key).await);
    app.shutdown().await;
}

#[tokio::test]
async fn issuing_a_key_for_an_unknown_account_is_404_and_changes_nothing() {
    let app = spawn_app().await;
    app.create_account().await;
    let before = app.snapshot().await;

    for account_id in ["999999999", "not-a-number"] {
        let response = issue_key(&app, account_id, Some(&app.admin_token)).await;
        assert_error(response, StatusCode::NOT_FOUND, "Resource not found").await;
    }
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn a_revoked_key_gets_401_and_the_account_other_key_still_works() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let other: Value = issue_key(&app, &account.id, Some(&app.admin_token))
        .await
        .json()
        .await
        .unwrap();
    let other_key = text(&other["apiKey"]);

    let response = revoke(&app, &account.key_id, Some(&app.admin_token)).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(response.text().await.unwrap(), "");
    let refused = app.get_secret(&account.api_key).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.text().await.unwrap(), INVALID_API_KEY_BODY);
    assert!(key_works(&app, &other_key).await);
    app.shutdown().await;
}

#[tokio::test]
async fn revoking_an_unknown_or_already_revoked_key_is_404() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let response = revoke(&app, &account.key_id, Some(&app.admin_token)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let before = app.snapshot().await;

    for key_id in [account.key_id.as_str(), "0123456789abcdef01234567", "nope"] {
        let response = revoke(&app, key_id, Some(&app.admin_token)).await;
        assert_error(response, StatusCode::NOT_FOUND, "Resource not found").await;
    }
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn healthz_and_readyz_answer_ok() {
    let app = spawn_app().await;

    for path in ["/healthz", "/readyz"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"status":"ok"}"#,
            "{path}"
        );
    }
    app.shutdown().await;
}
