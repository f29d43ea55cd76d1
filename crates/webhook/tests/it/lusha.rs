//! The Lusha scheme through the free functions.

use optout_webhook::{sign_lusha, verify_lusha, Secret, VerifyError, DEFAULT_TOLERANCE_SECS};

use crate::{BODY, NOW, OTHER_SECRET, SECRET};

fn verify(secrets: &[Secret], ts: &str, signature: &str, body: &[u8]) -> Result<(), VerifyError> {
    verify_lusha(secrets, ts, signature, body, NOW, DEFAULT_TOLERANCE_SECS)
}

#[test]
fn signature_is_64_lowercase_hex_digits() {
    let signature = sign_lusha(&Secret::new(SECRET), NOW, BODY);
    assert_eq!(signature.len(), 64);
    assert!(
        signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{signature}"
    );
}

#[test]
fn a_signed_body_verifies() {
    let secret = Secret::new(SECRET);
    let signature = sign_lusha(&secret, NOW, BODY);
    assert_eq!(
        verify(&[secret], &NOW.to_string(), &signature, BODY),
        Ok(())
    );
}

#[test]
fn a_tampered_body_is_a_mismatch() {
    let secret = Secret::new(SECRET);
    let signature = sign_lusha(&secret, NOW, BODY);
    let tampered = String::from_utf8(BODY.to_vec())
        .unwrap()
        .replace("A B", "A C");
    assert_eq!(
        verify(&[secret], &NOW.to_string(), &signature, tampered.as_bytes()),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn a_changed_timestamp_is_a_mismatch() {
    let secret = Secret::new(SECRET);
    let signature = sign_lusha(&secret, NOW, BODY);
    let replayed_at = (NOW + 1).to_string();
    assert_eq!(
        verify(&[secret], &replayed_at, &signature, BODY),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn the_wrong_secret_is_a_mismatch() {
    let signature = sign_lusha(&Secret::new(SECRET), NOW, BODY);
    assert_eq!(
        verify(
            &[Secret::new(OTHER_SECRET)],
            &NOW.to_string(),
            &signature,
            BODY
        ),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn the_key_is_the_whole_secret_text_prefix_included() {
    let with_prefix = sign_lusha(&Secret::new("whsec_abc"), NOW, BODY);
    let without_prefix = sign_lusha(&Secret::new("abc"), NOW, BODY);
    assert_ne!(with_prefix, without_prefix);
}

#[test]
fn a_timestamp_older_than_the_tolerance_is_too_old() {
    let secret = Secret::new(SECRET);
    let sent = NOW - DEFAULT_TOLERANCE_SECS - 1;
    let signature = sign_lusha(&secret, sent, BODY);
    assert_eq!(
        verify(&[secret], &sent.to_string(), &signature, BODY),
        Err(VerifyError::TooOld)
    );
}

#[test]
fn a_timestamp_at_the_edge_of_the_tolerance_passes() {
    let secret = Secret::new(SECRET);
    for sent in [NOW - DEFAULT_TOLERANCE_SECS, NOW + DEFAULT_TOLERANCE_SECS] {
        let signature = sign_lusha(&secret, sent, BODY);
        let verified = verify(
            std::slice::from_ref(&secret),
            &sent.to_string(),
            &signature,
            BODY,
        );
        assert_eq!(verified, Ok(()), "sent at {sent}");
    }
}

#[test]
fn a_timestamp_beyond_the_tolerance_in_the_future_is_too_new() {
    let secret = Secret::new(SECRET);
    let sent = NOW + DEFAULT_TOLERANCE_SECS + 1;
    let signature = sign_lusha(&secret, sent, BODY);
    assert_eq!(
        verify(&[secret], &sent.to_string(), &signature, BODY),
        Err(VerifyError::TooNew)
    );
}

#[test]
fn a_non_numeric_timestamp_is_a_bad_timestamp() {
    let secret = Secret::new(SECRET);
    let signature = sign_lusha(&secret, NOW, BODY);
    for ts in [
        "",
        "now",
        "-1767225600",
        "+1767225600",
        "1767225600.0",
        " 1767225600",
    ] {
        assert_eq!(
            verify(std::slice::from_ref(&secret), ts, &signature, BODY),
            Err(VerifyError::BadTimestamp),
            "{ts:?}"
        );
    }
}

#[test]
fn a_malformed_signature_is_a_mismatch() {
    let secret = Secret::new(SECRET);
    let good = sign_lusha(&secret, NOW, BODY);
    for signature in [
        "",
        "zz",
        &good[..62],
        &format!("{good}00"),
        &format!("v1,{good}"),
    ] {
        assert_eq!(
            verify(
                std::slice::from_ref(&secret),
                &NOW.to_string(),
                signature,
                BODY
            ),
            Err(VerifyError::Mismatch),
            "{signature:?}"
        );
    }
}

#[test]
fn any_of_several_secrets_verifies_during_rotation() {
    let (old, new) = (Secret::new(OTHER_SECRET), Secret::new(SECRET));
    let secrets = [old.clone(), new.clone()];
    for signer in [&old, &new] {
        let signature = sign_lusha(signer, NOW, BODY);
        assert_eq!(verify(&secrets, &NOW.to_string(), &signature, BODY), Ok(()));
    }
    let stranger = sign_lusha(&Secret::new("whsec_someone_else"), NOW, BODY);
    assert_eq!(
        verify(&secrets, &NOW.to_string(), &stranger, BODY),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn no_secrets_never_verify() {
    let signature = sign_lusha(&Secret::new(SECRET), NOW, BODY);
    assert_eq!(
        verify(&[], &NOW.to_string(), &signature, BODY),
        Err(VerifyError::Mismatch)
    );
}
