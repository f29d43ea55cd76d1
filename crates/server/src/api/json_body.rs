//! Reading JSON request bodies: content type, size limit, syntax, then field by field.
//!
//! Bodies are not deserialised straight into structs: serde stops at the first problem, and the
//! contract lists every validation problem at once. [`JsonObject`] reads one field at a time and
//! collects what is wrong, including fields that should not be there.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Map, Value};
use std::time::Duration;

use super::error::ApiError;
use super::state::AppState;

/// Largest accepted request body (spec: over 1 MiB gets 413).
pub(crate) const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Largest body of the operator's bulk endpoints (exposures, opt-outs). Larger imports go
/// through several requests or the CLI, which streams.
pub(crate) const MAX_BULK_BODY_BYTES: usize = 64 * 1024 * 1024;

/// A request body that is a JSON object, read field by field.
#[derive(Debug)]
pub(crate) struct JsonObject {
    fields: Map<String, Value>,
    errors: Vec<String>,
}

impl FromRequest<AppState> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let value = read_json(request, state.config.body_timeout).await?;
        match value {
            Value::Object(fields) => Ok(Self {
                fields,
                errors: Vec::new(),
            }),
            _ => Err(ApiError::Validation(vec![
                "body must be a JSON object".to_owned()
            ])),
        }
    }
}

/// Checks the content type and size, then parses the body as JSON.
pub(crate) async fn read_json(request: Request, timeout: Duration) -> Result<Value, ApiError> {
    if content_type(&request) != Some(BodyFormat::Json) {
        return Err(ApiError::UnsupportedContentType);
    }
    let declared = declared_length(&request);
    let bytes = read_limited(request.into_body(), declared, MAX_BODY_BYTES, timeout).await?;
    parse_json(&bytes)
}

/// Parses one JSON document no deeper than [`MAX_NESTING`].
fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    check_nesting(bytes)?;
    serde_json::from_slice(bytes).map_err(|error| ApiError::MalformedJson(error.to_string()))
}

/// A bulk body: its items, and the raw bytes (to fingerprint for idempotency).
#[derive(Debug)]
pub(crate) struct BulkBody {
    /// The items: the elements of a JSON array, the lines of NDJSON, or the one object.
    pub items: Vec<Value>,
    /// Whether the body was a single object rather than an array or NDJSON.
    pub single: bool,
    /// The raw body.
    pub raw: bytes::Bytes,
}

impl FromRequest<AppState> for BulkBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let format = content_type(&request).ok_or(ApiError::UnsupportedContentType)?;
        let declared = declared_length(&request);
        let raw = read_limited(
            request.into_body(),
            declared,
            MAX_BULK_BODY_BYTES,
            state.config.body_timeout,
        )
        .await?;
        let (items, single) = bulk_items(&raw, format == BodyFormat::Ndjson)?;
        Ok(Self { items, single, raw })
    }
}

/// The items of a bulk body: the elements of a JSON array, the one object (then `true`), or the
/// lines of NDJSON.
pub(crate) fn bulk_items(raw: &[u8], ndjson: bool) -> Result<(Vec<Value>, bool), ApiError> {
    if ndjson {
        return Ok((parse_ndjson(raw)?, false));
    }
    Ok(match parse_json(raw)? {
        Value::Array(items) => (items, false),
        value => (vec![value], true),
    })
}

/// Parses newline-delimited JSON, skipping blank lines; errors name the line.
fn parse_ndjson(raw: &[u8]) -> Result<Vec<Value>, ApiError> {
    raw.split(|byte| *byte == b'\n')
        .enumerate()
        .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
        .map(|(number, line)| {
            parse_json(line).map_err(|error| match error {
                ApiError::MalformedJson(detail) => {
                    ApiError::MalformedJson(format!("line {}: {detail}", number + 1))
                }
                other => other,
            })
        })
        .collect()
}

/// The `Content-Length` the client declared, if any.
fn declared_length(request: &Request) -> Option<u64> {
    request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
}

/// Reads at most `limit` bytes within `timeout`; a larger declared or actual body is a 413, a
/// body still arriving when the time is up (slow-loris) a 408.
async fn read_limited(
    body: Body,
    declared: Option<u64>,
    limit: usize,
    timeout: Duration,
) -> Result<bytes::Bytes, ApiError> {
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(ApiError::PayloadTooLarge),
        Err(_) => Err(ApiError::BodyTimeout),
    }
}

/// Deepest nesting of arrays and objects a body may have. The API's bodies are two or three
/// levels deep; a limit well below serde_json's own keeps hostile bodies cheap to refuse.
pub(crate) const MAX_NESTING: usize = 32;

/// Refuses a document nested deeper than [`MAX_NESTING`], before it is parsed. Brackets inside
/// strings do not count; malformed documents are left for the parser to report.
fn check_nesting(bytes: &[u8]) -> Result<(), ApiError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ApiError::MalformedJson(format!(
                        "JSON is nested deeper than {MAX_NESTING} levels"
                    )));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// The body formats the API reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyFormat {
    Json,
    Ndjson,
}

