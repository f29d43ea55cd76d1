//! The two errors of this crate: one for signing, one for verifying.

use std::fmt;

/// Why a delivery failed verification.
///
/// Receivers should answer every variant with a 4xx and log it; none of them says anything about
/// the secret, so the variant may also be logged verbatim.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// A required header is absent; carries its name, e.g. `"X-Lusha-Signature"`.
    MissingHeader(&'static str),
    /// The timestamp header is not a non-negative decimal Unix time in seconds.
    BadTimestamp,
    /// The timestamp is further in the past than the tolerance (a replay or a stale retry).
    TooOld,
    /// The timestamp is further in the future than the tolerance (clock skew or forgery).
    TooNew,
    /// No signature matches any of the secrets.
    Mismatch,
    /// A secret is unusable for the scheme (Standard Webhooks: not base64 after `whsec_`).
    BadSecret,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHeader(name) => write!(f, "missing header {name}"),
            Self::BadTimestamp => f.write_str("timestamp is not a Unix time in seconds"),
            Self::TooOld => f.write_str("timestamp is too old"),
            Self::TooNew => f.write_str("timestamp is too far in the future"),
            Self::Mismatch => f.write_str("no signature matches"),
            Self::BadSecret => f.write_str("secret is not valid base64 after the whsec_ prefix"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// Why a delivery could not be signed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignError {
    /// The secret is unusable for the scheme (Standard Webhooks: not base64 after `whsec_`).
    BadSecret,
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadSecret => f.write_str("secret is not valid base64 after the whsec_ prefix"),
        }
    }
}

impl std::error::Error for SignError {}
