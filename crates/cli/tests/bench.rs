//! `optout-relay bench` on a small load: every scenario runs and reports its figures, and every
//! notice reaches the benchmark's receiver exactly once.

mod common;

use common::process::{relay, run_watched, stderr_of, stdout_of};
use std::time::Duration;

/// A small run finishes in seconds; this only stops a hung one.
const LIMIT: Duration = Duration::from_secs(240);

#[test]
fn bench_runs_every_scenario_and_prints_its_figures_as_json() {
    let cwd = tempfile::tempdir().expect("temporary directory");
    let output = run_watched(
        relay().current_dir(cwd.path()).args([
            "bench",
            "--opt-outs",
            "300",
            "--rate",
            "100",
            "--paced-seconds",
            "1",
            "--fan-out-accounts",
            "25",
            "--backlog",
            "400",
            "--ledger-exposures",
            "1000",
            "--json",
        ]),
        LIMIT,
        |_| {},
    );
    let stdout = stdout_of(&output);
    let stderr = stderr_of(&output);
    assert!(
        output.status.success(),
        "bench failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|error| panic!("not one JSON object ({error}):\n{stdout}"));
    let figure = |key: &str| {
        report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing from {report}"))
    };
    for key in [
        "raw_per_s",
        "relay_per_s",
        "request_p50_ms",
        "request_p99_ms",
        "fanout_s",
        "drain_per_s",
        "release_request_max_ms",
        "backlog_request_max_ms",
        "peak_rss_mb",
        // The SQLite threads certainly ran while 300 opt-outs were written; they are timed in
        // nanoseconds, the process in 10 ms ticks (some of which the phase certainly took).
        "store_cpu_us",
        "relay_cpu_us",
        "relay_cores_busy",
        // SQLite's write connection was held while the phase's opt-outs were written.
        "writer_held",
    ] {
        assert!(figure(key) > 0.0, "{key} is not positive in {report}");
    }
    // A phase of 300 POSTs may take less than a tick of CPU time: present, maybe zero.
    assert!(figure("raw_cpu_us") >= 0.0 && figure("raw_cores_busy") >= 0.0);
    assert!(
        (figure("cpu_ratio") - figure("raw_cpu_us") / figure("relay_cpu_us")).abs() < 0.01,
        "cpu_ratio is not a raw POST's CPU time over a notice's: {report}"
    );
    let ratio = figure("ratio");
    assert!(
        (ratio - figure("relay_per_s") / figure("raw_per_s")).abs() < 0.01,
        "ratio is not relay/raw: {report}"
    );
    assert!(
        figure("backlog_request_max_ms") >= figure("release_request_max_ms"),
        "the release is part of the backlog's window: {report}"
    );
    // A notice may arrive before its opt-out's 202 does: its latency is then 0.
    assert!(figure("p50_ms") >= 0.0, "{report}");
    assert!(figure("p50_ms") <= figure("p99_ms"), "{report}");
    assert!(
        figure("request_p50_ms") <= figure("request_p99_ms"),
        "{report}"
    );
    assert_eq!(report["fanout_accounts"], serde_json::json!(25), "{report}");
    assert_eq!(
        report["backlog_notices"],
        serde_json::json!(400),
        "{report}"
    );
    // 300 + 100 + 400 contacts who opt out, the fan-out contact to 25 accounts, the ledger.
    assert_eq!(
        report["ledger_exposures"],
        serde_json::json!(1825),
        "{report}"
    );
    // Named for the 10,000-account scenario only.
    assert!(report.get("fanout_10k_s").is_none(), "{report}");
    assert_eq!(report["duplicates"], serde_json::json!(0), "{report}");
}

#[test]
fn bench_prints_a_table_without_json() {
    let cwd = tempfile::tempdir().expect("temporary directory");
    let output = run_watched(
        relay().current_dir(cwd.path()).args([
            "bench",
            "--opt-outs",
            "100",
            "--rate",
            "50",
            "--paced-seconds",
            "1",
            "--fan-out-accounts",
            "0",
            "--backlog",
            "0",
        ]),
        LIMIT,
        |_| {},
    );
    let stdout = stdout_of(&output);
    assert!(output.status.success(), "{}", stderr_of(&output));
    for label in [
        "raw HTTP limit (POSTs/s)",
        "relay end-to-end (notices/s)",
        "ratio relay/raw",
        "CPU per notice (µs), cores busy",
        "duplicate deliveries",
    ] {
        assert!(stdout.contains(label), "{label:?} missing from:\n{stdout}");
    }
    assert!(
        !stdout.contains("backlog"),
        "a skipped scenario is reported:\n{stdout}"
    );
}
