//! `POST /admin/opt-outs` (spec Part B): single, bulk and NDJSON intake, fan-out counts,
//! narrowing to some datapoints, idempotency and validation.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

use crate::delivery_receiver::DeliveryReceiver;
use crate::helpers::{
    assert_error, assert_object_id, errors_of, keys_of, sorted, spawn_app, spawn_app_with_engine,
    text, TestApp,
};
use crate::operator::{email, exposure, ndjson, opt_out, phone, Caller, NDJSON};

/// The rows of one table, for comparing before and after.
async fn table(app: &TestApp, name: &str) -> Vec<Vec<crate::snapshot::Cell>> {
    app.snapshot()
        .await
        .tables
        .get(name)
        .unwrap_or_else(|| panic!("no table {name}"))
        .rows
        .clone()
}

/// Two accounts; `c-1` is exposed to both, `c-2` to the first only.
async fn exposed_app() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let first = app.create_account().await.id;
    let second = app.create_account().await.id;
    app.expose(&[
        exposure(
            &first,
            "c-1",
            &[email("one@example.com"), phone("+15550001")],
        ),
        exposure(&second, "c-1", &[email("one@example.com")]),
        exposure(&first, "c-2", &[email("two@example.com")]),
    ])
    .await;
    (app, first, second)
}

/// The datapoint ids of a delivered notice, as a set.
fn datapoint_ids(notice: &Value) -> BTreeSet<String> {
    notice["datapoints"]
        .as_array()
        .unwrap_or_else(|| panic!("no datapoints in {notice}"))
        .iter()
        .map(|datapoint| text(&datapoint["datapointId"]))
        .collect()
}

#[tokio::test]
async fn a_single_opt_out_is_202_with_its_id_and_one_notice_per_exposed_account() {
    let (app, _, _) = exposed_app().await;

    let response = app.post_opt_outs(&opt_out("c-1", "Jane Doe"), None).await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(keys_of(&body), sorted(&["optOutId", "notices"]), "{body}");
    assert_object_id(&text(&body["optOutId"]));
    assert_eq!(body["notices"], json!(2), "{body}");
    assert_eq!(table(&app, "notices").await.len(), 2);
    // c-1's exposures are erased from the ledger; c-2's stays.
    assert_eq!(table(&app, "exposures").await.len(), 1);
}

#[tokio::test]
async fn a_json_array_of_opt_outs_is_202_with_one_result_each_and_the_total() {
    let (app, _, _) = exposed_app().await;

    let response = app
        .post_opt_outs(
            &json!([
                opt_out("c-1", "Jane Doe"),
                opt_out("c-2", "John Roe"),
                opt_out("c-unexposed", "Nobody Known"),
            ]),
            None,
        )
        .await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(keys_of(&body), sorted(&["results", "notices"]), "{body}");
    let results = body["results"].as_array().expect("results");
    let counts: Vec<&Value> = results.iter().map(|result| &result["notices"]).collect();
    assert_eq!(counts, [&json!(2), &json!(1), &json!(0)], "{body}");
    let ids: BTreeSet<String> = results
        .iter()
        .map(|result| {
            assert_eq!(keys_of(result), sorted(&["optOutId", "notices"]), "{body}");
            text(&result["optOutId"])
        })
        .collect();
    assert_eq!(ids.len(), 3, "opt-out ids are not distinct: {body}");
    ids.iter().for_each(|id| assert_object_id(id));
    assert_eq!(body["notices"], json!(3), "{body}");
    assert_eq!(table(&app, "notices").await.len(), 3);
}

#[tokio::test]
async fn ndjson_opt_outs_are_answered_like_an_array() {
    let (app, _, _) = exposed_app().await;
    let body = ndjson(&[opt_out("c-1", "Jane Doe"), opt_out("c-2", "John Roe")]);

    let response = app
        .post_operator("/admin/opt-outs", Caller::Operator, NDJSON, body, None)
        .await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    let counts: Vec<&Value> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| &result["notices"])
        .collect();
    assert_eq!(counts, [&json!(2), &json!(1)], "{body}");
    assert_eq!(body["notices"], json!(3), "{body}");
}

#[tokio::test]
async fn an_opt_out_of_a_contact_never_exposed_is_recorded_and_suppresses_later_exposures() {
    let app = spawn_app().await;
    let account = app.create_account().await;

    let recorded = app.record_opt_out(&opt_out("c-new", "New Person")).await;

    assert_eq!(recorded["notices"], json!(0), "{recorded}");
    let record = app.compliance_record(&text(&recorded["optOutId"])).await;
    assert_eq!(record["contactId"], json!("c-new"), "{record}");
    assert_eq!(record["recipients"], json!([]), "{record}");
    let later = app
        .expose(&[exposure(&account.id, "c-new", &[email("new@example.com")])])
        .await;
    assert_eq!(later["accepted"], json!(0), "{later}");
    assert_eq!(later["refused"], json!(1), "{later}");
}

