//! What the service tells operators about itself: Prometheus metrics and the queue's history.
//!
//! Counters of what this process did (attempts, intake, HTTP requests) live in memory; gauges of
//! the queue are read from the database when scraped, so every node reports the same queue.
//! Nothing here carries a URL, an email, a phone or an account id: labels are bounded sets.

mod delivery;
pub(crate) mod exposition;
mod histogram;
pub(crate) mod http;
mod queue;
mod series;

use chrono::{DateTime, Utc};
use optout_store::QueueMetrics;

pub use delivery::AttemptKind;
pub use series::{run_sampler, sample_once, QueueSample};

/// The metrics of one process.
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) delivery: delivery::DeliveryMetrics,
    pub(crate) http: http::HttpMetrics,
    pub(crate) series: series::Series,
}

impl Metrics {
    /// Fresh metrics, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Delivery attempts acknowledged so far by this process.
    pub fn delivered_by_this_node(&self) -> u64 {
        self.delivery.delivered()
    }

    /// The queue's recent samples, oldest first.
    pub fn queue_history(&self) -> Vec<QueueSample> {
        self.series.snapshot()
    }

    /// The Prometheus exposition: this process's counters and the queue as of `now`.
    pub fn render(&self, queue: &QueueMetrics, now: DateTime<Utc>) -> String {
        let mut out = exposition::Exposition::default();
        queue::write(&mut out, queue, now);
        self.delivery.write(&mut out);
        self.http.write(&mut out);
        out.finish()
    }
}
