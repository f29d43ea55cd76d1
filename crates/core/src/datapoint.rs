//! Contacts and their datapoints: the personal data an opt-out is about.

use std::fmt;

pub use optout_webhook::DatapointType;

/// Longest datapoint value: an email address is at most 254 characters; 320 leaves room.
const MAX_DATAPOINT_CHARS: usize = 320;
/// Longest contact id.
const MAX_CONTACT_ID_CHARS: usize = 128;

/// The provider's id of a contact.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContactId(String);

impl ContactId {
    /// Parses a contact id: 1 to 128 characters, no control characters.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.chars().count() > MAX_CONTACT_ID_CHARS {
            return Err(format!(
                "contactId must be 1 to {MAX_CONTACT_ID_CHARS} characters"
            ));
        }
        if text.chars().any(char::is_control) {
            return Err("contactId must not contain control characters".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ContactId {
    // Contact ids are the provider's pseudonymous keys, not personal data: they may be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContactId({})", self.0)
    }
}

impl fmt::Display for ContactId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One datapoint: an email address or a phone number, and which of the two it is.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Datapoint {
    /// Email or phone. Ordered first, so datapoints sort by kind, then value.
    pub kind: DatapointKind,
    /// The value, exactly as the provider recorded it.
    pub value: String,
}

/// [`DatapointType`] with an order, so datapoints sort deterministically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatapointKind {
    /// An email address.
    Email,
    /// A phone number.
    Phone,
}

impl DatapointKind {
    /// Parses the wire name (`email` or `phone`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email" => Some(Self::Email),
            "phone" => Some(Self::Phone),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }

    /// The payload crate's type.
    pub fn wire_type(self) -> DatapointType {
        match self {
            Self::Email => DatapointType::Email,
            Self::Phone => DatapointType::Phone,
        }
    }
}

impl Datapoint {
    /// Parses a datapoint from its wire fields; the error names what is wrong.
    pub fn parse(value: &str, kind: &str) -> Result<Self, String> {
        let kind = DatapointKind::parse(kind)
            .ok_or_else(|| "datapointType must be one of: email, phone".to_owned())?;
        if value.is_empty() || value.chars().count() > MAX_DATAPOINT_CHARS {
            return Err(format!(
                "datapointId must be 1 to {MAX_DATAPOINT_CHARS} characters"
            ));
        }
        if value.chars().any(char::is_control) {
            return Err("datapointId must not contain control characters".to_owned());
        }
        Ok(Self {
            kind,
            value: value.to_owned(),
        })
    }
}

impl fmt::Debug for Datapoint {
    // Datapoints are personal data: never in debug output, so never in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Datapoint({}, <redacted>)", self.kind.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datapoint_parses_known_kinds_only() {
        assert!(Datapoint::parse("a@b.c", "email").is_ok());
        assert!(Datapoint::parse("+1555", "phone").is_ok());
        assert!(Datapoint::parse("+1555", "fax").is_err());
        assert!(Datapoint::parse("", "email").is_err());
    }

    #[test]
    fn datapoint_debug_hides_the_value() {
        let datapoint = Datapoint::parse("jane@example.com", "email").unwrap();
        assert!(!format!("{datapoint:?}").contains("jane"));
    }

    #[test]
    fn contact_id_is_bounded() {
        assert!(ContactId::parse("987654321").is_ok());
        assert!(ContactId::parse("").is_err());
        assert!(ContactId::parse(&"1".repeat(129)).is_err());
    }
}
