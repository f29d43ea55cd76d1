//! Reading rows back into domain values: both backends store accounts and subscriptions in the
//! same columns (instants as epoch milliseconds), so one mapping serves them.

use crate::{PurgeablePayload, QueueMetrics, StoreError, StoredAccountSecrets};
use chrono::{DateTime, Utc};
use optout_core::time_format::from_millis;
use optout_core::{
    Account, AccountId, AccountName, AccountSecrets, DatapointEvidence, EntityType, NoticeId,
    NoticeStatus, SealedSecret, SignalType, Subscription, SubscriptionId, SubscriptionName,
    WebhookUrl,
};
use std::collections::{HashMap, HashSet};

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

/// The readable ones of `account_secrets` rows. A row written around the API with an unreadable
/// account id is logged and skipped, not fatal: the reseal at startup must not keep every node
/// from starting.
pub fn readable_stored_secrets(
    rows: Vec<(String, String, Option<String>)>,
) -> Vec<StoredAccountSecrets> {
    rows.into_iter()
        .filter_map(|row| {
            let account = loggable(&row.0);
            stored_secrets(row)
                .inspect_err(|_| {
                    tracing::error!(
                        account_id = %account,
                        "an account_secrets row cannot be read: skipped"
                    );
                })
                .ok()
        })
        .collect()
}

/// A notice's `payload_purged_at` and `datapoint_evidence` columns, read back.
pub fn payload_purge(
    notice_id: &str,
    purged_at: Option<i64>,
    evidence: Option<String>,
) -> Result<(Option<DateTime<Utc>>, Option<DatapointEvidence>), StoreError> {
    let evidence = evidence
        .map(|text| {
            DatapointEvidence::from_json(&text).map_err(|_| {
                StoreError::Corrupt(format!("datapoint evidence of notice {notice_id}"))
            })
        })
        .transpose()?;
    Ok((purged_at.map(from_millis), evidence))
}

/// The ids of a claimed notice row, or `None` (logged) when they cannot be read: the notice is
/// then skipped and comes due again when its lease ends.
pub fn claimed_notice_ids(id: &str, account: &str) -> Option<(NoticeId, AccountId)> {
    match (NoticeId::parse(id), account_id(account)) {
        (Some(notice_id), Ok(account_id)) => Some((notice_id, account_id)),
        _ => {
            tracing::error!(
                notice_id = %loggable(id),
                "a notice row cannot be read: skipped, it comes due again when its lease ends"
            );
            None
        }
    }
}

/// One `account_secrets` row as `(account_id, secret, previous_secret)`.
fn stored_secrets(
    (account, secret, previous_secret): (String, String, Option<String>),
) -> Result<StoredAccountSecrets, StoreError> {
    Ok(StoredAccountSecrets {
        account_id: account_id(&account)?,
        secrets: AccountSecrets {
            secret: SealedSecret::from_stored(secret),
            previous_secret: previous_secret.map(SealedSecret::from_stored),
        },
    })
}

/// Where and how the notices of one account are delivered.
#[derive(Debug)]
pub struct DeliveryTarget {
    /// The account's active subscription.
    pub subscription_id: SubscriptionId,
    /// Its URL.
    pub url: WebhookUrl,
    /// The account's sealed secret.
    pub secret: SealedSecret,
    /// The replaced secret, while its rotation grace lasts at the claim's `now`.
    pub previous_secret: Option<SealedSecret>,
}

/// One row of a claim's target query: account id, subscription id, URL, sealed secret and the
/// previous sealed secret while its grace lasts.
pub type DeliveryTargetRow = (String, String, String, String, Option<String>);

