//! The opt-out subscription: where an account wants its notices delivered.

use chrono::{DateTime, Utc};
use std::fmt;

use crate::{AccountId, SealedSecret, SubscriptionId, WebhookUrl};

/// What a subscription is about. Only contacts carry opt-outs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityType {
    /// A person's contact record.
    Contact,
}

impl EntityType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contact => "contact",
        }
    }
}

/// The kind of signal a subscription receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalType {
    /// Opt-out notices.
    OptOut,
}

impl SignalType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptOut => "optOut",
        }
    }
}

/// A subscription's display name: at most 100 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct SubscriptionName(String);

/// Longest accepted name, in characters (spec A3).
pub const MAX_NAME_CHARS: usize = 100;

impl SubscriptionName {
    /// Parses a name; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.chars().count() > MAX_NAME_CHARS {
            return Err(format!("name must be at most {MAX_NAME_CHARS} characters"));
        }
        if text.chars().any(char::is_control) {
            return Err("name must not contain control characters".to_owned());
        }
        Ok(Self(text.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SubscriptionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubscriptionName({:?})", self.0)
    }
}

/// Input to create an account's opt-out subscription.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// The new id (its first 4 bytes are `created_at`'s second).
    pub id: SubscriptionId,
    /// The owning account.
    pub account_id: AccountId,
    /// Where notices go.
    pub url: WebhookUrl,
    /// Optional display name.
    pub name: Option<SubscriptionName>,
    /// Creation time, millisecond precision.
    pub created_at: DateTime<Utc>,
}

/// Changes to apply to a subscription, all at once.
#[derive(Debug, Clone)]
pub struct SubscriptionChanges {
    /// New URL (already challenged).
    pub url: Option<WebhookUrl>,
    /// New name.
    pub name: Option<SubscriptionName>,
    /// Pause (`false`) or resume (`true`); resuming clears the block and releases waiting notices.
    pub is_active: Option<bool>,
    /// A new account secret (sealed) to store in the same transaction.
    pub new_secret: Option<SealedSecret>,
    /// When the change happens.
    pub updated_at: DateTime<Utc>,
}

/// An account's opt-out subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Its id.
    pub id: SubscriptionId,
    /// The owning account (the wire's `entityId`).
    pub account_id: AccountId,
    /// Always [`EntityType::Contact`] for opt-outs.
    pub entity_type: EntityType,
    /// Always `[optOut]` for opt-outs.
    pub signal_types: Vec<SignalType>,
    /// Where notices go.
    pub url: WebhookUrl,
    /// Optional display name.
    pub name: Option<SubscriptionName>,
    /// Whether notices are delivered now.
    pub is_active: bool,
    /// Why the service disabled it, if it did.
    pub block_reason: Option<String>,
    /// When the service disabled it, if it did.
    pub blocked_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_bounded_to_100_characters() {
        assert!(SubscriptionName::parse(&"é".repeat(100)).is_ok());
        assert!(SubscriptionName::parse(&"é".repeat(101)).is_err());
        assert!(SubscriptionName::parse("tab\there").is_err());
    }
}
