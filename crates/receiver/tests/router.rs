//! The receiver's router, called in process with `oneshot`, on a fresh store per test and a
//! fixed clock.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{DateTime, TimeZone as _, Utc};
use optout_receiver::{
    receiver_router, ExportFormat, ReceiverConfig, ReceiverState, SuppressionStore,
};
use optout_webhook::{sign_lusha, Datapoint, DatapointType, OptOutNotice, Secret};
use serde_json::{json, Value};
use tower::ServiceExt as _;

const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_SECRET: &str = "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";
/// The receiver's clock: 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;

struct Fixture {
    router: Router,
    store: SuppressionStore,
    _dir: tempfile::TempDir,
}

async fn fixture_with(secrets: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SuppressionStore::open(&dir.path().join("receiver/suppressions.db"))
        .await
        .expect("open store");
    let config = ReceiverConfig::new(secrets.iter().map(|s| Secret::new(*s)).collect());
    let state = ReceiverState::new(config, store.clone()).with_clock(now);
    Fixture {
        router: receiver_router(state),
        store,
        _dir: dir,
    }
}

async fn fixture() -> Fixture {
    fixture_with(&[SECRET]).await
}

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(NOW, 0).single().expect("valid time")
}

fn notice(contact_id: &str, datapoints: &[(&str, DatapointType)]) -> OptOutNotice {
    OptOutNotice {
        contact_id: contact_id.to_owned(),
        full_name: "Jane Doe".to_owned(),
        company_name: Some("Acme Corp".to_owned()),
        job_title: None,
        linkedin_url: None,
        contact_opt_out_date: "2025-12-31 23:59:58.412".to_owned(),
        contact_exposure_date: "2025-08-03 09:15:47".to_owned(),
        datapoints: datapoints
            .iter()
            .map(|(id, kind)| Datapoint {
                datapoint_id: (*id).to_owned(),
                datapoint_type: *kind,
            })
            .collect(),
        partner_client_id: None,
    }
}

fn jane() -> OptOutNotice {
    notice(
        "987654321",
        &[
            ("+14155550199", DatapointType::Phone),
            ("jane.doe@acme.com", DatapointType::Email),
        ],
    )
}

/// A delivery as the relay sends it: signed with `secret` at `timestamp`.
fn delivery(secret: &str, timestamp: i64, webhook_id: &str, body: &[u8]) -> Request<Body> {
    let signature = sign_lusha(&Secret::new(secret), timestamp, body);
    Request::post("/hooks/optout")
        .header("content-type", "application/json")
        .header("X-Lusha-Timestamp", timestamp.to_string())
        .header("X-Lusha-Signature", signature)
        .header("X-Lusha-Webhook-Id", webhook_id)
        .header("X-Lusha-Attempt", "1")
        .body(Body::from(body.to_vec()))
        .expect("request")
}

async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)));
    (status, body)
}

async fn export(store: &SuppressionStore, format: ExportFormat) -> String {
    let mut out = Vec::new();
    store.export(format, &mut out).await.expect("export");
    String::from_utf8(out).expect("utf-8")
}

