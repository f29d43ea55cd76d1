//! Accounts, API keys and account secrets.

use optout_core::{AccountId, AccountName, ApiKeyHash, ApiKeyId, NewAccount, NewApiKey};
use optout_store::{Store, StoreError};
use std::sync::Arc;

use crate::setup::{account, at, sealed_secret, t0, unknown_account};

fn new_account(id: Option<&str>) -> NewAccount {
    NewAccount {
        id: id.map(|id| AccountId::parse(id).expect("a valid id")),
        name: AccountName::parse("Acme").expect("a valid name"),
        created_at: at(1),
    }
}

async fn create(store: &dyn Store, id: Option<&str>) -> Result<AccountId, StoreError> {
    let (_, key) = NewApiKey::generate(t0());
    Ok(store.create_account(new_account(id), key).await?.id)
}

async fn allocate(store: &dyn Store) -> AccountId {
    create(store, None).await.expect("allocated")
}

/// Allocation starts at 100001, continues past the highest id in its range (chosen ones
/// included) and ignores 18-digit and small chosen ids.
pub async fn allocated_account_ids_start_at_100001_and_skip_chosen_ones(store: Arc<dyn Store>) {
    let store = &*store;
    assert_eq!(allocate(store).await.as_str(), "100001");
    assert_eq!(allocate(store).await.as_str(), "100002");
    create(store, Some("123456789012345678"))
        .await
        .expect("an 18-digit id is accepted");
    create(store, Some("42"))
        .await
        .expect("a small id is accepted");
    assert_eq!(allocate(store).await.as_str(), "100003");
    create(store, Some("100010"))
        .await
        .expect("an id in the allocation range is accepted");
    assert_eq!(allocate(store).await.as_str(), "100011");
}

/// A chosen id that exists is refused, allocated or chosen.
pub async fn a_chosen_account_id_that_is_taken_is_account_exists(store: Arc<dyn Store>) {
    let allocated = create(&*store, None).await.expect("allocated");
    let again = create(&*store, Some(allocated.as_str())).await;
    assert!(
        matches!(again, Err(StoreError::AccountExists)),
        "got {again:?}"
    );
    create(&*store, Some("431705")).await.expect("chosen");
    let again = create(&*store, Some("431705")).await;
    assert!(
        matches!(again, Err(StoreError::AccountExists)),
        "got {again:?}"
    );
}

/// `find_account` returns what was created, and `None` for an unknown id.
pub async fn a_created_account_is_found_and_an_unknown_one_is_not(store: Arc<dyn Store>) {
    let (_, key) = NewApiKey::generate(t0());
    let created = store
        .create_account(new_account(Some("431705")), key)
        .await
        .expect("created");
    assert_eq!(created.id.as_str(), "431705");
    assert_eq!(created.name.as_str(), "Acme");
    assert_eq!(created.created_at, at(1));
    let found = store.find_account(&created.id).await.expect("find");
    assert_eq!(found, Some(created));
    assert_eq!(
        store.find_account(&unknown_account()).await.expect("find"),
        None
    );
}

/// Every key of an account finds it until revoked; revoking twice or an unknown key does
/// nothing.
pub async fn an_api_key_finds_its_account_until_it_is_revoked(store: Arc<dyn Store>) {
    let (_, first) = NewApiKey::generate(t0());
    let account = store
        .create_account(new_account(None), first.clone())
        .await
        .expect("created")
        .id;
    let (_, second) = NewApiKey::generate(at(5));
    store
        .create_api_key(&account, second.clone())
        .await
        .expect("second key");
    let find = |hash: ApiKeyHash| {
        let store = store.clone();
        async move { store.find_account_by_api_key(&hash).await.expect("find") }
    };
    assert_eq!(find(first.hash.clone()).await, Some(account.clone()));
    assert_eq!(find(second.hash.clone()).await, Some(account.clone()));

    assert!(store
        .revoke_api_key(first.id, at(10))
        .await
        .expect("revoke"));
    assert!(!store
        .revoke_api_key(first.id, at(11))
        .await
        .expect("revoke"));
    assert_eq!(find(first.hash).await, None);
    assert_eq!(find(second.hash).await, Some(account));

    assert!(!store
        .revoke_api_key(ApiKeyId::generate(at(12)), at(12))
        .await
        .expect("revoke"));
    let (stranger, _) = NewApiKey::generate(t0());
    assert_eq!(find(stranger.hash()).await, None);
}

/// A key or a secret for an account that does not exist is `NotFound`.
pub async fn keys_and_secrets_of_an_unknown_account_are_not_found(store: Arc<dyn Store>) {
    let (_, key) = NewApiKey::generate(t0());
    let result = store.create_api_key(&unknown_account(), key).await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "got {result:?}"
    );
    let result = store
        .record_account_secret(&unknown_account(), &sealed_secret(), t0())
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "got {result:?}"
    );
    assert_eq!(
        store
            .find_account_secret(&unknown_account())
            .await
            .expect("find"),
        None
    );
}

/// An account has no secret until one is recorded; recording again replaces it, and only for
/// that account.
pub async fn an_account_secret_is_created_then_replaced(store: Arc<dyn Store>) {
    let mine = account(&*store).await;
    let other = account(&*store).await;
    assert_eq!(store.find_account_secret(&mine).await.expect("find"), None);

    let first = sealed_secret();
    store
        .record_account_secret(&mine, &first, at(1))
        .await
        .expect("recorded");
    assert_eq!(
        store.find_account_secret(&mine).await.expect("find"),
        Some(first)
    );

    let second = sealed_secret();
    store
        .record_account_secret(&mine, &second, at(2))
        .await
        .expect("replaced");
    assert_eq!(
        store.find_account_secret(&mine).await.expect("find"),
        Some(second)
    );
    assert_eq!(store.find_account_secret(&other).await.expect("find"), None);
}

/// `ping` answers on a working store.
pub async fn the_store_answers_a_ping(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}
