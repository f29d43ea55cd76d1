//! Gauges of the queue and subscriptions, read from the database at scrape time, so they are
//! the same whichever node is scraped.

use chrono::{DateTime, Utc};
use optout_store::QueueMetrics;

use super::exposition::{Exposition, Kind};

/// Writes the queue's gauges as they stood at `now`.
pub(crate) fn write(out: &mut Exposition, queue: &QueueMetrics, now: DateTime<Utc>) {
    let name = "optout_relay_notices";
    out.family(name, Kind::Gauge, "Notices of all nodes, by status.");
    for (status, count) in [
        ("pending", queue.pending),
        ("delivering", queue.delivering),
        ("failed", queue.failed),
        ("waiting", queue.waiting),
        ("delivered", queue.delivered),
    ] {
        out.sample(name, &[("status", status)], count as f64);
    }
    let name = "optout_relay_notices_created";
    out.family(
        name,
        Kind::Gauge,
        "Notices created so far, all nodes (the sum of every status).",
    );
    let created = queue.undelivered() + queue.delivered;
    out.sample(name, &[], created as f64);
    let name = "optout_relay_queue_depth";
    out.family(
        name,
        Kind::Gauge,
        "Notices queued for delivery (pending, delivering or awaiting a retry).",
    );
    out.sample(name, &[], queue.queue_depth() as f64);
    let name = "optout_relay_oldest_due_notice_age_seconds";
    out.family(
        name,
        Kind::Gauge,
        "How long the longest-due queued notice has been due (0 when none is due).",
    );
    out.sample(name, &[], oldest_due_age_seconds(queue, now));
    let name = "optout_relay_subscriptions";
    out.family(name, Kind::Gauge, "Opt-out subscriptions, by state.");
    out.sample(
        name,
        &[("state", "active")],
        queue.active_subscriptions as f64,
    );
    out.sample(
        name,
        &[("state", "disabled")],
        queue.disabled_subscriptions as f64,
    );
}

/// Seconds since the oldest due notice became due, 0 with none due.
fn oldest_due_age_seconds(queue: &QueueMetrics, now: DateTime<Utc>) -> f64 {
    queue.oldest_due_at.map_or(0.0, |due| {
        ((now - due).num_milliseconds().max(0) as f64) / 1000.0
    })
}
