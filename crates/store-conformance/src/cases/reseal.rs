//! Resealing stored secrets under another master key: listing every account's stored secrets,
//! and replacing them only where they have not changed meanwhile (compare and swap).

use optout_core::{AccountId, AccountSecrets, SealedSecret};
use optout_store::{Reseal, Store, StoredAccountSecrets};
use std::sync::Arc;

use crate::setup::{account, at, give_secret, sealed_secret};

/// Replaces the account's secret at `at(seconds)`, the old one valid until `at(until)`.
async fn rotate(store: &dyn Store, account: &AccountId, seconds: i64, until: i64) -> SealedSecret {
    let secret = sealed_secret();
    store
        .record_account_secret_rotation(account, &secret, at(seconds), Some(at(until)))
        .await
        .expect("secret rotated");
    secret
}

fn stored(
    account: &AccountId,
    secret: &SealedSecret,
    previous: Option<&SealedSecret>,
) -> StoredAccountSecrets {
    StoredAccountSecrets {
        account_id: account.clone(),
        secrets: pair(secret, previous),
    }
}

fn pair(secret: &SealedSecret, previous: Option<&SealedSecret>) -> AccountSecrets<SealedSecret> {
    AccountSecrets {
        secret: secret.clone(),
        previous_secret: previous.cloned(),
    }
}

/// Every account with a secret is listed once, in account id order, page after page, with its
/// previous secret whether or not that one's grace has ended; accounts without one are not.
pub async fn stored_secrets_are_listed_by_account_in_pages(store: Arc<dyn Store>) {
    let first = account(&*store).await;
    let second = account(&*store).await;
    let _without_secret = account(&*store).await;
    let third = account(&*store).await;
    let first_secret = give_secret(&*store, &first).await;
    let old = give_secret(&*store, &second).await;
    let new = rotate(&*store, &second, 10, 20).await;
    let third_secret = give_secret(&*store, &third).await;

    let page = store.list_account_secrets(None, 2).await.expect("list");
    assert_eq!(
        page,
        vec![
            stored(&first, &first_secret, None),
            stored(&second, &new, Some(&old)),
        ]
    );
    let rest = store
        .list_account_secrets(Some(&second), 2)
        .await
        .expect("list");
    assert_eq!(rest, vec![stored(&third, &third_secret, None)]);
    let after_last = store
        .list_account_secrets(Some(&third), 2)
        .await
        .expect("list");
    assert!(after_last.is_empty());
}

/// Resealed secrets replace those that are still as listed, keeping the grace; a secret changed
/// meanwhile (regenerated, or given a previous one) is left as it is.
pub async fn a_reseal_replaces_only_secrets_unchanged_since_listed(store: Arc<dyn Store>) {
    let graced = account(&*store).await;
    let plain = account(&*store).await;
    let raced = account(&*store).await;
    let old = give_secret(&*store, &graced).await;
    let current = rotate(&*store, &graced, 10, 100).await;
    let plain_secret = give_secret(&*store, &plain).await;
    let raced_secret = give_secret(&*store, &raced).await;
    let listed = store.list_account_secrets(None, 10).await.expect("list");
    assert_eq!(listed.len(), 3);

    // The raced account's secret is regenerated after it was listed.
    let regenerated = rotate(&*store, &raced, 20, 30).await;
    let (graced_new, graced_old_new, plain_new, raced_new) = (
        sealed_secret(),
        sealed_secret(),
        sealed_secret(),
        sealed_secret(),
    );
    let reseals = vec![
        Reseal {
            account_id: graced.clone(),
            expected: pair(&current, Some(&old)),
            resealed: pair(&graced_new, Some(&graced_old_new)),
        },
        Reseal {
            account_id: plain.clone(),
            expected: pair(&plain_secret, None),
            resealed: pair(&plain_new, None),
        },
        Reseal {
            account_id: raced.clone(),
            expected: pair(&raced_secret, None),
            resealed: pair(&raced_new, None),
        },
    ];
    assert_eq!(
        store
            .record_resealed_secrets(&reseals)
            .await
            .expect("reseal"),
        2
    );

    let secrets_at = |account: AccountId, seconds: i64| {
        let store = Arc::clone(&store);
        async move {
            store
                .find_account_secrets(&account, at(seconds))
                .await
                .expect("find")
                .expect("a secret")
        }
    };
    assert_eq!(
        secrets_at(graced.clone(), 50).await,
        pair(&graced_new, Some(&graced_old_new)),
        "resealed, the grace still running"
    );
    assert_eq!(
        secrets_at(graced.clone(), 100).await,
        pair(&graced_new, None),
        "the grace still ends when it did"
    );
    assert_eq!(secrets_at(plain.clone(), 50).await, pair(&plain_new, None));
    assert_eq!(
        secrets_at(raced.clone(), 25).await,
        pair(&regenerated, Some(&raced_secret)),
        "a secret regenerated meanwhile is not overwritten"
    );

    // Listed again, nothing stale is replaced twice.
    let stale = Reseal {
        account_id: graced.clone(),
        expected: pair(&current, Some(&old)),
        resealed: pair(&sealed_secret(), None),
    };
    assert_eq!(
        store
            .record_resealed_secrets(&[stale])
            .await
            .expect("reseal"),
        0
    );
    assert_eq!(
        store.find_account_secret(&graced).await.expect("find"),
        Some(graced_new)
    );
    assert_eq!(store.record_resealed_secrets(&[]).await.expect("reseal"), 0);
}
