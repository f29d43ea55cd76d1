//! The notice body a receiver gets (spec C1).

use serde::{Deserialize, Serialize};

/// One opt-out notice: a contact who opted out, and which of their datapoints this account got.
///
/// Serialises to the exact wire form: camelCase, fields in spec order, `companyName`, `jobTitle`
/// and `linkedinUrl` omitted when `None`, `partnerClientId` always present (`null` when `None`).
/// Deserialising ignores unknown fields, so receivers survive additions.
///
/// The dates stay strings because their format is part of the contract and differs between the
/// two: `contact_opt_out_date` is `YYYY-MM-DD HH:MM:SS.mmm` UTC and `contact_exposure_date` is
/// `YYYY-MM-DD HH:MM:SS` UTC, no milliseconds. Producers must format them exactly so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptOutNotice {
    /// The provider's id of the contact.
    pub contact_id: String,
    /// The contact's full name.
    pub full_name: String,
    /// The contact's company, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    /// The contact's job title, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// The contact's LinkedIn profile URL, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkedin_url: Option<String>,
    /// When the contact opted out: `YYYY-MM-DD HH:MM:SS.mmm`, UTC.
    pub contact_opt_out_date: String,
    /// When this account first received the contact's data: `YYYY-MM-DD HH:MM:SS`, UTC.
    pub contact_exposure_date: String,
    /// The datapoints this account received and must now forget.
    pub datapoints: Vec<Datapoint>,
    /// The account's own tenant reference given at exposure time; serialised as `null` if none.
    #[serde(default)]
    pub partner_client_id: Option<String>,
}

impl OptOutNotice {
    /// The compact JSON body, byte-identical to JavaScript's `JSON.stringify` of the same value
    /// (non-ASCII left unescaped); these are the bytes that get signed.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Only string map keys and plain fields: serde_json cannot fail on this type.
        serde_json::to_vec(self).expect("OptOutNotice always serialises")
    }

    /// Parses a notice body, ignoring unknown fields.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// One of a contact's datapoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Datapoint {
    /// The value itself: an email address or a phone number.
    pub datapoint_id: String,
    /// What kind of value [`Self::datapoint_id`] is.
    pub datapoint_type: DatapointType,
}

/// The kind of a datapoint; serialised lowercase (`"email"`, `"phone"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatapointType {
    /// An email address.
    Email,
    /// A phone number.
    Phone,
}
