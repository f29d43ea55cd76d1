//! Retention: delivered bodies purged with their evidence kept, undelivered ones never touched,
//! and audit rows deleted past their horizons, a bounded batch at a time.

use chrono::{DateTime, Utc};
use optout_core::evidence::evidence_of;
use optout_core::{
    AuditEntry, AuditFilter, AuditStatus, EvidenceSalt, NoticeDisposition, NoticeId, NoticeStatus,
    ObjectId, OptOutId, PageRequest, RecipientRecord,
};
use optout_store::{PayloadPurge, PurgeablePayload, Store};
use std::sync::Arc;

use crate::setup::{
    account, at, claim, claim_one, datapoints, email, expose, give_secret, notice_for, opt_out,
    outcome, pair, phone, record, record_opt_outs, subscribe, subscribed_account, url,
};

/// Records an opt-out of `contact` at `seconds` and returns its id.
async fn opt_out_at(store: &dyn Store, contact: &str, seconds: i64) -> OptOutId {
    record_opt_outs(store, vec![opt_out(contact, None)], at(seconds)).await[0].opt_out_id
}

/// Claims the one due notice at `seconds` and records it delivered then.
async fn deliver_one(store: &dyn Store, seconds: i64) -> NoticeId {
    let claimed = claim_one(store, at(seconds)).await;
    let delivered = outcome(&claimed, at(seconds), NoticeDisposition::Delivered);
    assert_eq!(record(store, &[delivered]).await, 1);
    claimed.notice_id
}

/// The one recipient of an opt-out, as the compliance record reports it.
async fn recipient(store: &dyn Store, opt_out_id: OptOutId) -> RecipientRecord {
    let record = store
        .find_compliance_record(opt_out_id, at(1_000_000))
        .await
        .expect("find")
        .expect("the opt-out exists");
    assert_eq!(record.recipients.len(), 1);
    record.recipients[0].clone()
}

/// Every purgeable body delivered before `seconds`, up to 100.
async fn purgeable(store: &dyn Store, seconds: i64) -> Vec<PurgeablePayload> {
    store
        .list_purgeable_payloads(at(seconds), 100)
        .await
        .expect("list purgeable")
}

/// The purge of a listed body at `seconds`, with its evidence under a fresh salt.
fn purge_of(listed: &PurgeablePayload, seconds: i64) -> PayloadPurge {
    PayloadPurge {
        notice_id: listed.notice_id,
        purged_at: at(seconds),
        evidence: evidence_of(&listed.payload, EvidenceSalt::generate()).expect("a notice body"),
    }
}

/// Only delivered notices delivered before the horizon are listed, oldest delivered first, up
/// to the limit, each with its body; pending, failed and waiting notices never are.
pub async fn only_bodies_delivered_before_the_horizon_are_purgeable(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await;
    for contact in ["c1", "c2", "c3"] {
        expose(&*store, &subscribed.account, contact, vec![email("a@x.io")]).await;
    }
    opt_out_at(&*store, "c1", 1).await;
    let older = deliver_one(&*store, 10).await;
    opt_out_at(&*store, "c2", 20).await;
    let newer = deliver_one(&*store, 30).await;
    // A notice that failed once, and one never attempted.
    opt_out_at(&*store, "c3", 40).await;
    let failing = claim_one(&*store, at(40)).await;
    let retry = NoticeDisposition::RetryAt(at(1_000));
    assert_eq!(
        record(&*store, &[outcome(&failing, at(40), retry)]).await,
        1
    );
    let waiting_account = account(&*store).await;
    expose(&*store, &waiting_account, "c4", vec![email("w@x.io")]).await;
    opt_out_at(&*store, "c4", 50).await;

    let listed = purgeable(&*store, 100_000).await;
    let ids: Vec<NoticeId> = listed.iter().map(|listed| listed.notice_id).collect();
    assert_eq!(
        ids,
        vec![older, newer],
        "oldest delivered first, delivered only"
    );
    let body: serde_json::Value =
        serde_json::from_slice(&listed[0].payload).expect("the body is JSON");
    assert_eq!(body["contactId"], "c1");

    // Delivered at 10.25 s and 30.25 s: the horizon is strict and counts from delivery.
    let before_newer: Vec<NoticeId> = purgeable(&*store, 30)
        .await
        .iter()
        .map(|listed| listed.notice_id)
        .collect();
    assert_eq!(before_newer, vec![older]);
    assert!(purgeable(&*store, 10).await.is_empty());
    let limited = store
        .list_purgeable_payloads(at(100_000), 1)
        .await
        .expect("list purgeable");
    assert_eq!(limited.len(), 1);
    assert_eq!(limited[0].notice_id, older);
}

/// A purge empties the body and keeps when and the evidence; the notice stays delivered, is not
/// listed again, and a second purge changes nothing.
pub async fn a_purge_keeps_the_evidence_and_is_idempotent(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await;
    expose(
        &*store,
        &subscribed.account,
        "c1",
        vec![email("jane@x.io"), phone("+15550001")],
    )
    .await;
    let opt_out_id = opt_out_at(&*store, "c1", 1).await;
    let notice_id = deliver_one(&*store, 2).await;
    let delivered = recipient(&*store, opt_out_id).await;
    assert_eq!(delivered.payload_purged_at, None);
    assert_eq!(delivered.evidence, None);

    let listed = purgeable(&*store, 100).await;
    assert_eq!(listed.len(), 1);
    let purge = purge_of(&listed[0], 100);
    let recorded = store
        .record_payload_purges(std::slice::from_ref(&purge))
        .await
        .expect("purge");
    assert_eq!(recorded, 1);

    let purged = recipient(&*store, opt_out_id).await;
    assert_eq!(purged.notice_id, notice_id);
    assert_eq!(purged.status, NoticeStatus::Delivered);
    assert_eq!(purged.delivered_at, delivered.delivered_at);
    assert_eq!(purged.attempts, 1);
    assert_eq!(purged.payload_purged_at, Some(at(100)));
    let evidence = purged.evidence.expect("evidence kept");
    assert_eq!(evidence, purge.evidence);
    assert_eq!(evidence.hashes.len(), 2);
    assert!(purgeable(&*store, 100_000).await.is_empty());

    let again = purge_of(&listed[0], 200);
    assert_eq!(
        store.record_payload_purges(&[again]).await.expect("purge"),
        0
    );
    let unchanged = recipient(&*store, opt_out_id).await;
    assert_eq!(unchanged.payload_purged_at, Some(at(100)));
    assert_eq!(unchanged.evidence, Some(purge.evidence));
}