/// The delivery targets of a claim by account id, and the accounts whose subscription row cannot
/// be read. Such a row was written around the API; it is logged by id and its account's notices
/// are skipped, so that it never stops other accounts' deliveries.
pub fn delivery_targets(
    rows: Vec<DeliveryTargetRow>,
) -> (HashMap<String, DeliveryTarget>, HashSet<String>) {
    let mut targets = HashMap::with_capacity(rows.len());
    let mut unreadable = HashSet::new();
    for (account, id, url, secret, previous_secret) in rows {
        let (Some(subscription_id), Some(url)) =
            (SubscriptionId::parse(&id), WebhookUrl::from_stored(&url))
        else {
            tracing::error!(
                account_id = %loggable(&account),
                subscription_id = %loggable(&id),
                "a subscription row cannot be read: its notices wait until it is fixed"
            );
            unreadable.insert(account);
            continue;
        };
        targets.insert(
            account,
            DeliveryTarget {
                subscription_id,
                url,
                secret: SealedSecret::from_stored(secret),
                previous_secret: previous_secret.map(SealedSecret::from_stored),
            },
        );
    }
    (targets, unreadable)
}

/// A stored text that may not be what it should, for logs: escaped and cut to 32 characters, so
/// that a row written around the API can neither inject log lines nor pour its content into them.
pub fn loggable(text: &str) -> String {
    let cut: String = text.chars().take(32).collect();
    format!("{cut:?}")
}

/// A notice id read back from the database.
pub fn notice_id(text: &str) -> Result<NoticeId, StoreError> {
    NoticeId::parse(text).ok_or_else(|| StoreError::Corrupt(format!("notice id {text:?}")))
}

/// A delivered notice's body, listed for purging.
pub fn purgeable_payload(id: &str, payload: Vec<u8>) -> Result<PurgeablePayload, StoreError> {
    Ok(PurgeablePayload {
        notice_id: notice_id(id)?,
        payload,
    })
}

/// Notice counts as both backends select them: delivering, pending, failed, waiting, delivered.
pub type NoticeCounts = (i64, i64, i64, i64, i64);

/// Queue metrics from the notice counts, the oldest due instant (milliseconds) and the counts of
/// active and disabled subscriptions.
pub fn queue_metrics(
    notices: NoticeCounts,
    oldest_due_at: Option<i64>,
    (active, disabled): (i64, i64),
) -> QueueMetrics {
    let (delivering, pending, failed, waiting, delivered) = notices;
    QueueMetrics {
        pending: count("pending", pending),
        delivering: count("delivering", delivering),
        failed: count("failed", failed),
        waiting: count("waiting", waiting),
        delivered: count("delivered", delivered),
        oldest_due_at: oldest_due_at.map(from_millis),
        active_subscriptions: count("active_subscriptions", active),
        disabled_subscriptions: count("disabled_subscriptions", disabled),
    }
}

/// A count as read from the database. One below zero can only come of inconsistent bookkeeping
/// (the delivered count is derived from the notices ever created and those undelivered): it is
/// logged and shown as 0, never as a plausible positive figure.
fn count(name: &'static str, value: i64) -> u64 {
    u64::try_from(value).unwrap_or_else(|_| {
        tracing::error!(
            count = name,
            value,
            "negative count read from the database; shown as 0"
        );
        0
    })
}

/// A notice's status at `now` (epoch milliseconds) from its stored state, lease and attempts: a
/// queued notice leased past `now` is being delivered; one attempted before awaits a retry.
pub fn notice_status(
    state: &str,
    lease_until: Option<i64>,
    attempts: i64,
    now: i64,
) -> NoticeStatus {
    match state {
        "delivered" => NoticeStatus::Delivered,
        "waiting" => NoticeStatus::Waiting,
        _ if lease_until.is_some_and(|until| until > now) => NoticeStatus::Delivering,
        _ if attempts > 0 => NoticeStatus::Failed,
        _ => NoticeStatus::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_negative_count_is_shown_as_zero_not_as_its_magnitude() {
        let metrics = queue_metrics((1, 2, 3, 4, -5), None, (6, -7));
        assert_eq!(
            (
                metrics.delivering,
                metrics.pending,
                metrics.failed,
                metrics.waiting
            ),
            (1, 2, 3, 4)
        );
        assert_eq!(metrics.delivered, 0);
        assert_eq!(metrics.active_subscriptions, 6);
        assert_eq!(metrics.disabled_subscriptions, 0);
    }
}
