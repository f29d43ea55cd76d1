//! Parsing of the operator's intake items, shared by the HTTP API and the CLI importers, so a
//! line of an NDJSON file is validated exactly like the same item sent over HTTP.

use chrono::{DateTime, Utc};
use optout_core::{NewExposure, NewOptOut};
use serde_json::Value;

/// Splits a bulk body into items exactly as `POST /admin/exposures` and `POST /admin/opt-outs`
/// do: a JSON array, one JSON object, or NDJSON lines, none nested deeper than 32 levels. `Err`
/// is the problem the API answers 400 with.
pub fn bulk_items(raw: &[u8], ndjson: bool) -> Result<Vec<Value>, String> {
    crate::api::bulk_items(raw, ndjson)
        .map(|(items, _single)| items)
        .map_err(|error| error.describe())
}

/// Parses one exposure item; `Err` lists its problems, each prefixed with `[index]`.
/// `now` is the default `exposedAt`.
pub fn parse_exposure(
    value: Value,
    index: usize,
    now: DateTime<Utc>,
) -> Result<NewExposure, Vec<String>> {
    crate::api::parse_exposure_item(value, index, now)
}

/// Parses one opt-out item; `Err` lists its problems, each prefixed with `[index]`.
/// `recorded_at` is the default `optedOutAt` and the instant its id is made from.
pub fn parse_opt_out(
    value: Value,
    index: usize,
    recorded_at: DateTime<Utc>,
) -> Result<NewOptOut, Vec<String>> {
    crate::api::parse_opt_out_item(value, index, recorded_at)
}
