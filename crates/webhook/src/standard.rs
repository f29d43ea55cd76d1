//! The Standard Webhooks scheme: `webhook-signature` = `v1,` + base64 HMAC-SHA256(decoded
//! secret, `<id>.<timestamp>.<body>`).

use std::fmt::Display;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::Mac as _;
use subtle::{Choice, ConstantTimeEq as _};

use crate::mac::{self, TAG_LEN};
use crate::{timestamp, Secret, SignError, VerifyError};

/// The only signature version Standard Webhooks defines for symmetric keys.
const VERSION: &str = "v1";

/// Signs a body for the `webhook-signature` header: `v1,<base64>` of HMAC-SHA256 keyed with the
/// base64-decoded part of the secret after `whsec_`, over `<msg_id>.<timestamp>.<body>`.
///
/// Fails with [`SignError::BadSecret`] if that part is not standard (padded) base64.
pub fn sign_standard(
    secret: &Secret,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignError> {
    let key = secret.standard_key().ok_or(SignError::BadSecret)?;
    let tag = tag(&key, msg_id, timestamp, body);
    let mut header = String::with_capacity(VERSION.len() + 1 + TAG_LEN.div_ceil(3) * 4);
    header.push_str(VERSION);
    header.push(',');
    STANDARD.encode_string(tag, &mut header);
    Ok(header)
}

/// Verifies the `webhook-id`, `webhook-timestamp` and `webhook-signature` header values.
///
/// The signature header may carry several space-separated entries; entries of another version
/// than `v1` are ignored, and any `v1` entry matching any of `secrets` passes (constant-time
/// comparison). Secrets are checked first, so a misconfigured receiver gets
/// [`VerifyError::BadSecret`] on every request rather than only on well-formed ones.
pub fn verify_standard(
    secrets: &[Secret],
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let keys = secrets
        .iter()
        .map(|secret| secret.standard_key().ok_or(VerifyError::BadSecret))
        .collect::<Result<Vec<_>, _>>()?;
    timestamp::check(timestamp_header, now_unix, tolerance_secs)?;

    let mut matched = Choice::from(0);
    for key in &keys {
        let expected = tag(key, msg_id, timestamp_header, body);
        for entry in signature_header.split_ascii_whitespace() {
            let Some((VERSION, encoded)) = entry.split_once(',') else {
                continue;
            };
            let mut given = [0u8; TAG_LEN];
            // Anything that does not decode to exactly one tag cannot match.
            if matches!(STANDARD.decode_slice(encoded, &mut given), Ok(TAG_LEN)) {
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

fn tag(key: &[u8], msg_id: &str, timestamp: impl Display, body: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = mac::keyed(key);
    mac.update(msg_id.as_bytes());
    mac.update(b".");
    mac::update_display(&mut mac, timestamp);
    mac.update(b".");
    mac.update(body);
    mac::finish(mac)
}
