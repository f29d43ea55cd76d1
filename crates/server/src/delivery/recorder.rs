//! Writes attempt outcomes in batches: one transaction for as many outcomes as are waiting.

use optout_core::AttemptOutcome;
use optout_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Most outcomes written in one transaction.
const MAX_BATCH: usize = 1024;
/// Pause before writing a batch again after the database failed.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// Attempts to write one batch before giving up on it. An unwritten outcome loses nothing: the
/// notice's lease expires and it is delivered again (a duplicate, never a loss).
const WRITE_ATTEMPTS: u32 = 5;

/// Receives outcomes until every sender is dropped, writing them in batches.
pub(crate) async fn run_recorder(
    store: Arc<dyn Store>,
    mut outcomes: mpsc::UnboundedReceiver<AttemptOutcome>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while outcomes.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write_batch(store.as_ref(), &batch).await;
        batch.clear();
    }
}

/// Writes one batch, retrying a few times if the database fails.
pub(crate) async fn write_batch(store: &dyn Store, batch: &[AttemptOutcome]) {
    for attempt in 1..=WRITE_ATTEMPTS {
        match store.record_attempts(batch).await {
            Ok(_) => return,
            Err(error) => {
                tracing::error!(%error, attempt, outcomes = batch.len(), "cannot record attempt outcomes");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
        }
    }
    tracing::error!(
        outcomes = batch.len(),
        "attempt outcomes dropped; their notices will be delivered again when their leases expire"
    );
}
