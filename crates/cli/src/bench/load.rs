//! The load generator: opt-outs sent through the HTTP API, as an operator would.

use anyhow::Context;
use indicatif::ProgressBar;
use serde_json::{json, Value};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::cpu::{CpuUse, Meter};

/// Most requests in flight at once in an open-loop (paced) run.
const MAX_OPEN_LOOP_IN_FLIGHT: usize = 1024;

/// A client of the service's operator API.
#[derive(Debug, Clone)]
pub struct OperatorClient {
    client: reqwest::Client,
    opt_outs_url: String,
    admin_token: String,
}

/// How opt-outs are sent.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// Opt-outs per request (1 sends single objects).
    pub batch: u64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Opt-outs per second, or `None` for as fast as the service accepts them.
    pub rate: Option<f64>,
}

/// What a closed loop keeps of the opt-outs it sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// When each was sent and accepted.
    Accepted,
    /// Nothing.
    Nothing,
}

/// One opt-out the API accepted.
#[derive(Debug, Clone, Copy)]
pub struct Accepted {
    /// Its contact's number.
    pub contact: u64,
    /// When its request left.
    pub sent: Instant,
    /// When its `202` arrived.
    pub accepted: Instant,
}

impl Accepted {
    /// The opt-outs of `contacts`, sent together at `sent` and accepted now.
    fn all(contacts: Range<u64>, sent: Instant) -> Vec<Self> {
        let accepted = Instant::now();
        contacts
            .map(|contact| Self {
                contact,
                sent,
                accepted,
            })
            .collect()
    }
}

