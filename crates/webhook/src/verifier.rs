//! [`Verifier`]: what a receiver keeps around to check deliveries.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{
    header, lusha, timestamp, verify_standard, Secret, VerifyError, DEFAULT_TOLERANCE_SECS,
};

/// Secrets, a tolerance and a clock, checked against a delivery's headers.
///
/// Headers are read through a lookup function, so any HTTP library fits and a missing header
/// comes back as [`VerifyError::MissingHeader`] naming it. The lookup gets the names in
/// [`header`]; make it case-insensitive (as `http::HeaderMap::get` is).
///
/// ```
/// use optout_webhook::{sign_lusha, header, Secret, Verifier};
///
/// let secret = Secret::new("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
/// let body = br#"{"contactId":"1"}"#;
/// let signature = sign_lusha(&secret, 1_767_225_600, body);
///
/// let verifier = Verifier::new(vec![secret]).with_clock(|| 1_767_225_610);
/// let headers = [(header::TIMESTAMP, "1767225600"), (header::SIGNATURE, signature.as_str())];
/// let lookup = |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v);
/// assert_eq!(verifier.verify_lusha(lookup, body), Ok(()));
/// ```
#[derive(Clone)]
pub struct Verifier {
    secrets: Vec<Secret>,
    tolerance_secs: i64,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl Verifier {
    /// A verifier accepting any of `secrets` (give two while a secret is being rotated), with
    /// [`DEFAULT_TOLERANCE_SECS`] and the system clock.
    pub fn new(secrets: Vec<Secret>) -> Self {
        Self {
            secrets,
            tolerance_secs: DEFAULT_TOLERANCE_SECS,
            clock: Arc::new(system_now),
        }
    }

    /// Sets how far a timestamp may lie from the clock, either way (whole seconds; the
    /// fraction is dropped).
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance_secs = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Replaces the clock, a function returning the current Unix time in seconds (for tests).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Verifies a Lusha-signed delivery: needs [`header::TIMESTAMP`] and [`header::SIGNATURE`].
    ///
    /// If [`header::SIGNATURE_PREVIOUS`] is present it is accepted too, so a receiver still
    /// holding the old secret keeps working during the sender's rotation grace period.
    pub fn verify_lusha<'h>(
        &self,
        headers: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        let signature = require(&headers, header::SIGNATURE)?;
        let timestamp_header = require(&headers, header::TIMESTAMP)?;
        timestamp::check(timestamp_header, (self.clock)(), self.tolerance_secs)?;
        match headers(header::SIGNATURE_PREVIOUS) {
            Some(previous) => lusha::matches_any(
                &self.secrets,
                timestamp_header,
                &[signature, previous],
                body,
            ),
            None => lusha::matches_any(&self.secrets, timestamp_header, &[signature], body),
        }
    }

    /// Verifies a Standard Webhooks delivery: needs [`header::STD_ID`],
    /// [`header::STD_TIMESTAMP`] and [`header::STD_SIGNATURE`].
    pub fn verify_standard<'h>(
        &self,
        headers: impl Fn(&str) -> Option<&'h str>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        let msg_id = require(&headers, header::STD_ID)?;
        let timestamp_header = require(&headers, header::STD_TIMESTAMP)?;
        let signature = require(&headers, header::STD_SIGNATURE)?;
        verify_standard(
            &self.secrets,
            msg_id,
            timestamp_header,
            signature,
            body,
            (self.clock)(),
            self.tolerance_secs,
        )
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Secret`'s own Debug redacts; the clock is an opaque closure.
        f.debug_struct("Verifier")
            .field("secrets", &self.secrets)
            .field("tolerance_secs", &self.tolerance_secs)
            .finish_non_exhaustive()
    }
}

fn require<'h>(
    headers: &impl Fn(&str) -> Option<&'h str>,
    name: &'static str,
) -> Result<&'h str, VerifyError> {
    headers(name).ok_or(VerifyError::MissingHeader(name))
}

fn system_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
