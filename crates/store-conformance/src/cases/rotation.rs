//! Secret rotation grace (spec C3): a replaced secret keeps signing beside the new one until its
//! grace ends, in what a claim returns and in what `find_account_secrets` answers.

use optout_core::{AccountId, AccountSecrets, SealedSecret, SubscriptionChanges};
use optout_store::{Store, StoreError};
use std::sync::Arc;

use crate::setup::{
    account, at, claim_one, email, expose, give_secret, opt_out, record_opt_outs, sealed_secret,
    subscribe, subscribed_account, unknown_account,
};

/// Replaces the account's secret at `at(seconds)`, the old one valid until `at(until)` if given.
async fn rotate(
    store: &dyn Store,
    account: &AccountId,
    seconds: i64,
    until: Option<i64>,
) -> SealedSecret {
    let secret = sealed_secret();
    store
        .record_account_secret_rotation(account, &secret, at(seconds), until.map(at))
        .await
        .expect("secret rotated");
    secret
}

/// The account's secrets as a delivery at `at(seconds)` is signed.
async fn secrets_at(
    store: &dyn Store,
    account: &AccountId,
    seconds: i64,
) -> AccountSecrets<SealedSecret> {
    store
        .find_account_secrets(account, at(seconds))
        .await
        .expect("find")
        .expect("the account has a secret")
}

fn signing(
    secret: &SealedSecret,
    previous_secret: Option<&SealedSecret>,
) -> AccountSecrets<SealedSecret> {
    AccountSecrets {
        secret: secret.clone(),
        previous_secret: previous_secret.cloned(),
    }
}

/// The secret replaced with a grace is returned beside the new one, by claims and by
/// `find_account_secrets`, until (not at) the grace's end; the current secret is the new one
/// from the start.
pub async fn a_replaced_secret_signs_beside_the_new_one_until_its_grace_ends(
    store: Arc<dyn Store>,
) {
    let subscribed = subscribed_account(&*store).await;
    let account = &subscribed.account;
    let old = subscribed.secret;
    expose(&*store, account, "c1", vec![email("a@x.io")]).await;
    record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await;

    let new = rotate(&*store, account, 10, Some(100)).await;

    assert_eq!(
        store.find_account_secret(account).await.expect("find"),
        Some(new.clone())
    );
    assert_eq!(
        secrets_at(&*store, account, 10).await,
        signing(&new, Some(&old))
    );
    assert_eq!(
        secrets_at(&*store, account, 99).await,
        signing(&new, Some(&old))
    );
    assert_eq!(secrets_at(&*store, account, 100).await, signing(&new, None));

    // Claimed during the grace: signed with both.
    let claimed = claim_one(&*store, at(20)).await;
    assert_eq!(claimed.secret, new);
    assert_eq!(claimed.previous_secret, Some(old));
    // Claimed again once the lease (60 s) and the grace have ended: only the new one.
    let again = claim_one(&*store, at(100)).await;
    assert_eq!(again.notice_id, claimed.notice_id);
    assert_eq!(again.secret, new);
    assert_eq!(again.previous_secret, None);
}

/// Regenerating during a grace makes the secret just replaced the previous one, with the new
/// grace; regenerating without grace (A1 with 0, A6's `new_secret`) keeps no previous secret.
pub async fn regenerating_during_a_grace_keeps_only_the_secret_just_replaced(
    store: Arc<dyn Store>,
) {
    let mine = account(&*store).await;
    let other = account(&*store).await;
    let other_secret = give_secret(&*store, &other).await;
    // A first secret has nothing to keep, grace or not.
    let first = rotate(&*store, &mine, 1, Some(1_000)).await;
    assert_eq!(secrets_at(&*store, &mine, 2).await, signing(&first, None));

    let second = rotate(&*store, &mine, 10, Some(100)).await;
    let third = rotate(&*store, &mine, 20, Some(200)).await;
    assert_eq!(
        secrets_at(&*store, &mine, 150).await,
        signing(&third, Some(&second))
    );

    let fourth = rotate(&*store, &mine, 30, None).await;
    assert_eq!(secrets_at(&*store, &mine, 31).await, signing(&fourth, None));

    rotate(&*store, &mine, 40, Some(400)).await;
    store
        .record_account_secret(&mine, &sealed_secret(), at(41))
        .await
        .expect("replaced without grace");
    assert_eq!(secrets_at(&*store, &mine, 42).await.previous_secret, None);

    // A6 regenerates without grace too.
    let subscription = subscribe(&*store, &mine, at(50)).await;
    rotate(&*store, &mine, 60, Some(600)).await;
    let sixth = sealed_secret();
    store
        .update_subscription(
            &mine,
            subscription.id,
            SubscriptionChanges {
                url: None,
                name: None,
                is_active: None,
                new_secret: Some(sixth.clone()),
                updated_at: at(70),
            },
        )
        .await
        .expect("update")
        .expect("found");
    assert_eq!(secrets_at(&*store, &mine, 71).await, signing(&sixth, None));

    // Only the rotating account's secrets changed.
    assert_eq!(
        secrets_at(&*store, &other, 71).await,
        signing(&other_secret, None)
    );
}

/// Rotating the secret of an unknown account is `NotFound`, and it has no secrets.
pub async fn secrets_of_an_unknown_account_cannot_rotate(store: Arc<dyn Store>) {
    let result = store
        .record_account_secret_rotation(&unknown_account(), &sealed_secret(), at(1), Some(at(100)))
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound)),
        "got {result:?}"
    );
    assert_eq!(
        store
            .find_account_secrets(&unknown_account(), at(1))
            .await
            .expect("find"),
        None
    );
}
