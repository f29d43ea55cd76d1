//! The queue: claims under a lease, outcomes fenced by the lease token, retries, exhaustion, and
//! notices held and released as subscriptions come and go.

use chrono::Duration;
use optout_core::{
    AttemptOutcome, AuditFilter, AuditStatus, ClaimRequest, IntakeClaim, NoticeDisposition,
    NoticeStatus, OptOutId, PageRequest, RecipientRecord, SubscriptionChanges,
};
use optout_store::Store;
use std::collections::HashMap;
use std::sync::Arc;

use crate::setup::{
    account, at, batch, claim, claim_one, claim_request, contact_of, datapoints, email, expose,
    give_secret, opt_out, outcome, pair, record, record_opt_outs, sealed_secret, subscribe,
    subscribed_account,
};

const FIRST_PAGE: PageRequest = PageRequest {
    limit: 10,
    offset: 0,
};

/// The one recipient of an opt-out, as the compliance record reports it at `now`.
async fn recipient(store: &dyn Store, opt_out_id: OptOutId, now_seconds: i64) -> RecipientRecord {
    let record = store
        .find_compliance_record(opt_out_id, at(now_seconds))
        .await
        .expect("find")
        .expect("the opt-out exists");
    assert_eq!(record.recipients.len(), 1);
    record.recipients[0].clone()
}

fn changes(is_active: Option<bool>, seconds: i64) -> SubscriptionChanges {
    SubscriptionChanges {
        url: None,
        name: None,
        is_active,
        new_secret: None,
        updated_at: at(seconds),
    }
}

/// Notices of an account without a subscription are held (not due); creating the subscription
/// makes them due at once, to be delivered with its URL and the account's current secret.
pub async fn notices_wait_for_a_subscription_and_its_creation_releases_them(store: Arc<dyn Store>) {
    let account = account(&*store).await;
    expose(&*store, &account, "c1", vec![email("a@x.io")]).await;
    let recorded = record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await;
    assert_eq!(recorded[0].notices, 1);
    assert!(claim(&*store, at(100)).await.is_empty());
    assert_eq!(store.find_next_due_at().await.expect("next due"), None);
    let held = recipient(&*store, recorded[0].opt_out_id, 2).await;
    assert_eq!(held.status, NoticeStatus::Waiting);
    assert_eq!(held.account_id, account);

    let secret = give_secret(&*store, &account).await;
    let subscription = subscribe(&*store, &account, at(5)).await;
    assert_eq!(
        store.find_next_due_at().await.expect("next due"),
        Some(at(5))
    );
    let claimed = claim_one(&*store, at(5)).await;
    assert_eq!(claimed.notice_id, held.notice_id);
    assert_eq!(claimed.account_id, account);
    assert_eq!(claimed.subscription_id, subscription.id);
    assert_eq!(claimed.url, subscription.url);
    assert_eq!(claimed.secret, secret);
    assert_eq!(claimed.attempt, 1);
    assert_eq!(contact_of(&claimed), "c1");

    // A rotated secret signs the next attempt.
    let rotated = sealed_secret();
    store
        .update_subscription(
            &account,
            subscription.id,
            SubscriptionChanges {
                new_secret: Some(rotated.clone()),
                ..changes(None, 6)
            },
        )
        .await
        .expect("update")
        .expect("found");
    let again = claim_one(&*store, at(65)).await;
    assert_eq!(again.notice_id, claimed.notice_id);
    assert_eq!(again.secret, rotated);
}

