//! Every line of the shared signature vectors must sign and verify.

use optout_webhook::{
    sign_lusha, sign_standard, verify_lusha, verify_standard, Secret, DEFAULT_TOLERANCE_SECS,
};
use serde::Deserialize;

use crate::SPEC_DIR;

/// One line of `signature-vectors.jsonl`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vector {
    scheme: String,
    secret: String,
    timestamp: String,
    pub body: String,
    signature: String,
    webhook_id: Option<String>,
}

/// Every vector in the shared file, in order.
pub fn load() -> Vec<Vector> {
    let path = format!("{SPEC_DIR}/signature-vectors.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("vector {}: {e}", i + 1))
        })
        .collect()
}

#[test]
fn every_signature_vector_signs_and_verifies() {
    let vectors = load();
    let (mut lusha, mut standard) = (0, 0);
    for (i, v) in vectors.iter().enumerate() {
        let n = i + 1;
        let secret = Secret::new(v.secret.as_str());
        let ts: i64 = v.timestamp.parse().unwrap();
        let body = v.body.as_bytes();
        match v.scheme.as_str() {
            "lusha" => {
                lusha += 1;
                assert_eq!(sign_lusha(&secret, ts, body), v.signature, "vector {n}");
                let verified = verify_lusha(
                    &[secret],
                    &v.timestamp,
                    &v.signature,
                    body,
                    ts,
                    DEFAULT_TOLERANCE_SECS,
                );
                assert_eq!(verified, Ok(()), "vector {n}");
            }
            "standard-webhooks" => {
                standard += 1;
                let id = v
                    .webhook_id
                    .as_deref()
                    .expect("standard vector has webhookId");
                assert_eq!(
                    sign_standard(&secret, id, ts, body),
                    Ok(v.signature.clone()),
                    "vector {n}"
                );
                let verified = verify_standard(
                    &[secret],
                    id,
                    &v.timestamp,
                    &v.signature,
                    body,
                    ts,
                    DEFAULT_TOLERANCE_SECS,
                );
                assert_eq!(verified, Ok(()), "vector {n}");
            }
            other => panic!("vector {n}: unknown scheme {other:?}; teach the tests about it"),
        }
    }
    assert!(
        lusha > 0 && standard > 0,
        "both schemes must have vectors ({lusha}, {standard})"
    );
}

#[test]
fn every_vector_fails_against_a_flipped_body_byte() {
    for (i, v) in load().iter().enumerate() {
        let mut body = v.body.clone().into_bytes();
        body[0] ^= 1;
        let secret = [Secret::new(v.secret.as_str())];
        let ts: i64 = v.timestamp.parse().unwrap();
        let verified = match v.webhook_id.as_deref() {
            Some(id) if v.scheme == "standard-webhooks" => {
                verify_standard(&secret, id, &v.timestamp, &v.signature, &body, ts, 300)
            }
            _ => verify_lusha(&secret, &v.timestamp, &v.signature, &body, ts, 300),
        };
        assert!(
            verified.is_err(),
            "vector {} accepted a tampered body",
            i + 1
        );
    }
}
