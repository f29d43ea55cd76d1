//! `optout-relay bench`: end-to-end throughput and latency of opt-out propagation on this
//! machine, against the raw HTTP limit measured in the same run.
//!
//! Everything runs in this one process on 127.0.0.1: a receiver that answers 200 at once, a
//! fresh service (API and delivery engine) on a temporary SQLite database with durable commits,
//! and a load generator that sends opt-outs through the operator API.

mod cpu;
mod load;
mod nodes;
mod receiver;
mod report;
mod rss;
mod setup;
mod stats;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use optout_core::{Keyring, MasterKey, SystemClock, UrlPolicy};
use optout_server::{AdminToken, App, AppConfig, EngineConfig};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::cli::BenchArgs;
use load::{Accepted, OperatorClient, Pace};
use receiver::Arrivals;
use report::{print_table, report_json, Backlog, FanOut, Report};
use stats::Percentiles;

/// The admin token of the benchmark's private service.
const BENCH_ADMIN_TOKEN: &str = "bench-admin-token-not-secret";
/// Size of a typical notice body, for the raw-limit POSTs.
const NOTICE_BODY_BYTES: usize = 330;
/// Longest wait for the last deliveries of a phase (a millisecond per notice if longer).
const DELIVERY_DEADLINE: Duration = Duration::from_secs(300);
/// Pause between two opt-outs that probe the API while a backlog is released and drained.
const PROBE_PAUSE: Duration = Duration::from_millis(10);
/// Most opt-outs that probe the API while a backlog is released and drained.
const PROBE_MOST: u64 = 100_000;
/// Longest wait for the service to stop at the end (an attempt in flight lasts at most 10 s).
const SERVICE_STOP_DEADLINE: Duration = Duration::from_secs(15);

/// Runs the benchmark and prints its figures.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.nodes == 1 || args.database_url.is_some(),
        "--nodes above 1 needs a PostgreSQL --database-url"
    );
    let (backend, store) = nodes::Backend::create(args.database_url.as_deref()).await?;
    // As `serve` does: the raw limit runs after it too, its threads all lowered alike.
    crate::writer_priority::favour_store_writer();
    let backend_name = backend.name();
    let shutdown = CancellationToken::new();
    let service = TaskTracker::new();
    let result = measure(&args, &backend, store, &shutdown, &service).await;
    shutdown.cancel();
    // The service lets go of the database before it is removed.
    service.close();
    if tokio::time::timeout(SERVICE_STOP_DEADLINE, service.wait())
        .await
        .is_err()
    {
        eprintln!(
            "the benchmark's service did not stop within {} s",
            SERVICE_STOP_DEADLINE.as_secs()
        );
    }
    backend.remove().await;
    let report = result?;
    if args.json {
        println!("{}", report_json(&report, args.opt_outs));
    } else {
        print_table(&args, backend_name, &report);
    }
    Ok(())
}

/// Which contact numbers each phase opts out.
#[derive(Debug, Clone)]
struct Contacts {
    throughput: Range<u64>,
    paced: Range<u64>,
    backlog: Range<u64>,
    /// The one contact exposed to every fan-out account.
    fan_out: u64,
    /// Contacts exposed to nobody, whose opt-outs probe the API while a backlog is released.
    probe: Range<u64>,
}

impl Contacts {
    fn plan(args: &BenchArgs) -> Self {
        let paced_count = (args.rate * args.paced_seconds as f64).round() as u64;
        let throughput = 0..args.opt_outs;
        let paced = throughput.end..throughput.end + paced_count;
        let backlog = paced.end..paced.end + args.backlog;
        let fan_out = backlog.end;
        Self {
            fan_out,
            probe: fan_out + 1..fan_out + 1 + PROBE_MOST,
            throughput,
            paced,
            backlog,
        }
    }
}

