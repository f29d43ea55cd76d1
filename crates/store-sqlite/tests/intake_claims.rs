//! The SQLite store claims fresh notices at intake (the conformance suite also accepts a store
//! that claims none): up to the claim's limits, each leased with the first token.

use optout_core::{IntakeClaim, NoticeDisposition};
use optout_store::Store;
use optout_store_conformance::setup::{
    at, batch, claim, email, expose, opt_out, outcome, record, subscribed_account,
};
use optout_store_sqlite::SqliteStore;

#[tokio::test]
async fn fresh_notices_are_claimed_up_to_the_limit_and_the_rest_are_queued() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("store.db"))
        .await
        .expect("open store");
    let first = subscribed_account(&store).await.account;
    let second = subscribed_account(&store).await.account;
    let contacts = ["c0", "c1", "c2", "c3", "c4", "c5"];
    for (index, contact) in contacts.iter().enumerate() {
        let account = if index < 4 { &first } else { &second };
        expose(&store, account, contact, vec![email("a@x.io")]).await;
    }
    let intake = store
        .record_opt_outs_claiming(
            batch(
                contacts
                    .iter()
                    .map(|contact| opt_out(contact, None))
                    .collect(),
                at(1),
            ),
            IntakeClaim {
                lease_until: at(61),
                limit: 5,
                per_account_limit: 3,
                saturated_accounts: Vec::new(),
            },
        )
        .await
        .expect("recorded");

    let claimed = intake.claimed;
    let of = |account| claimed.iter().filter(|n| &n.account_id == account).count();
    assert_eq!(claimed.len(), 5);
    assert_eq!((of(&first), of(&second)), (3, 2));
    assert!(claimed.iter().all(|notice| notice.lease_token == 1));
    let queued = claim(&store, at(1)).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].account_id, first);

    let outcomes: Vec<_> = claimed
        .iter()
        .map(|notice| outcome(notice, at(2), NoticeDisposition::Delivered))
        .collect();
    assert_eq!(record(&store, &outcomes).await, 5);
    store.close().await;
}
