//! `optout-relay bench`: end-to-end throughput and latency of opt-out propagation on this
//! machine, against the raw HTTP limit measured in the same run.
//!
//! Everything runs in this one process on 127.0.0.1: a receiver that answers 200 at once, a
//! fresh service (API and delivery engine) on a temporary SQLite database with durable commits,
//! and a load generator that sends opt-outs through the operator API.

mod load;
mod nodes;
mod receiver;
mod setup;
mod stats;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use optout_core::{Keyring, MasterKey, SystemClock, UrlPolicy};
use optout_server::{AdminToken, App, AppConfig, EngineConfig};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::BenchArgs;
use load::{OperatorClient, Pace};
use receiver::Arrivals;
use stats::{millis, Percentiles};

/// The admin token of the benchmark's private service.
const BENCH_ADMIN_TOKEN: &str = "bench-admin-token-not-secret";
/// Size of a typical notice body, for the raw-limit POSTs.
const NOTICE_BODY_BYTES: usize = 330;
/// Longest wait for the last deliveries of a phase.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(300);

/// The figures of one run.
#[derive(Debug)]
struct Report {
    intake_per_s: f64,
    raw_per_s: f64,
    relay_per_s: f64,
    throughput_latency: Percentiles,
    paced_rate: f64,
    paced_latency: Percentiles,
    duplicates: u64,
}

/// Runs the benchmark and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.nodes == 1 || args.database_url.is_some(),
        "--nodes above 1 needs a PostgreSQL --database-url"
    );
    let (backend, store) = nodes::Backend::create(args.database_url.as_deref()).await?;
    let backend_name = backend.name();
    let shutdown = CancellationToken::new();
    let result = measure(&args, &backend, store, &shutdown).await;
    shutdown.cancel();
    backend.remove().await;
    let report = result?;
    if args.json {
        println!("{}", report_json(&report));
    } else {
        print_table(&args, backend_name, &report);
    }
    Ok(())
}

