//! Datapoint evidence: what the compliance record keeps of a notice's datapoints once its body is
//! purged.
//!
//! When a delivered notice's body passes its retention, the body (names, emails, phones) is
//! deleted, and for each datapoint it carried the service keeps a salted SHA-256, with one random
//! 16-byte salt per notice stored beside the hashes:
//!
//! ```text
//! sha256 = lowercase_hex(SHA-256(salt_bytes || "<type>:<value>"))
//! ```
//!
//! where `salt_bytes` are the 16 bytes whose lowercase hex is the stored `salt`, `<type>` is the
//! wire type (`email` or `phone`) and `<value>` is the `datapointId` exactly as it was sent
//! (UTF-8, no normalisation). An operator asked "was jane.doe@acme.com told to account X?" hex
//! decodes the salt and recomputes the hash of `email:jane.doe@acme.com`; a match proves it was,
//! while the record alone does not reveal the address.
//!
//! Design decision a newcomer may question: the salt is per notice, not global. A global salt
//! would let anyone holding the database link the same email across notices and accounts, and
//! one brute-force pass over candidate emails would open every record; per-notice salts force a
//! candidate to be tested notice by notice, which is what a compliance question asks anyway.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

use crate::DatapointKind;

/// Length of a notice's salt, in bytes.
pub const SALT_LEN: usize = 16;

/// The random salt of one notice's evidence.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EvidenceSalt([u8; SALT_LEN]);

impl EvidenceSalt {
    /// A fresh random salt.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SALT_LEN];
        rand::thread_rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A salt with these bytes.
    pub fn from_bytes(bytes: [u8; SALT_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses 32 lowercase hex characters.
    pub fn parse(text: &str) -> Option<Self> {
        if !is_lower_hex(text, SALT_LEN * 2) {
            return None;
        }
        let mut bytes = [0u8; SALT_LEN];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// The salt's bytes.
    pub fn as_bytes(&self) -> &[u8; SALT_LEN] {
        &self.0
    }

    /// The salt as 32 lowercase hex characters, as stored and shown.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for EvidenceSalt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EvidenceSalt({})", self.to_hex())
    }
}

/// The salted hash of one datapoint of a purged notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatapointHash {
    /// Email or phone.
    pub kind: DatapointKind,
    /// `SHA-256(salt || "<type>:<value>")`, 64 lowercase hex characters.
    pub sha256: String,
}

/// What the compliance record keeps of a notice's datapoints after its body is purged: the salt
/// and one hash per datapoint, in the order the body listed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatapointEvidence {
    /// The notice's salt.
    pub salt: EvidenceSalt,
    /// One hash per datapoint.
    pub hashes: Vec<DatapointHash>,
}

/// Why evidence could not be computed or read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// The notice body is not a notice (the message names the JSON problem, never a value).
    #[error("the notice body does not parse: {0}")]
    Payload(String),
    /// Stored evidence is not in the documented form.
    #[error("stored evidence is malformed")]
    Malformed,
}

/// The salted hash of one datapoint (see the module doc for the formula).
pub fn datapoint_hash(salt: &EvidenceSalt, kind: DatapointKind, value: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(kind.as_str().as_bytes());
    hasher.update(b":");
    hasher.update(value.as_bytes());
    hex::encode(hasher.finalize())
}

/// The evidence of a frozen notice body under `salt`: one hash per datapoint it lists.
pub fn evidence_of(payload: &[u8], salt: EvidenceSalt) -> Result<DatapointEvidence, EvidenceError> {
    let notice = optout_webhook::OptOutNotice::from_json_slice(payload)
        // Only the error's class and position: serde_json's message may quote the content.
        .map_err(|error| {
            EvidenceError::Payload(format!(
                "{:?} error at line {} column {}",
                error.classify(),
                error.line(),
                error.column()
            ))
        })?;
    let hashes = notice
        .datapoints
        .iter()
        .map(|datapoint| {
            let kind = match datapoint.datapoint_type {
                optout_webhook::DatapointType::Email => DatapointKind::Email,
                optout_webhook::DatapointType::Phone => DatapointKind::Phone,
            };
            DatapointHash {
                kind,
                sha256: datapoint_hash(&salt, kind, &datapoint.datapoint_id),
            }
        })
        .collect();
    Ok(DatapointEvidence { salt, hashes })
}

/// The stored JSON form: `{"salt":"<hex>","hashes":[{"type":"email","sha256":"<hex>"}]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EvidenceJson {
    salt: String,
    hashes: Vec<HashJson>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HashJson {
    #[serde(rename = "type")]
    kind: String,
    sha256: String,
}

impl DatapointEvidence {
    /// The stored JSON text:
    /// `{"salt":"<hex>","hashes":[{"type":"email","sha256":"<hex>"},...]}`.
    pub fn to_json(&self) -> String {
        let json = EvidenceJson {
            salt: self.salt.to_hex(),
            hashes: self
                .hashes
                .iter()
                .map(|hash| HashJson {
                    kind: hash.kind.as_str().to_owned(),
                    sha256: hash.sha256.clone(),
                })
                .collect(),
        };
        // Plain strings only: serde_json cannot fail on this type.
        serde_json::to_string(&json).expect("evidence always serialises")
    }

