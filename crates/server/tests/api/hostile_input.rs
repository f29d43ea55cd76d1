//! Hostile input: deep JSON, slow clients, injected characters and rows written around the API
//! are refused or survived, and change nothing they should not.

use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::delivery_receiver::DeliveryReceiver;
use crate::helpers::{
    assert_error, errors_of, populated_app, post_raw, spawn_app_with, spawn_app_with_engine,
};
use crate::operator::{email, exposure, opt_out, Caller};
use crate::snapshot;

/// A JSON value nested `depth` arrays deep.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Connects to the app's port.
async fn connect(address: &str) -> TcpStream {
    let host = address.trim_start_matches("http://");
    TcpStream::connect(host).await.expect("connect to the app")
}

/// Reads until the server closes the connection or `limit` passes; what was read.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut received)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn json_nested_deeper_than_32_levels_is_400_on_every_json_endpoint() {
    let (app, account, id) = populated_app().await;
    let before = app.snapshot().await;
    let deep = format!(r#"{{"entityType":"contact","url":{}}}"#, nested(40));

    let create = post_raw(
        &app,
        &account.api_key,
        Some("application/json"),
        deep.clone(),
    )
    .await;
    let update = app
        .client
        .patch(app.url(&format!("/api/subscriptions/{id}")))
        .header("api_key", &account.api_key)
        .header("content-type", "application/json")
        .body(deep.clone())
        .send()
        .await
        .unwrap();
    let exposures = app
        .post_operator(
            "/admin/exposures",
            Caller::Operator,
            "application/json",
            nested(40),
            None,
        )
        .await;
    let opt_outs = app
        .post_operator(
            "/admin/opt-outs",
            Caller::Operator,
            "application/x-ndjson",
            format!("{}\n{}\n", opt_out("c1", "Jane"), nested(33)),
            None,
        )
        .await;

    for response in [create, update, exposures] {
        let body = assert_error(response, StatusCode::BAD_REQUEST, "Malformed JSON").await;
        assert_eq!(
            errors_of(&body),
            ["JSON is nested deeper than 32 levels"],
            "{body}"
        );
    }
    let body = assert_error(opt_outs, StatusCode::BAD_REQUEST, "Malformed JSON").await;
    assert_eq!(
        errors_of(&body),
        ["line 2: JSON is nested deeper than 32 levels"]
    );
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn a_body_sent_too_slowly_gets_408_and_changes_nothing() {
    let app = spawn_app_with(|config| config.body_timeout = Duration::from_millis(300)).await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let before = app.snapshot().await;
    let mut stream = connect(&app.address).await;
    let body = json!({ "entityType": "contact", "url": app.receiver.url() }).to_string();
    let head = format!(
        "POST /api/subscriptions/opt-out HTTP/1.1\r\nhost: app\r\napi_key: {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        account.api_key,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // Half of the body, then nothing: the rest never comes in time.
    stream
        .write_all(&body.as_bytes()[..body.len() / 2])
        .await
        .unwrap();

    let answer = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server answers before the test's bound");

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.ends_with(r#"{"statusCode":408,"message":"Request body not received in time"}"#),
        "{answer}"
    );
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn a_request_head_sent_too_slowly_loses_its_connection() {
    let app = spawn_app_with(|config| config.header_timeout = Duration::from_millis(300)).await;
    let mut stream = connect(&app.address).await;
    // A request head that never ends.
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: app\r\nx-slow: ")
        .await
        .unwrap();

    let closed = read_until_closed(&mut stream, Duration::from_secs(10)).await;

    assert!(
        closed.is_some(),
        "the server must close a connection whose head never completes"
    );
    assert!(!closed.unwrap_or_default().contains("200 OK"));
    // The server still answers everyone else.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    app.shutdown().await;
}

#[tokio::test]
async fn header_values_with_a_bare_carriage_return_are_refused() {
    let (app, account, _) = populated_app().await;
    let mut stream = connect(&app.address).await;
    let request = format!(
        "GET /api/subscriptions HTTP/1.1\r\nhost: app\r\napi_key: {}\rx-injected: 1\r\n\
         connection: close\r\n\r\n",
        account.api_key
    );
    stream.write_all(request.as_bytes()).await.unwrap();

    let answer = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the server answers");

    assert!(!answer.contains("200 OK"), "{answer}");
    app.shutdown().await;
}

#[tokio::test]
async fn urls_with_injected_characters_or_credentials_are_refused_on_create_and_update() {
    let (app, account, id) = populated_app().await;
    let other = app.create_account().await;
    app.regenerate_secret(&other.api_key).await;
    let good = app.receiver.url();
    let host_and_path = good.trim_start_matches("http://");
    let before = app.snapshot().await;

    let cases = [
        (
            format!("{good}\r\nX-Injected: 1"),
            "url must not contain whitespace or control characters",
        ),
        (
            format!("{good}%0d%0a\n"),
            "url must not contain whitespace or control characters",
        ),
        (
            format!("http://user:pass@{host_and_path}"),
            "url must not contain credentials",
        ),
        (
            format!("http://user@{host_and_path}"),
            "url must not contain credentials",
        ),
        (
            format!("{good}\u{0}"),
            "url must not contain whitespace or control characters",
        ),
    ];
    for (url, problem) in cases {
        let created = app.create_subscription(&other.api_key, &url).await;
        let body = assert_error(created, StatusCode::BAD_REQUEST, "Validation failed").await;
        assert!(
            errors_of(&body).iter().any(|e| e == problem),
            "{url:?}: {body}"
        );
        let updated = app
            .patch_subscription(&account.api_key, &id, &json!({ "url": url }))
            .await;
        let body = assert_error(updated, StatusCode::BAD_REQUEST, "Validation failed").await;
        assert!(
            errors_of(&body).iter().any(|e| e == problem),
            "{url:?}: {body}"
        );
    }
    assert_eq!(app.snapshot().await, before);
    assert_eq!(
        app.receiver.challenges().len(),
        1,
        "only the setup's challenge"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn an_unreadable_subscription_row_does_not_stop_other_deliveries() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let broken = app.subscriber(&receiver, "/broken").await;
    let healthy = app.subscriber(&receiver, "/healthy").await;
    // Written around the API: a URL no parser accepts.
    snapshot::execute(
        &app.db_path,
        &format!(
            "UPDATE subscriptions SET url = 'not a url' WHERE id = '{}'",
            broken.subscription_id
        ),
    )
    .await;
    let mut items = Vec::new();
    for subscriber in [&broken, &healthy] {
        items.push(exposure(
            &subscriber.account.id,
            "c-shared",
            &[email("shared@example.com")],
        ));
    }
    app.expose(&items).await;

    let opt_out_id = app.opt_out_id(&opt_out("c-shared", "Jane Doe")).await;

    app.wait_for_recipient(&opt_out_id, &healthy.account.id, "delivered")
        .await;
    // The other notice is kept, not lost: under its lease or pending, never sent anywhere.
    let kept = app.recipient(&opt_out_id, &broken.account.id).await;
    assert!(
        kept["status"] == json!("delivering") || kept["status"] == json!("pending"),
        "{kept}"
    );
    assert!(receiver.notices("/broken").is_empty());
    // And the engine keeps working: a second opt-out reaches the healthy account too.
    app.expose(&[exposure(
        &healthy.account.id,
        "c-second",
        &[email("second@example.com")],
    )])
    .await;
    let second = app.opt_out_id(&opt_out("c-second", "John Doe")).await;
    app.wait_for_recipient(&second, &healthy.account.id, "delivered")
        .await;
    app.shutdown().await;
}
