//! Opt-outs: a contact asks to be forgotten; one notice per account that received their data.

use chrono::{DateTime, Utc};
use std::fmt;

use crate::ids::ObjectId;
use crate::time_format::{exposure_date, opt_out_date};
use crate::{ContactId, Datapoint};

/// The id of a recorded opt-out.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptOutId(ObjectId);

impl OptOutId {
    /// A fresh id.
    pub fn generate(at: DateTime<Utc>) -> Self {
        Self(ObjectId::generate(at))
    }

    /// Parses a 24-hex-character id.
    pub fn parse(text: &str) -> Option<Self> {
        ObjectId::parse(text).map(Self)
    }
}

impl fmt::Display for OptOutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for OptOutId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OptOutId({self})")
    }
}

/// The person's details carried in every notice. All personal data: `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct ContactDetails {
    /// Full name (required).
    pub full_name: String,
    /// Company, when known.
    pub company_name: Option<String>,
    /// Job title, when known.
    pub job_title: Option<String>,
    /// LinkedIn profile URL, when known.
    pub linkedin_url: Option<String>,
}

impl fmt::Debug for ContactDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContactDetails(<redacted>)")
    }
}

/// An opt-out to record.
#[derive(Debug, Clone)]
pub struct NewOptOut {
    /// Its new id.
    pub id: OptOutId,
    /// Who opted out.
    pub contact_id: ContactId,
    /// Their details, for the notices.
    pub details: ContactDetails,
    /// When they opted out.
    pub opted_out_at: DateTime<Utc>,
    /// The datapoints it covers; `None` means all of the contact's datapoints.
    pub datapoints: Option<Vec<Datapoint>>,
}

/// Opt-outs recorded together, all or nothing.
#[derive(Debug, Clone)]
pub struct OptOutBatch {
    /// The opt-outs, in request order.
    pub opt_outs: Vec<NewOptOut>,
    /// The client's `Idempotency-Key`, if any, and a fingerprint of the request it came with.
    pub idempotency: Option<Idempotency>,
    /// When the batch is recorded (notices become due then).
    pub recorded_at: DateTime<Utc>,
}

/// An idempotency key and the fingerprint of the request that first used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    /// The client's key.
    pub key: String,
    /// SHA-256 hex of the request body, to refuse a key reused for another request.
    pub fingerprint: String,
}

/// What recording one opt-out produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutRecorded {
    /// The opt-out's id.
    pub opt_out_id: OptOutId,
    /// How many notices it created (one per exposed account).
    pub notices: u64,
}

/// One exposed datapoint of the contact, as held for one account.
#[derive(Debug, Clone)]
pub struct HeldExposure {
    /// The datapoint.
    pub datapoint: Datapoint,
    /// When the account received it.
    pub exposed_at: DateTime<Utc>,
    /// The account's tenant reference given with it.
    pub partner_client_id: Option<String>,
}

/// The frozen body of the notice for one account: exactly the datapoints that account received,
/// sorted, the earliest exposure date among them, and the partner id of the earliest exposure
/// that carried one. `None` if the account received none of the covered datapoints.
pub fn notice_payload(opt_out: &NewOptOut, mut held: Vec<HeldExposure>) -> Option<Vec<u8>> {
    held.sort_by(|a, b| a.datapoint.cmp(&b.datapoint));
    held.dedup_by(|a, b| a.datapoint == b.datapoint);
    let earliest = held.iter().map(|exposure| exposure.exposed_at).min()?;
    let partner_client_id = held
        .iter()
        .filter(|exposure| exposure.partner_client_id.is_some())
        .min_by_key(|exposure| exposure.exposed_at)
        .and_then(|exposure| exposure.partner_client_id.clone());
    let notice = optout_webhook::OptOutNotice {
        contact_id: opt_out.contact_id.as_str().to_owned(),
        full_name: opt_out.details.full_name.clone(),
        company_name: opt_out.details.company_name.clone(),
        job_title: opt_out.details.job_title.clone(),
        linkedin_url: opt_out.details.linkedin_url.clone(),
        contact_opt_out_date: opt_out_date(opt_out.opted_out_at),
        contact_exposure_date: exposure_date(earliest),
        datapoints: held
            .into_iter()
            .map(|exposure| optout_webhook::Datapoint {
                datapoint_id: exposure.datapoint.value,
                datapoint_type: exposure.datapoint.kind.wire_type(),
            })
            .collect(),
        partner_client_id,
    };
    Some(notice.to_json_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn opt_out() -> NewOptOut {
        NewOptOut {
            id: OptOutId::generate(Utc::now()),
            contact_id: ContactId::parse("987654321").unwrap(),
            details: ContactDetails {
                full_name: "Jane Doe".into(),
                company_name: Some("Acme Corp".into()),
                job_title: None,
                linkedin_url: None,
            },
            opted_out_at: Utc.with_ymd_and_hms(2026, 4, 22, 14, 32, 11).unwrap()
                + chrono::Duration::milliseconds(412),
            datapoints: None,
        }
    }

    fn held(value: &str, kind: &str, day: u32, partner: Option<&str>) -> HeldExposure {
        HeldExposure {
            datapoint: Datapoint::parse(value, kind).unwrap(),
            exposed_at: Utc.with_ymd_and_hms(2025, 8, day, 9, 15, 47).unwrap(),
            partner_client_id: partner.map(str::to_owned),
        }
    }

    #[test]
    fn payload_has_the_exact_wire_form() {
        let bytes = notice_payload(
            &opt_out(),
            vec![
                held("+14155550199", "phone", 5, Some("late")),
                held("jane.doe@acme.com", "email", 3, Some("acme-crm-tenant-42")),
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"contactId":"987654321","fullName":"Jane Doe","companyName":"Acme Corp","contactOptOutDate":"2026-04-22 14:32:11.412","contactExposureDate":"2025-08-03 09:15:47","datapoints":[{"datapointId":"jane.doe@acme.com","datapointType":"email"},{"datapointId":"+14155550199","datapointType":"phone"}],"partnerClientId":"acme-crm-tenant-42"}"#
        );
    }

    #[test]
    fn partner_id_is_null_when_no_exposure_carried_one() {
        let bytes = notice_payload(&opt_out(), vec![held("a@b.c", "email", 3, None)]).unwrap();
        assert!(String::from_utf8(bytes)
            .unwrap()
            .ends_with(r#""partnerClientId":null}"#));
    }

    #[test]
    fn no_exposure_means_no_notice() {
        assert!(notice_payload(&opt_out(), Vec::new()).is_none());
    }
}