/// A claimed notice is not due again until its lease ends; then a new claim takes it with a new
/// token, and the outcome of the old claim is ignored.
pub async fn a_lease_hides_the_notice_until_it_ends_and_fences_stale_outcomes(
    store: Arc<dyn Store>,
) {
    let subscribed = subscribed_account(&*store).await;
    expose(&*store, &subscribed.account, "c1", vec![email("a@x.io")]).await;
    let recorded = record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await;
    assert_eq!(
        store.find_next_due_at().await.expect("next due"),
        Some(at(1))
    );

    let first = claim_one(&*store, at(1)).await;
    assert!(claim(&*store, at(30)).await.is_empty());
    assert_eq!(
        store.find_next_due_at().await.expect("next due"),
        Some(at(61))
    );
    let second = claim_one(&*store, at(61)).await;
    assert_eq!(second.notice_id, first.notice_id);
    assert_ne!(second.lease_token, first.lease_token);
    assert_eq!(second.attempt, 1, "a claim is not an attempt");

    let stale = outcome(&first, at(2), NoticeDisposition::Delivered);
    assert_eq!(record(&*store, &[stale]).await, 0);
    let current = recipient(&*store, recorded[0].opt_out_id, 62).await;
    assert_eq!(current.status, NoticeStatus::Delivering);
    assert_eq!(current.attempts, 0);
    let audit = store
        .list_audit_entries(&subscribed.account, AuditFilter::default(), FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(audit.total, 0);

    let retry = outcome(&second, at(62), NoticeDisposition::RetryAt(at(200)));
    assert_eq!(record(&*store, std::slice::from_ref(&retry)).await, 1);
    // Recording ends the lease: the same outcome a second time is stale.
    assert_eq!(record(&*store, &[retry]).await, 0);
    assert_eq!(
        store.find_next_due_at().await.expect("next due"),
        Some(at(200))
    );
    let audit = store
        .list_audit_entries(&subscribed.account, AuditFilter::default(), FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(audit.total, 1);
    assert_eq!(audit.items[0].status, AuditStatus::Failed);
}

/// A delivered notice is never due again, and a late outcome cannot undo it.
pub async fn a_delivered_notice_is_done(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await;
    expose(&*store, &subscribed.account, "c1", vec![email("a@x.io")]).await;
    let recorded = record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await;
    let claimed = claim_one(&*store, at(1)).await;
    let delivered = outcome(&claimed, at(2), NoticeDisposition::Delivered);
    assert_eq!(record(&*store, &[delivered]).await, 1);

    assert_eq!(store.find_next_due_at().await.expect("next due"), None);
    assert!(claim(&*store, at(10_000)).await.is_empty());
    let done = recipient(&*store, recorded[0].opt_out_id, 3).await;
    assert_eq!(done.status, NoticeStatus::Delivered);
    assert_eq!(done.attempts, 1);
    assert_eq!(done.last_status_code, Some(200));
    assert_eq!(done.delivered_at, Some(at(2) + Duration::milliseconds(250)));

    let late = outcome(&claimed, at(3), NoticeDisposition::RetryAt(at(100)));
    assert_eq!(record(&*store, &[late]).await, 0);
    let still = recipient(&*store, recorded[0].opt_out_id, 4).await;
    assert_eq!(still.status, NoticeStatus::Delivered);
    assert_eq!(store.find_next_due_at().await.expect("next due"), None);
}

/// A failed attempt schedules the next one; the notice is failed, then due at that time, then
/// claimed as the next attempt.
pub async fn a_failed_attempt_is_retried_at_the_scheduled_time(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await;
    expose(&*store, &subscribed.account, "c1", vec![email("a@x.io")]).await;
    let recorded = record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await;
    let first = claim_one(&*store, at(1)).await;
    assert_eq!(first.attempt, 1);
    let failed = outcome(&first, at(2), NoticeDisposition::RetryAt(at(100)));
    assert_eq!(record(&*store, &[failed]).await, 1);

    let failing = recipient(&*store, recorded[0].opt_out_id, 3).await;
    assert_eq!(failing.status, NoticeStatus::Failed);
    assert_eq!(failing.attempts, 1);
    assert_eq!(failing.last_status_code, Some(503));
    assert_eq!(failing.delivered_at, None);
    assert_eq!(
        store.find_next_due_at().await.expect("next due"),
        Some(at(100))
    );
    assert!(claim(&*store, at(99)).await.is_empty());

    let second = claim_one(&*store, at(100)).await;
    assert_eq!(second.notice_id, first.notice_id);
    assert_eq!(second.attempt, 2);
    let delivered = outcome(&second, at(101), NoticeDisposition::Delivered);
    assert_eq!(record(&*store, &[delivered]).await, 1);
    let done = recipient(&*store, recorded[0].opt_out_id, 102).await;
    assert_eq!(done.status, NoticeStatus::Delivered);
    assert_eq!(done.attempts, 2);
}

/// Exhaustion disables the subscription with a reason and holds every notice of the account
/// (other accounts go on); reactivation clears the block and releases them with fresh attempts.
pub async fn exhausted_retries_disable_the_subscription_and_hold_the_account_notices(
    store: Arc<dyn Store>,
) {
    let failing = subscribed_account(&*store).await;
    let healthy = subscribed_account(&*store).await;
    expose(&*store, &failing.account, "c1", vec![email("a@x.io")]).await;
    expose(&*store, &failing.account, "c2", vec![email("b@x.io")]).await;
    expose(&*store, &healthy.account, "c3", vec![email("c@x.io")]).await;
    let recorded = record_opt_outs(
        &*store,
        vec![
            opt_out("c1", None),
            opt_out("c2", None),
            opt_out("c3", None),
        ],
        at(1),
    )
    .await;

    let claimed = store
        .claim_due_notices(ClaimRequest {
            per_account_limit: 1,
            ..claim_request(at(1), 60)
        })
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let outcomes: Vec<_> = claimed
        .iter()
        .map(|notice| {
            let disposition = if notice.account_id == failing.account {
                NoticeDisposition::Exhausted
            } else {
                NoticeDisposition::Delivered
            };
            outcome(notice, at(2), disposition)
        })
        .collect();
    assert_eq!(record(&*store, &outcomes).await, 2);

    let finished = at(2) + Duration::milliseconds(250);
    let disabled = store
        .find_subscription(&failing.account, failing.subscription.id)
        .await
        .expect("find")
        .expect("still there");
    assert!(!disabled.is_active);
    assert_eq!(
        disabled.block_reason.as_deref(),
        Some("Max retries exceeded")
    );
    assert_eq!(disabled.blocked_at, Some(finished));
    assert_eq!(disabled.updated_at, finished);
    let untouched = store
        .find_subscription(&healthy.account, healthy.subscription.id)
        .await
        .expect("find")
        .expect("still there");
    assert!(untouched.is_active);
    for opt_out in &recorded[..2] {
        let held = recipient(&*store, opt_out.opt_out_id, 3).await;
        assert_eq!(held.status, NoticeStatus::Waiting);
    }
    assert_eq!(store.find_next_due_at().await.expect("next due"), None);
    assert!(claim(&*store, at(1_000)).await.is_empty());
    let audit = store
        .list_audit_entries(&failing.account, AuditFilter::default(), FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(audit.total, 1);
    assert_eq!(audit.items[0].status, AuditStatus::PermanentFailure);

    let reactivated = store
        .update_subscription(
            &failing.account,
            failing.subscription.id,
            changes(Some(true), 2_000),
        )
        .await
        .expect("update")
        .expect("found");
    assert!(reactivated.is_active);
    assert_eq!(reactivated.block_reason, None);
    assert_eq!(reactivated.blocked_at, None);
    assert_eq!(
        store.find_next_due_at().await.expect("next due"),
        Some(at(2_000))
    );
    let released = claim(&*store, at(2_000)).await;
    assert_eq!(released.len(), 2);
    for notice in &released {
        assert_eq!(notice.account_id, failing.account);
        assert_eq!(
            notice.attempt, 1,
            "attempts start afresh after reactivation"
        );
    }
}

/// Pausing or deleting the subscription holds the account's notices, new ones included;
/// resuming or subscribing again releases them all with fresh attempts.
pub async fn pausing_or_deleting_holds_notices_and_resuming_or_resubscribing_releases_them(
    store: Arc<dyn Store>,
) {
    let subscribed = subscribed_account(&*store).await;
    let account = &subscribed.account;
    let id = subscribed.subscription.id;
    expose(&*store, account, "c1", vec![email("a@x.io")]).await;
    let first = record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await[0].opt_out_id;

    store
        .update_subscription(account, id, changes(Some(false), 2))
        .await
        .expect("update")
        .expect("found");
    assert!(claim(&*store, at(3)).await.is_empty());
    assert_eq!(store.find_next_due_at().await.expect("next due"), None);
    assert_eq!(
        recipient(&*store, first, 3).await.status,
        NoticeStatus::Waiting
    );

    store
        .update_subscription(account, id, changes(Some(true), 4))
        .await
        .expect("update")
        .expect("found");
    let resumed = claim_one(&*store, at(4)).await;
    let failed = outcome(&resumed, at(4), NoticeDisposition::RetryAt(at(5)));
    assert_eq!(record(&*store, &[failed]).await, 1);

    store
        .delete_subscriptions(account, &[id])
        .await
        .expect("delete");
    let held = recipient(&*store, first, 6).await;
    assert_eq!(held.status, NoticeStatus::Waiting);
    assert_eq!(held.attempts, 1);
    assert!(claim(&*store, at(6)).await.is_empty());
    expose(&*store, account, "c2", vec![email("b@x.io")]).await;
    let second = record_opt_outs(&*store, vec![opt_out("c2", None)], at(6)).await[0].opt_out_id;
    assert_eq!(
        recipient(&*store, second, 6).await.status,
        NoticeStatus::Waiting
    );
    assert_eq!(store.find_next_due_at().await.expect("next due"), None);

    let renewed = subscribe(&*store, account, at(7)).await;
    let released = claim(&*store, at(7)).await;
    assert_eq!(released.len(), 2);
    for notice in &released {
        assert_eq!(notice.subscription_id, renewed.id);
        assert_eq!(
            notice.attempt, 1,
            "attempts start afresh after resubscribing"
        );
    }
}

/// A notice whose attempt is under way when the subscription is paused stays under its lease:
/// resuming at once does not make it claimable while the attempt may still run (it would be
/// delivered twice), and the attempt's outcome is recorded as usual.
pub async fn pausing_during_an_attempt_leaves_the_notice_to_its_lease(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await;
    let account = &subscribed.account;
    let id = subscribed.subscription.id;
    expose(&*store, account, "c1", vec![email("a@x.io")]).await;
    let opt_out_id = record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await[0].opt_out_id;
    let in_flight = claim_one(&*store, at(1)).await;

    for (is_active, seconds) in [(false, 2), (true, 3)] {
        store
            .update_subscription(account, id, changes(Some(is_active), seconds))
            .await
            .expect("update")
            .expect("found");
    }
    assert!(
        claim(&*store, at(4)).await.is_empty(),
        "the notice under lease is not claimed again"
    );
    let delivered = outcome(&in_flight, at(4), NoticeDisposition::Delivered);
    assert_eq!(record(&*store, &[delivered]).await, 1);
    assert_eq!(
        recipient(&*store, opt_out_id, 5).await.status,
        NoticeStatus::Delivered
    );
    assert!(claim(&*store, at(120)).await.is_empty());
}

/// When retries run out for one notice while another of the same account is being delivered,
/// the one in flight stays under its lease: enabling the subscription again at once releases the
/// exhausted notice but does not let the one in flight be claimed a second time.
pub async fn exhaustion_leaves_a_notice_in_flight_to_its_lease(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await;
    let account = &subscribed.account;
    expose(&*store, account, "c1", vec![email("a@x.io")]).await;
    expose(&*store, account, "c2", vec![email("b@x.io")]).await;
    record_opt_outs(
        &*store,
        vec![opt_out("c1", None), opt_out("c2", None)],
        at(1),
    )
    .await;
    let claimed = claim(&*store, at(1)).await;
    assert_eq!(claimed.len(), 2);
    let (exhausted, in_flight) = (&claimed[0], &claimed[1]);
    let gave_up = outcome(exhausted, at(2), NoticeDisposition::Exhausted);
    assert_eq!(record(&*store, &[gave_up]).await, 1);

    store
        .update_subscription(account, subscribed.subscription.id, changes(Some(true), 3))
        .await
        .expect("update")
        .expect("found");
    let released = claim(&*store, at(4)).await;
    assert_eq!(released.len(), 1, "only the exhausted notice is released");
    assert_eq!(released[0].notice_id, exhausted.notice_id);
    let delivered = outcome(in_flight, at(4), NoticeDisposition::Delivered);
    assert_eq!(record(&*store, &[delivered]).await, 1);
}

/// A claim takes at most `limit` notices, at most `per_account_limit` of any one account, and
/// none of a saturated account.
pub async fn claims_respect_the_limits_and_skip_saturated_accounts(store: Arc<dyn Store>) {
    let busy = subscribed_account(&*store).await.account;
    let calm = subscribed_account(&*store).await.account;
    let saturated = subscribed_account(&*store).await.account;
    for contact in ["c0", "c1", "c2", "c3", "c4"] {
        expose(&*store, &busy, contact, vec![email("a@x.io")]).await;
    }
    for contact in ["c0", "c1", "c2"] {
        expose(&*store, &calm, contact, vec![email("a@x.io")]).await;
    }
    for contact in ["c0", "c1"] {
        expose(&*store, &saturated, contact, vec![email("a@x.io")]).await;
    }
    let opt_outs = ["c0", "c1", "c2", "c3", "c4"]
        .into_iter()
        .map(|contact| opt_out(contact, None))
        .collect();
    record_opt_outs(&*store, opt_outs, at(1)).await;

    let count = |claimed: &[optout_core::ClaimedNotice]| {
        let mut per_account: HashMap<String, usize> = HashMap::new();
        for notice in claimed {
            *per_account
                .entry(notice.account_id.as_str().to_owned())
                .or_default() += 1;
        }
        per_account
    };
    let limited = store
        .claim_due_notices(ClaimRequest {
            limit: 4,
            per_account_limit: 2,
            saturated_accounts: vec![saturated.clone()],
            ..claim_request(at(1), 60)
        })
        .await
        .expect("claim");
    let per_account = count(&limited);
    assert_eq!(limited.len(), 4);
    assert_eq!(per_account.get(busy.as_str()), Some(&2));
    assert_eq!(per_account.get(calm.as_str()), Some(&2));
    assert_eq!(per_account.get(saturated.as_str()), None);

    let rest = claim(&*store, at(1)).await;
    let per_account = count(&rest);
    assert_eq!(rest.len(), 6);
    assert_eq!(per_account.get(busy.as_str()), Some(&3));
    assert_eq!(per_account.get(calm.as_str()), Some(&1));
    assert_eq!(per_account.get(saturated.as_str()), Some(&2));
    assert!(claim(&*store, at(1)).await.is_empty());
}

/// `accounts` subscribed accounts, each with one notice due at `at(1)` for each of `contacts`
/// contacts (who all opted out in one batch).
async fn accounts_with_notices_due_at_one_instant(
    store: &dyn Store,
    accounts: usize,
    contacts: usize,
) -> Vec<optout_core::AccountId> {
    let mut subscribed = Vec::with_capacity(accounts);
    for _ in 0..accounts {
        subscribed.push(subscribed_account(store).await.account);
    }
    let contacts: Vec<String> = (0..contacts).map(|n| format!("c{n}")).collect();
    for account in &subscribed {
        for contact in &contacts {
            expose(store, account, contact, vec![email("a@x.io")]).await;
        }
    }
    let opt_outs = contacts
        .iter()
        .map(|contact| opt_out(contact, None))
        .collect();
    record_opt_outs(store, opt_outs, at(1)).await;
    subscribed
}

/// Notices of several accounts that fell due at the same instant are claimed together, each
/// account up to its share, however many notices one account has queued before the others.
pub async fn a_claim_spreads_over_accounts_due_at_the_same_instant(store: Arc<dyn Store>) {
    let accounts = accounts_with_notices_due_at_one_instant(&*store, 4, 12).await;

    let claimed = store
        .claim_due_notices(ClaimRequest {
            limit: 8,
            per_account_limit: 2,
            saturated_accounts: Vec::new(),
            ..claim_request(at(1), 60)
        })
        .await
        .expect("claim");
    let mut per_account: HashMap<&str, usize> = HashMap::new();
    for notice in &claimed {
        *per_account.entry(notice.account_id.as_str()).or_default() += 1;
    }
    assert_eq!(claimed.len(), 8, "the claim is filled: {per_account:?}");
    for account in &accounts {
        assert_eq!(per_account.get(account.as_str()), Some(&2), "{account}");
    }
}

/// A claim passes over a saturated account's long backlog to the other accounts' notices of the
/// same instant, and successive claims take every notice exactly once.
pub async fn claims_pass_over_a_saturated_backlog_and_take_each_notice_once(store: Arc<dyn Store>) {
    let accounts = accounts_with_notices_due_at_one_instant(&*store, 3, 200).await;

    let mut seen = std::collections::HashSet::new();
    let passed_over = store
        .claim_due_notices(ClaimRequest {
            limit: 60,
            per_account_limit: 30,
            saturated_accounts: vec![accounts[0].clone()],
            ..claim_request(at(1), 60)
        })
        .await
        .expect("claim");
    assert_eq!(passed_over.len(), 60);
    for notice in &passed_over {
        assert_ne!(
            notice.account_id, accounts[0],
            "the saturated account is passed over"
        );
        assert!(seen.insert(notice.notice_id));
    }
    loop {
        let claimed = store
            .claim_due_notices(ClaimRequest {
                limit: 150,
                per_account_limit: 150,
                ..claim_request(at(1), 60)
            })
            .await
            .expect("claim");
        if claimed.is_empty() {
            break;
        }
        for notice in &claimed {
            assert!(
                seen.insert(notice.notice_id),
                "claimed twice: {}",
                notice.notice_id
            );
        }
    }
    assert_eq!(seen.len(), 600, "every notice is claimed once");
}

/// Notices claimed as their opt-out is recorded are leased exactly like claimed ones: within the
/// intake claim's limits, never claimable from the queue while the lease lasts, due again when it
/// ends, and fenced by their token. Every other notice waits in the queue. (A store that claims
/// nothing at intake passes with everything in the queue.)
pub async fn notices_claimed_at_intake_are_leased_like_claimed_ones(store: Arc<dyn Store>) {
    let busy = subscribed_account(&*store).await;
    let calm = subscribed_account(&*store).await;
    let subscribed = [&busy, &calm];
    let (busy, calm) = (&busy.account, &calm.account);
    let saturated = subscribed_account(&*store).await.account;
    let unsubscribed = account(&*store).await;
    give_secret(&*store, &unsubscribed).await;
    for contact in ["c0", "c1", "c2", "c3"] {
        expose(&*store, busy, contact, vec![email("a@x.io")]).await;
    }
    expose(&*store, calm, "c4", vec![email("b@x.io")]).await;
    expose(&*store, &saturated, "c5", vec![email("c@x.io")]).await;
    expose(&*store, &unsubscribed, "c6", vec![email("d@x.io")]).await;
    let opt_outs = ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]
        .into_iter()
        .map(|contact| opt_out(contact, None))
        .collect();
    let intake = store
        .record_opt_outs_claiming(
            batch(opt_outs, at(1)),
            IntakeClaim {
                lease_until: at(61),
                limit: 3,
                per_account_limit: 2,
                saturated_accounts: vec![saturated.clone()],
            },
        )
        .await
        .expect("opt-outs recorded");
    assert_eq!(intake.recorded.len(), 7);
    assert!(intake.recorded.iter().all(|recorded| recorded.notices == 1));

    let claimed = intake.claimed;
    let claimed_of = |account: &optout_core::AccountId| {
        claimed
            .iter()
            .filter(|notice| &notice.account_id == account)
            .count()
    };
    assert!(claimed.len() <= 3, "{} claimed", claimed.len());
    assert!(claimed_of(busy) <= 2);
    assert_eq!(claimed_of(&saturated), 0);
    assert_eq!(claimed_of(&unsubscribed), 0);
    // Each goes to its own account's subscription, signed with that account's secret.
    for notice in &claimed {
        let owner = subscribed
            .iter()
            .find(|subscribed| subscribed.account == notice.account_id)
            .expect("claimed for a subscribed account");
        assert_eq!(notice.subscription_id, owner.subscription.id);
        assert_eq!(notice.url, owner.subscription.url);
        assert_eq!(notice.secret.as_str(), owner.secret.as_str());
        assert_eq!(notice.previous_secret, None);
        assert_eq!(notice.attempt, 1);
        assert_eq!(notice.created_at, at(1));
        let (contacts, address): (&[&str], &str) = if &notice.account_id == busy {
            (&["c0", "c1", "c2", "c3"], "a@x.io")
        } else {
            (&["c4"], "b@x.io")
        };
        assert!(contacts.contains(&contact_of(notice).as_str()));
        assert_eq!(datapoints(notice), [pair(address, "email")]);
    }

    // The rest is in the queue; the held notice of the unsubscribed account is not.
    let queued = claim(&*store, at(1)).await;
    assert_eq!(claimed.len() + queued.len(), 6);
    let mut ids: Vec<_> = claimed
        .iter()
        .chain(&queued)
        .map(|notice| notice.notice_id)
        .collect();
    ids.sort_unstable_by_key(ToString::to_string);
    ids.dedup();
    assert_eq!(
        ids.len(),
        6,
        "a notice was both claimed at intake and queued"
    );
    assert!(queued
        .iter()
        .all(|notice| notice.account_id != unsubscribed));

    // Fenced by their token, and due again when their lease ends.
    let Some((delivered, unfinished)) = claimed.split_first() else {
        return;
    };
    let stale = AttemptOutcome {
        lease_token: delivered.lease_token + 1,
        ..outcome(delivered, at(2), NoticeDisposition::Delivered)
    };
    assert_eq!(record(&*store, &[stale]).await, 0);
    assert_eq!(
        record(
            &*store,
            &[outcome(delivered, at(2), NoticeDisposition::Delivered)]
        )
        .await,
        1
    );
    assert!(claim(&*store, at(60)).await.is_empty());
    let mut again: Vec<_> = claim(&*store, at(61))
        .await
        .into_iter()
        .map(|notice| notice.notice_id.to_string())
        .collect();
    // Both leases (the intake's and the queue claim's) end at 61.
    let mut expected: Vec<_> = unfinished
        .iter()
        .chain(&queued)
        .map(|notice| notice.notice_id.to_string())
        .collect();
    again.sort_unstable();
    expected.sort_unstable();
    assert_eq!(again, expected);
}

/// Claims take the notice due earliest first.
pub async fn the_oldest_due_notice_is_claimed_first(store: Arc<dyn Store>) {
    let first = subscribed_account(&*store).await.account;
    let second = subscribed_account(&*store).await.account;
    expose(&*store, &first, "c1", vec![email("a@x.io")]).await;
    expose(&*store, &first, "c2", vec![email("b@x.io")]).await;
    expose(&*store, &second, "c3", vec![email("c@x.io")]).await;
    assert_eq!(store.find_next_due_at().await.expect("next due"), None);
    record_opt_outs(&*store, vec![opt_out("c3", None)], at(3)).await;
    record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await;
    record_opt_outs(&*store, vec![opt_out("c2", None)], at(2)).await;
    assert_eq!(
        store.find_next_due_at().await.expect("next due"),
        Some(at(1))
    );

    let one_at_a_time = ClaimRequest {
        limit: 1,
        ..claim_request(at(10), 60)
    };
    let mut order = Vec::new();
    loop {
        let claimed = store
            .claim_due_notices(one_at_a_time.clone())
            .await
            .expect("claim");
        assert!(claimed.len() <= 1);
        let Some(notice) = claimed.first() else {
            break;
        };
        order.push(contact_of(notice));
    }
    assert_eq!(order, vec!["c1", "c2", "c3"]);
}
