//! A9 `GET /api/audit-logs` and `GET /api/audit-logs/stats`: one row per attempt, newest first,
//! filtered and paged, scoped to the account.

use optout_core::RetryPolicy;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

use crate::delivery_receiver::{DeliveryReceiver, Reply};
use crate::helpers::{
    assert_api_timestamp, assert_error, assert_object_id, keys_of, sorted, spawn_app,
    spawn_app_with_engine, text, TestApp, UNKNOWN_ID,
};
use crate::lusha_schema::{assert_matches, Properties};
use crate::operator::{email, exposure, opt_out};
use crate::propagation::{rows, Subscriber};

/// Every field of an audit row.
const ROW_FIELDS: [&str; 9] = [
    "id",
    "subscriptionId",
    "payloadId",
    "status",
    "statusCode",
    "url",
    "deliveredAt",
    "durationMs",
    "error",
];

/// Makes `count` A8 test deliveries to the subscriber (audited in `full` mode).
async fn tests(app: &TestApp, subscriber: &Subscriber, count: usize) {
    for _ in 0..count {
        let response = app
            .test_delivery(&subscriber.account.api_key, &subscriber.subscription_id, "")
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
}

/// A port on 127.0.0.1 where nothing listens.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    listener.local_addr().expect("address").port()
}

#[tokio::test]
async fn audit_rows_have_the_a9_shape_newest_first() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/audited").await;
    receiver.reply("/audited", Reply::FailNext(2));
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-1",
        &[email("a@example.com")],
    )])
    .await;
    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    app.wait_for_recipient(&opt_out_id, &subscriber.account.id, "delivered")
        .await;

    let page = app.audit_logs(&subscriber.account.api_key, "").await;

    assert_matches(&page, "AuditLogsResponse", Properties::Closed);
    assert_eq!(
        page["pagination"],
        json!({ "total": 3, "limit": 50, "offset": 0, "hasMore": false })
    );
    let rows = rows(&page);
    assert_eq!(rows.len(), 3, "{page}");
    for row in rows {
        assert_eq!(keys_of(row), sorted(&ROW_FIELDS), "{row}");
        assert_object_id(&text(&row["id"]));
        assert_eq!(row["subscriptionId"], json!(subscriber.subscription_id));
        assert_eq!(row["url"], json!(receiver.url("/audited")));
        assert_api_timestamp(&text(&row["deliveredAt"]));
        assert!(row["durationMs"].is_u64(), "{row}");
    }
    let ids: BTreeSet<String> = rows.iter().map(|row| text(&row["id"])).collect();
    assert_eq!(ids.len(), 3, "row ids are not distinct: {page}");
    let times: Vec<String> = rows.iter().map(|row| text(&row["deliveredAt"])).collect();
    assert!(
        times.windows(2).all(|pair| pair[0] >= pair[1]),
        "not newest first: {times:?}"
    );
    assert_eq!(rows[0]["status"], json!("success"));
    assert_eq!(rows[0]["statusCode"], json!(200));
    assert_eq!(rows[0]["error"], Value::Null);
    for row in &rows[1..] {
        assert_eq!(row["status"], json!("failed"), "{row}");
        assert_eq!(row["statusCode"], json!(500), "{row}");
        assert_eq!(row["error"], json!("HTTP 500"), "{row}");
    }
    assert_eq!(
        app.audit_stats(&subscriber.account.api_key, "").await,
        json!({ "total": 3, "success": 1, "failed": 2, "successRate": "33.33%" })
    );
}

#[tokio::test]
async fn status_and_subscription_filters_select_rows_and_pages_cover_them_all() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let old = app.subscriber(&receiver, "/paging").await;
    let api_key = &old.account.api_key;
    tests(&app, &old, 2).await;
    receiver.reply("/paging", Reply::AlwaysFail);
    tests(&app, &old, 1).await;
    // The account's next subscription, after the first is deleted.
    let response = app
        .delete_subscriptions(api_key, &[&old.subscription_id])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let new = Subscriber {
        subscription_id: app.subscribe(api_key, &receiver.url("/paging")).await,
        ..old.clone()
    };
    tests(&app, &new, 1).await;
    receiver.reply("/paging", Reply::Ok);
    tests(&app, &new, 1).await;

    for (query, expected) in [
        ("", 5),
        ("status=success", 3),
        ("status=failed", 2),
        ("status=permanent_failure", 0),
    ] {
        let page = app.audit_logs(api_key, query).await;
        assert_eq!(
            page["pagination"]["total"],
            json!(expected),
            "{query}: {page}"
        );
        assert_eq!(rows(&page).len(), expected, "{query}: {page}");
        if let Some(status) = query.strip_prefix("status=") {
            assert!(rows(&page).iter().all(|row| row["status"] == json!(status)));
        }
    }
    let old_only = app
        .audit_logs(api_key, &format!("subscriptionId={}", old.subscription_id))
        .await;
    assert_eq!(old_only["pagination"]["total"], json!(3), "{old_only}");
    assert!(rows(&old_only)
        .iter()
        .all(|row| row["subscriptionId"] == json!(old.subscription_id)));
    let new_failed = app
        .audit_logs(
            api_key,
            &format!("subscriptionId={}&status=failed", new.subscription_id),
        )
        .await;
    assert_eq!(new_failed["pagination"]["total"], json!(1), "{new_failed}");
    assert_eq!(
        app.audit_logs(api_key, &format!("subscriptionId={UNKNOWN_ID}"))
            .await["pagination"]["total"],
        json!(0)
    );

    let all: Vec<Value> = rows(&app.audit_logs(api_key, "").await).clone();
    let mut paged = Vec::new();
    for (offset, expected_len, has_more) in [(0, 2, true), (2, 2, true), (4, 1, false)] {
        let page = app
            .audit_logs(api_key, &format!("limit=2&offset={offset}"))
            .await;
        assert_eq!(
            page["pagination"],
            json!({ "total": 5, "limit": 2, "offset": offset, "hasMore": has_more })
        );
        assert_eq!(rows(&page).len(), expected_len, "{page}");
        paged.extend(rows(&page).iter().cloned());
    }
    assert_eq!(paged, all, "pages in order make up the whole list");
    let beyond = app.audit_logs(api_key, "offset=10").await;
    assert_eq!(rows(&beyond).len(), 0);
    assert_eq!(beyond["pagination"]["hasMore"], json!(false));

    assert_eq!(
        app.audit_stats(api_key, "").await,
        json!({ "total": 5, "success": 3, "failed": 2, "successRate": "60.00%" })
    );
    assert_eq!(
        app.audit_stats(api_key, &format!("subscriptionId={}", old.subscription_id))
            .await,
        json!({ "total": 3, "success": 2, "failed": 1, "successRate": "66.67%" })
    );
}

