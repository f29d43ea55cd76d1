//! Account API keys: a recognisable prefix, random body and checksum; stored only as a hash.
//!
//! Format: `oor_` + 32 random base62 characters + 6 base62 checksum characters. The prefix lets
//! secret scanners recognise a leaked key; the checksum lets the server refuse a mistyped key
//! without a database lookup.

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::ids::ObjectId;

const PREFIX: &str = "oor_";
const RANDOM_CHARS: usize = 32;
const CHECKSUM_CHARS: usize = 6;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A plain-text API key, as shown once to the operator.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A fresh key from the thread's CSPRNG.
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let body: String = (0..RANDOM_CHARS)
            .map(|_| char::from(BASE62[rng.gen_range(0..BASE62.len())]))
            .collect();
        let checksum = checksum(&body);
        Self(format!("{PREFIX}{body}{checksum}"))
    }

    /// Accepts a presented key if its prefix, length, alphabet and checksum are right.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(PREFIX)?;
        if rest.len() != RANDOM_CHARS + CHECKSUM_CHARS || !rest.bytes().all(|b| BASE62.contains(&b))
        {
            return None;
        }
        let (body, sum) = rest.split_at(RANDOM_CHARS);
        (checksum(body) == sum).then(|| Self(text.to_owned()))
    }

    /// The key's text (to show once, never to log).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash under which the key is stored and looked up.
    pub fn hash(&self) -> ApiKeyHash {
        ApiKeyHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Six base62 characters of the SHA-256 of the random body.
fn checksum(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let mut value = u64::from(u32::from_be_bytes([
        digest[0], digest[1], digest[2], digest[3],
    ]));
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Lowercase hex SHA-256 of a key: what the store keeps instead of the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyHash(String);

impl ApiKeyHash {
    /// Wraps a hash read back from a store.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hash as lowercase hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The public id of an API key, used to revoke it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyId(ObjectId);

impl ApiKeyId {
    /// A fresh key id.
    pub fn generate(at: DateTime<Utc>) -> Self {
        Self(ObjectId::generate(at))
    }

    /// Parses a 24-hex-character id.
    pub fn parse(text: &str) -> Option<Self> {
        ObjectId::parse(text).map(Self)
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyId({self})")
    }
}

/// A key to store: its id and hash, never its text.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// The key's public id.
    pub id: ApiKeyId,
    /// The hash of the key.
    pub hash: ApiKeyHash,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
}

impl NewApiKey {
    /// Generates a key; returns the plain key (to show once) and what to store.
    pub fn generate(at: DateTime<Utc>) -> (ApiKey, Self) {
        let key = ApiKey::generate();
        let stored = Self {
            id: ApiKeyId::generate(at),
            hash: key.hash(),
            created_at: at,
        };
        (key, stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_parses_and_has_the_prefix() {
        let key = ApiKey::generate();
        assert!(key.expose().starts_with("oor_"));
        assert_eq!(key.expose().len(), 4 + 32 + 6);
        assert_eq!(ApiKey::parse(key.expose()), Some(key));
    }

    #[test]
    fn a_mistyped_key_fails_the_checksum() {
        let key = ApiKey::generate();
        let mut text = key.expose().to_owned();
        let replacement = if text.as_bytes()[10] == b'a' {
            "b"
        } else {
            "a"
        };
        text.replace_range(10..11, replacement);
        assert_eq!(ApiKey::parse(&text), None);
    }

    #[test]
    fn other_strings_are_not_keys() {
        assert_eq!(ApiKey::parse(""), None);
        assert_eq!(ApiKey::parse("oor_"), None);
        assert_eq!(
            ApiKey::parse("abc_0123456789012345678901234567890123456"),
            None
        );
    }

    #[test]
    fn hash_is_sha256_hex_and_debug_is_redacted() {
        let key = ApiKey::generate();
        assert_eq!(key.hash().as_str().len(), 64);
        assert_ne!(key.hash().as_str(), key.expose());
        assert!(!format!("{key:?}").contains(key.expose()));
    }
}
