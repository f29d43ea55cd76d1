//! The account API's rate-limit counters.

use optout_core::rate_limit::{RateDecision, RateLimit};
use optout_core::AccountId;
use optout_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

use crate::setup::{account, at};

fn limit(requests: u32) -> RateLimit {
    RateLimit::new(requests, Duration::from_secs(60)).expect("a valid limit")
}

async fn take(store: &dyn Store, account: &AccountId, limit: RateLimit, seconds: i64) -> bool {
    let decision = store
        .take_rate_limit_slot(account, limit, at(seconds))
        .await
        .expect("slot decided");
    matches!(decision, RateDecision::Allowed { .. })
}

/// An account gets exactly its limit in a window, is told when to retry, and is not held back
/// by another account's requests; the count weighs less as the window slides on.
pub async fn requests_over_the_limit_are_refused_per_account(store: Arc<dyn Store>) {
    let busy = account(&*store).await;
    let quiet = account(&*store).await;
    let limit = limit(3);
    for request in 0..3 {
        let decision = store
            .take_rate_limit_slot(&busy, limit, at(0))
            .await
            .expect("slot decided");
        assert_eq!(
            decision,
            RateDecision::Allowed {
                remaining: 2 - request
            }
        );
    }
    let refused = store
        .take_rate_limit_slot(&busy, limit, at(1))
        .await
        .expect("slot decided");
    let RateDecision::Limited { retry_after_secs } = refused else {
        panic!("the fourth request in a minute must be limited, got {refused:?}");
    };
    assert!(retry_after_secs >= 1);
    assert!(
        take(&*store, &quiet, limit, 1).await,
        "another account is unaffected"
    );
    // Refused requests are not counted: waiting as told lets the next request through.
    assert!(!take(&*store, &busy, limit, 2).await);
    let after = 1 + i64::try_from(retry_after_secs).expect("small");
    assert!(take(&*store, &busy, limit, after).await);
    // Two windows later nothing weighs any more.
    for _ in 0..3 {
        assert!(take(&*store, &busy, limit, 240).await);
    }
    assert!(!take(&*store, &busy, limit, 240).await);
}

/// Requests racing each other (on one node or several sharing the store) never get more than
/// the limit between them.
pub async fn concurrent_requests_never_exceed_the_limit(store: Arc<dyn Store>) {
    let caller = account(&*store).await;
    let limit = limit(10);
    let mut tasks = JoinSet::new();
    for _ in 0..40 {
        let store = Arc::clone(&store);
        let caller = caller.clone();
        tasks.spawn(async move { take(&*store, &caller, limit, 5).await });
    }
    let mut allowed = 0;
    while let Some(result) = tasks.join_next().await {
        if result.expect("request task finished") {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 10, "exactly the limit is allowed");
}
