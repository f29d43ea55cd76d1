//! Calls to a running `serve` over HTTP, each asserting the status the contract promises.

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::process::{CreatedAccount, Server, ADMIN_TOKEN};
use super::receiver::Receiver;

/// A blocking client that never goes through a proxy.
pub fn client() -> Client {
    Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("client")
}

/// Sends `request`, asserts `expected`, and returns the JSON body.
fn expect_json(request: reqwest::blocking::RequestBuilder, expected: StatusCode) -> Value {
    let response = request.send().expect("request reaches the server");
    let status = response.status();
    let text = response.text().expect("response body");
    assert_eq!(status, expected, "unexpected answer: {text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// `POST /admin/accounts`: a new account and its first API key.
pub fn create_account(server: &Server, name: &str) -> CreatedAccount {
    let body = expect_json(
        client()
            .post(server.url("/admin/accounts"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "name": name })),
        StatusCode::CREATED,
    );
    CreatedAccount {
        id: body["accountId"].as_str().expect("accountId").to_owned(),
        api_key: body["apiKey"].as_str().expect("apiKey").to_owned(),
    }
}

/// Gives `account` a secret (the receiver learns it) and an opt-out subscription to
/// `receiver`, challenge included.
pub fn subscribe(server: &Server, account: &CreatedAccount, receiver: &Receiver) {
    let secret = expect_json(
        client()
            .post(server.url("/api/account/secret/regenerate"))
            .header("api_key", &account.api_key),
        StatusCode::OK,
    );
    let secret = secret["secret"].as_str().expect("secret");
    receiver.trust(&account.id, secret);
    expect_json(
        client()
            .post(server.url("/api/subscriptions/opt-out"))
            .header("api_key", &account.api_key)
            .json(&json!({ "entityType": "contact", "url": receiver.url_for(&account.id) })),
        StatusCode::CREATED,
    );
}

/// `POST /admin/exposures` with a JSON array; returns the intake counts.
pub fn record_exposures(server: &Server, items: &[Value]) -> Value {
    expect_json(
        client()
            .post(server.url("/admin/exposures"))
            .bearer_auth(ADMIN_TOKEN)
            .json(items),
        StatusCode::OK,
    )
}

/// `POST /admin/opt-outs` with NDJSON; returns `{"results":[...],"notices":N}`.
pub fn record_opt_outs_ndjson(server: &Server, items: &[Value]) -> Value {
    let body: String = items.iter().map(|item| format!("{item}\n")).collect();
    expect_json(
        client()
            .post(server.url("/admin/opt-outs"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/x-ndjson")
            .body(body),
        StatusCode::ACCEPTED,
    )
}

/// `GET /admin/opt-outs/{id}`: the compliance record.
pub fn compliance_record(server: &Server, opt_out_id: &str) -> Value {
    expect_json(
        client()
            .get(server.url(&format!("/admin/opt-outs/{opt_out_id}")))
            .bearer_auth(ADMIN_TOKEN),
        StatusCode::OK,
    )
}

/// The statuses of a compliance record's recipients.
pub fn recipient_statuses(record: &Value) -> Vec<String> {
    record["recipients"]
        .as_array()
        .expect("recipients")
        .iter()
        .map(|recipient| recipient["status"].as_str().unwrap_or("?").to_owned())
        .collect()
}
