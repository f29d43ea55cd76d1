//! Names of the headers a delivery carries (spec C1).
//!
//! Lusha names are written as Lusha documents them; HTTP header names are case-insensitive, so
//! look them up case-insensitively (as `http::HeaderMap` does).

/// Lowercase hex HMAC-SHA256 of `<timestamp>.<body>`, keyed with the current secret's text.
pub const SIGNATURE: &str = "X-Lusha-Signature";
/// Unix time in seconds when the attempt was sent; part of both signed messages.
pub const TIMESTAMP: &str = "X-Lusha-Timestamp";
/// The notice id, the same on every retry: receivers dedupe on it.
pub const WEBHOOK_ID: &str = "X-Lusha-Webhook-Id";
/// `1` for the first attempt, `2..` for retries.
pub const ATTEMPT: &str = "X-Lusha-Attempt";
/// `true` on test deliveries, whose contact is not real.
pub const TEST: &str = "X-Lusha-Test";
/// Like [`SIGNATURE`] but keyed with the previous secret; sent only during a rotation grace.
pub const SIGNATURE_PREVIOUS: &str = "X-Lusha-Signature-Previous";
/// Standard Webhooks message id (the notice id).
pub const STD_ID: &str = "webhook-id";
/// Standard Webhooks timestamp, Unix seconds.
pub const STD_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks signatures: space-separated `v1,<base64>` entries.
pub const STD_SIGNATURE: &str = "webhook-signature";
