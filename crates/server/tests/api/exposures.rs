//! `POST /admin/exposures` (spec Part B): intake formats, counts, idempotence, validation,
//! suppression and authentication.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::delivery_receiver::DeliveryReceiver;
use crate::helpers::{assert_error, errors_of, spawn_app, spawn_app_with_engine, text, TestApp};
use crate::operator::{email, exposure, exposure_at, ndjson, opt_out, phone, Caller, NDJSON};

/// How many rows the exposure ledger holds.
async fn ledger(app: &TestApp) -> usize {
    app.snapshot()
        .await
        .tables
        .get("exposures")
        .map_or(0, |table| table.rows.len())
}

#[tokio::test]
async fn a_json_array_of_exposures_is_counted_per_datapoint() {
    let app = spawn_app().await;
    let account = app.create_account().await;

    let response = app
        .post_exposures(&json!([
            exposure(
                &account.id,
                "c-1",
                &[email("a@example.com"), phone("+15550001")]
            ),
            exposure(&account.id, "c-2", &[email("b@example.com")]),
        ]))
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({ "accepted": 3, "duplicates": 0, "refused": 0, "refusals": [] })
    );
    assert_eq!(ledger(&app).await, 3);
}

#[tokio::test]
async fn ndjson_exposures_are_recorded_like_a_json_array() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let body = ndjson(&[
        exposure(
            &account.id,
            "c-1",
            &[email("a@example.com"), phone("+15550001")],
        ),
        exposure(&account.id, "c-2", &[email("b@example.com")]),
    ]);

    let response = app
        .post_operator("/admin/exposures", Caller::Operator, NDJSON, body, None)
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({ "accepted": 3, "duplicates": 0, "refused": 0, "refusals": [] })
    );
    assert_eq!(ledger(&app).await, 3);
}

#[tokio::test]
async fn repeating_exposures_counts_duplicates_and_changes_nothing() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let items = [
        exposure_at(
            &account.id,
            "c-1",
            &[email("a@example.com"), phone("+15550001")],
            "2025-08-03T09:15:47Z",
        ),
        exposure_at(
            &account.id,
            "c-2",
            &[email("b@example.com")],
            "2025-08-03T09:15:47Z",
        ),
    ];
    app.expose(&items).await;
    let before = app.snapshot().await;

    let repeated = app.expose(&items).await;

    assert_eq!(
        repeated,
        json!({ "accepted": 0, "duplicates": 3, "refused": 0, "refusals": [] })
    );
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn the_same_datapoint_twice_in_one_request_is_one_acceptance_and_one_duplicate() {
    let app = spawn_app().await;
    let account = app.create_account().await;

    let body = app
        .expose(&[
            exposure(&account.id, "c-1", &[email("a@example.com")]),
            exposure(
                &account.id,
                "c-1",
                &[email("a@example.com"), phone("+15550001")],
            ),
        ])
        .await;

    assert_eq!(
        body,
        json!({ "accepted": 2, "duplicates": 1, "refused": 0, "refusals": [] })
    );
}

#[tokio::test]
async fn the_earliest_exposed_at_is_the_notice_exposure_date_whatever_the_arrival_order() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/earliest").await;
    let id = &subscriber.account.id;
    // The email arrives late first, then earlier, then later again; the phone is seen later.
    app.expose(&[exposure_at(
        id,
        "c-1",
        &[email("a@example.com")],
        "2025-08-05T10:00:00Z",
    )])
    .await;
    let earlier = app
        .expose(&[exposure_at(
            id,
            "c-1",
            &[email("a@example.com")],
            // 11:15:47.999 at +02:00 is 09:15:47.999 UTC: no rounding up to :48.
            "2025-08-03T11:15:47.999+02:00",
        )])
        .await;
    assert_eq!(earlier["duplicates"], json!(1));
    app.expose(&[
        exposure_at(id, "c-1", &[email("a@example.com")], "2025-09-01T00:00:00Z"),
        exposure_at(id, "c-1", &[phone("+15550001")], "2025-08-04T00:00:00Z"),
    ])
    .await;

    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    app.wait_for_recipient(&opt_out_id, id, "delivered").await;

    let notices = receiver.notices("/earliest");
    assert_eq!(notices.len(), 1);
    assert_eq!(
        notices[0].json()["contactExposureDate"],
        json!("2025-08-03 09:15:47")
    );
}

#[tokio::test]
async fn one_invalid_item_rejects_the_whole_request_naming_every_bad_index() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let before = app.snapshot().await;
    let valid = exposure(&account.id, "c-1", &[email("a@example.com")]);
    let items = json!([
        valid,
        { "accountId": account.id, "datapoints": [email("b@example.com")] },
        valid,
        exposure(&account.id, "c-3", &[json!({ "datapointId": "x", "datapointType": "fax" })]),
        exposure_at(&account.id, "c-4", &[email("d@example.com")], "yesterday"),
        exposure(&account.id, "c-5", &[]),
        "not an object",
        { "accountId": account.id, "contactId": "c-7", "datapoints": [email("e@example.com")], "colour": "red" },
    ]);

    let response = app.post_exposures(&items).await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    let errors = errors_of(&body);
    for index in [1, 3, 4, 5, 6, 7] {
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with(&format!("[{index}]"))),
            "item {index} is not named in {errors:?}"
        );
    }
    for index in [0, 2] {
        assert!(
            !errors
                .iter()
                .any(|error| error.starts_with(&format!("[{index}]"))),
            "valid item {index} is named in {errors:?}"
        );
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn datapoints_of_a_contact_who_opted_out_are_refused_per_item() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    app.record_opt_out(&opt_out("c-gone", "Gone Person")).await;
    // An opt-out narrowed to one datapoint suppresses only that one.
    app.record_opt_out(&json!({
        "contactId": "c-partly",
        "fullName": "Partly Gone",
        "datapoints": [email("partly@example.com")]
    }))
    .await;

    let body = app
        .expose(&[
            exposure(&account.id, "c-kept", &[email("kept@example.com")]),
            exposure(
                &account.id,
                "c-gone",
                &[email("gone@example.com"), phone("+15550002")],
            ),
            exposure(
                &account.id,
                "c-partly",
                &[email("partly@example.com"), phone("+15550003")],
            ),
        ])
        .await;

    assert_eq!(body["accepted"], json!(2), "{body}");
    assert_eq!(body["duplicates"], json!(0), "{body}");
    assert_eq!(body["refused"], json!(3), "{body}");
    let refusals = body["refusals"].as_array().expect("refusals");
    let indexes: Vec<&Value> = refusals.iter().map(|refusal| &refusal["index"]).collect();
    assert_eq!(indexes, [&json!(1), &json!(2)], "{body}");
    for refusal in refusals {
        assert!(
            !text(&refusal["reason"]).trim().is_empty(),
            "refusal without a reason: {body}"
        );
    }
    // Only the kept contact's email and the partly suppressed contact's phone are in the ledger.
    assert_eq!(ledger(&app).await, 2);
}

