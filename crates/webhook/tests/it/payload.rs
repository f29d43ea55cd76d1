//! `OptOutNotice` keeps the wire form byte for byte.

use optout_webhook::{Datapoint, DatapointType, OptOutNotice};

use crate::SPEC_DIR;

/// The C1 example of api.md, joined into the compact bytes it stands for.
fn c1_example() -> String {
    let path = format!("{SPEC_DIR}/api.md");
    let spec = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let c1 = &spec[spec
        .find("### C1 Request")
        .expect("api.md has a C1 section")..];
    let block = c1.split("```").nth(1).expect("C1 has a code block");
    block.lines().map(str::trim).collect()
}

fn minimal() -> OptOutNotice {
    OptOutNotice {
        contact_id: "1".into(),
        full_name: "A B".into(),
        company_name: None,
        job_title: None,
        linkedin_url: None,
        contact_opt_out_date: "2026-01-01 00:00:00.000".into(),
        contact_exposure_date: "2025-01-01 00:00:00".into(),
        datapoints: vec![],
        partner_client_id: None,
    }
}

#[test]
fn the_c1_example_round_trips_byte_identical() {
    let original = c1_example();
    assert!(
        original.starts_with(r#"{"contactId":"987654321","#),
        "{original}"
    );
    let notice = OptOutNotice::from_json_slice(original.as_bytes()).unwrap();
    assert_eq!(notice.company_name.as_deref(), Some("Acme Corp"));
    assert_eq!(
        notice.partner_client_id.as_deref(),
        Some("acme-crm-tenant-42")
    );
    assert_eq!(
        notice.datapoints,
        vec![
            Datapoint {
                datapoint_id: "+14155550199".into(),
                datapoint_type: DatapointType::Phone
            },
            Datapoint {
                datapoint_id: "jane.doe@acme.com".into(),
                datapoint_type: DatapointType::Email
            },
        ]
    );
    assert_eq!(String::from_utf8(notice.to_json_bytes()).unwrap(), original);
}

#[test]
fn every_notice_body_in_the_vectors_round_trips_byte_identical() {
    let mut notices = 0;
    for v in crate::vectors::load() {
        let Ok(notice) = OptOutNotice::from_json_slice(v.body.as_bytes()) else {
            continue; // some vectors sign fragments that are not whole notices
        };
        notices += 1;
        assert_eq!(String::from_utf8(notice.to_json_bytes()).unwrap(), v.body);
    }
    assert!(
        notices >= 2,
        "expected whole notices among the vectors, found {notices}"
    );
}

#[test]
fn unknown_optionals_are_omitted_but_partner_client_id_is_null() {
    let json = String::from_utf8(minimal().to_json_bytes()).unwrap();
    assert_eq!(
        json,
        r#"{"contactId":"1","fullName":"A B","contactOptOutDate":"2026-01-01 00:00:00.000","contactExposureDate":"2025-01-01 00:00:00","datapoints":[],"partnerClientId":null}"#
    );
}

#[test]
fn strings_are_escaped_as_json_stringify_does() {
    // JSON.stringify("\"\\/\u0001\n\u007fé李\u2028") in JavaScript.
    let notice = OptOutNotice {
        full_name: "\"\\/\u{1}\n\u{7f}é李\u{2028}".into(),
        ..minimal()
    };
    let json = String::from_utf8(notice.to_json_bytes()).unwrap();
    assert!(
        json.contains("\"fullName\":\"\\\"\\\\/\\u0001\\n\u{7f}é李\u{2028}\""),
        "{json}"
    );
}

#[test]
fn unknown_fields_are_ignored_and_a_missing_partner_client_id_is_none() {
    let json = br#"{"contactId":"1","fullName":"A B","contactOptOutDate":"2026-01-01 00:00:00.000","contactExposureDate":"2025-01-01 00:00:00","datapoints":[],"futureField":{"x":1}}"#;
    assert_eq!(OptOutNotice::from_json_slice(json).unwrap(), minimal());
}

#[test]
fn an_unknown_datapoint_type_is_refused() {
    let json = br#"{"contactId":"1","fullName":"A B","contactOptOutDate":"x","contactExposureDate":"y","datapoints":[{"datapointId":"1","datapointType":"fax"}],"partnerClientId":null}"#;
    assert!(OptOutNotice::from_json_slice(json).is_err());
}
