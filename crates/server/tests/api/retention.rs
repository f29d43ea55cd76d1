//! Retention: delivered bodies are purged after the payload retention while the compliance
//! record keeps their evidence; undelivered notices keep their bodies; audit rows go after their
//! horizons.

use chrono::{DateTime, Utc};
use optout_server::{purge_once, run_retention, PurgeReport, RetentionPolicy};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use crate::delivery_receiver::{DeliveryReceiver, Reply};
use crate::eventually::{eventually, WAIT_LIMIT};
use crate::helpers::{assert_api_timestamp, spawn_app_with_engine_and_clock, text, TestApp};
use crate::operator::{email, exposure, opt_out, phone};
use crate::propagation::{recipient_of, rows};
use crate::snapshot;
use crate::test_clock::TestClock;

fn days(count: i64) -> chrono::Duration {
    chrono::Duration::days(count)
}

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&text(value))
        .expect("an RFC 3339 instant")
        .with_timezone(&Utc)
}

/// `hex(SHA-256(salt || "<type>:<value>"))`, as an operator recomputes it from the record.
fn salted_hash(salt_hex: &str, kind: &str, value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(hex::decode(salt_hex).expect("the salt is hex"));
    hasher.update(format!("{kind}:{value}"));
    hex::encode(hasher.finalize())
}

/// The stored body of a notice, read from the SQLite file; `None` once purged.
async fn stored_payload(app: &TestApp, notice_id: &Value) -> Option<Vec<u8>> {
    let mut conn = snapshot::connect(&app.db_path, true).await;
    sqlx::query_scalar("SELECT payload FROM notice_payloads WHERE notice_id = ?1")
        .bind(text(notice_id))
        .fetch_optional(&mut conn)
        .await
        .expect("the body's row, if any")
}

/// Runs one purge at the clock's now with the default policy, in batches of one row.
async fn purge(app: &TestApp, clock: &TestClock) -> PurgeReport {
    purge_once(&*app.store(), clock, &RetentionPolicy::default(), 1)
        .await
        .expect("purge")
}

/// The statuses of an account's audit rows, newest first.
async fn audit_statuses(app: &TestApp, api_key: &str) -> Vec<String> {
    let page = app.audit_logs(api_key, "").await;
    rows(&page).iter().map(|row| text(&row["status"])).collect()
}

