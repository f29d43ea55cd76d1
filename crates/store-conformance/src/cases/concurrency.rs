//! Use cases racing each other, as they do with several workers or nodes.

use optout_core::{ClaimRequest, ClaimedNotice, Idempotency, NoticeId, NoticeStatus};
use optout_store::Store;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::task::JoinSet;

use crate::setup::{
    account, at, batch, claim, claim_request, datapoints, email, expose, exposure, exposure_day,
    give_secret, new_subscription, opt_out, pair, phone, record_opt_outs, subscribed_account,
};

const CLAIMERS: usize = 8;
const ACCOUNTS: usize = 20;
const CONTACTS_PER_ACCOUNT: usize = 25;
const CLAIM_LIMIT: u32 = 7;
const PER_ACCOUNT_LIMIT: u32 = 3;

/// Waits for every task, re-raising the first panic.
async fn join_all<T: 'static>(mut tasks: JoinSet<T>) -> Vec<T> {
    let mut results = Vec::with_capacity(tasks.len());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(result) => results.push(result),
            Err(error) => match error.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(error) => panic!("a task did not finish: {error}"),
            },
        }
    }
    results
}

fn check_limits(claimed: &[ClaimedNotice]) {
    assert!(
        claimed.len() <= CLAIM_LIMIT as usize,
        "a claim returned {} notices, above its limit",
        claimed.len()
    );
    let mut per_account: HashMap<&str, u32> = HashMap::new();
    for notice in claimed {
        *per_account.entry(notice.account_id.as_str()).or_default() += 1;
    }
    assert!(per_account.values().all(|&n| n <= PER_ACCOUNT_LIMIT));
}

/// Eight workers claiming 500 due notices under a lease longer than the test never receive the
/// same notice twice, and every notice is claimed.
pub async fn concurrent_claimers_claim_every_notice_exactly_once(store: Arc<dyn Store>) {
    let mut accounts = Vec::with_capacity(ACCOUNTS);
    for _ in 0..ACCOUNTS {
        accounts.push(subscribed_account(&*store).await.account);
    }
    let contacts: Vec<String> = (0..CONTACTS_PER_ACCOUNT).map(|i| format!("c{i}")).collect();
    let items: Vec<_> = accounts
        .iter()
        .flat_map(|account| {
            contacts.iter().map(move |contact| {
                exposure(
                    account,
                    contact,
                    vec![email("a@x.io")],
                    exposure_day(3),
                    None,
                )
            })
        })
        .collect();
    store.record_exposures(&items).await.expect("recorded");
    let recorded = record_opt_outs(
        &*store,
        contacts
            .iter()
            .map(|contact| opt_out(contact, None))
            .collect(),
        at(1),
    )
    .await;
    let total: u64 = recorded.iter().map(|r| r.notices).sum();
    assert_eq!(total, (ACCOUNTS * CONTACTS_PER_ACCOUNT) as u64);

    let request = ClaimRequest {
        limit: CLAIM_LIMIT,
        per_account_limit: PER_ACCOUNT_LIMIT,
        ..claim_request(at(2), 3_600)
    };
    let mut claimers = JoinSet::new();
    for _ in 0..CLAIMERS {
        let store = store.clone();
        let request = request.clone();
        claimers.spawn(async move {
            let mut mine: Vec<(NoticeId, i64)> = Vec::new();
            loop {
                let claimed = store
                    .claim_due_notices(request.clone())
                    .await
                    .expect("claim");
                check_limits(&claimed);
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.iter().map(|n| (n.notice_id, n.lease_token)));
            }
        });
    }
    let mut claims: Vec<(NoticeId, i64)> = join_all(claimers).await.into_iter().flatten().collect();
    // A claimer may find nothing while the others hold the last rows; sweep what they left.
    loop {
        let claimed = store
            .claim_due_notices(request.clone())
            .await
            .expect("claim");
        check_limits(&claimed);
        if claimed.is_empty() {
            break;
        }
        claims.extend(claimed.iter().map(|n| (n.notice_id, n.lease_token)));
    }

    let mut seen = HashSet::new();
    for (notice, token) in &claims {
        assert!(
            seen.insert(*notice),
            "notice {notice} was claimed twice under one lease (token {token})"
        );
    }
    assert_eq!(seen.len(), ACCOUNTS * CONTACTS_PER_ACCOUNT);
}

/// Accounts created at the same time get distinct allocated ids.
pub async fn concurrent_allocations_get_distinct_account_ids(store: Arc<dyn Store>) {
    let mut tasks = JoinSet::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut ids = Vec::new();
            for _ in 0..3 {
                ids.push(account(&*store).await);
            }
            ids
        });
    }
    let ids: Vec<_> = join_all(tasks).await.into_iter().flatten().collect();
    let mut numbers: Vec<u64> = ids
        .iter()
        .map(|id| id.as_str().parse().expect("numeric"))
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (100_001..=100_024).collect::<Vec<u64>>());
}

