//! `optout-relay demo` as a newcomer runs it: the built binary, from an empty directory, to
//! completion within a minute, its output read like a person would read it.

mod common;

use common::process::{relay, run_watched, stderr_of, stdout_of};
use std::path::Path;
use std::time::Duration;

/// The promise of the demo: done in under a minute (it gives itself 50 s).
const LIMIT: Duration = Duration::from_secs(60);
/// The account whose receiver is down for its first deliveries.
const FLAKY_ACCOUNT: &str = "Globex Marketing";
/// The accounts of the demo.
const ACCOUNTS: [&str; 2] = ["Acme Analytics", FLAKY_ACCOUNT];
/// Notices the demo's three opt-outs make (Jane's data went to both accounts).
const NOTICES: usize = 4;

/// The word after `label` in `line`.
fn word_after<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    line.split(label).nth(1)?.split_whitespace().next()
}

#[test]
fn demo_delivers_every_notice_through_a_receiver_outage_and_exits_zero_within_a_minute() {
    let cwd = tempfile::tempdir().expect("temporary directory");
    let output = run_watched(relay().arg("demo").current_dir(cwd.path()), LIMIT, |_| {});
    let stdout = stdout_of(&output);
    let stderr = stderr_of(&output);
    assert!(
        output.status.success(),
        "demo failed ({:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );

    // The live view shows the flaky receiver's 503, then the same notice delivered on a retry.
    let lines: Vec<&str> = stdout.lines().collect();
    let (failed_at, failed) = lines
        .iter()
        .enumerate()
        .find(|(_, line)| {
            line.contains(FLAKY_ACCOUNT) && line.contains(" failed ") && line.contains("HTTP 503")
        })
        .unwrap_or_else(|| panic!("no 503 failure of {FLAKY_ACCOUNT} shown:\n{stdout}"));
    let notice = word_after(failed, "notice ").expect("the failed line names its notice");
    let retried = lines[failed_at + 1..].iter().any(|line| {
        line.contains(FLAKY_ACCOUNT)
            && word_after(line, "notice ") == Some(notice)
            && line.contains(" delivered ")
            && word_after(line, "attempt ")
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 2)
    });
    assert!(
        retried,
        "notice {notice} is not shown delivered on a retry after its 503:\n{stdout}"
    );

    // The compliance records: one row per recipient, every one delivered.
    let (_, compliance) = stdout
        .split_once("[7/7]")
        .unwrap_or_else(|| panic!("no compliance step:\n{stdout}"));
    let recipients: Vec<&str> = compliance
        .lines()
        .filter(|line| {
            line.split_whitespace()
                .next()
                .is_some_and(|first| first.chars().all(|c| c.is_ascii_digit()))
        })
        .collect();
    assert_eq!(recipients.len(), NOTICES, "recipient rows:\n{compliance}");
    for row in &recipients {
        assert!(row.contains(" delivered "), "not delivered: {row}");
    }
    for account in ACCOUNTS {
        assert!(
            recipients.iter().any(|row| row.contains(account)),
            "{account} is not among the recipients:\n{compliance}"
        );
    }
    assert!(
        stdout.contains(&format!("{NOTICES} notices delivered")),
        "{stdout}"
    );

    // Plain text when piped, nothing left behind, and no personal data in the logs.
    assert!(!stdout.contains('\u{1b}'), "colours in piped output");
    let temporary = stdout
        .lines()
        .find_map(|line| {
            line.split("Temporary directory (removed at the end): ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("the temporary directory is not named:\n{stdout}"));
    assert!(
        !Path::new(temporary.trim()).exists(),
        "{temporary} was not removed"
    );
    let left = std::fs::read_dir(cwd.path()).expect("read cwd").count();
    assert_eq!(left, 0, "the demo wrote into its working directory");
    for personal in ["@example.com", "+1555555", "Jane Doe"] {
        assert!(
            !stderr.contains(personal),
            "{personal:?} in the logs:\n{stderr}"
        );
    }
}
