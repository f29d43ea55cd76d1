//! Request bodies: content type, JSON syntax, shape and size are refused with 400 or 413 in the
//! error shape, and leave the database as it was.

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{assert_error, populated_app, post_raw, spawn_app};

/// One MiB, the largest accepted body.
const MIB: usize = 1024 * 1024;

#[tokio::test]
async fn malformed_json_is_400() {
    let (app, account, _) = populated_app().await;
    let before = app.snapshot().await;

    for raw in [
        "{",
        "",
        "not json",
        r#"{"entityType":"contact",}"#,
        r#"{"entityType":"contact"} trailing"#,
    ] {
        let response = post_raw(&app, &account.api_key, Some("application/json"), raw).await;
        assert_error(response, StatusCode::BAD_REQUEST, "Malformed JSON").await;
        assert_eq!(app.snapshot().await, before, "{raw:?}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn json_that_is_not_an_object_is_400() {
    let (app, account, _) = populated_app().await;
    let before = app.snapshot().await;

    for raw in ["[]", "\"contact\"", "1", "null"] {
        let response = post_raw(&app, &account.api_key, Some("application/json"), raw).await;
        assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
        assert_eq!(app.snapshot().await, before, "{raw:?}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn wrong_content_type_is_400() {
    let (app, account, _) = populated_app().await;
    let valid = json!({ "entityType": "contact", "url": app.receiver.url() }).to_string();
    let before = app.snapshot().await;

    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ] {
        let response = post_raw(&app, &account.api_key, Some(content_type), valid.clone()).await;
        assert_error(
            response,
            StatusCode::BAD_REQUEST,
            "Content-Type must be application/json",
        )
        .await;
        assert_eq!(app.snapshot().await, before, "{content_type}");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn missing_content_type_is_400() {
    let (app, account, _) = populated_app().await;
    let valid = json!({ "entityType": "contact", "url": app.receiver.url() }).to_string();
    let before = app.snapshot().await;

    let response = post_raw(&app, &account.api_key, None, valid).await;

    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "Content-Type must be application/json",
    )
    .await;
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn content_type_with_a_charset_is_accepted() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let valid = json!({ "entityType": "contact", "url": app.receiver.url() }).to_string();

    let response = post_raw(
        &app,
        &account.api_key,
        Some("Application/JSON; charset=utf-8"),
        valid,
    )
    .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.shutdown().await;
}

/// A JSON body for A3 padded with spaces to exactly `size` bytes.
fn padded_body(url: &str, size: usize) -> String {
    let json = json!({ "entityType": "contact", "url": url }).to_string();
    let mut body = String::with_capacity(size);
    body.push_str(&json[..json.len() - 1]);
    body.push_str(&" ".repeat(size - json.len()));
    body.push('}');
    assert_eq!(body.len(), size);
    body
}

#[tokio::test]
async fn body_over_1_mib_is_413() {
    let (app, account, _) = populated_app().await;
    let before = app.snapshot().await;

    let response = post_raw(
        &app,
        &account.api_key,
        Some("application/json"),
        padded_body(&app.receiver.url(), MIB + 1),
    )
    .await;

    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "Payload too large").await;
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn chunked_body_over_1_mib_without_a_length_is_413() {
    let (app, account, _) = populated_app().await;
    let before = app.snapshot().await;
    let body = padded_body(&app.receiver.url(), MIB + 1);
    let host = app.address.trim_start_matches("http://");

    // Raw HTTP, so that no Content-Length is sent and the limit must hold while streaming.
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "POST /api/subscriptions/opt-out HTTP/1.1\r\nHost: {host}\r\napi_key: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        account.api_key
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.as_bytes().chunks(64 * 1024) {
        let framed = [
            format!("{:x}\r\n", chunk.len()).as_bytes(),
            chunk,
            b"\r\n".as_slice(),
        ]
        .concat();
        // The server may answer and stop reading before the whole body is sent.
        if stream.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);

    assert!(
        response.starts_with("HTTP/1.1 413"),
        "not a 413: {}",
        response.lines().next().unwrap_or_default()
    );
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert_eq!(body, r#"{"statusCode":413,"message":"Payload too large"}"#);
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn body_of_exactly_1_mib_is_accepted() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;

    let response = post_raw(
        &app,
        &account.api_key,
        Some("application/json"),
        padded_body(&app.receiver.url(), MIB),
    )
    .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.shutdown().await;
}
