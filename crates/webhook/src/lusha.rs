//! The Lusha scheme: `X-Lusha-Signature` = hex HMAC-SHA256(secret text, `<timestamp>.<body>`).

use std::fmt::Display;

use hmac::Mac as _;
use subtle::{Choice, ConstantTimeEq as _};

use crate::mac::{self, TAG_LEN};
use crate::{timestamp, Secret, VerifyError};

/// Signs a body for the `X-Lusha-Signature` header: lowercase hex HMAC-SHA256 keyed with the
/// secret's full text (`whsec_` included) over `<timestamp>.<body>`.
///
/// `timestamp` is the value sent in `X-Lusha-Timestamp`. Nothing is allocated but the result.
pub fn sign_lusha(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    hex::encode(tag(secret, timestamp, body))
}

/// Verifies the `X-Lusha-Timestamp` and `X-Lusha-Signature` header values of a delivery.
///
/// Passes if the timestamp is within `tolerance_secs` of `now_unix` (either way) and the
/// signature matches any of `secrets` (several during a rotation). The comparison is constant
/// time. An empty `secrets` never passes.
pub fn verify_lusha(
    secrets: &[Secret],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    timestamp::check(timestamp_header, now_unix, tolerance_secs)?;
    matches_any(secrets, timestamp_header, &[signature_header], body)
}

/// Whether any of `signatures` is the tag of `body` under any of `secrets`.
///
/// Every secret is tried even after a match, so timing does not tell which one matched.
pub(crate) fn matches_any(
    secrets: &[Secret],
    timestamp_header: &str,
    signatures: &[&str],
    body: &[u8],
) -> Result<(), VerifyError> {
    let mut matched = Choice::from(0);
    for secret in secrets {
        let expected = tag(secret, timestamp_header, body);
        for signature in signatures {
            let mut given = [0u8; TAG_LEN];
            // Malformed hex cannot match; rejecting it early reveals nothing about the secret.
            if hex::decode_to_slice(signature, &mut given).is_ok() {
                matched |= expected.ct_eq(&given);
            }
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

fn tag(secret: &Secret, timestamp: impl Display, body: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = mac::keyed(secret.as_str().as_bytes());
    mac::update_display(&mut mac, timestamp);
    mac.update(b".");
    mac.update(body);
    mac::finish(mac)
}
