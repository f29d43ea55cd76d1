//! The audit log of attempts and the compliance record of opt-outs.

use chrono::{DateTime, Duration, Utc};
use optout_core::{
    AttemptResult, AuditEntry, AuditFilter, AuditStats, AuditStatus, NoticeDisposition, NoticeId,
    NoticeStatus, ObjectId, OptOutId, PageRequest, SubscriptionId,
};
use optout_store::Store;
use std::sync::Arc;

use crate::setup::{
    account, at, claim, claim_one, contact, email, expose, notice_for, opt_out, outcome, record,
    record_opt_outs, subscribed_account, url,
};

const FIRST_PAGE: PageRequest = PageRequest {
    limit: 10,
    offset: 0,
};

fn entry(
    subscription_id: SubscriptionId,
    status: AuditStatus,
    attempted_at: DateTime<Utc>,
) -> AuditEntry {
    let (status_code, error) = match status {
        AuditStatus::Success => (Some(200), None),
        AuditStatus::Failed | AuditStatus::PermanentFailure => {
            (Some(500), Some("HTTP 500".to_owned()))
        }
    };
    AuditEntry {
        id: ObjectId::generate(attempted_at),
        subscription_id,
        notice_id: NoticeId::generate(attempted_at),
        status,
        status_code,
        url: url("test"),
        attempted_at,
        duration_ms: 42,
        error,
    }
}

fn by_status(status: AuditStatus) -> AuditFilter {
    AuditFilter {
        subscription_id: None,
        status: Some(status),
    }
}

