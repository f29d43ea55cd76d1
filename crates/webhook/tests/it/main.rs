//! Integration tests for `optout-webhook`: one binary, one module per concern.

mod lusha;
mod payload;
mod standard;
mod vectors;
mod verifier;

/// The shared spec folder sits beside the repository root.
pub const SPEC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/spec");

/// A secret in the issued format (`whsec_` + base64 of 32 bytes).
pub const SECRET: &str = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// Another valid secret, for wrong-secret and rotation tests.
pub const OTHER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A fixed "now" for every test.
pub const NOW: i64 = 1_767_225_600;
/// A notice body.
pub const BODY: &[u8] = br#"{"contactId":"1","fullName":"A B","contactOptOutDate":"2026-01-01 00:00:00.000","contactExposureDate":"2025-01-01 00:00:00","datapoints":[],"partnerClientId":null}"#;
