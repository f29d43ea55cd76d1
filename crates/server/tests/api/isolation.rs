//! Every resource is scoped to the key's account: another account's subscription is reported
//! exactly as if it did not exist.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, text, TestAccount, TestApp, NOT_FOUND_BODY, UNKNOWN_ID};

/// An app where account A has a secret and a subscription, and account B has a secret only.
async fn two_accounts() -> (TestApp, TestAccount, String, TestAccount) {
    let app = spawn_app().await;
    let (a, created) = app.subscribed_account().await;
    let b = app.create_account().await;
    app.regenerate_secret(&b.api_key).await;
    (app, a, text(&created["id"]), b)
}

async fn fetch(app: &TestApp, api_key: &str, id: &str) -> Value {
    let response = app.get_subscription(api_key, id).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("json")
}

#[tokio::test]
async fn another_account_cannot_see_the_subscription() {
    let (app, a, id, b) = two_accounts().await;

    let theirs = app.get_subscription(&b.api_key, &id).await;
    let nobodys = app.get_subscription(&b.api_key, UNKNOWN_ID).await;
    let list = app.get("/api/subscriptions", &b.api_key).await;

    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    assert_eq!(nobodys.status(), StatusCode::NOT_FOUND);
    let theirs = theirs.text().await.unwrap();
    assert_eq!(theirs, nobodys.text().await.unwrap(), "byte-identical 404s");
    assert_eq!(theirs, NOT_FOUND_BODY);
    assert_eq!(list.status(), StatusCode::OK);
    let list: Value = list.json().await.unwrap();
    assert_eq!(list["data"], json!([]));
    assert_eq!(list["pagination"]["total"], json!(0));
    assert_eq!(fetch(&app, &a.api_key, &id).await["id"], json!(id));
    app.shutdown().await;
}

#[tokio::test]
async fn another_account_cannot_change_the_subscription() {
    let (app, a, id, b) = two_accounts().await;
    let original = fetch(&app, &a.api_key, &id).await;
    let a_secret = app.get_secret(&a.api_key).await.text().await.unwrap();
    let intruder = crate::receiver::TestReceiver::spawn().await;
    let before = app.snapshot().await;

    let theirs = app
        .patch_subscription(
            &b.api_key,
            &id,
            &json!({ "name": "Hijacked", "isActive": false, "url": intruder.url(), "regenerateSecret": true }),
        )
        .await;
    let nobodys = app
        .patch_subscription(
            &b.api_key,
            UNKNOWN_ID,
            &json!({ "name": "Hijacked", "isActive": false, "url": intruder.url(), "regenerateSecret": true }),
        )
        .await;

    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);
    assert_eq!(nobodys.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        theirs.text().await.unwrap(),
        nobodys.text().await.unwrap(),
        "byte-identical 404s"
    );
    assert_eq!(app.snapshot().await, before);
    assert_eq!(fetch(&app, &a.api_key, &id).await, original);
    assert_eq!(
        app.get_secret(&a.api_key).await.text().await.unwrap(),
        a_secret
    );
    assert_eq!(
        intruder.request_count(),
        0,
        "no challenge for a request that cannot succeed"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn another_account_cannot_delete_the_subscription() {
    let (app, a, id, b) = two_accounts().await;
    let original = fetch(&app, &a.api_key, &id).await;
    let before = app.snapshot().await;

    let response = app.delete_subscriptions(&b.api_key, &[&id]).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "total": 1,
            "successful": 0,
            "failed": 1,
            "results": [{
                "index": 0,
                "success": false,
                "error": { "code": "NOT_FOUND", "message": format!("Subscription with id '{id}' not found") },
            }],
        })
    );
    let unknown: Value = app
        .delete_subscriptions(&b.api_key, &[UNKNOWN_ID])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        unknown["results"][0]["error"]["code"],
        body["results"][0]["error"]["code"]
    );
    assert_eq!(app.snapshot().await, before);
    assert_eq!(fetch(&app, &a.api_key, &id).await, original);
    app.shutdown().await;
}