/// An account's audit rows come newest first (ties: the later recorded first), paged, filtered
/// by status or subscription, counted, and never mixed with another account's.
pub async fn audit_entries_are_listed_newest_first_filtered_and_counted(store: Arc<dyn Store>) {
    let mine = subscribed_account(&*store).await;
    let other = subscribed_account(&*store).await;
    let sub = mine.subscription.id;
    let oldest = entry(sub, AuditStatus::Success, at(1));
    let newest = entry(sub, AuditStatus::Failed, at(3));
    let middle = entry(sub, AuditStatus::Success, at(2));
    let tie_first = entry(sub, AuditStatus::PermanentFailure, at(0));
    let tie_second = entry(sub, AuditStatus::Success, at(0));
    for recorded in [&oldest, &newest, &middle, &tie_first, &tie_second] {
        store
            .record_test_attempt(&mine.account, recorded.clone())
            .await
            .expect("recorded");
    }
    let theirs = entry(other.subscription.id, AuditStatus::Success, at(4));
    store
        .record_test_attempt(&other.account, theirs.clone())
        .await
        .expect("recorded");

    let all = store
        .list_audit_entries(&mine.account, AuditFilter::default(), FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(all.total, 5);
    assert_eq!(
        all.items,
        vec![
            newest.clone(),
            middle.clone(),
            oldest.clone(),
            tie_second.clone(),
            tie_first
        ]
    );
    let page = store
        .list_audit_entries(
            &mine.account,
            AuditFilter::default(),
            PageRequest {
                limit: 2,
                offset: 1,
            },
        )
        .await
        .expect("list");
    assert_eq!(page.total, 5);
    assert_eq!(page.items, vec![middle.clone(), oldest.clone()]);

    let successes = store
        .list_audit_entries(&mine.account, by_status(AuditStatus::Success), FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(successes.total, 3);
    assert_eq!(successes.items, vec![middle, oldest, tie_second]);
    let failures = store
        .list_audit_entries(&mine.account, by_status(AuditStatus::Failed), FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(failures.items, vec![newest]);

    let of_theirs = AuditFilter {
        subscription_id: Some(other.subscription.id),
        status: None,
    };
    let crossed = store
        .list_audit_entries(&mine.account, of_theirs, FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(crossed.total, 0);
    assert!(crossed.items.is_empty());
    let of_mine = AuditFilter {
        subscription_id: Some(sub),
        status: None,
    };
    let scoped = store
        .list_audit_entries(&mine.account, of_mine, FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(scoped.total, 5);

    let stats = |account, subscription| {
        let store = store.clone();
        async move {
            store
                .find_audit_stats(&account, subscription)
                .await
                .expect("stats")
        }
    };
    let expected = AuditStats {
        total: 5,
        success: 3,
        failed: 2,
    };
    assert_eq!(stats(mine.account.clone(), None).await, expected);
    assert_eq!(stats(mine.account.clone(), Some(sub)).await, expected);
    assert_eq!(
        stats(mine.account.clone(), Some(other.subscription.id)).await,
        AuditStats::default()
    );
    assert_eq!(
        stats(other.account.clone(), None).await,
        AuditStats {
            total: 1,
            success: 1,
            failed: 0,
        }
    );
    let others = store
        .list_audit_entries(&other.account, AuditFilter::default(), FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(others.items, vec![theirs]);
}

/// Each recorded attempt leaves one audit row with its outcome, URL, timing and error.
pub async fn attempts_are_audited_with_their_outcome(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await;
    expose(&*store, &subscribed.account, "c1", vec![email("a@x.io")]).await;
    record_opt_outs(&*store, vec![opt_out("c1", None)], at(1)).await;

    let first = claim_one(&*store, at(1)).await;
    let mut timed_out = outcome(&first, at(2), NoticeDisposition::RetryAt(at(100)));
    timed_out.result = AttemptResult::Failed {
        status_code: None,
        error: "timeout after 10000 ms".to_owned(),
    };
    assert_eq!(record(&*store, &[timed_out]).await, 1);
    let second = claim_one(&*store, at(100)).await;
    assert_eq!(
        record(
            &*store,
            &[outcome(&second, at(100), NoticeDisposition::Delivered)]
        )
        .await,
        1
    );

    let audit = store
        .list_audit_entries(&subscribed.account, AuditFilter::default(), FIRST_PAGE)
        .await
        .expect("list");
    assert_eq!(audit.total, 2);
    let (delivered, failed) = (&audit.items[0], &audit.items[1]);
    assert_eq!(delivered.status, AuditStatus::Success);
    assert_eq!(delivered.status_code, Some(200));
    assert_eq!(delivered.error, None);
    assert_eq!(delivered.attempted_at, at(100));
    assert_eq!(failed.status, AuditStatus::Failed);
    assert_eq!(failed.status_code, None);
    assert_eq!(failed.error.as_deref(), Some("timeout after 10000 ms"));
    assert_eq!(failed.attempted_at, at(2));
    for row in &audit.items {
        assert_eq!(row.notice_id, first.notice_id);
        assert_eq!(row.subscription_id, subscribed.subscription.id);
        assert_eq!(row.url, subscribed.subscription.url);
        assert_eq!(row.duration_ms, 250);
    }
    assert_eq!(
        store
            .find_audit_stats(&subscribed.account, None)
            .await
            .expect("stats"),
        AuditStats {
            total: 2,
            success: 1,
            failed: 1,
        }
    );
}

/// The compliance record names the opt-out and, per notified account in account order, where
/// its notice stands: delivered, failed, delivering (leased), pending or waiting.
pub async fn the_compliance_record_reports_each_recipient(store: Arc<dyn Store>) {
    let delivered = subscribed_account(&*store).await.account;
    let failing = subscribed_account(&*store).await.account;
    let leased = subscribed_account(&*store).await.account;
    let unsubscribed = account(&*store).await;
    for account in [&delivered, &failing, &leased, &unsubscribed] {
        expose(&*store, account, "c1", vec![email("a@x.io")]).await;
    }
    let opted_out = opt_out("c1", None);
    record_opt_outs(&*store, vec![opted_out.clone()], at(10)).await;

    let claimed = claim(&*store, at(10)).await;
    assert_eq!(claimed.len(), 3);
    let done = outcome(
        notice_for(&claimed, &delivered),
        at(11),
        NoticeDisposition::Delivered,
    );
    let retry = outcome(
        notice_for(&claimed, &failing),
        at(11),
        NoticeDisposition::RetryAt(at(300)),
    );
    assert_eq!(record(&*store, &[done, retry]).await, 2);

    let record = store
        .find_compliance_record(opted_out.id, at(12))
        .await
        .expect("find")
        .expect("the opt-out exists");
    assert_eq!(record.opt_out_id, opted_out.id);
    assert_eq!(record.contact_id, contact("c1"));
    assert_eq!(record.opted_out_at, opted_out.opted_out_at);
    assert_eq!(record.recorded_at, at(10));
    let summary: Vec<_> = record
        .recipients
        .iter()
        .map(|r| {
            (
                r.account_id.clone(),
                r.status,
                r.attempts,
                r.last_status_code,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (delivered.clone(), NoticeStatus::Delivered, 1, Some(200)),
            (failing.clone(), NoticeStatus::Failed, 1, Some(503)),
            (leased.clone(), NoticeStatus::Delivering, 0, None),
            (unsubscribed.clone(), NoticeStatus::Waiting, 0, None),
        ]
    );
    assert_eq!(
        record.recipients[0].delivered_at,
        Some(at(11) + Duration::milliseconds(250))
    );
    assert!(record.recipients[1..]
        .iter()
        .all(|r| r.delivered_at.is_none()));
    assert_eq!(
        record.recipients[2].notice_id,
        notice_for(&claimed, &leased).notice_id
    );

    // When the lease has ended, the leased notice is pending again.
    let later = store
        .find_compliance_record(opted_out.id, at(70))
        .await
        .expect("find")
        .expect("the opt-out exists");
    assert_eq!(later.recipients[2].status, NoticeStatus::Pending);
    assert!(store
        .find_compliance_record(OptOutId::generate(at(1)), at(70))
        .await
        .expect("find")
        .is_none());
}
