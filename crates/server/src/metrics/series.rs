//! The recent history of the queue, sampled in the background, for the dashboard's chart.

use chrono::{DateTime, Utc};
use optout_core::Clock;
use optout_store::Store;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::Metrics;

/// Samples kept: an hour at the default interval.
const SAMPLES_KEPT: usize = 360;

/// How the queue stood at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSample {
    /// When it was read.
    pub at: DateTime<Utc>,
    /// Notices queued for delivery.
    pub queue_depth: u64,
    /// Notices held for lack of an active subscription.
    pub waiting: u64,
    /// Notices delivered so far, all nodes.
    pub delivered: u64,
}

/// The last [`SAMPLES_KEPT`] samples, oldest first.
#[derive(Debug, Default)]
pub(crate) struct Series {
    samples: Mutex<VecDeque<QueueSample>>,
}

impl Series {
    pub fn push(&self, sample: QueueSample) {
        let mut samples = self.lock();
        if samples.len() == SAMPLES_KEPT {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    pub fn snapshot(&self) -> Vec<QueueSample> {
        self.lock().iter().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<QueueSample>> {
        self.samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Reads the queue every `interval` until `shutdown`, keeping the samples in `metrics`.
pub async fn run_sampler(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    loop {
        sample_once(store.as_ref(), clock.as_ref(), &metrics).await;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Reads the queue once and keeps the sample; a failed read is logged and skipped.
pub async fn sample_once(store: &dyn Store, clock: &dyn Clock, metrics: &Metrics) {
    let now = clock.now();
    match store.find_queue_metrics(now).await {
        Ok(queue) => metrics.series.push(QueueSample {
            at: now,
            queue_depth: queue.queue_depth(),
            waiting: queue.waiting,
            delivered: queue.delivered,
        }),
        Err(error) => tracing::warn!(%error, "sampling the queue failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_newest_samples_are_kept() {
        let series = Series::default();
        let start = DateTime::<Utc>::UNIX_EPOCH;
        for index in 0..(SAMPLES_KEPT as u64 + 5) {
            series.push(QueueSample {
                at: start + chrono::Duration::seconds(index as i64),
                queue_depth: index,
                waiting: 0,
                delivered: 0,
            });
        }
        let samples = series.snapshot();
        assert_eq!(samples.len(), SAMPLES_KEPT);
        assert_eq!(samples[0].queue_depth, 5);
        assert_eq!(samples.last().unwrap().queue_depth, SAMPLES_KEPT as u64 + 4);
    }
}
