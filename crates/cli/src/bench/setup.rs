//! Seeding the benchmark's service: accounts, secrets, subscriptions and exposures.

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use optout_core::{
    AccountId, AccountName, ContactId, Datapoint, Keyring, NewAccount, NewApiKey, NewExposure,
    NewSubscription, SubscriptionChanges, SubscriptionId, UrlPolicy, WebhookSecret, WebhookUrl,
};
use optout_store::Store;
use std::ops::Range;

/// Exposures written per transaction while seeding.
const SEED_BATCH: usize = 5000;

/// A seeded account and its subscription.
#[derive(Debug, Clone)]
pub struct Subscribed {
    /// The account.
    pub account_id: AccountId,
    /// Its opt-out subscription.
    pub subscription_id: SubscriptionId,
}

/// The account that received contact `contact` (round-robin over accounts `1..=accounts`).
pub fn account_of(contact: u64, accounts: u64) -> AccountId {
    AccountId::from_number(1 + contact % accounts)
}

/// The contact id of contact number `contact`, as the receiver recognises it.
pub fn contact_id(contact: u64) -> String {
    format!("bench-{contact}")
}

/// Creates accounts numbered `numbers`, each with a secret and a subscription to `url`.
pub async fn seed_accounts(
    store: &dyn Store,
    keyring: &Keyring,
    numbers: Range<u64>,
    url: &str,
    progress: &ProgressBar,
) -> anyhow::Result<Vec<Subscribed>> {
    let now = Utc::now();
    let url = WebhookUrl::parse(
        url,
        UrlPolicy {
            allow_insecure: true,
        },
    )
    .map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
    let mut subscribed = Vec::with_capacity((numbers.end - numbers.start) as usize);
    for number in numbers {
        let id = AccountId::from_number(number);
        let (_, key) = NewApiKey::generate(now);
        store
            .create_account(
                NewAccount {
                    id: Some(id.clone()),
                    name: AccountName::parse(&format!("Bench account {number}"))
                        .map_err(anyhow::Error::msg)?,
                    created_at: now,
                },
                key,
            )
            .await?;
        store
            .record_account_secret(&id, &keyring.seal(&WebhookSecret::generate(), &id), now)
            .await?;
        let subscription = store
            .create_subscription(NewSubscription {
                id: SubscriptionId::generate(now),
                account_id: id.clone(),
                url: url.clone(),
                name: None,
                created_at: now,
            })
            .await?;
        subscribed.push(Subscribed {
            account_id: id,
            subscription_id: subscription.id,
        });
        progress.inc(1);
    }
    Ok(subscribed)
}

/// Exposes each contact of `contacts` (two datapoints) to one of accounts `1..=accounts`.
pub async fn seed_contacts(
    store: &dyn Store,
    contacts: Range<u64>,
    accounts: u64,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let exposures = contacts.map(|contact| {
        exposure(
            account_of(contact, accounts),
            &contact_id(contact),
            contact,
            now,
        )
    });
    record_in_batches(store, exposures, progress).await
}

/// Exposes contact `contact` to every account of `accounts`: its opt-out fans out to all.
pub async fn seed_fan_out(
    store: &dyn Store,
    contact: u64,
    accounts: &[Subscribed],
) -> anyhow::Result<()> {
    let now = Utc::now();
    for chunk in accounts.chunks(SEED_BATCH) {
        let batch = chunk
            .iter()
            .map(|subscribed| {
                exposure(
                    subscribed.account_id.clone(),
                    &contact_id(contact),
                    contact,
                    now,
                )
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        store.record_exposures(&batch).await?;
    }
    Ok(())
}

/// Records `count` exposures of contacts that never opt out (`ledger-N`), spread over accounts
/// `1..=accounts`: the ledger an opt-out is looked up in grows, the work does not.
pub async fn seed_ledger(
    store: &dyn Store,
    count: u64,
    accounts: u64,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let exposures = (0..count).map(|number| {
        exposure(
            account_of(number, accounts),
            &format!("ledger-{number}"),
            number + 1_000_000_000,
            now,
        )
    });
    record_in_batches(store, exposures, progress).await
}

/// Records `exposures`, [`SEED_BATCH`] per transaction.
async fn record_in_batches(
    store: &dyn Store,
    exposures: impl Iterator<Item = anyhow::Result<NewExposure>>,
    progress: &ProgressBar,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for exposure in exposures {
        batch.push(exposure?);
        if batch.len() == SEED_BATCH {
            store.record_exposures(&batch).await?;
            progress.inc(batch.len() as u64);
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.record_exposures(&batch).await?;
        progress.inc(batch.len() as u64);
    }
    Ok(())
}

/// Pauses (`false`) or resumes (`true`) each subscription; resuming releases held notices.
pub async fn set_active(
    store: &dyn Store,
    subscriptions: &[Subscribed],
    active: bool,
) -> anyhow::Result<()> {
    for subscribed in subscriptions {
        let changes = SubscriptionChanges {
            url: None,
            name: None,
            is_active: Some(active),
            new_secret: None,
            updated_at: Utc::now(),
        };
        store
            .update_subscription(&subscribed.account_id, subscribed.subscription_id, changes)
            .await?
            .ok_or_else(|| anyhow::anyhow!("a benchmark subscription vanished"))?;
    }
    Ok(())
}

/// One exposure of `contact` (an email and a phone made from `number`) to `account_id`.
fn exposure(
    account_id: AccountId,
    contact: &str,
    number: u64,
    now: DateTime<Utc>,
) -> anyhow::Result<NewExposure> {
    Ok(NewExposure {
        account_id,
        contact_id: ContactId::parse(contact).map_err(anyhow::Error::msg)?,
        datapoints: vec![
            Datapoint::parse(&format!("person{number}@example.com"), "email")
                .map_err(anyhow::Error::msg)?,
            Datapoint::parse(
                &format!("+1{:010}", 2_000_000_000 + number % 8_000_000_000),
                "phone",
            )
            .map_err(anyhow::Error::msg)?,
        ],
        exposed_at: now,
        partner_client_id: Some("bench-tenant".to_owned()),
    })
}
