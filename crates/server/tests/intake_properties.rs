//! Property tests of the JSON intake paths: the stable-compiler counterpart of the `intake_json`
//! fuzz target. Whatever the body, parsing answers with items or a problem, never panics, and
//! the nesting limit holds.

use chrono::Utc;
use optout_server::intake::{bulk_items, parse_exposure, parse_opt_out};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Runs every intake parser over `raw`, as JSON and as NDJSON.
fn parse_everything(raw: &[u8]) {
    let now = Utc::now();
    for ndjson in [false, true] {
        if let Ok(items) = bulk_items(raw, ndjson) {
            for (index, item) in items.into_iter().enumerate() {
                let _ = parse_exposure(item.clone(), index, now);
                let _ = parse_opt_out(item, index, now);
            }
        }
    }
}

/// Any JSON value, a few levels deep, with the intake's field names among the keys.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|number| json!(number)),
        ".{0,40}".prop_map(Value::from),
        "[a-z0-9.+@-]{0,30}".prop_map(Value::from),
    ];
    let key = prop_oneof![
        Just("accountId".to_owned()),
        Just("contactId".to_owned()),
        Just("datapoints".to_owned()),
        Just("datapointId".to_owned()),
        Just("datapointType".to_owned()),
        Just("fullName".to_owned()),
        Just("exposedAt".to_owned()),
        Just("optedOutAt".to_owned()),
        Just("partnerClientId".to_owned()),
        ".{0,12}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_bytes_are_answered_without_panicking(raw in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_everything(&raw);
    }

    #[test]
    fn any_json_is_answered_without_panicking(items in prop::collection::vec(json_value(), 0..5)) {
        let array = Value::Array(items.clone()).to_string();
        parse_everything(array.as_bytes());
        let lines: String = items.iter().map(|item| format!("{item}\n")).collect();
        parse_everything(lines.as_bytes());
    }

    #[test]
    fn nesting_beyond_32_levels_is_always_refused(depth in 33usize..400, object in any::<bool>()) {
        let (open, close) = if object { (r#"{"a":"#, "}") } else { ("[", "]") };
        let body = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        for ndjson in [false, true] {
            let refused = bulk_items(body.as_bytes(), ndjson).expect_err("too deep");
            prop_assert!(refused.contains("nested deeper than 32 levels"), "{}", refused);
        }
    }

    #[test]
    fn a_well_formed_exposure_is_accepted(
        account in 1u64..999_999_999,
        contact in "[a-zA-Z0-9_-]{1,40}",
        user in "[a-z]{1,20}",
    ) {
        let item = json!({
            "accountId": account.to_string(),
            "contactId": contact,
            "datapoints": [{ "datapointId": format!("{user}@example.com"), "datapointType": "email" }],
        });
        let items = bulk_items(item.to_string().as_bytes(), false).expect("one object");
        prop_assert_eq!(items.len(), 1);
        let parsed = parse_exposure(items[0].clone(), 0, Utc::now());
        prop_assert!(parsed.is_ok(), "{:?}", parsed.err());
    }
}
