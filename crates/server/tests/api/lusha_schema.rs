//! Checking responses against the schemas of Lusha's published OpenAPI document.
//!
//! A small subset of JSON Schema, enough for that document: `$ref`, `type`, `nullable`, `enum`,
//! `required`, `properties`, `items` and `oneOf`. A closed check also refuses properties the
//! schema does not declare, so a misspelt field name cannot pass.

use serde_json::Value;
use std::sync::OnceLock;

use crate::helpers::assert_api_timestamp;

/// Lusha's document, in the shared spec folder beside the repository.
const LUSHA_OPENAPI: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/spec/lusha-webhooks-openapi.json"
);

/// Whether undeclared properties are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Properties {
    /// Only declared properties may appear.
    Closed,
    /// Extra properties are allowed, as JSON Schema itself allows them.
    Open,
}

fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let text = std::fs::read_to_string(LUSHA_OPENAPI)
            .unwrap_or_else(|error| panic!("cannot read {LUSHA_OPENAPI}: {error}"));
        serde_json::from_str(&text).expect("Lusha's document parses")
    })
}

/// The named schema of `components.schemas`.
pub fn schema(name: &str) -> &'static Value {
    let schema = &document()["components"]["schemas"][name];
    assert!(schema.is_object(), "Lusha's document has no schema {name}");
    schema
}

/// Checks `value` against the named schema; panics listing every problem.
pub fn assert_matches(value: &Value, name: &str, properties: Properties) {
    let mut problems = Vec::new();
    check(value, schema(name), name, properties, &mut problems);
    assert!(
        problems.is_empty(),
        "{value} does not match Lusha's {name}:\n{}",
        problems.join("\n")
    );
}

/// The `required` list of a schema, with the one known defect of the document repaired: its
/// `PaginationResponse.required` names `size` and `page`, which are not among its properties;
/// the contract reads them as `limit` and `offset`.
fn required_of(schema: &Value) -> Vec<String> {
    let mut required: Vec<String> = schema["required"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let declared = |key: &str| schema["properties"].get(key).is_some();
    if required.iter().any(|key| !declared(key)) {
        assert!(
            required.contains(&"size".to_owned()) && required.contains(&"page".to_owned()),
            "unexpected undeclared required properties in {schema}"
        );
        required.retain(|key| declared(key));
        required.extend(["limit".to_owned(), "offset".to_owned()]);
    }
    required
}

fn resolve(schema: &Value) -> &Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unsupported $ref {reference}"));
            self::schema(name)
        }
        None => schema,
    }
}

fn check(value: &Value, schema: &Value, at: &str, mode: Properties, problems: &mut Vec<String>) {
    let schema = resolve(schema);
    if value.is_null() {
        if schema["nullable"] != Value::Bool(true) {
            problems.push(format!("{at}: null but not nullable"));
        }
        return;
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let matching = options
            .iter()
            .filter(|option| {
                let mut inner = Vec::new();
                check(value, option, at, mode, &mut inner);
                inner.is_empty()
            })
            .count();
        if matching != 1 {
            problems.push(format!("{at}: matches {matching} of oneOf, not exactly 1"));
        }
        return;
    }
    if let Some(allowed) = schema["enum"].as_array() {
        if !allowed.contains(value) {
            problems.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    match schema["type"].as_str() {
        Some("object") => check_object(value, schema, at, mode, problems),
        Some("array") => match value.as_array() {
            Some(items) => {
                for (index, item) in items.iter().enumerate() {
                    check(
                        item,
                        &schema["items"],
                        &format!("{at}[{index}]"),
                        mode,
                        problems,
                    );
                }
            }
            None => problems.push(format!("{at}: {value} is not an array")),
        },
        Some("string") => match value.as_str() {
            Some(text) => {
                if schema["format"] == "date-time" {
                    assert_api_timestamp(text);
                }
                if schema["format"] == "uri" && !text.starts_with("http") {
                    problems.push(format!("{at}: {text:?} is not an absolute http(s) URI"));
                }
            }
            None => problems.push(format!("{at}: {value} is not a string")),
        },
        Some("boolean") if !value.is_boolean() => {
            problems.push(format!("{at}: {value} is not a boolean"));
        }
        Some("integer") if !(value.is_i64() || value.is_u64()) => {
            problems.push(format!("{at}: {value} is not an integer"));
        }
        _ => {}
    }
}

fn check_object(
    value: &Value,
    schema: &Value,
    at: &str,
    mode: Properties,
    problems: &mut Vec<String>,
) {
    let Some(object) = value.as_object() else {
        problems.push(format!("{at}: {value} is not an object"));
        return;
    };
    for key in required_of(schema) {
        if !object.contains_key(&key) {
            problems.push(format!("{at}: required property {key} is missing"));
        }
    }
    let declared = schema["properties"].as_object();
    for (key, item) in object {
        match declared.and_then(|properties| properties.get(key)) {
            Some(property) => check(item, property, &format!("{at}.{key}"), mode, problems),
            None if mode == Properties::Closed && declared.is_some() => {
                problems.push(format!("{at}: property {key} is not declared"));
            }
            None => {}
        }
    }
}
