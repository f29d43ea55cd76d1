//! The memory bound of `exposures import`: it streams the file, so a million lines fit in a
//! fixed amount of memory. About 30 s; `--nocapture` prints the figures.

mod common;

use common::process::{create_account, database_url, relay, run_watched, stderr_of, stdout_of};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

const LINES: usize = 1_000_000;
/// The bound: the file alone is about 120 MB, so a reader that held it, or its parsed items,
/// would cross it.
const MAX_PEAK_RSS_KB: u64 = 200 * 1024;
/// How long the import may take in the debug build on a slow machine.
const IMPORT_PATIENCE: Duration = Duration::from_secs(600);

/// Writes `LINES` exposure lines, one datapoint each, to `path`.
fn write_exposures(path: &Path, account: &str) {
    let file = std::fs::File::create(path).expect("create file");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    for n in 0..LINES {
        writeln!(
            out,
            r#"{{"accountId":"{account}","contactId":"contact-{n:07}","datapoints":[{{"datapointId":"person{n:07}@example.com","datapointType":"email"}}],"partnerClientId":"tenant-{}"}}"#,
            n % 97
        )
        .expect("write line");
    }
    out.flush().expect("flush");
}

/// The peak resident set size of `pid` so far, in kB (`VmHWM`), if it can still be read.
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[test]
fn exposures_import_of_a_million_lines_stays_under_200_mb() {
    let dir = tempfile::tempdir().expect("temp dir");
    let account = create_account(dir.path(), &["--account-id", "1001"]);
    let file = dir.path().join("exposures.ndjson");
    let written = Instant::now();
    write_exposures(&file, &account.id);
    let file_mb = std::fs::metadata(&file).expect("file size").len() / 1_000_000;
    println!(
        "import memory: wrote {LINES} lines ({file_mb} MB) in {:.1} s",
        written.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut peak = 0;
    let output = run_watched(
        relay().args(["exposures", "import"]).arg(&file).args([
            "--quiet",
            "--database-url",
            &database_url(dir.path()),
        ]),
        IMPORT_PATIENCE,
        |pid| {
            // VmHWM is the kernel's own high-water mark: reading it late loses nothing but
            // the growth after the last read.
            if let Some(kb) = peak_rss_kb(pid) {
                peak = peak.max(kb);
            }
        },
    );
    let took = started.elapsed();

    assert!(
        output.status.success(),
        "import failed: {}",
        stderr_of(&output)
    );
    let stdout = stdout_of(&output);
    println!(
        "import memory: {LINES} lines imported in {:.1} s, peak RSS {:.1} MB",
        took.as_secs_f64(),
        peak as f64 / 1024.0
    );
    assert!(
        stdout.contains(&format!(
            "{LINES} lines: {LINES} datapoints accepted, 0 duplicates, 0 refused"
        )),
        "{stdout}"
    );
    assert!(peak > 0, "the child's VmHWM was never read");
    assert!(
        peak < MAX_PEAK_RSS_KB,
        "peak RSS {peak} kB is over {MAX_PEAK_RSS_KB} kB"
    );
}