#[tokio::test]
async fn narrowed_datapoints_notify_and_erase_only_those_and_a_later_opt_out_finds_the_rest() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let first = app.subscriber(&receiver, "/first").await;
    let second = app.subscriber(&receiver, "/second").await;
    app.expose(&[
        exposure(
            &first.account.id,
            "c-1",
            &[email("one@example.com"), phone("+15550001")],
        ),
        exposure(&second.account.id, "c-1", &[phone("+15550001")]),
    ])
    .await;

    let narrowed = app
        .record_opt_out(&json!({
            "contactId": "c-1",
            "fullName": "Jane Doe",
            "datapoints": [email("one@example.com")]
        }))
        .await;

    assert_eq!(
        narrowed["notices"],
        json!(1),
        "only the first account got the email"
    );
    let narrowed_id = text(&narrowed["optOutId"]);
    app.wait_for_recipient(&narrowed_id, &first.account.id, "delivered")
        .await;
    let record = app.compliance_record(&narrowed_id).await;
    assert_eq!(
        record["recipients"].as_array().map(Vec::len),
        Some(1),
        "{record}"
    );
    let notices = receiver.notices("/first");
    assert_eq!(notices.len(), 1);
    assert_eq!(
        datapoint_ids(&notices[0].json()),
        BTreeSet::from(["one@example.com".to_owned()])
    );

    let rest = app.record_opt_out(&opt_out("c-1", "Jane Doe")).await;

    assert_eq!(
        rest["notices"],
        json!(2),
        "both accounts still hold the phone"
    );
    let rest_id = text(&rest["optOutId"]);
    app.wait_for_recipient(&rest_id, &first.account.id, "delivered")
        .await;
    app.wait_for_recipient(&rest_id, &second.account.id, "delivered")
        .await;
    let phone_only = BTreeSet::from(["+15550001".to_owned()]);
    let first_notices = receiver.notices("/first");
    assert_eq!(first_notices.len(), 2);
    assert_eq!(datapoint_ids(&first_notices[1].json()), phone_only);
    let second_notices = receiver.notices("/second");
    assert_eq!(second_notices.len(), 1);
    assert_eq!(datapoint_ids(&second_notices[0].json()), phone_only);
}

#[tokio::test]
async fn repeating_an_opt_out_with_its_idempotency_key_returns_the_same_body_and_creates_nothing() {
    let (app, _, _) = exposed_app().await;
    let body = json!([opt_out("c-1", "Jane Doe"), opt_out("c-2", "John Roe")]);
    let first = app.post_opt_outs(&body, Some("import-2026-05-19")).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first = first.text().await.expect("body");
    let before = app.snapshot().await;

    let again = app.post_opt_outs(&body, Some("import-2026-05-19")).await;

    assert_eq!(again.status(), StatusCode::ACCEPTED);
    assert_eq!(again.text().await.expect("body"), first);
    let after = app.snapshot().await;
    assert_eq!(after.tables.get("notices"), before.tables.get("notices"));
    assert_eq!(after, before);
}

