//! `optout-relay demo`: the whole flow on this machine in about fifteen seconds, shown live.
//!
//! Everything runs in this one process on 127.0.0.1, port 0: the real service (API and delivery
//! engine, [`service`]) on a SQLite database in a temporary directory, and one reference
//! receiver per account ([`receiver`], the router `optout-relay receive` runs), each verifying
//! signatures with its account's secret; the second one is down for its first deliveries. The
//! demo then plays the operator and the two account developers, step by step ([`steps`]),
//! through the public HTTP API only ([`client`]), with made-up data ([`script`]); it prints each
//! delivery attempt as the audit log shows it ([`live`]), and ends with the compliance records
//! and the receivers' lists ([`report`]). It exits 0 only when every notice was delivered and
//! the records say so.
//!
//! It is not a test fixture nor a benchmark (`optout-relay bench` is): it writes nothing outside
//! its temporary directory, which it removes, and its service is gone when it exits.
//!
//! The decision a newcomer may question: the demo pauses between steps. No step relies on a
//! pause for readiness (each waits for the answers it needs); the pauses are for the person
//! reading, and they space the opt-outs so each one's notices can be followed on their own.

mod client;
mod live;
mod receiver;
mod report;
mod script;
mod service;
mod steps;
mod terminal;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::signals;
use receiver::RunningReceiver;
use service::Service;
use terminal::{Terminal, Tone};

/// Time the demo gives itself; past it, it stops and fails.
const DEADLINE: Duration = Duration::from_secs(50);
/// Time the live view has past [`DEADLINE`] to report what was not delivered, before the
/// whole run is cut short.
const REPORT_GRACE: Duration = Duration::from_secs(1);
/// Reading time after each setup step.
const STEP_PAUSE: Duration = Duration::from_millis(1500);
/// Time between two opt-outs: longer than the first notice's outage and retries take.
const OPT_OUT_SPACING: Duration = Duration::from_secs(3);

/// What the steps need besides the parts it starts.
struct Context<'a> {
    terminal: Terminal,
    dir: &'a Path,
    shutdown: CancellationToken,
    deadline: Instant,
    started_at: DateTime<Utc>,
}

/// What the steps started, to be stopped whatever happens.
#[derive(Debug, Default)]
struct Parts {
    service: Option<Service>,
    receivers: Vec<RunningReceiver>,
}

impl Parts {
    /// Waits for everything to stop (the shutdown token has fired).
    async fn stop(self) -> anyhow::Result<()> {
        let mut result = Ok(());
        if let Some(service) = self.service {
            result = service.stop().await;
        }
        for receiver in self.receivers {
            let stopped = receiver.stop().await;
            result = result.and(stopped);
        }
        result
    }
}

/// What the run showed.
#[derive(Debug)]
struct Summary {
    notices: u64,
    failed_attempts: usize,
}

/// Runs the demo; fails if it is not done within [`DEADLINE`] or anything goes wrong.
pub async fn run() -> anyhow::Result<()> {
    let terminal = Terminal::detect();
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("optout-relay-demo-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let shutdown = CancellationToken::new();
    signals::cancel_on_signal(shutdown.clone())?;
    println!(
        "{}",
        terminal.paint(
            "optout-relay demo: an opt-out reaches every account that received the data",
            Tone::Bold
        )
    );
    println!(
        "  Everything runs in this process on 127.0.0.1; the people and accounts are made up."
    );
    println!(
        "  Temporary directory (removed at the end): {}",
        dir.path().display()
    );

    let context = Context {
        terminal,
        dir: dir.path(),
        shutdown: shutdown.clone(),
        deadline: started + DEADLINE,
        started_at: Utc::now(),
    };
    let mut parts = Parts::default();
    let outcome = tokio::select! {
        outcome = tokio::time::timeout_at(
            context.deadline + REPORT_GRACE,
            steps::run(&context, &mut parts),
        ) => outcome.unwrap_or_else(|_| Err(anyhow::anyhow!(
            "the demo did not finish within {} s: a step did not answer",
            DEADLINE.as_secs()
        ))),
        () = shutdown.cancelled() => Err(anyhow::anyhow!(
            "interrupted: the service and receivers were stopped, the temporary directory removed"
        )),
    };
    drop(context);
    shutdown.cancel();
    let stopped = parts.stop().await;
    let dir_path = dir.path().to_owned();
    let removed = dir.close();
    let summary = outcome?;
    stopped.context("the demo's service or receivers did not stop cleanly")?;
    removed.with_context(|| format!("cannot remove {}", dir_path.display()))?;
    println!();
    println!(
        "{}",
        terminal.paint(
            &format!(
                "Done in {:.1} s: {} notices delivered and acknowledged, {} failed attempts \
                 retried.",
                started.elapsed().as_secs_f64(),
                summary.notices,
                summary.failed_attempts
            ),
            Tone::Good
        )
    );
    println!(
        "  Service and receivers stopped; {} removed.",
        dir_path.display()
    );
    println!(
        "  Next: the Quickstart in README.md makes the same calls by hand, with `serve` and curl."
    );
    Ok(())
}
