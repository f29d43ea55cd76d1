//! Retention: the background purge of delivered notice bodies and old audit rows.
//!
//! A delivered notice's body (the contact's name and datapoints) is kept for
//! [`RetentionPolicy::payload`] after delivery, then emptied; the compliance record keeps the
//! notice's ids, times and outcome and, per datapoint, a salted SHA-256 (see
//! `optout_core::evidence` for the formula). Audit rows are deleted after
//! [`RetentionPolicy::audit_success`] (successful attempts) or [`RetentionPolicy::audit_failure`]
//! (failed ones). A notice that is not delivered is never purged: a lost opt-out would be a
//! compliance breach, a kept one only costs space.
//!
//! [`run_retention`] is a small loop around [`purge_once`], which tests call.
//!
//! Design decision a newcomer may question: the purge works in batches of at most
//! [`MAX_BATCH`] rows, each its own short transaction, with a pause between them, instead of one
//! `DELETE` of everything due. On SQLite every write waits for the single writer, so one long
//! purge would hold up the delivery engine's outcome commits for its whole length; small
//! batches let them in between.

use chrono::{DateTime, Utc};
use optout_core::evidence::evidence_of;
use optout_core::time_format::truncate_to_millis;
use optout_core::{Clock, EvidenceSalt, NoticeId};
use optout_store::{PayloadPurge, Store, StoreError};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most rows one batch (one transaction) purges or deletes.
pub const MAX_BATCH: u32 = 500;
/// Pause between batches, so that deliveries waiting for the database go first.
const BATCH_PAUSE: Duration = Duration::from_millis(10);
/// One day.
const DAY: Duration = Duration::from_secs(86_400);

/// How long what is kept, and how often the purge runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// How long a delivered notice's body is kept after delivery. Default 30 days.
    pub payload: Duration,
    /// How long audit rows of successful attempts are kept. Default 90 days.
    pub audit_success: Duration,
    /// How long audit rows of failed attempts (`failed`, `permanent_failure`) are kept: longer,
    /// as they are what a dispute about a missed notice turns on. Default 180 days.
    pub audit_failure: Duration,
    /// Time between two runs of the purge. Default one hour.
    pub interval: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            payload: 30 * DAY,
            audit_success: 90 * DAY,
            audit_failure: 180 * DAY,
            interval: Duration::from_secs(3600),
        }
    }
}

/// What one run of the purge did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PurgeReport {
    /// Delivered bodies emptied, their evidence kept.
    pub payloads_purged: usize,
    /// Delivered bodies past their retention that do not parse as a notice: kept, and logged by
    /// notice id.
    pub payloads_unreadable: usize,
    /// Audit rows deleted.
    pub audit_rows_deleted: usize,
}

impl PurgeReport {
    /// Whether the run purged or deleted anything.
    pub fn purged_anything(&self) -> bool {
        self.payloads_purged > 0 || self.audit_rows_deleted > 0
    }
}

/// Purges, as of `clock`'s now, every delivered body and audit row past `policy`'s retention, in
/// batches of at most `batch` rows (capped at [`MAX_BATCH`]).
pub async fn purge_once(
    store: &dyn Store,
    clock: &dyn Clock,
    policy: &RetentionPolicy,
    batch: u32,
) -> Result<PurgeReport, StoreError> {
    let batch = batch.clamp(1, MAX_BATCH);
    let now = clock.now();
    let (payloads_purged, payloads_unreadable) =
        purge_payloads(store, clock, horizon(now, policy.payload), batch).await?;
    let audit_rows_deleted = purge_audit(
        store,
        horizon(now, policy.audit_success),
        horizon(now, policy.audit_failure),
        batch,
    )
    .await?;
    Ok(PurgeReport {
        payloads_purged,
        payloads_unreadable,
        audit_rows_deleted,
    })
}

