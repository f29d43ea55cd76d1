//! The OpenAPI document: served, complete, and the committed copy in step with the code.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;

use crate::helpers::spawn_app;

/// The committed document at the repository root.
const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json");

/// Every route the router serves, as (method, path template).
const ROUTES: [(&str, &str); 20] = [
    ("post", "/api/account/secret/regenerate"),
    ("get", "/api/account/secret"),
    ("post", "/api/subscriptions/opt-out"),
    ("get", "/api/subscriptions"),
    ("post", "/api/subscriptions/delete"),
    ("get", "/api/subscriptions/{id}"),
    ("patch", "/api/subscriptions/{id}"),
    ("post", "/api/subscriptions/{id}/test"),
    ("get", "/api/audit-logs"),
    ("get", "/api/audit-logs/stats"),
    ("post", "/admin/accounts"),
    ("post", "/admin/accounts/{accountId}/api-keys"),
    ("delete", "/admin/api-keys/{keyId}"),
    ("post", "/admin/exposures"),
    ("post", "/admin/opt-outs"),
    ("get", "/admin/opt-outs/{optOutId}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
];

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn generated() -> Value {
    serde_json::from_str(&optout_server::openapi_document()).expect("the document is JSON")
}

/// The (method, path) pairs the document describes.
fn documented_routes(document: &Value) -> BTreeSet<(String, String)> {
    document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|key| HTTP_METHODS.contains(&key.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

#[tokio::test]
async fn served_document_equals_the_generated_one() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let served: Value = response.json().await.unwrap();
    assert_eq!(served, generated());
    app.shutdown().await;
}

#[test]
fn document_lists_every_route_the_router_serves() {
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();

    assert_eq!(documented_routes(&generated()), expected);
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = spawn_app().await;

    for (method, path) in documented_routes(&generated()) {
        let concrete = path
            .replace("{id}", "0123456789abcdef01234567")
            .replace("{accountId}", "100001")
            .replace("{keyId}", "0123456789abcdef01234567");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let response = app
            .client
            .request(method.clone(), app.url(&concrete))
            .send()
            .await
            .unwrap();
        // Without credentials a served /api, /admin or /metrics route answers 401; the fallbacks
        // answer 404 or 405, so either of those means the route is not wired.
        let protected = ["/api/", "/admin/", "/metrics"];
        let expected = if protected.iter().any(|prefix| path.starts_with(prefix)) {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(response.status(), expected, "{method} {path}");
    }
    app.shutdown().await;
}

#[test]
fn committed_document_is_in_step_with_the_code() {
    let document = optout_server::openapi_document();
    if std::env::var("UPDATE_OPENAPI").as_deref() == Ok("1") {
        std::fs::write(COMMITTED, format!("{document}\n")).expect("write openapi.json");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_else(|error| {
        panic!("cannot read {COMMITTED}: {error}; run the tests once with UPDATE_OPENAPI=1")
    });
    assert!(
        committed.trim_end() == document,
        "openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p optout-server --test api openapi`"
    );
}