/// A purge naming notices that are pending, failed or waiting changes none of them: each is
/// later delivered with its whole body.
pub async fn a_purge_never_touches_a_notice_still_to_deliver(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await;
    expose(&*store, &subscribed.account, "c1", vec![email("p@x.io")]).await;
    let waiting_account = account(&*store).await;
    expose(&*store, &waiting_account, "c2", vec![email("w@x.io")]).await;
    let pending = opt_out_at(&*store, "c1", 1).await;
    let waiting = opt_out_at(&*store, "c2", 1).await;
    let pending_id = recipient(&*store, pending).await.notice_id;
    let waiting_id = recipient(&*store, waiting).await.notice_id;
    let listed = purgeable(&*store, 100_000).await;
    assert!(listed.is_empty(), "nothing is delivered yet");

    let evidence = evidence_of(
        br#"{"contactId":"c","fullName":"J","contactOptOutDate":"","contactExposureDate":"","datapoints":[]}"#,
        EvidenceSalt::generate(),
    )
    .expect("a notice body");
    let purges: Vec<PayloadPurge> = [pending_id, waiting_id]
        .into_iter()
        .map(|notice_id| PayloadPurge {
            notice_id,
            purged_at: at(5),
            evidence: evidence.clone(),
        })
        .collect();
    assert_eq!(
        store.record_payload_purges(&purges).await.expect("purge"),
        0
    );
    assert_eq!(recipient(&*store, pending).await.payload_purged_at, None);
    assert_eq!(recipient(&*store, waiting).await.evidence, None);

    // The pending one fails once, is named again while a retry is due, then is delivered whole.
    let first = claim_one(&*store, at(6)).await;
    assert_eq!(datapoints(&first), vec![pair("p@x.io", "email")]);
    let retry = NoticeDisposition::RetryAt(at(20));
    assert_eq!(record(&*store, &[outcome(&first, at(6), retry)]).await, 1);
    assert_eq!(
        store
            .record_payload_purges(&purges[..1])
            .await
            .expect("purge"),
        0
    );
    let second = claim_one(&*store, at(20)).await;
    assert_eq!(second.payload, first.payload);

    give_secret(&*store, &waiting_account).await;
    let subscription = subscribe(&*store, &waiting_account, at(30)).await;
    let released = claim(&*store, at(30)).await;
    let held = notice_for(&released, &waiting_account);
    assert_eq!(held.subscription_id, subscription.id);
    assert_eq!(datapoints(held), vec![pair("w@x.io", "email")]);
}

fn audit_entry(
    subscription: optout_core::SubscriptionId,
    status: AuditStatus,
    attempted_at: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        id: ObjectId::generate(attempted_at),
        subscription_id: subscription,
        notice_id: NoticeId::generate(attempted_at),
        status,
        status_code: Some(if status == AuditStatus::Success {
            200
        } else {
            500
        }),
        url: url("audit"),
        attempted_at,
        duration_ms: 7,
        error: (status != AuditStatus::Success).then(|| "HTTP 500".to_owned()),
    }
}

/// Success rows go after their horizon and failures after theirs, at most `limit` per call; rows
/// on or after a horizon stay.
pub async fn audit_rows_are_purged_by_status_horizon_in_bounded_batches(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await;
    let sub = subscribed.subscription.id;
    let rows = [
        (AuditStatus::Success, 10, false),
        (AuditStatus::Success, 90, false),
        (AuditStatus::Success, 100, true),
        (AuditStatus::Success, 150, true),
        (AuditStatus::Failed, 10, false),
        (AuditStatus::Failed, 60, true),
        (AuditStatus::PermanentFailure, 20, false),
        (AuditStatus::PermanentFailure, 200, true),
    ];
    let mut kept = Vec::new();
    for (status, seconds, stays) in rows {
        let entry = audit_entry(sub, status, at(seconds));
        store
            .record_test_attempt(&subscribed.account, entry.clone())
            .await
            .expect("recorded");
        if stays {
            kept.push(entry.id);
        }
    }

    let mut batches = Vec::new();
    loop {
        let deleted = store
            .purge_audit_entries(at(100), at(50), 3)
            .await
            .expect("purge audit");
        batches.push(deleted);
        if deleted == 0 {
            break;
        }
    }
    assert_eq!(batches, vec![3, 1, 0]);

    let page = store
        .list_audit_entries(
            &subscribed.account,
            AuditFilter::default(),
            PageRequest {
                limit: 100,
                offset: 0,
            },
        )
        .await
        .expect("list");
    let mut left: Vec<ObjectId> = page.items.iter().map(|entry| entry.id).collect();
    left.sort();
    kept.sort();
    assert_eq!(left, kept);
}
