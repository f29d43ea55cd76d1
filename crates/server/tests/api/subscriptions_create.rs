//! A3: creating the opt-out subscription, its exact 201 body, and every way it is refused.

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{
    assert_api_timestamp, assert_error, assert_fields_in_order, assert_object_id, errors_of,
    keys_of, sorted, spawn_app, spawn_app_with, text, SECRET_NOT_FOUND,
};
use crate::lusha_schema::{assert_matches, Properties};
use crate::receiver::{Behaviour, TestReceiver};

/// The 201 body's fields, in the contract's order.
const FIELD_ORDER: [&str; 9] = [
    "id",
    "entityType",
    "entityId",
    "signalTypes",
    "url",
    "name",
    "isActive",
    "createdAt",
    "updatedAt",
];

#[tokio::test]
async fn created_subscription_body_is_byte_for_byte_the_contract() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let url = app.receiver.url();
    let started = Utc::now();

    let response = app
        .post_json(
            "/api/subscriptions/opt-out",
            &account.api_key,
            &json!({ "entityType": "contact", "url": url, "name": "Account opt-out webhook" }),
        )
        .await;

    let finished = Utc::now();
    assert_eq!(response.status(), StatusCode::CREATED);
    let raw = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&raw).unwrap();
    let id = text(&body["id"]);
    let created_at = text(&body["createdAt"]);
    let expected = format!(
        concat!(
            r#"{{"id":"{id}","entityType":"contact","entityId":"{account}","signalTypes":["optOut"],"#,
            r#""url":"{url}","name":"Account opt-out webhook","isActive":true,"#,
            r#""createdAt":"{at}","updatedAt":"{at}"}}"#
        ),
        id = id,
        account = account.id,
        url = url,
        at = created_at,
    );
    assert_eq!(raw, expected);

    // The order, checked on its own by where each key sits in the raw text.
    assert_fields_in_order(&raw, &FIELD_ORDER);
    assert_eq!(keys_of(&body), sorted(&FIELD_ORDER));

    assert_object_id(&id);
    assert_api_timestamp(&created_at);
    assert_api_timestamp(&text(&body["updatedAt"]));
    assert_eq!(body["createdAt"], body["updatedAt"]);
    let created: DateTime<Utc> = created_at.parse().unwrap();
    assert!(
        created >= started - chrono::Duration::milliseconds(1) && created <= finished,
        "createdAt {created} outside the request's time {started}..{finished}"
    );
    let seconds = u32::from_str_radix(&id[..8], 16).unwrap();
    assert_eq!(
        i64::from(seconds),
        created.timestamp(),
        "the id's first 4 bytes are createdAt's second"
    );
    assert_matches(&body, "OptOutSubscriptionResponse", Properties::Closed);
    app.shutdown().await;
}

#[tokio::test]
async fn name_is_omitted_when_not_given() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;

    let response = app
        .create_subscription(&account.api_key, &app.receiver.url())
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let raw = response.text().await.unwrap();
    assert!(!raw.contains("\"name\""), "name present in {raw}");
    let body: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(body.as_object().unwrap().len(), 8);
    assert_matches(&body, "OptOutSubscriptionResponse", Properties::Closed);
    app.shutdown().await;
}

#[tokio::test]
async fn entity_id_is_the_chosen_account_id() {
    let app = spawn_app().await;
    let response = app
        .post_admin_accounts(&json!({ "name": "Chosen", "accountId": "431705" }))
        .await;
    let created: Value = response.json().await.unwrap();
    let api_key = text(&created["apiKey"]);
    app.regenerate_secret(&api_key).await;

    let response = app.create_subscription(&api_key, &app.receiver.url()).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["entityId"], json!("431705"));
    app.shutdown().await;
}

