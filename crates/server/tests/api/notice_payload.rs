//! The body each account receives (spec C1): its own datapoints, its own exposure date and
//! partner id, the fields in order, the exact date formats, Lusha's schema, and bytes that
//! JavaScript's `JSON.stringify(JSON.parse(body))` gives back unchanged.

use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

use crate::delivery_receiver::{Delivery, DeliveryReceiver};
use crate::helpers::{assert_fields_in_order, keys_of, sorted, spawn_app_with_engine, text};
use crate::lusha_schema::{assert_matches, Properties};
use crate::operator::{email, exposure, exposure_at, opt_out, phone};
use crate::propagation::assert_pattern;

/// Every field of C1, in its order.
const C1_FIELDS: [&str; 9] = [
    "contactId",
    "fullName",
    "companyName",
    "jobTitle",
    "linkedinUrl",
    "contactOptOutDate",
    "contactExposureDate",
    "datapoints",
    "partnerClientId",
];

/// Lusha's sample verifier, as a shell command would run it.
const NODE_RESERIALISE: &str =
    "process.stdout.write(JSON.stringify(JSON.parse(require('fs').readFileSync(0,'utf8'))))";

/// The datapoints of a notice as a set of (type, id): their order is not part of the contract.
fn datapoints(notice: &Value) -> BTreeSet<(String, String)> {
    notice["datapoints"]
        .as_array()
        .unwrap_or_else(|| panic!("no datapoints in {notice}"))
        .iter()
        .map(|datapoint| {
            assert_eq!(
                keys_of(datapoint),
                sorted(&["datapointId", "datapointType"]),
                "{notice}"
            );
            (
                text(&datapoint["datapointType"]),
                text(&datapoint["datapointId"]),
            )
        })
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(kind, id)| ((*kind).to_owned(), (*id).to_owned()))
        .collect()
}

/// The checks every notice body must pass, whoever it is for.
fn assert_wire_form(notice: &Delivery) {
    let body = notice.json();
    assert_matches(&body, "OptOutWebhookPayload", Properties::Closed);
    let present: Vec<&str> = C1_FIELDS
        .into_iter()
        .filter(|field| body.get(field).is_some())
        .collect();
    assert_fields_in_order(notice.text(), &present);
    assert_pattern(&text(&body["contactOptOutDate"]), "dddd-dd-dd dd:dd:dd.ddd");
    assert_pattern(&text(&body["contactExposureDate"]), "dddd-dd-dd dd:dd:dd");
}

#[tokio::test]
async fn each_account_gets_exactly_its_own_datapoints_exposure_date_and_partner_client_id() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let acme = app.subscriber(&receiver, "/acme").await;
    let globex = app.subscriber(&receiver, "/globex").await;
    let mut acme_email = exposure_at(
        &acme.account.id,
        "987654321",
        &[email("jane.doe@acme.com")],
        "2025-08-03T09:15:47.250Z",
    );
    acme_email["partnerClientId"] = json!("acme-crm-tenant-42");
    let mut acme_phone = exposure_at(
        &acme.account.id,
        "987654321",
        &[phone("+14155550199")],
        "2025-09-01T12:00:00Z",
    );
    acme_phone["partnerClientId"] = json!("acme-crm-tenant-42");
    app.expose(&[
        acme_email,
        acme_phone,
        exposure_at(
            &globex.account.id,
            "987654321",
            &[email("jane@personal.example")],
            // Midnight at +01:00 is still the last day of 2024 in UTC.
            "2025-01-01T00:59:59+01:00",
        ),
        // Another contact's exposure must not leak into Jane's notices.
        exposure(&globex.account.id, "other", &[email("other@example.com")]),
    ])
    .await;

    let opt_out_id = app
        .opt_out_id(&json!({
            "contactId": "987654321",
            "fullName": "Jane Doe",
            "companyName": "Acme Corp",
            "jobTitle": "Director of Product",
            "linkedinUrl": "https://www.linkedin.com/in/jane-doe",
            "optedOutAt": "2026-04-22T14:32:11.412Z"
        }))
        .await;
    app.wait_for_recipient(&opt_out_id, &acme.account.id, "delivered")
        .await;
    app.wait_for_recipient(&opt_out_id, &globex.account.id, "delivered")
        .await;

    let acme_notices = receiver.notices("/acme");
    assert_eq!(acme_notices.len(), 1);
    assert_wire_form(&acme_notices[0]);
    let body = acme_notices[0].json();
    assert_eq!(keys_of(&body), sorted(&C1_FIELDS), "{body}");
    assert_eq!(body["contactId"], json!("987654321"));
    assert_eq!(body["fullName"], json!("Jane Doe"));
    assert_eq!(body["companyName"], json!("Acme Corp"));
    assert_eq!(body["jobTitle"], json!("Director of Product"));
    assert_eq!(
        body["linkedinUrl"],
        json!("https://www.linkedin.com/in/jane-doe")
    );
    assert_eq!(body["contactOptOutDate"], json!("2026-04-22 14:32:11.412"));
    assert_eq!(body["contactExposureDate"], json!("2025-08-03 09:15:47"));
    assert_eq!(
        datapoints(&body),
        set(&[("email", "jane.doe@acme.com"), ("phone", "+14155550199")])
    );
    assert_eq!(body["partnerClientId"], json!("acme-crm-tenant-42"));

    let globex_notices = receiver.notices("/globex");
    assert_eq!(
        globex_notices.len(),
        1,
        "one notice for Jane, none for the other contact"
    );
    assert_wire_form(&globex_notices[0]);
    let body = globex_notices[0].json();
    assert_eq!(body["contactId"], json!("987654321"));
    assert_eq!(body["contactOptOutDate"], json!("2026-04-22 14:32:11.412"));
    assert_eq!(body["contactExposureDate"], json!("2024-12-31 23:59:59"));
    assert_eq!(
        datapoints(&body),
        set(&[("email", "jane@personal.example")])
    );
    assert!(
        globex_notices[0]
            .text()
            .ends_with(r#","partnerClientId":null}"#),
        "partnerClientId must be null when unknown: {}",
        globex_notices[0].text()
    );
}