/// Runs [`purge_once`] now and then every `policy.interval`, until `shutdown` is cancelled
/// (at once, even in the middle of a run: an interrupted batch is rolled back).
pub async fn run_retention(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: RetentionPolicy,
    shutdown: CancellationToken,
) {
    loop {
        let outcome = tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            outcome = purge_once(&*store, &*clock, &policy, MAX_BATCH) => outcome,
        };
        match outcome {
            Ok(report) if report.purged_anything() => tracing::info!(
                payloads_purged = report.payloads_purged,
                payloads_unreadable = report.payloads_unreadable,
                audit_rows_deleted = report.audit_rows_deleted,
                "retention purge"
            ),
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(error = %error, "retention purge failed: retried at the next run");
            }
        }
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(policy.interval) => {}
        }
    }
}

/// The instant `retention` before `now`; the earliest instant if that is out of range.
fn horizon(now: DateTime<Utc>, retention: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(retention)
        .ok()
        .and_then(|retention| now.checked_sub_signed(retention))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Purges delivered bodies delivered before `delivered_before`: (purged, unreadable).
async fn purge_payloads(
    store: &dyn Store,
    clock: &dyn Clock,
    delivered_before: DateTime<Utc>,
    batch: u32,
) -> Result<(usize, usize), StoreError> {
    let mut purged = 0;
    let mut unreadable: HashSet<NoticeId> = HashSet::new();
    loop {
        let listed = store
            .list_purgeable_payloads(delivered_before, batch)
            .await?;
        let purged_at = truncate_to_millis(clock.now());
        let mut purges = Vec::with_capacity(listed.len());
        for item in &listed {
            match evidence_of(&item.payload, EvidenceSalt::generate()) {
                Ok(evidence) => purges.push(PayloadPurge {
                    notice_id: item.notice_id,
                    purged_at,
                    evidence,
                }),
                // Listed again by every batch of this run: logged once.
                Err(error) if unreadable.insert(item.notice_id) => tracing::warn!(
                    notice_id = %item.notice_id,
                    error = %error,
                    "a delivered notice body does not parse: kept, not purged"
                ),
                Err(_) => {}
            }
        }
        let done = store.record_payload_purges(&purges).await?;
        purged += done;
        // A short batch was the last one; a batch that purged nothing (all unreadable, or
        // purged by another node meanwhile) would only be listed again.
        if listed.len() < batch as usize || done == 0 {
            return Ok((purged, unreadable.len()));
        }
        pause().await;
    }
}

/// Deletes audit rows past their horizons: how many.
async fn purge_audit(
    store: &dyn Store,
    success_before: DateTime<Utc>,
    failure_before: DateTime<Utc>,
    batch: u32,
) -> Result<usize, StoreError> {
    let mut deleted = 0;
    loop {
        let done = store
            .purge_audit_entries(success_before, failure_before, batch)
            .await?;
        deleted += done;
        if done < batch as usize {
            return Ok(deleted);
        }
        pause().await;
    }
}

async fn pause() {
    tokio::task::yield_now().await;
    tokio::time::sleep(BATCH_PAUSE).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn defaults_are_30_90_and_180_days_every_hour() {
        let policy = RetentionPolicy::default();
        assert_eq!(policy.payload, Duration::from_secs(30 * 86_400));
        assert_eq!(policy.audit_success, Duration::from_secs(90 * 86_400));
        assert_eq!(policy.audit_failure, Duration::from_secs(180 * 86_400));
        assert_eq!(policy.interval, Duration::from_secs(3600));
    }

    #[test]
    fn the_horizon_is_the_retention_before_now_or_the_earliest_instant() {
        let now = Utc.with_ymd_and_hms(2026, 5, 31, 12, 0, 0).unwrap();
        assert_eq!(
            horizon(now, 30 * DAY),
            Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap()
        );
        assert_eq!(horizon(now, Duration::MAX), DateTime::<Utc>::MIN_UTC);
    }
}
