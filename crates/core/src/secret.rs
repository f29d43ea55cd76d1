//! The account webhook secret.

use base64::Engine;
use rand::RngCore;
use std::fmt;

/// Number of random bytes in a secret: 256 bits, as HMAC-SHA256 keys should have.
const SECRET_BYTES: usize = 32;

/// `whsec_` + standard base64 (padded) of 32 random bytes, so that Standard Webhooks libraries
/// can use the same secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl WebhookSecret {
    /// A fresh secret from the thread's CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// Wraps a secret read back from a store.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The secret's text (to sign with or to show its owner, never to log).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An account's secrets as a delivery is signed at some instant: the current one, and the one it
/// replaced while that one's rotation grace lasts (spec C3). Plain secrets (`S` =
/// [`WebhookSecret`]) to sign with, or sealed ones ([`SealedSecret`](crate::SealedSecret)) as a
/// store keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSecrets<S = WebhookSecret> {
    /// The current secret: `X-Lusha-Signature` and the first `webhook-signature` entry.
    pub secret: S,
    /// The replaced secret, still valid: `X-Lusha-Signature-Previous` and a second
    /// `webhook-signature` entry.
    pub previous_secret: Option<S>,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_whsec_and_32_bytes_of_base64() {
        let secret = WebhookSecret::generate();
        let encoded = secret.expose().strip_prefix("whsec_").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(bytes.len(), 32);
        assert_ne!(WebhookSecret::generate(), secret);
    }

    #[test]
    fn debug_is_redacted() {
        let secret = WebhookSecret::generate();
        assert!(!format!("{secret:?}").contains(secret.expose()));
    }
}