#[tokio::test]
async fn an_attempt_without_a_response_has_no_status_code_and_an_error() {
    // A long retry delay keeps the notice `failed` after its first attempt.
    let app = spawn_app_with_engine(
        |config| config.url_challenge = false,
        |engine| engine.retry = RetryPolicy::new(vec![Duration::from_secs(600); 3], 0.0),
    )
    .await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let url = format!("http://127.0.0.1:{}/nobody-home", closed_port().await);
    let subscription_id = app.subscribe(&account.api_key, &url).await;
    app.expose(&[exposure(&account.id, "c-1", &[email("a@example.com")])])
        .await;

    let test = app
        .test_delivery(&account.api_key, &subscription_id, "")
        .await;
    assert_eq!(test.status(), StatusCode::OK);
    let test: Value = test.json().await.expect("json");
    assert_eq!(test["isSuccess"], json!(false), "{test}");
    assert!(
        test["flowCheck"].get("statusCode").is_none(),
        "no response, yet a status code: {test}"
    );
    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    let failed = app
        .wait_for_recipient(&opt_out_id, &account.id, "failed")
        .await;
    assert_eq!(failed["lastStatusCode"], Value::Null, "{failed}");

    let page = app.audit_logs(&account.api_key, "").await;
    assert_matches(&page, "AuditLogsResponse", Properties::Closed);
    let rows = rows(&page);
    assert_eq!(
        rows.len(),
        2,
        "one test and one attempt of the notice: {page}"
    );
    let payloads: BTreeSet<String> = rows.iter().map(|row| text(&row["payloadId"])).collect();
    assert!(payloads.contains(&text(&failed["noticeId"])), "{page}");
    for row in rows {
        let mut fields = ROW_FIELDS.to_vec();
        fields.retain(|field| *field != "statusCode");
        assert_eq!(
            keys_of(row),
            sorted(&fields),
            "statusCode must be omitted: {row}"
        );
        assert_eq!(row["status"], json!("failed"), "{row}");
        assert!(!text(&row["error"]).is_empty(), "{row}");
    }
}

#[tokio::test]
async fn another_account_sees_none_of_the_rows() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let owner = app.subscriber(&receiver, "/mine").await;
    let other = app.subscriber(&receiver, "/theirs").await;
    tests(&app, &owner, 2).await;

    let own = app.audit_logs(&other.account.api_key, "").await;
    assert_eq!(own["data"], json!([]), "{own}");
    assert_eq!(own["pagination"]["total"], json!(0), "{own}");
    let foreign = app
        .audit_logs(
            &other.account.api_key,
            &format!("subscriptionId={}", owner.subscription_id),
        )
        .await;
    assert_eq!(foreign["pagination"]["total"], json!(0), "{foreign}");
    for query in ["", &format!("subscriptionId={}", owner.subscription_id)] {
        assert_eq!(
            app.audit_stats(&other.account.api_key, query).await,
            json!({ "total": 0, "success": 0, "failed": 0, "successRate": "0.00%" })
        );
    }
    assert_eq!(
        app.audit_stats(&owner.account.api_key, "").await,
        json!({ "total": 2, "success": 2, "failed": 0, "successRate": "100.00%" })
    );
}

#[tokio::test]
async fn stats_of_an_account_without_attempts_are_zero() {
    let app = spawn_app().await;
    let account = app.create_account().await;

    let stats = app.audit_stats(&account.api_key, "").await;

    assert_matches(&stats, "AuditLogStatsResponse", Properties::Closed);
    assert_eq!(
        stats,
        json!({ "total": 0, "success": 0, "failed": 0, "successRate": "0.00%" })
    );
}

#[tokio::test]
async fn invalid_audit_queries_are_400() {
    let app = spawn_app().await;
    let account = app.create_account().await;

    for query in [
        "limit=0",
        "limit=101",
        "limit=ten",
        "offset=-1",
        "status=bogus",
        "status=SUCCESS",
        "subscriptionId=not-an-id",
        "page=2",
    ] {
        let response = app
            .get(&format!("/api/audit-logs?{query}"), &account.api_key)
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    }
    for query in ["status=success", "limit=5", "subscriptionId=nope"] {
        let response = app
            .get(&format!("/api/audit-logs/stats?{query}"), &account.api_key)
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    }
    for path in ["/api/audit-logs", "/api/audit-logs/stats"] {
        let response = app.get(path, "not-a-key").await;
        assert_error(response, StatusCode::UNAUTHORIZED, "Invalid API key").await;
    }
}