    /// Reads stored JSON text back, checking every field's form.
    pub fn from_json(text: &str) -> Result<Self, EvidenceError> {
        let json: EvidenceJson =
            serde_json::from_str(text).map_err(|_| EvidenceError::Malformed)?;
        let salt = EvidenceSalt::parse(&json.salt).ok_or(EvidenceError::Malformed)?;
        let hashes = json
            .hashes
            .into_iter()
            .map(|hash| {
                let kind = DatapointKind::parse(&hash.kind).ok_or(EvidenceError::Malformed)?;
                if !is_lower_hex(&hash.sha256, 64) {
                    return Err(EvidenceError::Malformed);
                }
                Ok(DatapointHash {
                    kind,
                    sha256: hash.sha256,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { salt, hashes })
    }
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"contactId":"987654321","fullName":"Jane Doe","contactOptOutDate":"2026-04-22 14:32:11.412","contactExposureDate":"2025-08-03 09:15:47","datapoints":[{"datapointId":"jane.doe@acme.com","datapointType":"email"},{"datapointId":"+14155550199","datapointType":"phone"}],"partnerClientId":null}"#;

    fn salt() -> EvidenceSalt {
        EvidenceSalt::from_bytes(*b"0123456789abcdef")
    }

    #[test]
    fn the_hash_is_sha256_of_salt_then_type_colon_value() {
        let mut input = b"0123456789abcdef".to_vec();
        input.extend_from_slice(b"email:jane.doe@acme.com");
        assert_eq!(
            datapoint_hash(&salt(), DatapointKind::Email, "jane.doe@acme.com"),
            hex::encode(Sha256::digest(&input))
        );
    }

    #[test]
    fn the_hash_of_a_known_input_is_fixed() {
        // Computed independently: printf '0123456789abcdefemail:jane.doe@acme.com' | sha256sum
        assert_eq!(
            datapoint_hash(&salt(), DatapointKind::Email, "jane.doe@acme.com"),
            "96d64415bd7f0ee402759c244d6694bcf6926f68f1765c7761877bfaa6a97e5e"
        );
    }

    #[test]
    fn evidence_has_one_hash_per_datapoint_in_body_order() {
        let evidence = evidence_of(BODY.as_bytes(), salt()).unwrap();
        assert_eq!(evidence.salt, salt());
        assert_eq!(
            evidence.hashes,
            vec![
                DatapointHash {
                    kind: DatapointKind::Email,
                    sha256: datapoint_hash(&salt(), DatapointKind::Email, "jane.doe@acme.com"),
                },
                DatapointHash {
                    kind: DatapointKind::Phone,
                    sha256: datapoint_hash(&salt(), DatapointKind::Phone, "+14155550199"),
                },
            ]
        );
    }

    #[test]
    fn the_type_is_part_of_the_hash_and_so_is_the_salt() {
        let email = datapoint_hash(&salt(), DatapointKind::Email, "+14155550199");
        let phone = datapoint_hash(&salt(), DatapointKind::Phone, "+14155550199");
        let other_salt = datapoint_hash(
            &EvidenceSalt::from_bytes([7; SALT_LEN]),
            DatapointKind::Phone,
            "+14155550199",
        );
        assert_ne!(email, phone);
        assert_ne!(phone, other_salt);
    }

    #[test]
    fn a_body_that_is_not_a_notice_gives_no_evidence_and_the_error_holds_no_value() {
        let error = evidence_of(b"{\"datapoints\":\"jane@x.io\"", salt()).unwrap_err();
        assert!(matches!(error, EvidenceError::Payload(_)));
        assert!(!error.to_string().contains("jane"));
        assert!(evidence_of(b"", salt()).is_err());
    }

    #[test]
    fn stored_json_has_the_documented_shape_and_reads_back() {
        let evidence = evidence_of(BODY.as_bytes(), salt()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&evidence.to_json()).unwrap();
        assert_eq!(json["salt"], "30313233343536373839616263646566");
        assert_eq!(json["hashes"][0]["type"], "email");
        assert_eq!(json["hashes"][1]["type"], "phone");
        assert_eq!(json["hashes"][0]["sha256"], evidence.hashes[0].sha256);
        assert_eq!(
            DatapointEvidence::from_json(&evidence.to_json()).unwrap(),
            evidence
        );
    }

    #[test]
    fn malformed_stored_json_is_refused() {
        for text in [
            "",
            r#"{"salt":"00","hashes":[]}"#,
            r#"{"salt":"30313233343536373839616263646566","hashes":[{"type":"fax","sha256":"00"}]}"#,
            r#"{"salt":"30313233343536373839616263646566","hashes":[{"type":"email","sha256":"AB"}]}"#,
        ] {
            assert!(DatapointEvidence::from_json(text).is_err(), "{text}");
        }
    }

    #[test]
    fn fresh_salts_differ() {
        assert_ne!(EvidenceSalt::generate(), EvidenceSalt::generate());
    }
}
