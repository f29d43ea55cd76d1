//! Seeding the benchmark's service: accounts, secrets, subscriptions and exposures.

use chrono::Utc;
use optout_core::{
    AccountId, AccountName, ContactId, Datapoint, Keyring, NewAccount, NewApiKey, NewExposure,
    NewSubscription, SubscriptionId, UrlPolicy, WebhookSecret, WebhookUrl,
};
use optout_store::Store;

/// Exposures written per transaction while seeding.
const SEED_BATCH: usize = 5000;

/// The account that received contact `contact` (round-robin over `accounts`).
pub fn account_of(contact: u64, accounts: u64) -> AccountId {
    AccountId::from_number(1 + contact % accounts)
}

/// Creates `accounts` subscribed accounts and exposes contacts `0..contacts` (two datapoints
/// each) to one account each.
pub async fn seed(
    store: &dyn Store,
    keyring: &Keyring,
    accounts: u64,
    contacts: u64,
    url: &str,
) -> anyhow::Result<()> {
    let now = Utc::now();
    let url = WebhookUrl::parse(
        url,
        UrlPolicy {
            allow_insecure: true,
        },
    )
    .map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
    for number in 1..=accounts {
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
        store
            .create_subscription(NewSubscription {
                id: SubscriptionId::generate(now),
                account_id: id,
                url: url.clone(),
                name: None,
                created_at: now,
            })
            .await?;
    }
    let mut batch = Vec::with_capacity(SEED_BATCH);
    for contact in 0..contacts {
        batch.push(NewExposure {
            account_id: account_of(contact, accounts),
            contact_id: ContactId::parse(&format!("bench-{contact}"))
                .map_err(anyhow::Error::msg)?,
            datapoints: vec![
                Datapoint::parse(&format!("person{contact}@example.com"), "email")
                    .map_err(anyhow::Error::msg)?,
                Datapoint::parse(&format!("+1555{contact:07}"), "phone")
                    .map_err(anyhow::Error::msg)?,
            ],
            exposed_at: now,
            partner_client_id: Some("bench-tenant".to_owned()),
        });
        if batch.len() == SEED_BATCH {
            store.record_exposures(&batch).await?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.record_exposures(&batch).await?;
    }
    Ok(())
}
