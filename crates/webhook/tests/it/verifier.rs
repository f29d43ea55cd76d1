//! The `Verifier` convenience: header lookup, clock, tolerance, rotation, redaction.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use optout_webhook::{header, sign_lusha, sign_standard, Secret, Verifier, VerifyError};

use crate::{BODY, NOW, OTHER_SECRET, SECRET};

/// A case-insensitive lookup over fixed pairs, as a receiver's framework would provide.
fn lookup<'h>(pairs: &'h [(&'h str, String)]) -> impl Fn(&str) -> Option<&'h str> {
    move |name| {
        pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn at(now: i64) -> Verifier {
    Verifier::new(vec![Secret::new(SECRET)]).with_clock(move || now)
}

fn lusha_headers(secret: &str, sent: i64) -> Vec<(&'static str, String)> {
    vec![
        (header::TIMESTAMP, sent.to_string()),
        (
            header::SIGNATURE,
            sign_lusha(&Secret::new(secret), sent, BODY),
        ),
    ]
}

fn standard_headers(secret: &str, sent: i64) -> Vec<(&'static str, String)> {
    vec![
        (header::STD_ID, "msg_1".to_owned()),
        (header::STD_TIMESTAMP, sent.to_string()),
        (
            header::STD_SIGNATURE,
            sign_standard(&Secret::new(secret), "msg_1", sent, BODY)
                .expect("test secrets are base64"),
        ),
    ]
}

#[test]
fn a_lusha_delivery_verifies_with_lowercase_header_names() {
    let headers: Vec<_> = lusha_headers(SECRET, NOW)
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    let pairs: Vec<(&str, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    assert_eq!(at(NOW).verify_lusha(lookup(&pairs), BODY), Ok(()));
}

#[test]
fn a_tampered_lusha_delivery_is_a_mismatch() {
    let headers = lusha_headers(SECRET, NOW);
    assert_eq!(
        at(NOW).verify_lusha(lookup(&headers), b"{}"),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn each_missing_lusha_header_is_named() {
    for missing in [header::SIGNATURE, header::TIMESTAMP] {
        let headers: Vec<_> = lusha_headers(SECRET, NOW)
            .into_iter()
            .filter(|(n, _)| *n != missing)
            .collect();
        assert_eq!(
            at(NOW).verify_lusha(lookup(&headers), BODY),
            Err(VerifyError::MissingHeader(missing))
        );
    }
}

#[test]
fn each_missing_standard_header_is_named() {
    for missing in [header::STD_ID, header::STD_TIMESTAMP, header::STD_SIGNATURE] {
        let headers: Vec<_> = standard_headers(SECRET, NOW)
            .into_iter()
            .filter(|(n, _)| *n != missing)
            .collect();
        assert_eq!(
            at(NOW).verify_standard(lookup(&headers), BODY),
            Err(VerifyError::MissingHeader(missing))
        );
    }
}

#[test]
fn a_standard_delivery_verifies_and_a_tampered_one_does_not() {
    let headers = standard_headers(SECRET, NOW);
    assert_eq!(at(NOW).verify_standard(lookup(&headers), BODY), Ok(()));
    assert_eq!(
        at(NOW).verify_standard(lookup(&headers), b"{}"),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn the_injected_clock_decides_what_is_too_old_or_too_new() {
    let headers = lusha_headers(SECRET, NOW);
    assert_eq!(
        at(NOW + 301).verify_lusha(lookup(&headers), BODY),
        Err(VerifyError::TooOld)
    );
    assert_eq!(
        at(NOW - 301).verify_lusha(lookup(&headers), BODY),
        Err(VerifyError::TooNew)
    );
    assert_eq!(at(NOW + 300).verify_lusha(lookup(&headers), BODY), Ok(()));
    let std_headers = standard_headers(SECRET, NOW);
    assert_eq!(
        at(NOW + 301).verify_standard(lookup(&std_headers), BODY),
        Err(VerifyError::TooOld)
    );
}

#[test]
fn a_wider_tolerance_accepts_an_older_delivery() {
    let headers = lusha_headers(SECRET, NOW);
    let verifier = at(NOW + 3600);
    assert_eq!(
        verifier.verify_lusha(lookup(&headers), BODY),
        Err(VerifyError::TooOld)
    );
    let verifier = verifier.with_tolerance(Duration::from_secs(3600));
    assert_eq!(verifier.verify_lusha(lookup(&headers), BODY), Ok(()));
}

#[test]
fn the_default_clock_is_the_system_time() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let verifier = Verifier::new(vec![Secret::new(SECRET)]);
    assert_eq!(
        verifier.verify_lusha(lookup(&lusha_headers(SECRET, now)), BODY),
        Ok(())
    );
    assert_eq!(
        verifier.verify_lusha(lookup(&lusha_headers(SECRET, NOW - 86_400)), BODY),
        Err(VerifyError::TooOld)
    );
}

#[test]
fn a_receiver_with_the_old_secret_verifies_through_the_previous_signature() {
    // The sender rotated to SECRET; this receiver still only knows OTHER_SECRET.
    let receiver = Verifier::new(vec![Secret::new(OTHER_SECRET)]).with_clock(|| NOW);
    let mut headers = lusha_headers(SECRET, NOW);
    assert_eq!(
        receiver.verify_lusha(lookup(&headers), BODY),
        Err(VerifyError::Mismatch)
    );
    headers.push((
        header::SIGNATURE_PREVIOUS,
        sign_lusha(&Secret::new(OTHER_SECRET), NOW, BODY),
    ));
    assert_eq!(receiver.verify_lusha(lookup(&headers), BODY), Ok(()));
}

#[test]
fn a_receiver_holding_both_secrets_accepts_either() {
    let receiver =
        Verifier::new(vec![Secret::new(OTHER_SECRET), Secret::new(SECRET)]).with_clock(|| NOW);
    for signer in [SECRET, OTHER_SECRET] {
        assert_eq!(
            receiver.verify_lusha(lookup(&lusha_headers(signer, NOW)), BODY),
            Ok(())
        );
        assert_eq!(
            receiver.verify_standard(lookup(&standard_headers(signer, NOW)), BODY),
            Ok(())
        );
    }
}

#[test]
fn debug_output_redacts_secrets() {
    let secret = Secret::new(SECRET);
    assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    assert_eq!(secret.as_str(), SECRET);

    let verifier = Verifier::new(vec![secret, Secret::new(OTHER_SECRET)]);
    let debug = format!("{verifier:?}");
    assert!(
        !debug.contains("whsec_") && !debug.contains("AAECAw"),
        "{debug}"
    );
    assert!(debug.contains("Secret(<redacted>)"), "{debug}");
}

#[test]
fn errors_say_what_went_wrong() {
    assert_eq!(
        VerifyError::MissingHeader(header::SIGNATURE).to_string(),
        "missing header X-Lusha-Signature"
    );
    let as_error: &dyn std::error::Error = &VerifyError::Mismatch;
    assert_eq!(as_error.to_string(), "no signature matches");
}
