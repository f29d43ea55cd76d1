//! Reading rows back into domain values: both backends store accounts and subscriptions in the
//! same columns (instants as epoch milliseconds), so one mapping serves them.

use crate::StoreError;
use optout_core::time_format::from_millis;
use optout_core::{
    Account, AccountId, AccountName, EntityType, SignalType, Subscription, SubscriptionId,
    SubscriptionName, WebhookUrl,
};

/// The columns of `subscriptions`, in the order [`subscription`] reads them.
pub const SUBSCRIPTION_COLUMNS: &str =
    "id, account_id, url, name, is_active, block_reason, blocked_at, created_at, updated_at";

/// One `subscriptions` row as selected with [`SUBSCRIPTION_COLUMNS`].
pub type SubscriptionRow = (
    String,
    String,
    String,
    Option<String>,
    bool,
    Option<String>,
    Option<i64>,
    i64,
    i64,
);

pub fn account_id(text: &str) -> Result<AccountId, StoreError> {
    AccountId::parse(text).map_err(|_| StoreError::Corrupt(format!("account id {text:?}")))
}

pub fn account((id, name, created_at): (String, String, i64)) -> Result<Account, StoreError> {
    Ok(Account {
        id: account_id(&id)?,
        name: AccountName::parse(&name)
            .map_err(|_| StoreError::Corrupt(format!("name of account {id}")))?,
        created_at: from_millis(created_at),
    })
}

pub fn subscription(row: SubscriptionRow) -> Result<Subscription, StoreError> {
    let (id, account, url, name, is_active, block_reason, blocked_at, created_at, updated_at) = row;
    let corrupt = |what: &str| StoreError::Corrupt(format!("{what} of subscription {id}"));
    Ok(Subscription {
        id: SubscriptionId::parse(&id).ok_or_else(|| corrupt("id"))?,
        account_id: account_id(&account)?,
        entity_type: EntityType::Contact,
        signal_types: vec![SignalType::OptOut],
        url: WebhookUrl::from_stored(&url).ok_or_else(|| corrupt("url"))?,
        name: name
            .map(|name| SubscriptionName::parse(&name).map_err(|_| corrupt("name")))
            .transpose()?,
        is_active,
        block_reason,
        blocked_at: blocked_at.map(from_millis),
        created_at: from_millis(created_at),
        updated_at: from_millis(updated_at),
    })
}