#[tokio::test]
async fn url_is_challenged_once_with_a_random_url_safe_value() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;

    let response = app
        .create_subscription(&account.api_key, &app.receiver.url())
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let challenges = app.receiver.challenges();
    assert_eq!(challenges.len(), 1, "one challenge: {challenges:?}");
    assert_eq!(app.receiver.request_count(), 1);
    let value = &challenges[0];
    assert!(value.len() >= 16, "challenge {value:?} is too short");
    assert!(
        value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "challenge {value:?} is not url-safe"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn url_is_not_challenged_when_challenges_are_off() {
    let app = spawn_app_with(|config| config.url_challenge = false).await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let silent = TestReceiver::spawn_with(Behaviour::ServerError).await;

    let response = app
        .create_subscription(&account.api_key, &silent.url())
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(silent.request_count(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn second_opt_out_subscription_is_refused_with_403() {
    let app = spawn_app().await;
    let (account, _) = app.subscribed_account().await;
    let other = TestReceiver::spawn().await;
    let before = app.snapshot().await;

    let response = app
        .create_subscription(&account.api_key, &other.url())
        .await;

    assert_error(
        response,
        StatusCode::FORBIDDEN,
        "An opt-out subscription already exists for this account",
    )
    .await;
    assert_eq!(app.snapshot().await, before);
    assert_eq!(other.request_count(), 0, "a refused URL is not challenged");
    app.shutdown().await;
}

#[tokio::test]
async fn subscription_without_an_account_secret_is_refused_with_403() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let before = app.snapshot().await;

    let response = app
        .create_subscription(&account.api_key, &app.receiver.url())
        .await;

    let body = assert_error(response, StatusCode::FORBIDDEN, SECRET_NOT_FOUND).await;
    assert!(body.get("errors").is_none());
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.receiver.request_count(), 0);
    app.shutdown().await;
}

/// Creates an account with a secret, registers a receiver that misbehaves as told, and checks
/// the 400 and that nothing was stored; returns the `errors` list.
async fn refused_challenge(behaviour: Behaviour) -> Vec<String> {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let receiver = TestReceiver::spawn_with(behaviour).await;
    let before = app.snapshot().await;

    let response = app
        .create_subscription(&account.api_key, &receiver.url())
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "URL validation failed").await;
    assert_eq!(app.snapshot().await, before, "nothing is created");
    assert_eq!(receiver.request_count(), 1);
    let list: Value = app
        .get("/api/subscriptions", &account.api_key)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(list["pagination"]["total"], json!(0));
    app.shutdown().await;
    errors_of(&body)
}

#[tokio::test]
async fn challenge_answered_with_a_wrong_echo_is_refused_with_400() {
    let errors = refused_challenge(Behaviour::WrongEcho).await;
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("echo"),
        "{errors:?} does not name the echo"
    );
}

#[tokio::test]
async fn challenge_answered_with_http_500_is_refused_with_400() {
    let errors = refused_challenge(Behaviour::ServerError).await;
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("500"),
        "{errors:?} does not name the status"
    );
}

#[tokio::test]
async fn challenge_that_times_out_is_refused_with_400() {
    let errors = refused_challenge(Behaviour::Hang).await;
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("timed out"),
        "{errors:?} does not name the timeout"
    );
}

#[tokio::test]
async fn challenge_answered_with_a_redirect_is_refused_with_400_and_not_followed() {
    let errors = refused_challenge(Behaviour::Redirect).await;
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("302"),
        "{errors:?} does not name the status"
    );
}

#[tokio::test]
async fn challenge_answered_with_204_is_refused_with_400() {
    let errors = refused_challenge(Behaviour::NoContent).await;
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].contains("204"),
        "{errors:?} does not name the status"
    );
}

#[tokio::test]
async fn two_concurrent_creations_give_one_201_and_one_403() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let url = app.receiver.url();

    let (first, second) = tokio::join!(
        app.create_subscription(&account.api_key, &url),
        app.create_subscription(&account.api_key, &url),
    );

    let mut statuses = [first.status(), second.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::FORBIDDEN]);
    let list: Value = app
        .get("/api/subscriptions", &account.api_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["pagination"]["total"], json!(1));
    app.shutdown().await;
}

