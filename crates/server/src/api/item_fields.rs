//! Fields shared by the operator's intake bodies: datapoint lists and RFC 3339 instants.

use chrono::{DateTime, Utc};
use optout_core::Datapoint;
use serde_json::Value;

use super::json_body::JsonObject;

/// Most datapoints in one exposure or opt-out item.
const MAX_DATAPOINTS_PER_ITEM: usize = 1000;

/// Reads `key` as a list of `{"datapointId","datapointType"}`; `None` when absent or invalid
/// (problems, and absence when `required`, are recorded on `object`). An empty list is a problem.
pub(crate) fn datapoints(
    object: &mut JsonObject,
    key: &str,
    required: bool,
) -> Option<Vec<Datapoint>> {
    let Some(value) = object.optional_value(key) else {
        if required {
            object.problem(format!("{key} is required"));
        }
        return None;
    };
    let Value::Array(items) = value else {
        object.problem(format!("{key} must be an array"));
        return None;
    };
    if items.is_empty() || items.len() > MAX_DATAPOINTS_PER_ITEM {
        object.problem(format!(
            "{key} must hold 1 to {MAX_DATAPOINTS_PER_ITEM} datapoints"
        ));
        return None;
    }
    let mut parsed = Vec::with_capacity(items.len());
    let mut valid = true;
    for (position, item) in items.into_iter().enumerate() {
        match datapoint(item) {
            Ok(datapoint) => parsed.push(datapoint),
            Err(problem) => {
                object.problem(format!("{key}[{position}]: {problem}"));
                valid = false;
            }
        }
    }
    valid.then_some(parsed)
}

fn datapoint(value: Value) -> Result<Datapoint, String> {
    let Value::Object(mut fields) = value else {
        return Err("must be an object".to_owned());
    };
    let id = fields.remove("datapointId");
    let kind = fields.remove("datapointType");
    if let Some(unknown) = fields.keys().next() {
        return Err(format!("property {unknown} should not exist"));
    }
    match (id, kind) {
        (Some(Value::String(id)), Some(Value::String(kind))) => Datapoint::parse(&id, &kind),
        (None, _) | (Some(Value::Null), _) => Err("datapointId is required".to_owned()),
        (_, None) | (_, Some(Value::Null)) => Err("datapointType is required".to_owned()),
        _ => Err("datapointId and datapointType must be strings".to_owned()),
    }
}

/// Reads `key` as an optional RFC 3339 instant; problems are recorded on `object`.
pub(crate) fn instant(object: &mut JsonObject, key: &str) -> Option<DateTime<Utc>> {
    let text = object.optional_string(key)?;
    match DateTime::parse_from_rfc3339(&text) {
        Ok(at) => Some(at.with_timezone(&Utc)),
        Err(_) => {
            object.problem(format!("{key} must be an RFC 3339 date-time"));
            None
        }
    }
}

/// Reads `key` as an optional string of at most `max` characters without control characters.
pub(crate) fn bounded_text(object: &mut JsonObject, key: &str, max: usize) -> Option<String> {
    let text = object.optional_string(key)?;
    if text.chars().count() > max {
        object.problem(format!("{key} must be at most {max} characters"));
        return None;
    }
    if text.chars().any(char::is_control) {
        object.problem(format!("{key} must not contain control characters"));
        return None;
    }
    Some(text)
}
