//! What this process's delivery engine did: attempts by outcome and latencies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::exposition::{Exposition, Kind};
use super::histogram::Histogram;

/// Upper bounds (seconds) of the opt-out-to-delivery latency: from milliseconds on a healthy
/// queue to a day for a notice that waited out an outage.
const LATENCY_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0,
    3600.0, 21600.0, 86400.0,
];

/// Upper bounds (seconds) of one HTTP attempt, up to the 10 s attempt timeout.
const ATTEMPT_BOUNDS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How a delivery attempt ended, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    /// The receiver acknowledged it with a 2xx.
    Delivered,
    /// It failed and a retry is scheduled.
    Failed,
    /// It failed and was the last attempt: the subscription is disabled.
    Exhausted,
}

impl AttemptKind {
    const ALL: [Self; 3] = [Self::Delivered, Self::Failed, Self::Exhausted];

    fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Exhausted => "exhausted",
        }
    }
}

/// Counters and histograms of deliveries.
#[derive(Debug)]
pub(crate) struct DeliveryMetrics {
    attempts: [AtomicU64; 3],
    attempt_duration: Histogram,
    latency: Histogram,
}

impl Default for DeliveryMetrics {
    fn default() -> Self {
        Self {
            attempts: Default::default(),
            attempt_duration: Histogram::new(ATTEMPT_BOUNDS),
            latency: Histogram::new(LATENCY_BOUNDS),
        }
    }
}

impl DeliveryMetrics {
    pub fn record_attempt(&self, kind: AttemptKind, duration: Duration) {
        self.attempts[kind as usize].fetch_add(1, Ordering::Relaxed);
        self.attempt_duration.observe(duration);
    }

    pub fn record_latency(&self, since_accepted: Duration) {
        self.latency.observe(since_accepted);
    }

    /// Attempts acknowledged so far by this process.
    pub fn delivered(&self) -> u64 {
        self.attempts[AttemptKind::Delivered as usize].load(Ordering::Relaxed)
    }

    pub fn write(&self, out: &mut Exposition) {
        let name = "optout_relay_delivery_attempts_total";
        out.family(
            name,
            Kind::Counter,
            "Delivery attempts made by this node, by outcome.",
        );
        for kind in AttemptKind::ALL {
            let count = self.attempts[kind as usize].load(Ordering::Relaxed);
            out.sample(name, &[("outcome", kind.label())], count as f64);
        }
        let name = "optout_relay_delivery_attempt_duration_seconds";
        out.family(
            name,
            Kind::Histogram,
            "Duration of one delivery attempt (request to response).",
        );
        self.attempt_duration.write(out, name, &[]);
        let name = "optout_relay_delivery_latency_seconds";
        out.family(
            name,
            Kind::Histogram,
            "Time from an opt-out accepted to its notice acknowledged by the receiver.",
        );
        self.latency.write(out, name, &[]);
    }
}