#[tokio::test]
async fn datapoints_for_an_unknown_account_are_refused_per_item() {
    let app = spawn_app().await;
    let account = app.create_account().await;

    let body = app
        .expose(&[
            exposure(
                "987654321",
                "c-1",
                &[email("a@example.com"), phone("+15550001")],
            ),
            exposure(&account.id, "c-1", &[email("a@example.com")]),
        ])
        .await;

    assert_eq!(body["accepted"], json!(1), "{body}");
    assert_eq!(body["refused"], json!(2), "{body}");
    let refusals = body["refusals"].as_array().expect("refusals");
    assert_eq!(refusals.len(), 1, "{body}");
    assert_eq!(refusals[0]["index"], json!(0), "{body}");
    assert!(!text(&refusals[0]["reason"]).trim().is_empty(), "{body}");
    assert_eq!(ledger(&app).await, 1);
}

#[tokio::test]
async fn exposures_without_the_admin_token_are_401_and_change_nothing() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let before = app.snapshot().await;
    let body = json!([exposure(&account.id, "c-1", &[email("a@example.com")])]).to_string();

    for caller in [
        Caller::Anonymous,
        Caller::Token("wrong-token-0123456789"),
        Caller::Token(&account.api_key),
    ] {
        let response = app
            .post_operator(
                "/admin/exposures",
                caller,
                "application/json",
                body.clone(),
                None,
            )
            .await;
        assert_error(response, StatusCode::UNAUTHORIZED, "Invalid admin token").await;
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn within_one_request_the_earliest_exposed_at_of_a_datapoint_wins() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/one-request").await;
    let id = &subscriber.account.id;

    let body = app
        .expose(&[
            exposure_at(id, "c-1", &[email("a@example.com")], "2025-08-05T10:00:00Z"),
            exposure_at(id, "c-1", &[email("a@example.com")], "2025-08-02T01:02:03Z"),
            exposure_at(id, "c-1", &[email("a@example.com")], "2025-08-04T00:00:00Z"),
        ])
        .await;

    assert_eq!(
        body,
        json!({ "accepted": 1, "duplicates": 2, "refused": 0, "refusals": [] })
    );
    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    app.wait_for_recipient(&opt_out_id, id, "delivered").await;
    let notices = receiver.notices("/one-request");
    assert_eq!(
        notices[0].json()["contactExposureDate"],
        json!("2025-08-02 01:02:03")
    );
}

#[tokio::test]
async fn refusal_indexes_count_from_the_start_of_a_large_request() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    // More items than any sensible transaction chunk, with the refused ones at the end.
    let mut items: Vec<Value> = (0..2500)
        .map(|n| {
            exposure(
                &account.id,
                &format!("c-{n}"),
                &[email(&format!("{n}@example.com"))],
            )
        })
        .collect();
    items.push(exposure("987654321", "c-x", &[email("x@example.com")]));
    items.push(exposure(&account.id, "c-0", &[email("0@example.com")]));

    let body = app.expose(&items).await;

    assert_eq!(body["accepted"], json!(2500), "{body}");
    assert_eq!(body["duplicates"], json!(1), "{body}");
    assert_eq!(body["refused"], json!(1), "{body}");
    assert_eq!(body["refusals"][0]["index"], json!(2500), "{body}");
    assert_eq!(body["refusals"].as_array().map(Vec::len), Some(1), "{body}");
}

#[tokio::test]
async fn datapoints_with_quotes_backslashes_and_non_ascii_are_matched_exactly() {
    let app = spawn_app().await;
    let account = app.create_account().await;
    let odd = r#""o'brien\x"@bücher.example"#;
    app.expose(&[exposure(
        &account.id,
        "c-odd",
        &[email(odd), phone("+1 (555) 000-0001")],
    )])
    .await;

    let narrowed = app
        .record_opt_out(&json!({
            "contactId": "c-odd",
            "fullName": "Odd Address",
            "datapoints": [email(odd)]
        }))
        .await;

    assert_eq!(narrowed["notices"], json!(1), "{narrowed}");
    assert_eq!(
        ledger(&app).await,
        1,
        "the odd email is erased, the phone kept"
    );
    let again = app
        .expose(&[exposure(
            &account.id,
            "c-odd",
            &[email(odd), phone("+1 (555) 000-0001")],
        )])
        .await;
    assert_eq!(
        again,
        json!({
            "accepted": 0, "duplicates": 1, "refused": 1,
            "refusals": [{ "index": 0, "reason": again["refusals"][0]["reason"] }]
        })
    );
}