fn content_type(request: &Request) -> Option<BodyFormat> {
    let value = request.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Some(BodyFormat::Json)
    } else if essence.eq_ignore_ascii_case("application/x-ndjson") {
        Some(BodyFormat::Ndjson)
    } else {
        None
    }
}

impl JsonObject {
    /// Reads one item of a bulk body; problems are prefixed with the item's index.
    pub(crate) fn item(value: Value, index: usize) -> Result<Self, String> {
        match value {
            Value::Object(fields) => Ok(Self {
                fields,
                errors: Vec::new(),
            }),
            _ => Err(format!("[{index}] must be a JSON object")),
        }
    }

    /// Takes an optional raw field (`null` counts as absent), for nested structures.
    pub(crate) fn optional_value(&mut self, key: &str) -> Option<Value> {
        match self.fields.remove(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(value),
        }
    }

    /// Ends reading an item: its problems, each prefixed with `[index] `.
    pub(crate) fn finish_item(self, index: usize) -> Vec<String> {
        match self.finish() {
            Ok(()) => Vec::new(),
            Err(ApiError::Validation(errors)) => errors
                .into_iter()
                .map(|error| format!("[{index}] {error}"))
                .collect(),
            Err(_) => vec![format!("[{index}] is invalid")],
        }
    }

    /// A required string field; records a problem if missing or not a string.
    pub(crate) fn required_string(&mut self, key: &str) -> Option<String> {
        match self.fields.remove(key) {
            None | Some(Value::Null) => {
                self.errors.push(format!("{key} is required"));
                None
            }
            Some(value) => self.string_value(key, value),
        }
    }

    /// An optional string field (`null` counts as absent).
    pub(crate) fn optional_string(&mut self, key: &str) -> Option<String> {
        match self.fields.remove(key) {
            None | Some(Value::Null) => None,
            Some(value) => self.string_value(key, value),
        }
    }

    /// An optional boolean field (`null` counts as absent).
    pub(crate) fn optional_bool(&mut self, key: &str) -> Option<bool> {
        match self.fields.remove(key) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(flag)) => Some(flag),
            Some(_) => {
                self.errors.push(format!("{key} must be a boolean"));
                None
            }
        }
    }

    /// An optional array of strings (`null` counts as absent).
    pub(crate) fn optional_string_array(&mut self, key: &str) -> Option<Vec<String>> {
        match self.fields.remove(key) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let strings: Option<Vec<String>> = items
                    .into_iter()
                    .map(|item| match item {
                        Value::String(text) => Some(text),
                        _ => None,
                    })
                    .collect();
                if strings.is_none() {
                    self.errors
                        .push(format!("{key} must be an array of strings"));
                }
                strings
            }
            Some(_) => {
                self.errors
                    .push(format!("{key} must be an array of strings"));
                None
            }
        }
    }

    /// A required array of strings.
    pub(crate) fn required_string_array(&mut self, key: &str) -> Option<Vec<String>> {
        if !self.fields.contains_key(key) || self.fields.get(key) == Some(&Value::Null) {
            self.fields.remove(key);
            self.errors.push(format!("{key} is required"));
            return None;
        }
        self.optional_string_array(key)
    }

    /// Records a problem found while checking a value.
    pub(crate) fn problem(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// Records several problems.
    pub(crate) fn problems(&mut self, messages: impl IntoIterator<Item = String>) {
        self.errors.extend(messages);
    }

    /// Ends reading: fields nobody asked for are problems too. `Err` lists every problem.
    pub(crate) fn finish(mut self) -> Result<(), ApiError> {
        let mut unknown: Vec<&String> = self.fields.keys().collect();
        unknown.sort();
        let unknown: Vec<String> = unknown
            .into_iter()
            .map(|key| format!("property {key} should not exist"))
            .collect();
        self.errors.extend(unknown);
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }

    fn string_value(&mut self, key: &str, value: Value) -> Option<String> {
        match value {
            Value::String(text) => Some(text),
            _ => {
                self.errors.push(format!("{key} must be a string"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        format!("{}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn nesting_up_to_the_limit_passes() {
        assert!(check_nesting(nested(MAX_NESTING).as_bytes()).is_ok());
        assert!(parse_json(br#"{"a":[{"b":{"c":[1,2]}}]}"#).is_ok());
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused_before_parsing() {
        let error = parse_json(nested(MAX_NESTING + 1).as_bytes()).unwrap_err();
        let ApiError::MalformedJson(detail) = error else {
            panic!("expected malformed JSON, got {error:?}");
        };
        assert!(detail.contains("nested deeper than 32"), "{detail}");
        // Unbalanced openers are refused too, however long.
        assert!(check_nesting("[".repeat(100_000).as_bytes()).is_err());
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let inside = format!(r#"{{"name":"{}\"{}"}}"#, "[".repeat(100), "{".repeat(100));
        assert!(check_nesting(inside.as_bytes()).is_ok());
        assert!(parse_json(inside.as_bytes()).is_ok());
    }
}
