//! ObjectId-style identifiers: 12 bytes shown as 24 lowercase hex characters, the first 4 bytes
//! being the creation time in seconds (big-endian) and the rest random.

use chrono::{DateTime, Utc};
use rand::RngCore;
use std::fmt;

/// A 12-byte identifier whose first 4 bytes are its creation second.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 12]);

impl ObjectId {
    /// A fresh id for something created at `at`.
    pub fn generate(at: DateTime<Utc>) -> Self {
        let mut bytes = [0u8; 12];
        // Seconds since the epoch fit 32 bits until 2106, as in MongoDB's ObjectId.
        let seconds = at.timestamp().clamp(0, i64::from(u32::MAX)) as u32;
        bytes[..4].copy_from_slice(&seconds.to_be_bytes());
        rand::thread_rng().fill_bytes(&mut bytes[4..]);
        Self(bytes)
    }

    /// Parses 24 hex characters (either case; shown lowercase). `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 24 {
            return None;
        }
        let mut bytes = [0u8; 12];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// The creation second encoded in the first 4 bytes.
    pub fn timestamp_seconds(&self) -> u32 {
        u32::from_be_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

/// The id of a subscription.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(ObjectId);

impl SubscriptionId {
    /// A fresh id for a subscription created at `at`.
    pub fn generate(at: DateTime<Utc>) -> Self {
        Self(ObjectId::generate(at))
    }

    /// Parses a 24-hex-character id; `None` for anything else (the API answers 404 for those).
    pub fn parse(text: &str) -> Option<Self> {
        ObjectId::parse(text).map(Self)
    }

    /// The underlying ObjectId.
    pub fn object_id(&self) -> ObjectId {
        self.0
    }
}

impl fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for SubscriptionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubscriptionId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn generated_id_starts_with_the_creation_second() {
        let at = Utc.with_ymd_and_hms(2026, 5, 19, 18, 16, 48).unwrap();
        let id = ObjectId::generate(at);
        assert_eq!(i64::from(id.timestamp_seconds()), at.timestamp());
        let text = id.to_string();
        assert_eq!(text.len(), 24);
        assert!(text
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert_eq!(&text[..8], format!("{:08x}", at.timestamp()));
    }

    #[test]
    fn two_ids_of_the_same_second_differ() {
        let at = Utc::now();
        assert_ne!(ObjectId::generate(at), ObjectId::generate(at));
    }

    #[test]
    fn parse_accepts_only_24_hex_characters() {
        assert!(SubscriptionId::parse("6a0ca910b402df368d2aff07").is_some());
        assert!(SubscriptionId::parse("6A0CA910B402DF368D2AFF07").is_some());
        assert!(SubscriptionId::parse("6a0ca910b402df368d2aff0").is_none());
        assert!(SubscriptionId::parse("6a0ca910b402df368d2aff0g").is_none());
        assert!(SubscriptionId::parse("").is_none());
    }

    #[test]
    fn parse_and_display_round_trip() {
        let id = SubscriptionId::generate(Utc::now());
        assert_eq!(SubscriptionId::parse(&id.to_string()), Some(id));
    }
}
