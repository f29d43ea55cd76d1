//! The Standard Webhooks scheme through the free functions.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use optout_webhook::{
    sign_standard, verify_standard, Secret, SignError, VerifyError, DEFAULT_TOLERANCE_SECS,
};

use crate::{BODY, NOW, OTHER_SECRET, SECRET};

const ID: &str = "01J9ZQ7Y5V3K8M2N4P6R8T0W2X";

fn sign(secret: &str, ts: i64) -> String {
    sign_standard(&Secret::new(secret), ID, ts, BODY).expect("test secrets are base64")
}

fn verify(
    secrets: &[&str],
    id: &str,
    ts: &str,
    signature: &str,
    body: &[u8],
) -> Result<(), VerifyError> {
    let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
    verify_standard(
        &secrets,
        id,
        ts,
        signature,
        body,
        NOW,
        DEFAULT_TOLERANCE_SECS,
    )
}

#[test]
fn signature_is_v1_and_base64_of_a_32_byte_tag() {
    let signature = sign(SECRET, NOW);
    let encoded = signature.strip_prefix("v1,").expect("v1 prefix");
    assert_eq!(STANDARD.decode(encoded).unwrap().len(), 32);
}

#[test]
fn a_signed_body_verifies() {
    let signature = sign(SECRET, NOW);
    assert_eq!(
        verify(&[SECRET], ID, &NOW.to_string(), &signature, BODY),
        Ok(())
    );
}

#[test]
fn a_tampered_body_is_a_mismatch() {
    let signature = sign(SECRET, NOW);
    let tampered = &BODY[..BODY.len() - 1];
    assert_eq!(
        verify(&[SECRET], ID, &NOW.to_string(), &signature, tampered),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn another_message_id_is_a_mismatch() {
    let signature = sign(SECRET, NOW);
    assert_eq!(
        verify(&[SECRET], "other-id", &NOW.to_string(), &signature, BODY),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn the_wrong_secret_is_a_mismatch() {
    let signature = sign(SECRET, NOW);
    assert_eq!(
        verify(&[OTHER_SECRET], ID, &NOW.to_string(), &signature, BODY),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn the_key_is_the_decoded_base64_after_the_prefix() {
    let bare = SECRET.strip_prefix("whsec_").unwrap();
    assert_eq!(sign(bare, NOW), sign(SECRET, NOW));
}

#[test]
fn a_secret_that_is_not_base64_cannot_sign_or_verify() {
    let bad = "whsec_not base64!";
    assert_eq!(
        sign_standard(&Secret::new(bad), ID, NOW, BODY),
        Err(SignError::BadSecret)
    );
    let signature = sign(SECRET, NOW);
    assert_eq!(
        verify(&[SECRET, bad], ID, &NOW.to_string(), &signature, BODY),
        Err(VerifyError::BadSecret)
    );
}

#[test]
fn any_matching_entry_among_several_passes() {
    let good = sign(SECRET, NOW);
    let other = sign(OTHER_SECRET, NOW);
    for header in [
        format!("{other} {good}"),
        format!("{good} {other}"),
        format!("v1,garbage {good}"),
    ] {
        assert_eq!(
            verify(&[SECRET], ID, &NOW.to_string(), &header, BODY),
            Ok(()),
            "{header}"
        );
    }
}

#[test]
fn entries_of_another_version_are_ignored() {
    let good = sign(SECRET, NOW);
    let as_v2 = good.replacen("v1,", "v2,", 1);
    assert_eq!(
        verify(&[SECRET], ID, &NOW.to_string(), &as_v2, BODY),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn any_of_several_secrets_verifies_during_rotation() {
    for signer in [SECRET, OTHER_SECRET] {
        let signature = sign(signer, NOW);
        assert_eq!(
            verify(
                &[OTHER_SECRET, SECRET],
                ID,
                &NOW.to_string(),
                &signature,
                BODY
            ),
            Ok(()),
            "signed with {signer}"
        );
    }
}

#[test]
fn timestamps_outside_the_tolerance_are_refused() {
    let old = NOW - DEFAULT_TOLERANCE_SECS - 1;
    let new = NOW + DEFAULT_TOLERANCE_SECS + 1;
    assert_eq!(
        verify(&[SECRET], ID, &old.to_string(), &sign(SECRET, old), BODY),
        Err(VerifyError::TooOld)
    );
    assert_eq!(
        verify(&[SECRET], ID, &new.to_string(), &sign(SECRET, new), BODY),
        Err(VerifyError::TooNew)
    );
}

#[test]
fn a_non_numeric_timestamp_is_a_bad_timestamp() {
    let signature = sign(SECRET, NOW);
    assert_eq!(
        verify(&[SECRET], ID, "yesterday", &signature, BODY),
        Err(VerifyError::BadTimestamp)
    );
}
