//! Every error class: exact status, the `{"statusCode","message","errors"?}` shape, and a
//! database left exactly as it was.

use optout_core::ApiKey;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_error, errors_of, populated_app, post_raw, sorted, spawn_app_with, INVALID_API_KEY_BODY,
    NOT_FOUND_BODY, UNKNOWN_ID,
};

/// Every Part A endpoint, as (method, path, JSON body).
fn account_endpoints(id: &str) -> Vec<(reqwest::Method, String, Option<Value>)> {
    use reqwest::Method;
    let create = json!({ "entityType": "contact", "url": "https://example.com/webhook" });
    vec![
        (Method::POST, "/api/account/secret/regenerate".into(), None),
        (Method::GET, "/api/account/secret".into(), None),
        (
            Method::POST,
            "/api/subscriptions/opt-out".into(),
            Some(create),
        ),
        (Method::GET, "/api/subscriptions".into(), None),
        (Method::GET, format!("/api/subscriptions/{id}"), None),
        (
            Method::PATCH,
            format!("/api/subscriptions/{id}"),
            Some(json!({ "regenerateSecret": true })),
        ),
        (
            Method::POST,
            "/api/subscriptions/delete".into(),
            Some(json!({ "ids": [id] })),
        ),
    ]
}

#[tokio::test]
async fn missing_api_key_is_401_with_the_exact_body_on_every_account_endpoint() {
    let (app, _, id) = populated_app().await;
    let before = app.snapshot().await;

    for (method, path, body) in account_endpoints(&id) {
        let mut request = app.client.request(method.clone(), app.url(&path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(
            response.text().await.unwrap(),
            INVALID_API_KEY_BODY,
            "{method} {path}"
        );
    }
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn invalid_api_keys_are_401_with_the_exact_body_on_every_account_endpoint() {
    let (app, account, id) = populated_app().await;
    let unknown = ApiKey::generate();
    let mut mistyped = account.api_key.clone();
    let last = mistyped.pop().unwrap();
    mistyped.push(if last == 'a' { 'b' } else { 'a' });
    let before = app.snapshot().await;

    for key in [
        unknown.expose(),
        mistyped.as_str(),
        "",
        "oor_",
        "not-a-key",
        &format!("Bearer {}", account.api_key),
        &format!(" {}x", account.api_key),
    ] {
        for (method, path, body) in account_endpoints(&id) {
            let mut request = app
                .client
                .request(method.clone(), app.url(&path))
                .header("api_key", key);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{key:?} {method} {path}"
            );
            assert_eq!(response.text().await.unwrap(), INVALID_API_KEY_BODY);
        }
    }
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn authentication_is_checked_before_the_body() {
    let (app, _, _) = populated_app().await;
    let before = app.snapshot().await;

    let response = post_raw(&app, "not-a-key", Some("text/plain"), "{").await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.text().await.unwrap(), INVALID_API_KEY_BODY);
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn validation_lists_every_problem_at_once() {
    let app = spawn_app_with(|config| config.url_policy.allow_insecure = false).await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let before = app.snapshot().await;

    let response = app
        .post_json(
            "/api/subscriptions/opt-out",
            &account.api_key,
            &json!({
                "entityType": "company",
                "url": "http://example.com/webhook",
                "name": "n".repeat(101),
            }),
        )
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    let mut errors = errors_of(&body);
    errors.sort();
    assert_eq!(
        errors,
        sorted(&[
            "entityType must be one of: contact",
            "url must use https",
            "name must be at most 100 characters",
        ])
    );
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_fields_are_400_each_named() {
    let (app, account, _) = populated_app().await;
    let before = app.snapshot().await;

    let response = app
        .post_json(
            "/api/subscriptions/opt-out",
            &account.api_key,
            &json!({
                "entityType": "contact",
                "url": app.receiver.url(),
                "nmae": "typo",
                "signalTypes": ["optOut"],
            }),
        )
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    let mut errors = errors_of(&body);
    errors.sort();
    assert_eq!(
        errors,
        sorted(&[
            "property nmae should not exist",
            "property signalTypes should not exist"
        ])
    );
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn wrong_json_types_are_400_never_500() {
    let (app, account, _) = populated_app().await;
    let before = app.snapshot().await;

    let response = app
        .post_json(
            "/api/subscriptions/opt-out",
            &account.api_key,
            &json!({ "entityType": 5, "url": true, "name": ["x"] }),
        )
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    assert_eq!(errors_of(&body).len(), 3, "{body}");
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn second_opt_out_subscription_is_refused_with_the_exact_403_body() {
    let (app, account, _) = populated_app().await;
    let before = app.snapshot().await;

    let response = app
        .create_subscription(&account.api_key, &app.receiver.url())
        .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"statusCode":403,"message":"An opt-out subscription already exists for this account"}"#
    );
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404_on_read_and_update() {
    let (app, account, id) = populated_app().await;
    let before = app.snapshot().await;

    for missing in [UNKNOWN_ID, &id[..23], "zzzzzzzzzzzzzzzzzzzzzzzz"] {
        let read = app.get_subscription(&account.api_key, missing).await;
        assert_eq!(read.status(), StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(read.text().await.unwrap(), NOT_FOUND_BODY);
        let update = app
            .patch_subscription(&account.api_key, missing, &json!({ "isActive": false }))
            .await;
        assert_eq!(update.status(), StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(update.text().await.unwrap(), NOT_FOUND_BODY);
    }
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn ids_that_are_not_utf_8_once_decoded_are_404_in_the_error_shape() {
    let (app, account, _) = populated_app().await;
    let before = app.snapshot().await;

    let read = app.get_subscription(&account.api_key, "%FF").await;
    let update = app
        .patch_subscription(&account.api_key, "%FF", &json!({ "name": "x" }))
        .await;

    assert_eq!(read.status(), StatusCode::NOT_FOUND);
    assert_eq!(read.text().await.unwrap(), NOT_FOUND_BODY);
    assert_eq!(update.status(), StatusCode::NOT_FOUND);
    assert_eq!(update.text().await.unwrap(), NOT_FOUND_BODY);
    for path in ["/admin/api-keys/%FF", "/admin/accounts/%FF/api-keys"] {
        let method = if path.starts_with("/admin/api-keys") {
            reqwest::Method::DELETE
        } else {
            reqwest::Method::POST
        };
        let response = app
            .client
            .request(method, app.url(path))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "Resource not found").await;
    }
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_are_404_in_the_error_shape() {
    let (app, account, id) = populated_app().await;
    let before = app.snapshot().await;

    for path in [
        "/nope".to_owned(),
        "/api".to_owned(),
        "/api/subscription".to_owned(),
        format!("/api/subscriptions/{id}/nope"),
        "/admin".to_owned(),
    ] {
        let response = app.get(&path, &account.api_key).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(response.text().await.unwrap(), NOT_FOUND_BODY, "{path}");
    }
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn wrong_methods_are_405_in_the_error_shape() {
    let (app, account, id) = populated_app().await;
    let before = app.snapshot().await;

    for (method, path) in [
        (reqwest::Method::DELETE, format!("/api/subscriptions/{id}")),
        (reqwest::Method::PUT, "/api/subscriptions".to_owned()),
        (
            reqwest::Method::GET,
            "/api/account/secret/regenerate".to_owned(),
        ),
        (reqwest::Method::GET, "/admin/accounts".to_owned()),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(&path))
            .header("api_key", &account.api_key)
            .send()
            .await
            .unwrap();
        assert_error(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "Method not allowed",
        )
        .await;
    }
    assert_eq!(app.snapshot().await, before);
    let still: Value = app
        .get_subscription(&account.api_key, &id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(still["id"], json!(id));
    app.shutdown().await;
}