#[tokio::test]
async fn challenge_to_a_closed_port_is_refused_with_400() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    // A port that was just free: nothing listens there any more.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let before = app.snapshot().await;

    let response = app
        .create_subscription(&account.api_key, &format!("http://{closed}/webhook"))
        .await;

    assert_error(response, StatusCode::BAD_REQUEST, "URL validation failed").await;
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn loopback_url_is_refused_with_400_when_private_targets_are_not_allowed() {
    let app = spawn_app_with(|config| config.allow_private_targets = false).await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let before = app.snapshot().await;

    let response = app
        .create_subscription(&account.api_key, &app.receiver.url())
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "URL validation failed").await;
    let errors = errors_of(&body);
    assert!(
        errors.iter().any(|error| error.contains("loopback")),
        "{errors:?} does not say loopback"
    );
    assert_eq!(app.snapshot().await, before);
    assert_eq!(
        app.receiver.request_count(),
        0,
        "a refused target is never dialled"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn localhost_by_name_is_refused_when_private_targets_are_not_allowed() {
    let app = spawn_app_with(|config| config.allow_private_targets = false).await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let port = app.receiver.address.rsplit(':').next().unwrap().to_owned();
    let before = app.snapshot().await;

    let response = app
        .create_subscription(
            &account.api_key,
            &format!("http://localhost:{port}/webhook"),
        )
        .await;

    assert_error(response, StatusCode::BAD_REQUEST, "URL validation failed").await;
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.receiver.request_count(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn every_spelling_of_a_loopback_or_unspecified_address_is_refused() {
    let app = spawn_app_with(|config| config.allow_private_targets = false).await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let port = app.receiver.address.rsplit(':').next().unwrap().to_owned();
    let before = app.snapshot().await;

    for host in [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f000001",
        "0.0.0.0",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::]",
    ] {
        let url = format!("http://{host}:{port}/webhook");
        let response = app.create_subscription(&account.api_key, &url).await;
        assert_error(response, StatusCode::BAD_REQUEST, "URL validation failed").await;
        assert_eq!(app.snapshot().await, before, "{url}");
    }
    assert_eq!(app.receiver.request_count(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn http_url_is_refused_with_400_when_insecure_urls_are_not_allowed() {
    let app = spawn_app_with(|config| config.url_policy.allow_insecure = false).await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let before = app.snapshot().await;

    let response = app
        .create_subscription(&account.api_key, &app.receiver.url())
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    assert_eq!(errors_of(&body), ["url must use https"]);
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.receiver.request_count(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn url_of_2049_characters_is_refused_and_2048_is_accepted() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let base = format!("{}/", app.receiver.address);
    let too_long = format!("{base}{}", "a".repeat(2049 - base.len()));
    let longest = format!("{base}{}", "a".repeat(2048 - base.len()));
    let before = app.snapshot().await;

    let response = app.create_subscription(&account.api_key, &too_long).await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    assert_eq!(errors_of(&body), ["url must be at most 2048 characters"]);
    assert_eq!(app.snapshot().await, before);

    let response = app.create_subscription(&account.api_key, &longest).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["url"], json!(longest));
    app.shutdown().await;
}

#[tokio::test]
async fn name_of_100_characters_is_accepted_and_101_refused() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let body =
        |name: String| json!({ "entityType": "contact", "url": app.receiver.url(), "name": name });
    let before = app.snapshot().await;

    let response = app
        .post_json(
            "/api/subscriptions/opt-out",
            &account.api_key,
            &body("é".repeat(101)),
        )
        .await;

    let error = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    assert_eq!(errors_of(&error), ["name must be at most 100 characters"]);
    assert_eq!(app.snapshot().await, before);

    let response = app
        .post_json(
            "/api/subscriptions/opt-out",
            &account.api_key,
            &body("é".repeat(100)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(created["name"], json!("é".repeat(100)));
    app.shutdown().await;
}

#[tokio::test]
async fn missing_entity_type_and_url_are_both_reported() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let before = app.snapshot().await;

    let response = app
        .post_json("/api/subscriptions/opt-out", &account.api_key, &json!({}))
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    let errors = errors_of(&body);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|error| error.contains("entityType")));
    assert!(errors.iter().any(|error| error.contains("url")));
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn deleted_subscription_can_be_created_again() {
    let app = spawn_app().await;
    let (account, created) = app.subscribed_account().await;
    let id = text(&created["id"]);
    let response = app.delete_subscriptions(&account.api_key, &[&id]).await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = app
        .create_subscription(&account.api_key, &app.receiver.url())
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_ne!(text(&body["id"]), id);
    app.shutdown().await;
}
