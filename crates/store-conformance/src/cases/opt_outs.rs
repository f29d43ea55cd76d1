//! Recording opt-outs: one notice per exposed account, erasure, narrowing, idempotency.

use optout_core::{Idempotency, OptOutBatch, OptOutRecorded};
use optout_store::{Store, StoreError};
use std::sync::Arc;

use crate::setup::{
    account, at, batch, claim, contact_of, datapoints, email, expose, notice_for, opt_out, pair,
    phone, record_opt_outs, subscribed_account,
};

/// Each account that received any of the contact's datapoints gets one notice, frozen with
/// exactly the datapoints it received; an unexposed contact produces none.
pub async fn an_opt_out_notifies_each_exposed_account_of_exactly_its_datapoints(
    store: Arc<dyn Store>,
) {
    let first = subscribed_account(&*store).await.account;
    let second = subscribed_account(&*store).await.account;
    let bystander = subscribed_account(&*store).await.account;
    expose(&*store, &first, "c1", vec![email("jane@acme.com")]).await;
    expose(
        &*store,
        &second,
        "c1",
        vec![phone("+14155550199"), email("jane@acme.com")],
    )
    .await;
    expose(&*store, &first, "c2", vec![phone("+1666")]).await;
    expose(&*store, &bystander, "c2", vec![email("john@acme.com")]).await;

    let opted_out = opt_out("c1", None);
    let recorded = record_opt_outs(&*store, vec![opted_out.clone()], at(1)).await;
    assert_eq!(
        recorded,
        vec![OptOutRecorded {
            opt_out_id: opted_out.id,
            notices: 2,
        }]
    );
    let claimed = claim(&*store, at(1)).await;
    assert_eq!(claimed.len(), 2);
    let to_first = notice_for(&claimed, &first);
    assert_eq!(contact_of(to_first), "c1");
    assert_eq!(datapoints(to_first), vec![pair("jane@acme.com", "email")]);
    let to_second = notice_for(&claimed, &second);
    assert_eq!(
        datapoints(to_second),
        vec![
            pair("jane@acme.com", "email"),
            pair("+14155550199", "phone")
        ]
    );
    assert_ne!(to_first.notice_id, to_second.notice_id);

    let nobody = opt_out("c9", None);
    let recorded = record_opt_outs(&*store, vec![nobody.clone()], at(2)).await;
    assert_eq!(
        recorded,
        vec![OptOutRecorded {
            opt_out_id: nobody.id,
            notices: 0,
        }]
    );
    assert!(claim(&*store, at(2)).await.is_empty());
}

/// An opt-out erases the exposures it covers, so repeating it finds no recipient.
pub async fn a_second_opt_out_of_the_same_contact_notifies_nobody(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await.account;
    expose(&*store, &subscribed, "c1", vec![email("a@x.io")]).await;
    let first = record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await;
    assert_eq!(first[0].notices, 1);
    let second = record_opt_outs(&*store, vec![opt_out("c1", None)], at(2)).await;
    assert_eq!(second[0].notices, 0);
    assert_eq!(claim(&*store, at(2)).await.len(), 1);
}

/// An opt-out of some datapoints notifies only the accounts that received those, with only
/// those; a later opt-out, in the same batch or not, covers what is left.
pub async fn an_opt_out_narrowed_to_datapoints_covers_only_those(store: Arc<dyn Store>) {
    let first = subscribed_account(&*store).await.account;
    let second = subscribed_account(&*store).await.account;
    expose(&*store, &first, "c1", vec![email("a@x.io"), phone("+1555")]).await;
    expose(&*store, &second, "c1", vec![phone("+1555")]).await;

    let narrowed = record_opt_outs(
        &*store,
        vec![opt_out("c1", Some(vec![email("a@x.io")]))],
        at(1),
    )
    .await;
    assert_eq!(narrowed[0].notices, 1);
    let claimed = claim(&*store, at(1)).await;
    assert_eq!(
        datapoints(notice_for(&claimed, &first)),
        vec![pair("a@x.io", "email")]
    );

    let rest = record_opt_outs(&*store, vec![opt_out("c1", None)], at(2)).await;
    assert_eq!(rest[0].notices, 2);
    let claimed = claim(&*store, at(2)).await;
    assert_eq!(
        datapoints(notice_for(&claimed, &first)),
        vec![pair("+1555", "phone")]
    );
    assert_eq!(
        datapoints(notice_for(&claimed, &second)),
        vec![pair("+1555", "phone")]
    );

    // In one batch, the second opt-out of a contact finds only what the first left.
    expose(&*store, &first, "c2", vec![email("b@x.io"), phone("+1666")]).await;
    let both = record_opt_outs(
        &*store,
        vec![
            opt_out("c2", Some(vec![email("b@x.io")])),
            opt_out("c2", None),
        ],
        at(3),
    )
    .await;
    assert_eq!(
        both.iter().map(|r| r.notices).collect::<Vec<_>>(),
        vec![1, 1]
    );
    let mut claimed: Vec<Vec<(String, String)>> =
        claim(&*store, at(3)).await.iter().map(datapoints).collect();
    claimed.sort();
    assert_eq!(
        claimed,
        vec![vec![pair("+1666", "phone")], vec![pair("b@x.io", "email")]]
    );
}

