//! Customer accounts.

use chrono::{DateTime, Utc};
use std::fmt;

/// An account id: a numeric string of 1 to 18 digits, as Lusha's `entityId`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(String);

/// Longest account id: 18 digits always fit a signed 64-bit integer.
const ACCOUNT_ID_MAX_DIGITS: usize = 18;

impl AccountId {
    /// Parses a numeric string; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > ACCOUNT_ID_MAX_DIGITS {
            return Err(format!(
                "accountId must be 1 to {ACCOUNT_ID_MAX_DIGITS} digits"
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err("accountId must contain only digits".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    /// The id from a number the store allocated.
    pub fn from_number(number: u64) -> Self {
        Self(number.to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.0)
    }
}

/// An account's display name: 1 to 200 characters, trimmed.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountName(String);

const ACCOUNT_NAME_MAX_CHARS: usize = 200;

impl AccountName {
    /// Parses a name; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("name must not be empty".to_owned());
        }
        if trimmed.chars().count() > ACCOUNT_NAME_MAX_CHARS {
            return Err(format!(
                "name must be at most {ACCOUNT_NAME_MAX_CHARS} characters"
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("name must not contain control characters".to_owned());
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccountName {
    // Names may be personal data: they stay out of debug output and so out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountName(<redacted>)")
    }
}

/// Input to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The id chosen by the operator, or `None` to let the store allocate the next number.
    pub id: Option<AccountId>,
    /// The display name.
    pub name: AccountName,
    /// When it is created.
    pub created_at: DateTime<Utc>,
}

/// A customer account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// Its display name.
    pub name: AccountName,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_id_must_be_digits() {
        assert!(AccountId::parse("431705").is_ok());
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("12a").is_err());
        assert!(AccountId::parse("-1").is_err());
        assert!(AccountId::parse("1234567890123456789").is_err());
    }

    #[test]
    fn account_name_is_trimmed_and_bounded() {
        assert_eq!(AccountName::parse("  Acme ").unwrap().as_str(), "Acme");
        assert!(AccountName::parse("   ").is_err());
        assert!(AccountName::parse(&"x".repeat(201)).is_err());
        assert!(AccountName::parse("a\nb").is_err());
    }

    #[test]
    fn account_name_debug_is_redacted() {
        let name = AccountName::parse("Jane Doe").unwrap();
        assert!(!format!("{name:?}").contains("Jane"));
    }
}