async fn exported_values(store: &SuppressionStore) -> Vec<String> {
    export(store, ExportFormat::Ndjson)
        .await
        .lines()
        .map(|line| {
            let row: Value = serde_json::from_str(line).expect("ndjson line");
            row["datapointId"].as_str().expect("datapointId").to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_challenge_on_any_path_is_echoed() {
    let f = fixture().await;
    for uri in ["/?challenge=abc", "/deep/path/hook?x=1&challenge=Zm9v-_bar"] {
        let request = Request::get(uri).body(Body::empty()).expect("request");
        let (status, body) = send(&f.router, request).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        let expected = uri.split("challenge=").nth(1).expect("value");
        assert_eq!(body, json!({ "challenge": expected }), "{uri}");
    }
}

#[tokio::test]
async fn a_get_without_a_challenge_is_refused_with_400() {
    let f = fixture().await;
    let request = Request::get("/hook").body(Body::empty()).expect("request");
    let (status, body) = send(&f.router, request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["statusCode"], 400);
}

#[tokio::test]
async fn a_signed_notice_is_recorded_and_answered_201_with_the_webhook_id() {
    let f = fixture().await;
    let body = jane().to_json_bytes();

    let (status, answer) = send(&f.router, delivery(SECRET, NOW - 3, "id-1", &body)).await;

    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(
        answer,
        json!({ "received": true, "timestamp": "2026-01-01T00:00:00.000Z", "webhookId": "id-1" })
    );
    assert!(f.store.is_suppressed("jane.doe@acme.com").await.unwrap());
    assert!(f.store.is_suppressed("+14155550199").await.unwrap());
    assert!(!f.store.is_suppressed("john@acme.com").await.unwrap());
    let csv = export(&f.store, ExportFormat::Csv).await;
    assert_eq!(
        csv,
        "contact_id,datapoint_id,datapoint_type,opted_out_at,received_at,webhook_id\n\
         987654321,+14155550199,phone,2025-12-31 23:59:58.412,2026-01-01T00:00:00.000Z,id-1\n\
         987654321,jane.doe@acme.com,email,2025-12-31 23:59:58.412,2026-01-01T00:00:00.000Z,id-1\n"
    );
}

#[tokio::test]
async fn a_replayed_delivery_is_answered_201_and_applied_once() {
    let f = fixture().await;
    let body = jane().to_json_bytes();
    let first = send(&f.router, delivery(SECRET, NOW, "id-1", &body)).await;
    let before = export(&f.store, ExportFormat::Ndjson).await;

    // A retry carries a new timestamp (and so a new signature) over the same bytes.
    let replay = send(&f.router, delivery(SECRET, NOW + 30, "id-1", &body)).await;

    assert_eq!(first.0, StatusCode::CREATED);
    assert_eq!(replay.0, StatusCode::CREATED);
    assert_eq!(replay.1["webhookId"], "id-1");
    assert_eq!(export(&f.store, ExportFormat::Ndjson).await, before);
    assert_eq!(before.lines().count(), 2);
}

#[tokio::test]
async fn a_value_named_by_two_notices_is_listed_once() {
    let f = fixture().await;
    let second = notice("987654321", &[("Jane.Doe@ACME.com", DatapointType::Email)]);
    send(
        &f.router,
        delivery(SECRET, NOW, "id-1", &jane().to_json_bytes()),
    )
    .await;

    let (status, _) = send(
        &f.router,
        delivery(SECRET, NOW, "id-2", &second.to_json_bytes()),
    )
    .await;

    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        exported_values(&f.store).await,
        ["+14155550199", "jane.doe@acme.com"]
    );
}

#[tokio::test]
async fn a_known_webhook_id_with_a_different_signed_body_is_still_applied() {
    let f = fixture().await;
    send(
        &f.router,
        delivery(SECRET, NOW, "id-1", &jane().to_json_bytes()),
    )
    .await;
    let other = notice("5", &[("bob@acme.com", DatapointType::Email)]);

    let (status, _) = send(
        &f.router,
        delivery(SECRET, NOW, "id-1", &other.to_json_bytes()),
    )
    .await;

    assert_eq!(status, StatusCode::CREATED);
    assert!(
        f.store.is_suppressed("bob@acme.com").await.unwrap(),
        "an id not covered by the signature must not hide a real notice"
    );
}

#[tokio::test]
async fn a_wrong_signature_is_refused_with_401_and_stores_nothing() {
    let f = fixture().await;
    let body = jane().to_json_bytes();

    let (status, answer) = send(&f.router, delivery(OTHER_SECRET, NOW, "id-1", &body)).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer,
        json!({ "statusCode": 401, "message": "Invalid signature" })
    );
    assert!(export(&f.store, ExportFormat::Ndjson).await.is_empty());
    // The id was not burnt: the genuine delivery with it still applies.
    let (status, _) = send(&f.router, delivery(SECRET, NOW, "id-1", &body)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(f.store.is_suppressed("jane.doe@acme.com").await.unwrap());
}

#[tokio::test]
async fn a_tampered_body_is_refused_with_401() {
    let f = fixture().await;
    let body = jane().to_json_bytes();
    let mut request = delivery(SECRET, NOW, "id-1", &body);
    let tampered = String::from_utf8(body)
        .unwrap()
        .replace("jane.doe@acme.com", "john.doe@acme.com");
    *request.body_mut() = Body::from(tampered);

    let (status, answer) = send(&f.router, request).await;

    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["message"], "Invalid signature");
    assert!(!f.store.is_suppressed("john.doe@acme.com").await.unwrap());
}

#[tokio::test]
async fn a_timestamp_outside_five_minutes_either_way_is_refused_as_stale() {
    let f = fixture().await;
    let body = jane().to_json_bytes();
    for timestamp in [NOW - 301, NOW + 301] {
        let (status, answer) = send(&f.router, delivery(SECRET, timestamp, "id-1", &body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{timestamp}");
        assert_eq!(
            answer,
            json!({ "statusCode": 401, "message": "Stale timestamp" })
        );
    }
    assert!(export(&f.store, ExportFormat::Ndjson).await.is_empty());
    let (status, _) = send(&f.router, delivery(SECRET, NOW - 300, "id-1", &body)).await;
    assert_eq!(status, StatusCode::CREATED, "the window's edge is inside");
}

#[tokio::test]
async fn a_delivery_without_a_signature_is_refused_with_401() {
    let f = fixture().await;
    let request = Request::post("/")
        .header("X-Lusha-Timestamp", NOW.to_string())
        .header("X-Lusha-Webhook-Id", "id-1")
        .body(Body::from(jane().to_json_bytes()))
        .expect("request");
    let (status, answer) = send(&f.router, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["message"], "Invalid signature");
}

#[tokio::test]
async fn any_configured_secret_verifies() {
    let f = fixture_with(&[OTHER_SECRET, SECRET]).await;
    let (status, _) = send(
        &f.router,
        delivery(SECRET, NOW, "id-1", &jane().to_json_bytes()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn the_previous_signature_header_is_accepted_during_a_rotation() {
    // The receiver still holds only the old secret; the sender signs with the new one and,
    // during its grace period, also with the old one.
    let f = fixture_with(&[OTHER_SECRET]).await;
    let body = jane().to_json_bytes();
    let mut request = delivery(SECRET, NOW, "id-1", &body);
    let previous = sign_lusha(&Secret::new(OTHER_SECRET), NOW, &body);
    request.headers_mut().insert(
        "X-Lusha-Signature-Previous",
        previous.parse().expect("header value"),
    );

    let (status, _) = send(&f.router, request).await;

    assert_eq!(status, StatusCode::CREATED);
    assert!(f.store.is_suppressed("jane.doe@acme.com").await.unwrap());
}

#[tokio::test]
async fn a_verified_delivery_without_a_webhook_id_is_refused_with_400() {
    let f = fixture().await;
    let body = jane().to_json_bytes();
    let mut request = delivery(SECRET, NOW, "unused", &body);
    request.headers_mut().remove("X-Lusha-Webhook-Id");

    let (status, answer) = send(&f.router, request).await;

    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["message"], "Missing X-Lusha-Webhook-Id");
    assert!(export(&f.store, ExportFormat::Ndjson).await.is_empty());
}

#[tokio::test]
async fn a_verified_body_that_is_not_a_notice_is_refused_with_400() {
    let f = fixture().await;
    let (status, answer) = send(
        &f.router,
        delivery(SECRET, NOW, "id-1", br#"{"contactId":"1"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["message"], "Invalid opt-out notice");
}

#[tokio::test]
async fn a_test_delivery_is_acknowledged_but_not_recorded() {
    let f = fixture().await;
    let mut request = delivery(SECRET, NOW, "id-1", &jane().to_json_bytes());
    request
        .headers_mut()
        .insert("X-Lusha-Test", "true".parse().expect("header value"));

    let (status, _) = send(&f.router, request).await;

    assert_eq!(status, StatusCode::CREATED);
    assert!(export(&f.store, ExportFormat::Ndjson).await.is_empty());
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let f = fixture().await;
    let body = vec![b' '; optout_receiver::MAX_BODY_BYTES + 1];
    let (status, answer) = send(&f.router, delivery(SECRET, NOW, "id-1", &body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["statusCode"], 413);
}

#[tokio::test]
async fn check_matches_emails_without_case_and_phones_by_digits() {
    let f = fixture().await;
    send(
        &f.router,
        delivery(SECRET, NOW, "id-1", &jane().to_json_bytes()),
    )
    .await;

    assert!(f.store.is_suppressed(" Jane.Doe@Acme.com").await.unwrap());
    assert!(f.store.is_suppressed("+1 (415) 555-0199").await.unwrap());
    assert!(!f.store.is_suppressed("+1 (415) 555-0198").await.unwrap());
}

#[tokio::test]
async fn a_read_only_store_reads_what_the_receiver_wrote_and_refuses_to_write() {
    let f = fixture().await;
    send(
        &f.router,
        delivery(SECRET, NOW, "id-1", &jane().to_json_bytes()),
    )
    .await;

    let reader = SuppressionStore::open_existing(f.store.path())
        .await
        .expect("open existing");

    assert!(reader.is_suppressed("jane.doe@acme.com").await.unwrap());
    let notice = jane();
    let refused = reader
        .record_delivery(optout_receiver::Delivery {
            webhook_id: "id-2",
            body: b"{}",
            notice: &notice,
            received_at: now(),
        })
        .await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn opening_a_missing_store_for_reading_fails_instead_of_creating_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nowhere.db");
    let error = SuppressionStore::open_existing(&path)
        .await
        .expect_err("missing store");
    assert!(
        error.to_string().contains("no suppression store"),
        "{error}"
    );
    assert!(!path.exists());
}

#[tokio::test]
async fn recording_the_same_delivery_twice_reports_a_replay_the_second_time() {
    let f = fixture().await;
    let notice = jane();
    let body = notice.to_json_bytes();
    let delivery = optout_receiver::Delivery {
        webhook_id: "id-1",
        body: &body,
        notice: &notice,
        received_at: now(),
    };

    let first = f.store.record_delivery(delivery).await.unwrap();
    let second = f.store.record_delivery(delivery).await.unwrap();

    assert_eq!(first, optout_receiver::Recorded::Applied { added: 2 });
    assert_eq!(second, optout_receiver::Recorded::Replayed);
}

#[tokio::test]
async fn a_closed_store_can_still_be_read_by_a_later_process() {
    let f = fixture().await;
    send(
        &f.router,
        delivery(SECRET, NOW, "id-1", &jane().to_json_bytes()),
    )
    .await;
    let path = f.store.path().to_owned();
    f.store.close().await;
    drop(f.router);

    let reader = SuppressionStore::open_existing(&path)
        .await
        .expect("open existing");

    assert!(reader.is_suppressed("jane.doe@acme.com").await.unwrap());
    assert_eq!(
        exported_values(&reader).await,
        ["+14155550199", "jane.doe@acme.com"]
    );
}