impl OperatorClient {
    /// A client of the service at `base` (`http://127.0.0.1:PORT`).
    pub fn new(base: &str, admin_token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .no_proxy()
                .pool_max_idle_per_host(256)
                .build()?,
            opt_outs_url: format!("{base}/admin/opt-outs"),
            admin_token: admin_token.to_owned(),
        })
    }

    /// Sends one opt-out per contact of `contacts`; returns when each was sent and accepted.
    ///
    /// Without a rate, `concurrency` requests are kept in flight (closed loop). With a rate,
    /// each request leaves at its scheduled time whatever the others are doing (open loop), so
    /// a slow answer shows as latency rather than as a lower rate.
    pub async fn send(
        &self,
        contacts: Range<u64>,
        pace: Pace,
        progress: ProgressBar,
    ) -> anyhow::Result<Vec<Accepted>> {
        let accepted = match pace.rate {
            None => {
                self.send_closed_loop(contacts, pace, &progress, Keep::Accepted)
                    .await?
            }
            Some(rate) => {
                self.send_open_loop(contacts, pace.batch, rate, &progress)
                    .await?
            }
        };
        progress.finish_and_clear();
        Ok(accepted)
    }

    /// Sends one opt-out per contact of `contacts`, `concurrency` requests in flight, keeping
    /// no record of them: for a phase that needs only to know that all were accepted.
    pub async fn send_only(
        &self,
        contacts: Range<u64>,
        pace: Pace,
        progress: ProgressBar,
    ) -> anyhow::Result<()> {
        self.send_closed_loop(contacts, pace, &progress, Keep::Nothing)
            .await?;
        progress.finish_and_clear();
        Ok(())
    }

    async fn send_closed_loop(
        &self,
        contacts: Range<u64>,
        pace: Pace,
        progress: &ProgressBar,
        keep: Keep,
    ) -> anyhow::Result<Vec<Accepted>> {
        let next_batch = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::with_capacity(pace.concurrency);
        for _ in 0..pace.concurrency {
            let client = self.clone();
            let next_batch = Arc::clone(&next_batch);
            let contacts = contacts.clone();
            let progress = progress.clone();
            tasks.push(tokio::spawn(async move {
                let mut accepted = Vec::new();
                loop {
                    let batch = next_batch.fetch_add(1, Ordering::Relaxed);
                    let first = contacts.start + batch * pace.batch;
                    if first >= contacts.end {
                        return Ok::<_, anyhow::Error>(accepted);
                    }
                    let last = (first + pace.batch).min(contacts.end);
                    let sent = Instant::now();
                    client.post(first..last, pace.batch == 1).await?;
                    if keep == Keep::Accepted {
                        accepted.extend(Accepted::all(first..last, sent));
                    }
                    progress.inc(last - first);
                }
            }));
        }
        let mut accepted = Vec::new();
        if keep == Keep::Accepted {
            accepted.reserve((contacts.end - contacts.start) as usize);
        }
        for task in tasks {
            accepted.extend(task.await.context("load task panicked")??);
        }
        Ok(accepted)
    }

    async fn send_open_loop(
        &self,
        contacts: Range<u64>,
        batch: u64,
        rate: f64,
        progress: &ProgressBar,
    ) -> anyhow::Result<Vec<Accepted>> {
        let in_flight = Arc::new(Semaphore::new(MAX_OPEN_LOOP_IN_FLIGHT));
        let started = Instant::now();
        let mut tasks = Vec::new();
        let mut first = contacts.start;
        while first < contacts.end {
            let last = (first + batch).min(contacts.end);
            let due = started + Duration::from_secs_f64((first - contacts.start) as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
            let permit = Arc::clone(&in_flight).acquire_owned().await?;
            let client = self.clone();
            let progress = progress.clone();
            tasks.push(tokio::spawn(async move {
                let sent = Instant::now();
                client.post(first..last, batch == 1).await?;
                drop(permit);
                progress.inc(last - first);
                Ok::<_, anyhow::Error>(Accepted::all(first..last, sent))
            }));
            first = last;
        }
        let mut accepted = Vec::with_capacity((contacts.end - contacts.start) as usize);
        for task in tasks {
            accepted.extend(task.await.context("load task panicked")??);
        }
        Ok(accepted)
    }

    /// Sends single opt-outs of `contacts` one after the other, `pause` between them, until
    /// `stop` (or the contacts run out); returns when each was sent and how long its `202` took.
    pub async fn probe_waits(
        &self,
        contacts: Range<u64>,
        pause: Duration,
        stop: CancellationToken,
    ) -> anyhow::Result<Vec<(Instant, Duration)>> {
        let mut waits = Vec::new();
        for contact in contacts {
            let sent = Instant::now();
            self.post(contact..contact + 1, true).await?;
            waits.push((sent, sent.elapsed()));
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        Ok(waits)
    }

    async fn post(&self, contacts: Range<u64>, single: bool) -> anyhow::Result<()> {
        let items: Vec<Value> = contacts
            .map(|contact| {
                json!({
                    "contactId": super::setup::contact_id(contact),
                    "fullName": format!("Bench Person {contact}"),
                    "companyName": "Example Corp",
                })
            })
            .collect();
        let body = if single {
            items.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(items)
        };
        let response = self
            .client
            .post(&self.opt_outs_url)
            .bearer_auth(&self.admin_token)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status() == reqwest::StatusCode::ACCEPTED,
            "opt-out refused: HTTP {}",
            response.status()
        );
        Ok(())
    }
}

/// What the raw limit measured.
#[derive(Debug, Clone, Copy)]
pub struct RawLimit {
    /// POSTs per second.
    pub per_s: f64,
    /// CPU time of the timed POSTs (`None` where `/proc` does not tell).
    pub cpu: Option<CpuUse>,
}

/// The raw limit: `count` POSTs of `body_bytes` bytes to `url` with `concurrency` in flight,
/// with the engine's HTTP client settings but no database and no signing.
pub async fn raw_limit(
    url: &str,
    count: u64,
    body_bytes: usize,
    concurrency: usize,
) -> anyhow::Result<RawLimit> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()?;
    let body = bytes::Bytes::from(vec![b'x'; body_bytes]);
    // One untimed POST per connection first, so the timed ones run on open connections, as
    // the engine's do once it is running.
    let mut warm_up = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let post = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send();
        warm_up.spawn(post);
    }
    while let Some(response) = warm_up.join_next().await {
        let response = response.context("raw task panicked")??;
        anyhow::ensure!(response.status().is_success(), "raw POST failed");
    }
    let next = Arc::new(AtomicU64::new(0));
    let meter = Meter::start();
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let client = client.clone();
        let body = body.clone();
        let next = Arc::clone(&next);
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await?;
                anyhow::ensure!(response.status().is_success(), "raw POST failed");
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await.context("raw task panicked")??;
    }
    let per_s = count as f64 / started.elapsed().as_secs_f64();
    Ok(RawLimit {
        per_s,
        cpu: meter.stop(),
    })
}
