//! The figures of one run of `bench`, printed as a table or as one JSON object.

use serde_json::json;
use std::time::Duration;

use super::cpu::CpuUse;
use super::stats::{millis, Percentiles};
use crate::cli::BenchArgs;

/// The figures of one run.
#[derive(Debug)]
pub(super) struct Report {
    pub(super) ledger_exposures: u64,
    pub(super) intake_per_s: f64,
    pub(super) raw_per_s: f64,
    /// CPU time of the raw limit's POSTs.
    pub(super) raw_cpu: Option<CpuUse>,
    pub(super) relay_per_s: f64,
    /// CPU time of the throughput phase; only where the whole relay runs in this process
    /// (SQLite), as a PostgreSQL server's or another node's is not seen here.
    pub(super) relay_cpu: Option<CpuUse>,
    /// Share of the throughput phase during which SQLite's write connection was held.
    pub(super) writer_held: Option<f64>,
    pub(super) throughput_latency: Percentiles,
    pub(super) paced_rate: f64,
    pub(super) paced_latency: Percentiles,
    /// The paced opt-outs' own requests, from sent to accepted.
    pub(super) paced_requests: Percentiles,
    pub(super) fan_out: Option<FanOut>,
    pub(super) backlog: Option<Backlog>,
    pub(super) duplicates: u64,
}

/// The fan-out scenario: one opt-out exposed to many accounts.
#[derive(Debug, Clone, Copy)]
pub(super) struct FanOut {
    pub(super) accounts: u64,
    /// From the opt-out sent to its last notice received.
    pub(super) took: Duration,
}

/// The backlog scenario: notices held while the receivers are down, then drained.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backlog {
    pub(super) notices: u64,
    /// Opt-outs accepted per second while nothing was delivered.
    pub(super) intake_per_s: f64,
    /// Resident size with every notice held, before the drain.
    pub(super) held_rss_mb: f64,
    /// Largest resident size while queueing and draining.
    pub(super) peak_rss_mb: f64,
    /// From the first subscription resumed to the last one resumed (held notices released).
    pub(super) release: Duration,
    /// The longest wait for an opt-out's `202` meanwhile (single opt-outs, one every 10 ms).
    pub(super) release_request_max: Duration,
    /// The longest wait for an opt-out's `202` from the first subscription resumed until the
    /// backlog was drained.
    pub(super) backlog_request_max: Duration,
    pub(super) drain_per_s: f64,
}

pub(super) fn print_table(args: &BenchArgs, backend: &str, report: &Report) {
    let row = |label: &str, value: String| println!("{label:<46} {value:>12}");
    println!();
    println!(
        "optout-relay bench: {backend}, {} node(s), {} accounts, {} exposures recorded, \
         everything on 127.0.0.1",
        args.nodes, args.accounts, report.ledger_exposures
    );
    row(
        "raw HTTP limit (POSTs/s)",
        format!("{:.0}", report.raw_per_s),
    );
    row(
        "relay end-to-end (notices/s)",
        format!("{:.0}", report.relay_per_s),
    );
    row("ratio relay/raw", format!("{:.2}", ratio(report)));
    if let Some(raw) = report.raw_cpu {
        row(
            "CPU per raw POST (µs), cores busy",
            per_item_and_busy(raw, args.opt_outs),
        );
    }
    if let Some(relay) = report.relay_cpu {
        row(
            "CPU per notice (µs), cores busy",
            per_item_and_busy(relay, args.opt_outs),
        );
        row(
            "  of which SQLite's threads (µs)",
            format!("{:.1}", relay.store_micros_per(args.opt_outs)),
        );
    }
    if let Some(held) = report.writer_held {
        row(
            "  SQLite's write connection held (share)",
            format!("{held:.2}"),
        );
    }
    if let Some(cpu_ratio) = cpu_ratio(report, args.opt_outs) {
        row(
            "CPU ratio (per raw POST / per notice)",
            format!("{cpu_ratio:.2}"),
        );
    }
    row(
        "opt-outs accepted by the API (per s)",
        format!("{:.0}", report.intake_per_s),
    );
    let t = report.throughput_latency;
    row(
        "latency under full load p50/p99 (ms)",
        format!("{:.1}/{:.1}", millis(t.p50), millis(t.p99)),
    );
    let p = report.paced_latency;
    row(
        &format!("latency at {:.0} opt-outs/s p50 (ms)", report.paced_rate),
        format!("{:.2}", millis(p.p50)),
    );
    row("  p90 (ms)", format!("{:.2}", millis(p.p90)));
    row("  p99 (ms)", format!("{:.2}", millis(p.p99)));
    row("  max (ms)", format!("{:.2}", millis(p.max)));
    let r = report.paced_requests;
    row(
        "  opt-out request, sent to 202, p50/p99 (ms)",
        format!("{:.2}/{:.2}", millis(r.p50), millis(r.p99)),
    );
    if let Some(fan_out) = report.fan_out {
        row(
            &format!("one opt-out to {} accounts (s)", fan_out.accounts),
            format!("{:.2}", fan_out.took.as_secs_f64()),
        );
    }
    if let Some(backlog) = report.backlog {
        row(
            &format!("backlog of {} held: resident (MB)", backlog.notices),
            format!("{:.0}", backlog.held_rss_mb),
        );
        row(
            "  opt-outs accepted meanwhile (per s)",
            format!("{:.0}", backlog.intake_per_s),
        );
        row(
            "  receivers resumed, held notices released (s)",
            format!("{:.2}", backlog.release.as_secs_f64()),
        );
        row(
            "  longest opt-out request meanwhile (ms)",
            format!("{:.1}", millis(backlog.release_request_max)),
        );
        row("  drain (notices/s)", format!("{:.0}", backlog.drain_per_s));
        row(
            "  longest opt-out request, release and drain (ms)",
            format!("{:.1}", millis(backlog.backlog_request_max)),
        );
        row(
            "  drain / steady rate",
            format!("{:.2}", backlog.drain_per_s / report.relay_per_s),
        );
        row(
            "  peak resident (MB)",
            format!("{:.0}", backlog.peak_rss_mb),
        );
    }
    row("duplicate deliveries", report.duplicates.to_string());
}

