//! Parsing of the operator's intake items, shared by the HTTP API and the CLI importers, so a
//! line of an NDJSON file is validated exactly like the same item sent over HTTP.

use chrono::{DateTime, Utc};
use optout_core::{NewExposure, NewOptOut};
use serde_json::Value;

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
