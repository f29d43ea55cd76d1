//! The replay window: parsing a timestamp header and checking it against the clock.

use crate::VerifyError;

/// Checks that `raw` is a Unix time in seconds within `tolerance_secs` of `now_unix`.
///
/// Only ASCII digits are accepted (no sign, no spaces): the header is MACed as received, so
/// anything a signer would not have produced is refused before it gets that far. A negative
/// tolerance rejects everything.
pub(crate) fn check(raw: &str, now_unix: i64, tolerance_secs: i64) -> Result<(), VerifyError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::BadTimestamp);
    }
    let sent: i64 = raw.parse().map_err(|_| VerifyError::BadTimestamp)?;
    if now_unix.saturating_sub(sent) > tolerance_secs {
        return Err(VerifyError::TooOld);
    }
    if sent.saturating_sub(now_unix) > tolerance_secs {
        return Err(VerifyError::TooNew);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_edges_are_inclusive() {
        assert_eq!(check("700", 1000, 300), Ok(()));
        assert_eq!(check("1300", 1000, 300), Ok(()));
        assert_eq!(check("699", 1000, 300), Err(VerifyError::TooOld));
        assert_eq!(check("1301", 1000, 300), Err(VerifyError::TooNew));
    }

    #[test]
    fn anything_but_plain_digits_is_a_bad_timestamp() {
        for raw in [
            "",
            "abc",
            "-5",
            "+5",
            "1.5",
            " 1",
            "1 ",
            "1e3",
            "99999999999999999999",
        ] {
            assert_eq!(
                check(raw, 1, 300),
                Err(VerifyError::BadTimestamp),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        assert_eq!(check("0", i64::MAX, 300), Err(VerifyError::TooOld));
        assert_eq!(
            check("9223372036854775807", i64::MIN, 300),
            Err(VerifyError::TooNew)
        );
    }

    #[test]
    fn negative_tolerance_rejects_even_the_current_second() {
        assert!(check("1000", 1000, -1).is_err());
    }
}