#[tokio::test]
async fn each_account_has_its_own_subscription_and_secret() {
    let (app, a, a_id, b) = two_accounts().await;
    let a_secret = app.get_secret(&a.api_key).await.text().await.unwrap();

    let response = app
        .create_subscription(&b.api_key, &app.receiver.url())
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let b_created: Value = response.json().await.unwrap();
    app.regenerate_secret(&b.api_key).await;

    assert_eq!(b_created["entityId"], json!(b.id));
    assert_ne!(text(&b_created["id"]), a_id);
    let a_list: Value = app
        .get("/api/subscriptions", &a.api_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a_list["pagination"]["total"], json!(1));
    assert_eq!(a_list["data"][0]["id"], json!(a_id));
    assert_eq!(
        app.get_secret(&a.api_key).await.text().await.unwrap(),
        a_secret,
        "B's regeneration leaves A's secret alone"
    );
    app.shutdown().await;
}

#[tokio::test]
async fn another_account_cannot_test_deliver_to_the_subscription() {
    let (app, a, id, b) = two_accounts().await;
    let challenges = app.receiver.request_count();
    let before = app.snapshot().await;

    for mode in ["", "?mode=direct", "?mode=full"] {
        let theirs = app
            .post_empty(&format!("/api/subscriptions/{id}/test{mode}"), &b.api_key)
            .await;
        let nobodys = app
            .post_empty(
                &format!("/api/subscriptions/{UNKNOWN_ID}/test{mode}"),
                &b.api_key,
            )
            .await;
        assert_eq!(theirs.status(), StatusCode::NOT_FOUND, "{mode}");
        let theirs = theirs.text().await.unwrap();
        assert_eq!(theirs, nobodys.text().await.unwrap(), "{mode}");
        assert_eq!(theirs, NOT_FOUND_BODY);
    }

    assert_eq!(app.snapshot().await, before);
    assert_eq!(
        app.receiver.request_count(),
        challenges,
        "nothing was sent to A's URL"
    );
    let mine = app
        .post_empty(&format!("/api/subscriptions/{id}/test"), &a.api_key)
        .await;
    assert_eq!(mine.status(), StatusCode::OK, "A itself may test");
    app.shutdown().await;
}

#[tokio::test]
async fn another_account_sees_none_of_the_audit_log_or_stats_of_the_subscription() {
    let (app, a, id, b) = two_accounts().await;
    let tested = app
        .post_empty(&format!("/api/subscriptions/{id}/test"), &a.api_key)
        .await;
    assert_eq!(tested.status(), StatusCode::OK);
    let before = app.snapshot().await;

    let logs: Value = app
        .get(&format!("/api/audit-logs?subscriptionId={id}"), &b.api_key)
        .await
        .json()
        .await
        .unwrap();
    let unfiltered: Value = app
        .get("/api/audit-logs", &b.api_key)
        .await
        .json()
        .await
        .unwrap();
    let stats: Value = app
        .get(
            &format!("/api/audit-logs/stats?subscriptionId={id}"),
            &b.api_key,
        )
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(logs["data"], json!([]), "{logs}");
    assert_eq!(unfiltered["data"], json!([]), "{unfiltered}");
    assert_eq!(stats["total"], json!(0), "{stats}");
    let own: Value = app
        .get(&format!("/api/audit-logs?subscriptionId={id}"), &a.api_key)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(own["data"].as_array().map(Vec::len), Some(1), "{own}");
    assert_eq!(app.snapshot().await, before);
    app.shutdown().await;
}

#[tokio::test]
async fn an_api_key_of_another_account_never_reaches_this_accounts_secret() {
    let (app, a, _, b) = two_accounts().await;
    let a_secret: Value = app.get_secret(&a.api_key).await.json().await.unwrap();
    let b_secret: Value = app.get_secret(&b.api_key).await.json().await.unwrap();

    assert_ne!(a_secret["secret"], b_secret["secret"]);
    let before = app.snapshot().await;
    let regenerated = app.regenerate_secret(&b.api_key).await;
    let after: Value = app.get_secret(&a.api_key).await.json().await.unwrap();
    assert_eq!(after, a_secret, "B regenerating changes only B's secret");
    assert_ne!(json!(regenerated), a_secret["secret"]);
    assert_ne!(app.snapshot().await, before, "B's own secret did change");
    app.shutdown().await;
}