/// `CPU µs per item / cores busy`, for the table.
fn per_item_and_busy(used: CpuUse, items: u64) -> String {
    format!("{:.1} / {:.2}", used.micros_per(items), used.cores_busy())
}

fn ratio(report: &Report) -> f64 {
    report.relay_per_s / report.raw_per_s
}

/// A raw POST's CPU time over a notice's: the ratio the relay would reach were it to keep the
/// cores as busy as the raw phase does (`ratio` ≈ this × relay's cores busy / raw's).
fn cpu_ratio(report: &Report, items: u64) -> Option<f64> {
    let (raw, relay) = (report.raw_cpu?, report.relay_cpu?);
    let per_notice = relay.micros_per(items);
    (per_notice > 0.0).then(|| raw.micros_per(items) / per_notice)
}

/// Rounds to three decimals.
fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

pub(super) fn report_json(report: &Report, items: u64) -> serde_json::Value {
    let micros = |used: Option<CpuUse>| used.map(|used| round3(used.micros_per(items)));
    let busy = |used: Option<CpuUse>| used.map(|used| round3(used.cores_busy()));
    let mut json = json!({
        "ledger_exposures": report.ledger_exposures,
        "raw_per_s": report.raw_per_s.round(),
        "intake_per_s": report.intake_per_s.round(),
        "relay_per_s": report.relay_per_s.round(),
        "ratio": round3(ratio(report)),
        "raw_cpu_us": micros(report.raw_cpu),
        "raw_cores_busy": busy(report.raw_cpu),
        "relay_cpu_us": micros(report.relay_cpu),
        "relay_cores_busy": busy(report.relay_cpu),
        "store_cpu_us": report.relay_cpu.map(|used| round3(used.store_micros_per(items))),
        "cpu_ratio": cpu_ratio(report, items).map(round3),
        "writer_held": report.writer_held.map(round3),
        "load_p50_ms": millis(report.throughput_latency.p50),
        "load_p99_ms": millis(report.throughput_latency.p99),
        "paced_rate_per_s": report.paced_rate.round(),
        "p50_ms": millis(report.paced_latency.p50),
        "p90_ms": millis(report.paced_latency.p90),
        "p99_ms": millis(report.paced_latency.p99),
        "max_ms": millis(report.paced_latency.max),
        "request_p50_ms": millis(report.paced_requests.p50),
        "request_p99_ms": millis(report.paced_requests.p99),
        "fanout_accounts": report.fan_out.map(|f| f.accounts),
        "fanout_s": report.fan_out.map(|f| round3(f.took.as_secs_f64())),
        // Named for the standard scenario, so given only when it is that scenario.
        "fanout_10k_s": report
            .fan_out
            .filter(|f| f.accounts == 10_000)
            .map(|f| round3(f.took.as_secs_f64())),
        "backlog_notices": report.backlog.map(|b| b.notices),
        "held_rss_mb": report.backlog.map(|b| b.held_rss_mb.round()),
        "backlog_intake_per_s": report.backlog.map(|b| b.intake_per_s.round()),
        "release_s": report.backlog.map(|b| round3(b.release.as_secs_f64())),
        "release_request_max_ms": report.backlog.map(|b| millis(b.release_request_max)),
        "backlog_request_max_ms": report.backlog.map(|b| millis(b.backlog_request_max)),
        "drain_per_s": report.backlog.map(|b| b.drain_per_s.round()),
        "drain_ratio": report.backlog.map(|b| round3(b.drain_per_s / report.relay_per_s)),
        "peak_rss_mb": report.backlog.map(|b| b.peak_rss_mb.round()),
        "duplicates": report.duplicates,
    });
    if let Some(object) = json.as_object_mut() {
        object.retain(|_, value| !value.is_null());
    }
    json
}