async fn measure(
    args: &BenchArgs,
    backend: &nodes::Backend,
    store: Arc<dyn optout_store::Store>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Report> {
    let (receiver, arrivals) = receiver::spawn(shutdown.clone()).await?;

    // The extra nodes get the keys through their environment, never on a command line.
    let master_keys = match &args.master_key.master_key {
        Some(keys) => keys.clone(),
        None => MasterKey::generate().expose_base64(),
    };
    let keyring = Keyring::parse(&master_keys).context("invalid --master-key")?;
    let mut config = AppConfig::new(
        AdminToken::new(BENCH_ADMIN_TOKEN).map_err(anyhow::Error::msg)?,
        keyring.clone(),
    );
    config.url_policy = UrlPolicy {
        allow_insecure: true,
    };
    config.allow_private_targets = true;
    config.url_challenge = false;
    let app = App::new(Arc::clone(&store), config, Arc::new(SystemClock))?;
    let mut engine_config = EngineConfig::new(Duration::from_secs(10));
    engine_config.concurrency = args.delivery_concurrency as usize;
    let engine = app.delivery_engine(engine_config);
    tokio::spawn(engine.run(shutdown.clone()));
    let _extra_nodes = match backend.postgres_url() {
        Some(url) => {
            crate::database::forward_wakeups(url, app.work_signal()).await?;
            nodes::ExtraNodes::start(
                (args.nodes - 1) as usize,
                url,
                args.delivery_concurrency,
                &master_keys,
            )?
        }
        None => nodes::ExtraNodes::default(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let api = format!("http://{}", listener.local_addr()?);
    tokio::spawn(app.run(listener, shutdown.clone()));

    let paced_count = (args.rate * args.paced_seconds as f64).round() as u64;
    let contacts = args.opt_outs + paced_count;
    eprintln!(
        "seeding {} accounts and {contacts} contacts (2 datapoints each)...",
        args.accounts
    );
    setup::seed(
        store.as_ref(),
        &keyring,
        args.accounts,
        contacts,
        &format!("http://{receiver}/hook"),
    )
    .await?;

    eprintln!("raw limit: {} POSTs without the relay...", args.opt_outs);
    let raw_per_s = load::raw_limit(
        &format!("http://{receiver}/raw"),
        args.opt_outs,
        NOTICE_BODY_BYTES,
        args.delivery_concurrency as usize,
    )
    .await?;

    let operator = OperatorClient::new(&api, BENCH_ADMIN_TOKEN)?;
    eprintln!(
        "throughput: {} opt-outs in batches of {}...",
        args.opt_outs, args.batch
    );
    let started = Instant::now();
    let accepted = operator
        .send(
            0..args.opt_outs,
            Pace {
                batch: args.batch,
                concurrency: args.concurrency as usize,
                rate: None,
            },
            progress(args.opt_outs, "accepted"),
        )
        .await?;
    let intake_per_s = args.opt_outs as f64 / started.elapsed().as_secs_f64();
    let last = wait_for(&arrivals, args.opt_outs).await?;
    let relay_per_s = args.opt_outs as f64 / (last - started).as_secs_f64();
    let throughput_latency = latencies(&arrivals, &accepted);

    eprintln!(
        "latency: {paced_count} single opt-outs at {} per second...",
        args.rate
    );
    let paced_started = Instant::now();
    let accepted = operator
        .send(
            args.opt_outs..contacts,
            Pace {
                batch: 1,
                concurrency: args.concurrency.max(16) as usize,
                rate: Some(args.rate),
            },
            progress(paced_count, "accepted"),
        )
        .await?;
    let paced_rate = paced_count as f64 / paced_started.elapsed().as_secs_f64();
    wait_for(&arrivals, contacts).await?;
    let paced_latency = latencies(&arrivals, &accepted);
    let duplicates = arrivals
        .count
        .load(Ordering::Relaxed)
        .saturating_sub(contacts);
    Ok(Report {
        intake_per_s,
        raw_per_s,
        relay_per_s,
        throughput_latency,
        paced_rate,
        paced_latency,
        duplicates,
    })
}

/// Waits until `count` notices have arrived; returns when the last one did.
async fn wait_for(arrivals: &Arrivals, count: u64) -> anyhow::Result<Instant> {
    let bar = progress(count, "delivered");
    let deadline = Instant::now() + DELIVERY_DEADLINE;
    loop {
        let seen = arrivals.count.load(Ordering::Relaxed);
        bar.set_position(seen.min(count));
        if seen >= count {
            bar.finish_and_clear();
            let times = lock(arrivals);
            return Ok(times
                .iter()
                .map(|(_, at)| *at)
                .max()
                .unwrap_or_else(Instant::now));
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {seen} of {count} notices arrived within {} s",
            DELIVERY_DEADLINE.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Latency from acceptance to first arrival, for each accepted contact.
fn latencies(arrivals: &Arrivals, accepted: &[(u64, Instant)]) -> Percentiles {
    let times = lock(arrivals);
    let mut first_arrival: HashMap<u64, Instant> = HashMap::with_capacity(times.len());
    for (contact, at) in times.iter() {
        first_arrival
            .entry(*contact)
            .and_modify(|first| *first = (*first).min(*at))
            .or_insert(*at);
    }
    Percentiles::of(
        accepted
            .iter()
            .filter_map(|(contact, accepted_at)| {
                first_arrival
                    .get(contact)
                    .map(|arrived| arrived.saturating_duration_since(*accepted_at))
            })
            .collect(),
    )
}

fn lock(arrivals: &Arrivals) -> std::sync::MutexGuard<'_, Vec<(u64, Instant)>> {
    arrivals
        .times
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn progress(total: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "  {{bar:40}} {{pos}}/{{len}} {what} ({{per_sec}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn print_table(args: &BenchArgs, backend: &str, report: &Report) {
    let ratio = report.relay_per_s / report.raw_per_s;
    println!();
    println!(
        "optout-relay bench: {backend}, {} node(s), {} accounts, everything on 127.0.0.1",
        args.nodes, args.accounts
    );
    println!(
        "{:<44} {:>12}",
        "raw HTTP limit (POSTs/s)",
        format!("{:.0}", report.raw_per_s)
    );
    println!(
        "{:<44} {:>12}",
        "relay end-to-end (notices/s)",
        format!("{:.0}", report.relay_per_s)
    );
    println!("{:<44} {:>12}", "ratio relay/raw", format!("{:.2}", ratio));
    println!(
        "{:<44} {:>12}",
        "opt-outs accepted by the API (per s)",
        format!("{:.0}", report.intake_per_s)
    );
    let t = report.throughput_latency;
    println!(
        "{:<44} {:>12}",
        "latency under full load p50/p99 (ms)",
        format!("{:.1}/{:.1}", millis(t.p50), millis(t.p99))
    );
    let p = report.paced_latency;
    println!(
        "{:<44} {:>12}",
        format!("latency at {:.0} opt-outs/s p50 (ms)", report.paced_rate),
        format!("{:.2}", millis(p.p50))
    );
    println!(
        "{:<44} {:>12}",
        "  p90 (ms)",
        format!("{:.2}", millis(p.p90))
    );
    println!(
        "{:<44} {:>12}",
        "  p99 (ms)",
        format!("{:.2}", millis(p.p99))
    );
    println!(
        "{:<44} {:>12}",
        "  max (ms)",
        format!("{:.2}", millis(p.max))
    );
    println!("{:<44} {:>12}", "duplicate deliveries", report.duplicates);
}

fn report_json(report: &Report) -> serde_json::Value {
    json!({
        "raw_per_s": report.raw_per_s.round(),
        "intake_per_s": report.intake_per_s.round(),
        "relay_per_s": report.relay_per_s.round(),
        "ratio": (report.relay_per_s / report.raw_per_s * 1000.0).round() / 1000.0,
        "load_p50_ms": millis(report.throughput_latency.p50),
        "load_p99_ms": millis(report.throughput_latency.p99),
        "paced_rate_per_s": report.paced_rate.round(),
        "p50_ms": millis(report.paced_latency.p50),
        "p90_ms": millis(report.paced_latency.p90),
        "p99_ms": millis(report.paced_latency.p99),
        "max_ms": millis(report.paced_latency.max),
        "duplicates": report.duplicates,
    })
}