async fn measure(
    args: &BenchArgs,
    backend: &nodes::Backend,
    store: Arc<dyn optout_store::Store>,
    shutdown: &CancellationToken,
    service: &TaskTracker,
) -> anyhow::Result<Report> {
    let contacts = Contacts::plan(args);
    // Every notice the phases expect: the fan-out's are all of one contact.
    let expected_notices = contacts.fan_out + args.fan_out_accounts;
    let (receiver, arrivals) = receiver::spawn(shutdown.clone(), expected_notices).await?;
    // Measured before the service starts, so nothing of it (background checkpoints of the
    // seeding, say) runs meanwhile.
    eprintln!("raw limit: {} POSTs without the relay...", args.opt_outs);
    let raw = load::raw_limit(
        &format!("http://{receiver}/raw"),
        args.opt_outs,
        NOTICE_BODY_BYTES,
        args.delivery_concurrency as usize,
    )
    .await?;

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
    service.spawn(engine.run(shutdown.clone()));
    let _extra_nodes = match backend.postgres_url() {
        Some(url) => {
            let wakeups =
                crate::database::forward_wakeups(Some(url), app.work_signal(), shutdown.clone())
                    .await?;
            // Tracked so that the database is removed only after it stops listening.
            if let Some(wakeups) = wakeups {
                service.spawn(wakeups);
            }
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
    service.spawn(app.run(listener, shutdown.clone()));

    let hook = format!("http://{receiver}/hook");
    let seeded = seed(args, store.as_ref(), &keyring, &contacts, &hook).await?;
    backend.settle().await;

    let operator = OperatorClient::new(&api, BENCH_ADMIN_TOKEN)?;
    let mut expected = 0;
    eprintln!(
        "throughput: {} opt-outs in batches of {}...",
        args.opt_outs, args.batch
    );
    let in_this_process = backend.postgres_url().is_none();
    let meter = cpu::Meter::start();
    let held_before = backend.writer_held();
    let started = Instant::now();
    let accepted = operator
        .send(
            contacts.throughput.clone(),
            Pace {
                batch: args.batch,
                concurrency: args.concurrency as usize,
                rate: None,
            },
            progress(args.opt_outs, "accepted"),
        )
        .await?;
    let intake_per_s = args.opt_outs as f64 / started.elapsed().as_secs_f64();
    expected += args.opt_outs;
    let last = wait_for(&arrivals, expected).await?;
    let relay_per_s = args.opt_outs as f64 / (last - started).as_secs_f64();
    let relay_cpu = meter.stop().filter(|_| in_this_process);
    let writer_held = held_before
        .zip(backend.writer_held())
        .map(|(before, after)| {
            after.saturating_sub(before).as_secs_f64() / started.elapsed().as_secs_f64()
        });
    let throughput_latency = latencies(&arrivals, &accepted);

    let paced_count = contacts.paced.end - contacts.paced.start;
    eprintln!(
        "latency: {paced_count} single opt-outs at {} per second...",
        args.rate
    );
    let paced_started = Instant::now();
    let accepted = operator
        .send(
            contacts.paced.clone(),
            Pace {
                batch: 1,
                concurrency: args.concurrency as usize,
                rate: Some(args.rate),
            },
            progress(paced_count, "accepted"),
        )
        .await?;
    let paced_rate = paced_count as f64 / paced_started.elapsed().as_secs_f64();
    expected += paced_count;
    wait_for(&arrivals, expected).await?;
    let paced_latency = latencies(&arrivals, &accepted);
    let paced_requests = Percentiles::of(
        accepted
            .iter()
            .map(|opt_out| opt_out.accepted - opt_out.sent)
            .collect(),
    );

    let fan_out = if args.fan_out_accounts > 0 {
        eprintln!(
            "fan-out: one opt-out exposed to {} accounts...",
            args.fan_out_accounts
        );
        let sent = Instant::now();
        operator
            .send(
                contacts.fan_out..contacts.fan_out + 1,
                Pace {
                    batch: 1,
                    concurrency: 1,
                    rate: None,
                },
                ProgressBar::hidden(),
            )
            .await?;
        expected += seeded.fan_out_accounts;
        let last = wait_for(&arrivals, expected).await?;
        Some(FanOut {
            accounts: seeded.fan_out_accounts,
            took: last - sent,
        })
    } else {
        None
    };

    let backlog = if args.backlog > 0 {
        let backlog = backlog(
            args,
            store.as_ref(),
            &operator,
            &seeded.subscribed,
            &contacts,
            &arrivals,
            expected,
        )
        .await?;
        expected += args.backlog;
        Some(backlog)
    } else {
        None
    };

    let duplicates = arrivals
        .count
        .load(Ordering::Relaxed)
        .saturating_sub(expected);
    Ok(Report {
        ledger_exposures: seeded.ledger_exposures,
        intake_per_s,
        raw_per_s: raw.per_s,
        raw_cpu: raw.cpu,
        relay_per_s,
        relay_cpu,
        writer_held,
        throughput_latency,
        paced_rate,
        paced_latency,
        paced_requests,
        fan_out,
        backlog,
        duplicates,
    })
}

/// What [`seed`] made.
#[derive(Debug)]
struct Seeded {
    /// Exposures recorded in all.
    ledger_exposures: u64,
    /// The accounts the contacts are spread over.
    subscribed: Vec<setup::Subscribed>,
    /// Accounts the fan-out contact is exposed to.
    fan_out_accounts: u64,
}

/// Seeds accounts, subscriptions and exposures.
async fn seed(
    args: &BenchArgs,
    store: &dyn optout_store::Store,
    keyring: &Keyring,
    contacts: &Contacts,
    hook: &str,
) -> anyhow::Result<Seeded> {
    let all_accounts = args.accounts + args.fan_out_accounts;
    eprintln!("seeding {all_accounts} subscribed accounts...");
    let bar = progress(all_accounts, "accounts");
    let subscribed = setup::seed_accounts(store, keyring, 1..args.accounts + 1, hook, &bar).await?;
    let fan_out = setup::seed_accounts(
        store,
        keyring,
        args.accounts + 1..all_accounts + 1,
        hook,
        &bar,
    )
    .await?;
    bar.finish_and_clear();
    let opted_out = contacts.backlog.end;
    eprintln!("seeding {opted_out} contacts who will opt out (2 datapoints each)...");
    let bar = progress(opted_out, "exposures");
    setup::seed_contacts(store, 0..opted_out, args.accounts, &bar).await?;
    bar.finish_and_clear();
    setup::seed_fan_out(store, contacts.fan_out, &fan_out).await?;
    if args.ledger_exposures > 0 {
        eprintln!(
            "seeding {} exposures of contacts who stay (the ledger)...",
            args.ledger_exposures
        );
        let bar = progress(args.ledger_exposures, "exposures");
        setup::seed_ledger(store, args.ledger_exposures, args.accounts, &bar).await?;
        bar.finish_and_clear();
    }
    Ok(Seeded {
        ledger_exposures: opted_out + fan_out.len() as u64 + args.ledger_exposures,
        subscribed,
        fan_out_accounts: fan_out.len() as u64,
    })
}

/// The backlog scenario: the receivers go down (their subscriptions are paused, as the engine
/// does to a failing receiver), the backlog's contacts opt out and their notices are held; then
/// the receivers come back (resumed) and the backlog drains, while single opt-outs of other
/// contacts probe how long the release and the drain keep the API waiting.
async fn backlog(
    args: &BenchArgs,
    store: &dyn optout_store::Store,
    operator: &OperatorClient,
    subscribed: &[setup::Subscribed],
    contacts: &Contacts,
    arrivals: &Arrivals,
    delivered_before: u64,
) -> anyhow::Result<Backlog> {
    let notices = contacts.backlog.end - contacts.backlog.start;
    eprintln!("backlog: {notices} notices held while the receivers are down...");
    let sampler = rss::PeakSampler::start();
    setup::set_active(store, subscribed, false).await?;
    let queueing = Instant::now();
    operator
        .send_only(
            contacts.backlog.clone(),
            Pace {
                batch: args.batch,
                concurrency: args.concurrency as usize,
                rate: None,
            },
            progress(notices, "held"),
        )
        .await?;
    let intake_per_s = notices as f64 / queueing.elapsed().as_secs_f64();
    let held_rss_mb = rss::resident_mb().unwrap_or(0.0);
    eprintln!("backlog: receivers up again, draining...");
    // Opt-outs sent meanwhile show how long the release and the drain keep the API waiting.
    let stop_probe = CancellationToken::new();
    // Stops the probe on every way out, errors included.
    let _stop_probe_on_exit = stop_probe.clone().drop_guard();
    let probe = tokio::spawn({
        let (operator, probe, stop) =
            (operator.clone(), contacts.probe.clone(), stop_probe.clone());
        async move { operator.probe_waits(probe, PROBE_PAUSE, stop).await }
    });
    let resumed = Instant::now();
    setup::set_active(store, subscribed, true).await?;
    let released = Instant::now();
    let last = wait_for(arrivals, delivered_before + notices).await;
    stop_probe.cancel();
    let waits = probe.await.context("probe task panicked")??;
    let last = last?;
    let longest = |until: Instant| {
        waits
            .iter()
            .filter(|(sent, _)| *sent < until)
            .map(|(_, wait)| *wait)
            .max()
            .unwrap_or_default()
    };
    let peak_rss_mb = sampler.finish();
    Ok(Backlog {
        notices,
        intake_per_s,
        held_rss_mb,
        peak_rss_mb,
        release: released - resumed,
        release_request_max: longest(released),
        backlog_request_max: longest(last),
        drain_per_s: notices as f64 / (last - resumed).as_secs_f64(),
    })
}

/// Waits until `count` notices have arrived; returns when the last one did.
async fn wait_for(arrivals: &Arrivals, count: u64) -> anyhow::Result<Instant> {
    let bar = progress(count, "delivered");
    let allowed = DELIVERY_DEADLINE.max(Duration::from_millis(count));
    let deadline = Instant::now() + allowed;
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
            allowed.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Latency from acceptance to first arrival, for each accepted contact: 0 when the notice
/// arrived before the `202` did (the engine starts a notice as soon as its commit is on disk).
fn latencies(arrivals: &Arrivals, accepted: &[Accepted]) -> Percentiles {
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
            .filter_map(|opt_out| {
                first_arrival
                    .get(&opt_out.contact)
                    .map(|arrived| arrived.saturating_duration_since(opt_out.accepted))
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
