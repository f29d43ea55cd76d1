//! The account's webhook secret.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// Prefix of issued secrets; Standard Webhooks decodes only what follows it.
const PREFIX: &str = "whsec_";

/// An account's webhook secret, e.g. `whsec_<base64 of 32 random bytes>`.
///
/// `Debug` prints `Secret(<redacted>)` so that a secret never reaches a log by accident.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret string exactly as issued, `whsec_` prefix included.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret's full text; the Lusha scheme uses these bytes as its HMAC key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Standard Webhooks key: the base64 after `whsec_` (or the whole text if there is no
    /// prefix, as Standard Webhooks libraries do), decoded; `None` if that is not base64.
    pub(crate) fn standard_key(&self) -> Option<Vec<u8>> {
        let encoded = self.0.strip_prefix(PREFIX).unwrap_or(&self.0);
        STANDARD.decode(encoded).ok()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}