fn keyed(opt_outs: Vec<optout_core::NewOptOut>, key: &str, fingerprint: &str) -> OptOutBatch {
    OptOutBatch {
        idempotency: Some(Idempotency {
            key: key.to_owned(),
            fingerprint: fingerprint.to_owned(),
        }),
        ..batch(opt_outs, at(1))
    }
}

/// The same key with the same fingerprint returns the first result and records nothing new;
/// with another fingerprint it is `IdempotencyMismatch`.
pub async fn an_idempotency_key_replays_the_first_result_and_refuses_another_request(
    store: Arc<dyn Store>,
) {
    let subscribed = subscribed_account(&*store).await.account;
    expose(&*store, &subscribed, "c1", vec![email("a@x.io")]).await;
    expose(&*store, &subscribed, "c2", vec![email("b@x.io")]).await;
    let first = store
        .record_opt_outs(keyed(
            vec![opt_out("c1", None), opt_out("c2", None)],
            "k1",
            "f1",
        ))
        .await
        .expect("recorded");
    assert_eq!(
        first.iter().map(|r| r.notices).collect::<Vec<_>>(),
        vec![1, 1]
    );

    // A retry of the same request carries freshly generated opt-out ids.
    let retry = keyed(vec![opt_out("c1", None), opt_out("c2", None)], "k1", "f1");
    let retried_id = retry.opt_outs[0].id;
    let replayed = store.record_opt_outs(retry).await.expect("replayed");
    assert_eq!(replayed, first);
    assert!(store
        .find_compliance_record(retried_id, at(2))
        .await
        .expect("find")
        .is_none());
    assert_eq!(claim(&*store, at(2)).await.len(), 2);

    let other = store
        .record_opt_outs(keyed(vec![opt_out("c1", None)], "k1", "f2"))
        .await;
    assert!(
        matches!(other, Err(StoreError::IdempotencyMismatch)),
        "got {other:?}"
    );
    let fresh = store
        .record_opt_outs(keyed(vec![opt_out("c1", None)], "k2", "f2"))
        .await
        .expect("recorded");
    assert_eq!(fresh[0].notices, 0);
}

/// A batch that fails records none of its opt-outs, notices, erasures or key.
pub async fn a_failed_opt_out_batch_records_nothing(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await.account;
    let unsubscribed = account(&*store).await;
    expose(&*store, &subscribed, "c1", vec![email("a@x.io")]).await;
    expose(&*store, &unsubscribed, "c2", vec![email("b@x.io")]).await;

    // Two opt-outs with one id cannot both be stored.
    let first = opt_out("c1", None);
    let mut clash = opt_out("c2", None);
    clash.id = first.id;
    let failed = store
        .record_opt_outs(keyed(vec![first.clone(), clash], "k1", "f1"))
        .await;
    assert!(failed.is_err(), "got {failed:?}");
    assert!(store
        .find_compliance_record(first.id, at(2))
        .await
        .expect("find")
        .is_none());
    assert!(claim(&*store, at(2)).await.is_empty());

    // The exposures, the suppression list and the key are untouched: a good retry does it all.
    let retried = store
        .record_opt_outs(keyed(
            vec![opt_out("c1", None), opt_out("c2", None)],
            "k1",
            "f1",
        ))
        .await
        .expect("recorded");
    assert_eq!(
        retried.iter().map(|r| r.notices).collect::<Vec<_>>(),
        vec![1, 1]
    );
    assert_eq!(claim(&*store, at(2)).await.len(), 1);
}
