//! The operator's views across accounts: queue metrics, every subscription, recent failures.

use optout_core::{NoticeDisposition, SubscriptionChanges};
use optout_store::{QueueMetrics, Store};
use std::sync::Arc;

use crate::setup::{
    account, at, claim, email, expose, give_secret, notice_for, opt_out, outcome, record,
    record_opt_outs, subscribed_account,
};

async fn metrics(store: &dyn Store, now_seconds: i64) -> QueueMetrics {
    store
        .find_queue_metrics(at(now_seconds))
        .await
        .expect("queue metrics")
}

fn deactivate(seconds: i64) -> SubscriptionChanges {
    SubscriptionChanges {
        url: None,
        name: None,
        is_active: Some(false),
        new_secret: None,
        updated_at: at(seconds),
    }
}

/// Notices are counted by status as they are queued, held, leased, failed and delivered, and
/// the oldest due one is reported only once it is due.
pub async fn queue_metrics_follow_notices_through_their_statuses(store: Arc<dyn Store>) {
    let first = subscribed_account(&*store).await;
    let second = subscribed_account(&*store).await;
    let unsubscribed = account(&*store).await;
    give_secret(&*store, &unsubscribed).await;
    for exposed in [&first.account, &second.account, &unsubscribed] {
        expose(&*store, exposed, "c1", vec![email("a@x.io")]).await;
    }
    assert_eq!(
        metrics(&*store, 1).await,
        QueueMetrics {
            active_subscriptions: 2,
            ..QueueMetrics::default()
        }
    );

    record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await;
    let queued = metrics(&*store, 1).await;
    assert_eq!(
        (queued.pending, queued.waiting, queued.delivered),
        (2, 1, 0)
    );
    assert_eq!(queued.oldest_due_at, Some(at(1)));
    assert_eq!(queued.queue_depth(), 2);
    assert_eq!(queued.undelivered(), 3);

    let claimed = claim(&*store, at(5)).await;
    assert_eq!(claimed.len(), 2);
    for notice in &claimed {
        assert_eq!(
            notice.created_at,
            at(1),
            "a claim carries its notice's creation"
        );
    }
    let leased = metrics(&*store, 5).await;
    assert_eq!((leased.pending, leased.delivering), (0, 2));
    assert_eq!(leased.oldest_due_at, None, "leased notices are not due");

    let delivered = outcome(
        notice_for(&claimed, &first.account),
        at(6),
        NoticeDisposition::Delivered,
    );
    let failed = outcome(
        notice_for(&claimed, &second.account),
        at(6),
        NoticeDisposition::RetryAt(at(100)),
    );
    assert_eq!(record(&*store, &[delivered, failed]).await, 2);
    let after = metrics(&*store, 10).await;
    assert_eq!(
        (
            after.pending,
            after.delivering,
            after.failed,
            after.waiting,
            after.delivered
        ),
        (0, 0, 1, 1, 1)
    );
    assert_eq!(after.oldest_due_at, None, "the retry is not due yet");
    assert_eq!(metrics(&*store, 130).await.oldest_due_at, Some(at(100)));
}

/// Every account's subscriptions are listed, disabled ones first, up to the limit.
pub async fn every_subscription_is_listed_disabled_first(store: Arc<dyn Store>) {
    let active = subscribed_account(&*store).await;
    let paused = subscribed_account(&*store).await;
    store
        .update_subscription(&paused.account, paused.subscription.id, deactivate(5))
        .await
        .expect("update")
        .expect("the subscription exists");

    let all = store.list_all_subscriptions(10).await.expect("list");
    let ids: Vec<_> = all.iter().map(|subscription| subscription.id).collect();
    assert_eq!(ids, [paused.subscription.id, active.subscription.id]);
    assert!(!all[0].is_active);
    assert_eq!(all[0].account_id, paused.account);
    let first = store.list_all_subscriptions(1).await.expect("list");
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, paused.subscription.id);
    let counted = metrics(&*store, 10).await;
    assert_eq!(
        (counted.active_subscriptions, counted.disabled_subscriptions),
        (1, 1)
    );
}

/// Failed attempts of all accounts are listed newest first with their account; successes are
/// not.
pub async fn recent_failures_of_every_account_are_listed_newest_first(store: Arc<dyn Store>) {
    let first = subscribed_account(&*store).await;
    let second = subscribed_account(&*store).await;
    expose(&*store, &first.account, "c1", vec![email("a@x.io")]).await;
    expose(&*store, &second.account, "c1", vec![email("a@x.io")]).await;
    record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await;
    let claimed = claim(&*store, at(1)).await;
    let older = outcome(
        notice_for(&claimed, &first.account),
        at(2),
        NoticeDisposition::RetryAt(at(3)),
    );
    let newer = outcome(
        notice_for(&claimed, &second.account),
        at(4),
        NoticeDisposition::RetryAt(at(5)),
    );
    assert_eq!(record(&*store, &[older, newer]).await, 2);
    let retried = claim(&*store, at(10)).await;
    let success = outcome(
        notice_for(&retried, &first.account),
        at(11),
        NoticeDisposition::Delivered,
    );
    assert_eq!(record(&*store, &[success]).await, 1);

    let failures = store.list_recent_failures(10).await.expect("failures");
    let accounts: Vec<_> = failures.iter().map(|failure| &failure.account_id).collect();
    assert_eq!(accounts, [&second.account, &first.account]);
    assert!(failures
        .iter()
        .all(|failure| failure.entry.status_code == Some(503)));
    let newest = store.list_recent_failures(1).await.expect("failures");
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].account_id, second.account);
}