#[tokio::test]
async fn reusing_an_idempotency_key_for_another_body_is_409_and_changes_nothing() {
    let (app, _, _) = exposed_app().await;
    let recorded = app
        .post_opt_outs(&opt_out("c-1", "Jane Doe"), Some("key-1"))
        .await;
    assert_eq!(recorded.status(), StatusCode::ACCEPTED);
    let before = app.snapshot().await;

    let response = app
        .post_opt_outs(&opt_out("c-2", "John Roe"), Some("key-1"))
        .await;

    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["statusCode"], json!(409), "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn invalid_opt_outs_are_400_naming_every_bad_item_and_change_nothing() {
    let (app, _, _) = exposed_app().await;
    let before = app.snapshot().await;
    let items = json!([
        opt_out("c-1", "Jane Doe"),
        { "contactId": "c-2" },
        { "contactId": "c-2", "fullName": "John Roe", "optedOutAt": "last tuesday" },
        { "contactId": "c-2", "fullName": "John Roe",
          "datapoints": [{ "datapointId": "x", "datapointType": "fax" }] },
        { "contactId": "c-2", "fullName": "John Roe", "favouriteColour": "red" },
        { "fullName": "   " },
    ]);

    let response = app.post_opt_outs(&items, None).await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    let errors = errors_of(&body);
    for index in 1..=5 {
        assert!(
            errors
                .iter()
                .any(|error| error.starts_with(&format!("[{index}]"))),
            "item {index} is not named in {errors:?}"
        );
    }
    assert!(
        !errors.iter().any(|error| error.starts_with("[0]")),
        "the valid item is named in {errors:?}"
    );
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn an_invalid_single_opt_out_or_an_empty_list_is_400_and_changes_nothing() {
    let (app, _, _) = exposed_app().await;
    let before = app.snapshot().await;

    for body in [json!({ "fullName": "No Contact" }), json!([]), json!({})] {
        let response = app.post_opt_outs(&body, None).await;
        assert_error(response, StatusCode::BAD_REQUEST, "Validation failed").await;
    }
    assert_eq!(app.snapshot().await, before);
}

#[tokio::test]
async fn opt_outs_without_the_admin_token_are_401_and_change_nothing() {
    let (app, _, _) = exposed_app().await;
    let before = app.snapshot().await;
    let body = opt_out("c-1", "Jane Doe").to_string();

    for caller in [Caller::Anonymous, Caller::Token("wrong-token-0123456789")] {
        let response = app
            .post_operator(
                "/admin/opt-outs",
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
async fn opting_out_one_contact_twice_in_one_request_notifies_each_datapoint_once() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/twice").await;
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-1",
        &[email("one@example.com"), phone("+15550001")],
    )])
    .await;

    let response = app
        .post_opt_outs(
            &json!([
                { "contactId": "c-1", "fullName": "Jane Doe", "datapoints": [email("one@example.com")] },
                opt_out("c-1", "Jane Doe"),
                opt_out("c-1", "Jane Doe"),
            ]),
            None,
        )
        .await;

    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let body: Value = response.json().await.expect("json");
    let counts: Vec<&Value> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| &result["notices"])
        .collect();
    assert_eq!(counts, [&json!(1), &json!(1), &json!(0)], "{body}");
    for result in body["results"].as_array().expect("results").iter().take(2) {
        app.wait_for_recipient(
            &text(&result["optOutId"]),
            &subscriber.account.id,
            "delivered",
        )
        .await;
    }
    let notices = receiver.notices("/twice");
    assert_eq!(notices.len(), 2);
    let received: Vec<BTreeSet<String>> = notices
        .iter()
        .map(|notice| datapoint_ids(&notice.json()))
        .collect();
    assert!(
        received.contains(&BTreeSet::from(["one@example.com".to_owned()]))
            && received.contains(&BTreeSet::from(["+15550001".to_owned()])),
        "each datapoint in exactly one notice: {received:?}"
    );
}

/// Single opt-outs sent at the same time share transactions (group commit); each request still
/// gets its own opt-out id and notice count, and each opt-out is its own contact's.
#[tokio::test]
async fn concurrent_single_opt_outs_each_get_their_own_result() {
    const CONTACTS: usize = 40;
    let app = spawn_app().await;
    let account = app.create_account().await;
    let exposures: Vec<Value> = (0..CONTACTS)
        .map(|n| {
            exposure(
                &account.id,
                &format!("burst-{n}"),
                &[email(&format!("burst{n}@example.com"))],
            )
        })
        .collect();
    app.expose(&exposures).await;
    // The two last contacts opt out twice each: their second opt-out covers nothing.
    let contacts: Vec<String> = (0..CONTACTS)
        .chain([CONTACTS - 1, CONTACTS - 2])
        .map(|n| format!("burst-{n}"))
        .collect();
    let mut requests = tokio::task::JoinSet::new();
    for contact in contacts.clone() {
        let request = app
            .client
            .post(app.url("/admin/opt-outs"))
            .bearer_auth(&app.admin_token)
            .json(&opt_out(&contact, "Burst"));
        requests.spawn(async move {
            let response = request.send().await.expect("request");
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            (contact, body)
        });
    }
    let answers: Vec<(String, Value)> = requests.join_all().await;

    let ids: BTreeSet<String> = answers
        .iter()
        .map(|(_, body)| text(&body["optOutId"]))
        .collect();
    assert_eq!(ids.len(), contacts.len(), "every request has its own id");
    let notices: u64 = answers
        .iter()
        .map(|(_, body)| body["notices"].as_u64().expect("notices"))
        .sum();
    assert_eq!(notices, CONTACTS as u64, "one notice per exposed contact");
    for (contact, body) in &answers {
        let record = app.compliance_record(&text(&body["optOutId"])).await;
        assert_eq!(record["contactId"], json!(contact), "{record}");
    }
}
