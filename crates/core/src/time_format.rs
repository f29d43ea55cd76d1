//! The exact time formats of the wire contract.
//!
//! Three formats exist and each is used in one place only, so each has its own function:
//! API timestamps (`2026-05-19T18:16:48.360Z`), the opt-out date of a notice
//! (`2026-04-22 14:32:11.412`) and the exposure date of a notice (`2025-08-03 09:15:47`).

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// ISO-8601 UTC with milliseconds and `Z`, as used by every API response.
pub fn api_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `YYYY-MM-DD HH:MM:SS.mmm` UTC: the `contactOptOutDate` of a notice.
pub fn opt_out_date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

/// `YYYY-MM-DD HH:MM:SS` UTC, no fraction: the `contactExposureDate` of a notice.
pub fn exposure_date(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Milliseconds since the Unix epoch: how stores keep instants.
pub fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The instant `millis` milliseconds after the Unix epoch (clamped to the epoch if out of range).
pub fn from_millis(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// Truncates an instant to whole milliseconds, the precision every store keeps.
pub fn truncate_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    from_millis(to_millis(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 4, 22, 14, 32, 11).unwrap() + chrono::Duration::milliseconds(412)
    }

    #[test]
    fn api_timestamp_has_milliseconds_and_z() {
        assert_eq!(api_timestamp(sample()), "2026-04-22T14:32:11.412Z");
    }

    #[test]
    fn api_timestamp_keeps_zero_milliseconds() {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(api_timestamp(at), "2026-01-01T00:00:00.000Z");
    }

    #[test]
    fn opt_out_date_has_milliseconds_and_a_space() {
        assert_eq!(opt_out_date(sample()), "2026-04-22 14:32:11.412");
    }

    #[test]
    fn exposure_date_has_no_fraction() {
        assert_eq!(exposure_date(sample()), "2026-04-22 14:32:11");
    }

    #[test]
    fn millis_round_trip() {
        assert_eq!(from_millis(to_millis(sample())), sample());
    }
}
