//! Opt-out subscriptions: create, find, list, update, delete, always scoped by account.

use optout_core::{
    EntityType, PageRequest, SignalType, SubscriptionChanges, SubscriptionId, SubscriptionName,
};
use optout_store::{Store, StoreError};
use std::sync::Arc;

use crate::setup::{
    account, at, give_secret, new_subscription, sealed_secret, subscribe, subscribed_account,
    unknown_account, url,
};

const FIRST_PAGE: PageRequest = PageRequest {
    limit: 10,
    offset: 0,
};

fn no_changes(at: chrono::DateTime<chrono::Utc>) -> SubscriptionChanges {
    SubscriptionChanges {
        url: None,
        name: None,
        is_active: None,
        new_secret: None,
        updated_at: at,
    }
}

/// Without a secret (or an account) there is nothing to sign with: `SecretMissing`.
pub async fn a_subscription_needs_an_account_secret(store: Arc<dyn Store>) {
    let account = account(&*store).await;
    let result = store
        .create_subscription(new_subscription(&account, at(1)))
        .await;
    assert!(
        matches!(result, Err(StoreError::SecretMissing)),
        "got {result:?}"
    );
    let result = store
        .create_subscription(new_subscription(&unknown_account(), at(1)))
        .await;
    assert!(
        matches!(result, Err(StoreError::SecretMissing)),
        "got {result:?}"
    );
    let listed = store
        .list_subscriptions(&account, FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(listed.total, 0);
}

/// An account has at most one opt-out subscription.
pub async fn a_second_subscription_of_an_account_is_refused(store: Arc<dyn Store>) {
    let first = subscribed_account(&*store).await;
    let result = store
        .create_subscription(new_subscription(&first.account, at(5)))
        .await;
    assert!(
        matches!(result, Err(StoreError::SubscriptionExists)),
        "got {result:?}"
    );
    let listed = store
        .list_subscriptions(&first.account, FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(listed.items, vec![first.subscription]);
}

/// A created subscription is what was asked, and only its account finds or lists it.
pub async fn a_subscription_is_found_and_listed_only_for_its_account(store: Arc<dyn Store>) {
    let mine = account(&*store).await;
    let other = account(&*store).await;
    give_secret(&*store, &mine).await;
    give_secret(&*store, &other).await;
    let mut new = new_subscription(&mine, at(10));
    new.name = Some(SubscriptionName::parse("CRM sync").expect("a valid name"));
    let created = store
        .create_subscription(new.clone())
        .await
        .expect("created");
    assert_eq!(created.id, new.id);
    assert_eq!(created.account_id, mine);
    assert_eq!(created.entity_type, EntityType::Contact);
    assert_eq!(created.signal_types, vec![SignalType::OptOut]);
    assert_eq!(created.url, new.url);
    assert_eq!(created.name, new.name);
    assert!(created.is_active);
    assert_eq!(created.block_reason, None);
    assert_eq!(created.blocked_at, None);
    assert_eq!(created.created_at, at(10));
    assert_eq!(created.updated_at, at(10));

    let find = |account, id| {
        let store = store.clone();
        async move { store.find_subscription(&account, id).await.expect("find") }
    };
    assert_eq!(find(mine.clone(), created.id).await, Some(created.clone()));
    assert_eq!(find(other.clone(), created.id).await, None);
    assert_eq!(
        find(mine.clone(), SubscriptionId::generate(at(10))).await,
        None
    );

    let listed = store
        .list_subscriptions(&mine, FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(listed.items, vec![created]);
    assert_eq!(listed.total, 1);
    let past_the_end = store
        .list_subscriptions(
            &mine,
            PageRequest {
                limit: 10,
                offset: 1,
            },
        )
        .await
        .expect("list");
    assert!(past_the_end.items.is_empty());
    assert_eq!(past_the_end.total, 1);
    let others = store
        .list_subscriptions(&other, FIRST_PAGE)
        .await
        .expect("list");
    assert!(others.items.is_empty());
    assert_eq!(others.total, 0);
}

/// An update changes the named fields (and the secret) atomically; another account's update
/// finds nothing and changes nothing.
pub async fn an_update_changes_only_what_it_names_and_only_for_the_owner(store: Arc<dyn Store>) {
    let mine = subscribed_account(&*store).await;
    let other = subscribed_account(&*store).await;
    let id = mine.subscription.id;

    let moved = store
        .update_subscription(
            &mine.account,
            id,
            SubscriptionChanges {
                url: Some(url("moved")),
                ..no_changes(at(20))
            },
        )
        .await
        .expect("update")
        .expect("found");
    assert_eq!(moved.url, url("moved"));
    assert_eq!(moved.name, None);
    assert!(moved.is_active);
    assert_eq!(moved.created_at, mine.subscription.created_at);
    assert_eq!(moved.updated_at, at(20));

    let rotated = sealed_secret();
    let renamed = store
        .update_subscription(
            &mine.account,
            id,
            SubscriptionChanges {
                name: Some(SubscriptionName::parse("renamed").expect("a valid name")),
                new_secret: Some(rotated.clone()),
                ..no_changes(at(21))
            },
        )
        .await
        .expect("update")
        .expect("found");
    assert_eq!(renamed.url, url("moved"));
    assert_eq!(renamed.name.as_ref().map(|n| n.as_str()), Some("renamed"));
    assert_eq!(
        store
            .find_account_secret(&mine.account)
            .await
            .expect("find"),
        Some(rotated.clone())
    );

    let paused = store
        .update_subscription(
            &mine.account,
            id,
            SubscriptionChanges {
                is_active: Some(false),
                ..no_changes(at(22))
            },
        )
        .await
        .expect("update")
        .expect("found");
    assert!(!paused.is_active);
    assert_eq!(paused.block_reason, None);
    assert_eq!(paused.blocked_at, None);
    let resumed = store
        .update_subscription(
            &mine.account,
            id,
            SubscriptionChanges {
                is_active: Some(true),
                ..no_changes(at(23))
            },
        )
        .await
        .expect("update")
        .expect("found");
    assert!(resumed.is_active);
    assert_eq!(
        store
            .find_subscription(&mine.account, id)
            .await
            .expect("find"),
        Some(resumed.clone())
    );

    // Another account aims at my subscription: nothing happens, not even to its own secret.
    let intruder = store
        .update_subscription(
            &other.account,
            id,
            SubscriptionChanges {
                url: Some(url("stolen")),
                is_active: Some(false),
                new_secret: Some(sealed_secret()),
                ..no_changes(at(24))
            },
        )
        .await
        .expect("update");
    assert_eq!(intruder, None);
    assert_eq!(
        store
            .find_subscription(&mine.account, id)
            .await
            .expect("find"),
        Some(resumed)
    );
    assert_eq!(
        store
            .find_account_secret(&other.account)
            .await
            .expect("find"),
        Some(other.secret)
    );
    assert_eq!(
        store
            .find_account_secret(&mine.account)
            .await
            .expect("find"),
        Some(rotated)
    );
    let missing = store
        .update_subscription(
            &mine.account,
            SubscriptionId::generate(at(25)),
            no_changes(at(25)),
        )
        .await
        .expect("update");
    assert_eq!(missing, None);
}

/// Deleting answers one entry per id, in order: only the account's own subscriptions go, each
/// once; afterwards the account may subscribe again.
pub async fn deleting_subscriptions_answers_per_id_in_order(store: Arc<dyn Store>) {
    let mine = subscribed_account(&*store).await;
    let other = subscribed_account(&*store).await;
    let own = mine.subscription.id;
    let theirs = other.subscription.id;
    let unknown = SubscriptionId::generate(at(30));

    let deleted = store
        .delete_subscriptions(&mine.account, &[theirs, own, unknown, own])
        .await
        .expect("delete");
    assert_eq!(deleted, vec![None, Some(mine.subscription), None, None]);
    assert_eq!(
        store
            .find_subscription(&mine.account, own)
            .await
            .expect("find"),
        None
    );
    assert_eq!(
        store
            .find_subscription(&other.account, theirs)
            .await
            .expect("find"),
        Some(other.subscription)
    );
    let listed = store
        .list_subscriptions(&mine.account, FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(listed.total, 0);

    let again = subscribe(&*store, &mine.account, at(31)).await;
    assert_ne!(again.id, own);
    let nothing = store
        .delete_subscriptions(&mine.account, &[])
        .await
        .expect("delete");
    assert!(nothing.is_empty());
}