#[tokio::test]
async fn delivered_bodies_are_purged_after_retention_and_their_evidence_is_kept() {
    let clock = Arc::new(TestClock::default());
    let app = spawn_app_with_engine_and_clock(clock.clone()).await;
    let receiver = DeliveryReceiver::spawn().await;
    let told = app.subscriber(&receiver, "/told").await;
    let flaky = app.subscriber(&receiver, "/flaky").await;
    receiver.reply("/flaky", Reply::FailNext(1));
    let (later, _) = app.account_with_secret(&receiver, "/later").await;
    app.expose(&[
        exposure(
            &told.account.id,
            "c-1",
            &[email("jane.doe@acme.com"), phone("+14155550199")],
        ),
        exposure(&flaky.account.id, "c-2", &[email("flaky@example.com")]),
        exposure(&later.id, "c-3", &[email("later@example.com")]),
    ])
    .await;
    let told_opt_out = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    let flaky_opt_out = app.opt_out_id(&opt_out("c-2", "Flaky Person")).await;
    let later_opt_out = app.opt_out_id(&opt_out("c-3", "Later Person")).await;
    let delivered = app
        .wait_for_recipient(&told_opt_out, &told.account.id, "delivered")
        .await;
    app.wait_for_recipient(&flaky_opt_out, &flaky.account.id, "delivered")
        .await;
    assert_eq!(
        audit_statuses(&app, &flaky.account.api_key).await,
        ["success", "failed"]
    );

    // Within every retention, nothing goes.
    assert_eq!(purge(&app, &clock).await, PurgeReport::default());

    // Past the payload retention: both delivered bodies go, one batch each; the audit stays.
    clock.advance(days(31));
    let report = purge(&app, &clock).await;
    assert_eq!(report.payloads_purged, 2, "{report:?}");
    assert_eq!(report.audit_rows_deleted, 0, "{report:?}");
    assert_eq!(report.payloads_unreadable, 0, "{report:?}");

    let record = app.compliance_record(&told_opt_out).await;
    let purged = recipient_of(&record, &told.account.id);
    assert_eq!(purged["status"], json!("delivered"), "{record}");
    assert_eq!(purged["attempts"], json!(1), "{record}");
    assert_eq!(purged["lastStatusCode"], json!(200), "{record}");
    assert_eq!(purged["noticeId"], delivered["noticeId"], "{record}");
    assert_eq!(purged["deliveredAt"], delivered["deliveredAt"], "{record}");
    assert_api_timestamp(&text(&purged["payloadPurgedAt"]));
    assert!(
        instant(&purged["payloadPurgedAt"]) >= instant(&purged["deliveredAt"]) + days(30),
        "{record}"
    );
    let evidence = &purged["datapointEvidence"];
    let salt = text(&evidence["salt"]);
    assert_eq!(salt.len(), 32, "{evidence}");
    assert_eq!(
        evidence["hashes"],
        json!([
            { "type": "email", "sha256": salted_hash(&salt, "email", "jane.doe@acme.com") },
            { "type": "phone", "sha256": salted_hash(&salt, "phone", "+14155550199") },
        ]),
        "{evidence}"
    );
    assert_eq!(stored_payload(&app, &purged["noticeId"]).await, None);
    let dashboard = app
        .client
        .get(app.url(&format!("/ui?optOut={told_opt_out}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .expect("dashboard")
        .text()
        .await
        .expect("dashboard page");
    assert!(
        dashboard.contains("2 datapoint hashes kept"),
        "the dashboard's record shows the purge: {dashboard}"
    );

    // The held notice keeps its body and shows no purge.
    let record = app.compliance_record(&later_opt_out).await;
    let held = recipient_of(&record, &later.id);
    assert_eq!(held["status"], json!("waiting"), "{record}");
    assert_eq!(held["payloadPurgedAt"], Value::Null, "{record}");
    assert_eq!(held["datapointEvidence"], Value::Null, "{record}");
    let held_body = stored_payload(&app, &held["noticeId"])
        .await
        .expect("a held body is kept");
    let body: Value = serde_json::from_slice(&held_body).expect("the held body is JSON");
    assert_eq!(
        body["datapoints"][0]["datapointId"],
        json!("later@example.com")
    );

    // A second run finds nothing more to purge.
    assert_eq!(purge(&app, &clock).await, PurgeReport::default());

    // Past 90 days successes go; the failure stays until 180 days.
    clock.advance(days(60));
    let report = purge(&app, &clock).await;
    assert_eq!(report.audit_rows_deleted, 2, "{report:?}");
    assert!(audit_statuses(&app, &told.account.api_key).await.is_empty());
    assert_eq!(
        audit_statuses(&app, &flaky.account.api_key).await,
        ["failed"]
    );
    clock.advance(days(90));
    let report = purge(&app, &clock).await;
    assert_eq!(report.audit_rows_deleted, 1, "{report:?}");
    assert!(audit_statuses(&app, &flaky.account.api_key)
        .await
        .is_empty());

    // The held notice, never purged, goes out whole once its account subscribes.
    app.subscribe(&later.api_key, &receiver.url("/later")).await;
    let sent = app
        .wait_for_recipient(&later_opt_out, &later.id, "delivered")
        .await;
    let notices = receiver.notices("/later");
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].verification, Ok(()));
    assert_eq!(notices[0].webhook_id(), text(&sent["noticeId"]));
    let received = notices[0].json();
    assert_eq!(received["fullName"], json!("Later Person"));
    assert_eq!(
        received["datapoints"],
        json!([{ "datapointId": "later@example.com", "datapointType": "email" }])
    );
    app.shutdown().await;
}

#[tokio::test]
async fn the_retention_loop_purges_at_start_and_stops_on_shutdown() {
    let clock = Arc::new(TestClock::default());
    let app = spawn_app_with_engine_and_clock(clock.clone()).await;
    let receiver = DeliveryReceiver::spawn().await;
    let told = app.subscriber(&receiver, "/told").await;
    app.expose(&[exposure(&told.account.id, "c-1", &[email("a@example.com")])])
        .await;
    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    app.wait_for_recipient(&opt_out_id, &told.account.id, "delivered")
        .await;
    clock.advance(days(31));

    let shutdown = CancellationToken::new();
    let purge = tokio::spawn(run_retention(
        app.store(),
        clock.clone(),
        RetentionPolicy::default(),
        shutdown.clone(),
    ));
    eventually("the delivered body to be purged", || async {
        let recipient = app.recipient(&opt_out_id, &told.account.id).await;
        if recipient["payloadPurgedAt"].is_string() {
            Ok(())
        } else {
            Err(recipient.to_string())
        }
    })
    .await;
    shutdown.cancel();
    tokio::time::timeout(WAIT_LIMIT, purge)
        .await
        .expect("the loop stops on shutdown, not after its hour")
        .expect("the loop does not panic");
    app.shutdown().await;
}