/// An opt-out racing the first subscription of its account never leaves the notice held: the
/// opt-out either sees the subscription or the subscription releases the notice.
pub async fn opt_outs_racing_subscription_creation_leave_no_notice_behind(store: Arc<dyn Store>) {
    const PAIRS: usize = 12;
    let mut tasks = JoinSet::new();
    for i in 0..PAIRS {
        let account = account(&*store).await;
        give_secret(&*store, &account).await;
        let contact = format!("c{i}");
        expose(&*store, &account, &contact, vec![email("a@x.io")]).await;
        let subscriber = store.clone();
        let subscription = new_subscription(&account, at(1));
        tasks.spawn(async move {
            subscriber
                .create_subscription(subscription)
                .await
                .expect("subscribed");
            None
        });
        let opter = store.clone();
        tasks.spawn(async move {
            let recorded = opter
                .record_opt_outs(batch(vec![opt_out(&contact, None)], at(1)))
                .await
                .expect("recorded");
            Some(recorded[0].opt_out_id)
        });
    }
    let opt_outs: Vec<_> = join_all(tasks).await.into_iter().flatten().collect();
    assert_eq!(claim(&*store, at(2)).await.len(), PAIRS);
    for opt_out_id in opt_outs {
        let record = store
            .find_compliance_record(opt_out_id, at(3))
            .await
            .expect("find")
            .expect("the opt-out exists");
        assert_eq!(record.recipients.len(), 1);
        assert_ne!(record.recipients[0].status, NoticeStatus::Waiting);
    }
}

/// An exposure racing an opt-out of the same contact is either refused (the opt-out came first)
/// or in the opt-out's notice (the exposure came first); it is never left in the ledger.
pub async fn exposures_racing_an_opt_out_are_refused_or_notified(store: Arc<dyn Store>) {
    const RACES: usize = 12;
    let account = subscribed_account(&*store).await.account;
    let mut tasks = JoinSet::new();
    for i in 0..RACES {
        let contact = format!("c{i}");
        // Exposed before, so the opt-out has a notice to send either way.
        expose(&*store, &account, &contact, vec![email("a@x.io")]).await;
        let exposer = store.clone();
        let item = exposure(
            &account,
            &contact,
            vec![phone("+1555")],
            exposure_day(4),
            None,
        );
        tasks.spawn(async move {
            let intake = exposer.record_exposures(&[item]).await.expect("recorded");
            assert_eq!(intake.accepted + intake.refused, 1);
            (i, Some(intake.accepted == 1))
        });
        let opter = store.clone();
        tasks.spawn(async move {
            opter
                .record_opt_outs(batch(vec![opt_out(&contact, None)], at(1)))
                .await
                .expect("recorded");
            (i, None)
        });
    }
    let accepted: HashMap<usize, bool> = join_all(tasks)
        .await
        .into_iter()
        .filter_map(|(i, accepted)| accepted.map(|accepted| (i, accepted)))
        .collect();
    let claimed = claim(&*store, at(2)).await;
    assert_eq!(claimed.len(), RACES);
    for notice in &claimed {
        let contact = crate::setup::contact_of(notice);
        let i: usize = contact[1..].parse().expect("a numbered contact");
        let mut expected = vec![pair("a@x.io", "email")];
        if accepted[&i] {
            expected.push(pair("+1555", "phone"));
        }
        assert_eq!(datapoints(notice), expected, "contact {contact}");
    }
    // Nothing of these contacts is left to notify.
    let again = record_opt_outs(
        &*store,
        (0..RACES)
            .map(|i| opt_out(&format!("c{i}"), None))
            .collect(),
        at(3),
    )
    .await;
    assert!(again.iter().all(|r| r.notices == 0));
}

/// Requests sharing one idempotency key, sent at once, record the opt-out once and all get its
/// result.
pub async fn concurrent_requests_with_one_idempotency_key_record_once(store: Arc<dyn Store>) {
    let account = subscribed_account(&*store).await.account;
    expose(&*store, &account, "c1", vec![email("a@x.io")]).await;
    let mut tasks = JoinSet::new();
    for _ in 0..4 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut request = batch(vec![opt_out("c1", None)], at(1));
            request.idempotency = Some(Idempotency {
                key: "same".to_owned(),
                fingerprint: "f".to_owned(),
            });
            store.record_opt_outs(request).await.expect("recorded")
        });
    }
    let results = join_all(tasks).await;
    assert!(results.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(results[0][0].notices, 1);
    assert_eq!(claim(&*store, at(2)).await.len(), 1);
}