#[tokio::test]
async fn unknown_contact_details_are_omitted_and_dates_are_converted_to_utc() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/minimal").await;
    app.expose(&[
        exposure_at(
            &subscriber.account.id,
            "c-1",
            &[phone("+15550001")],
            "2025-08-03T09:15:47Z",
        ),
        exposure_at(
            &subscriber.account.id,
            "c-2",
            &[phone("+15550002")],
            "2025-08-03T09:15:47Z",
        ),
    ])
    .await;
    let mut offset = opt_out("c-1", "Jane Doe");
    offset["optedOutAt"] = json!("2026-04-22T16:32:11.412+02:00");
    let mut whole_seconds = opt_out("c-2", "John Roe");
    whole_seconds["optedOutAt"] = json!("2026-04-22T14:32:11Z");

    for (item, expected) in [
        (offset, "2026-04-22 14:32:11.412"),
        (whole_seconds, "2026-04-22 14:32:11.000"),
    ] {
        let id = app.opt_out_id(&item).await;
        app.wait_for_recipient(&id, &subscriber.account.id, "delivered")
            .await;
        let notices = receiver.notices("/minimal");
        let notice = notices.last().expect("a notice");
        assert_wire_form(notice);
        let body = notice.json();
        assert_eq!(
            keys_of(&body),
            sorted(&[
                "contactId",
                "fullName",
                "contactOptOutDate",
                "contactExposureDate",
                "datapoints",
                "partnerClientId"
            ]),
            "{body}"
        );
        assert_eq!(body["contactOptOutDate"], json!(expected), "{body}");
        assert_eq!(body["partnerClientId"], Value::Null, "{body}");
    }
}

/// Runs Lusha's sample re-serialisation in the real `node` on `body`; its output bytes.
async fn node_reserialise(body: &[u8]) -> Vec<u8> {
    let mut child = tokio::process::Command::new("node")
        .arg("-e")
        .arg(NODE_RESERIALISE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!(
                "this test needs the `node` binary (Node.js) on PATH to run Lusha's sample \
                 verifier, and it could not be started: {error}"
            )
        });
    let mut stdin = child.stdin.take().expect("node stdin");
    stdin.write_all(body).await.expect("write to node");
    drop(stdin);
    let output = child.wait_with_output().await.expect("node runs");
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[tokio::test]
async fn javascript_re_serialises_delivered_bodies_to_the_exact_bytes_signed() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/node").await;
    let people = [
        json!({
            "contactId": "c-unicode",
            "fullName": "Zoë Łukasiewicz-Ødegård 李小龙 🚀",
            "companyName": "Société Générale «Ünïcødé»",
            "jobTitle": "Directeur\u{2028}général",
        }),
        json!({
            "contactId": "c-quotes",
            "fullName": "Jane \"JD\" O'Doe",
            "companyName": "<Acme & Sons> / Co",
            "linkedinUrl": "https://www.linkedin.com/in/jane-\"doe\"",
        }),
        json!({
            "contactId": "c-backslash",
            "fullName": "Back\\slash C:\\Users\\jane",
            "jobTitle": "\\\"escaped\\\" \\u0041",
        }),
    ];
    let mut ids = Vec::new();
    for (index, person) in people.iter().enumerate() {
        let contact = text(&person["contactId"]);
        app.expose(&[exposure(
            &subscriber.account.id,
            &contact,
            &[
                email(&format!("josé.{index}@bücher.example")),
                phone(&format!("+44 20 7946 095{index}")),
            ],
        )])
        .await;
        ids.push(app.opt_out_id(person).await);
    }
    for id in &ids {
        app.wait_for_recipient(id, &subscriber.account.id, "delivered")
            .await;
    }

    let notices = receiver.notices("/node");
    assert_eq!(notices.len(), people.len());
    for notice in &notices {
        let from_node = node_reserialise(&notice.body).await;
        assert_eq!(
            String::from_utf8_lossy(&from_node),
            notice.text(),
            "JSON.stringify(JSON.parse(body)) in node differs from the body sent"
        );
        assert_eq!(from_node, notice.body.to_vec());
    }
    let names: BTreeSet<String> = notices
        .iter()
        .map(|notice| text(&notice.json()["fullName"]))
        .collect();
    let expected: BTreeSet<String> = people
        .iter()
        .map(|person| text(&person["fullName"]))
        .collect();
    assert_eq!(names, expected, "names arrive unchanged");
}
