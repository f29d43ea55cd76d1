//! ObjectId-style identifiers: 12 bytes shown as 24 lowercase hex characters, laid out as
//! MongoDB lays out its ObjectIds: the creation time in seconds (4 bytes, big-endian), a random
//! value drawn once per process (5 bytes), and a counter starting at a random value (3 bytes,
//! big-endian).
//!
//! So the ids one process makes in one second sort in the order they were made, and a database
//! index keyed by them grows at its end, as it does for sequence numbers, instead of taking
//! each new id on a random page.

use chrono::{DateTime, Utc};
use rand::{Rng, RngCore};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// The counter's bytes: it wraps at 2^24.
const COUNTER_MASK: u32 = 0x00ff_ffff;

/// This process's random value and its counter.
struct Generator {
    process: [u8; 5],
    counter: AtomicU32,
}

fn generator() -> &'static Generator {
    static GENERATOR: OnceLock<Generator> = OnceLock::new();
    GENERATOR.get_or_init(|| {
        let mut rng = rand::thread_rng();
        let mut process = [0u8; 5];
        rng.fill_bytes(&mut process);
        Generator {
            process,
            counter: AtomicU32::new(rng.gen::<u32>() & COUNTER_MASK),
        }
    })
}

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
        let generator = generator();
        bytes[4..9].copy_from_slice(&generator.process);
        let count = generator.counter.fetch_add(1, Ordering::Relaxed) & COUNTER_MASK;
        bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
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
    fn ids_of_one_second_share_the_process_value_and_count_up() {
        let at = Utc::now();
        let ids: Vec<ObjectId> = (0..1000).map(|_| ObjectId::generate(at)).collect();
        for pair in ids.windows(2) {
            assert_eq!(pair[0].0[..9], pair[1].0[..9]);
            let count = |id: &ObjectId| u32::from_be_bytes([0, id.0[9], id.0[10], id.0[11]]);
            // Other tests of this process may take a few counts in between.
            let step = count(&pair[1]).wrapping_sub(count(&pair[0])) & COUNTER_MASK;
            assert!((1..1 << 16).contains(&step), "{pair:?}");
        }
        let increasing = ids.windows(2).filter(|pair| pair[0] < pair[1]).count();
        // Only a wrap of the counter breaks the order.
        assert!(
            increasing >= ids.len() - 2,
            "{increasing} of {}",
            ids.len() - 1
        );
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
