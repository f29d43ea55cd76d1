//! The engine loop and its step function.

use chrono::{DateTime, Utc};
use optout_core::{
    AccountId, AccountSecrets, AfterFailure, AttemptOutcome, AttemptResult, ClaimRequest,
    ClaimedNotice, Clock, IntakeClaim, Keyring, NoticeDisposition, RetryPolicy, SealError,
};
use optout_store::Store;
use rand::Rng;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handoff::{Handoff, RunningEngine};
use super::recorder::{run_recorder, write_batch};
use super::sender::{Sender, Sending};
use super::signal::WorkSignal;
use crate::metrics::{AttemptKind, Metrics};

/// The attempt error recorded (and shown in the account's audit log) when the account's secret
/// does not open: nothing was sent, and the operator's log says why.
pub const UNOPENED_SECRET_ERROR: &str =
    "not sent: the account secret does not open with the service's master keys";

/// How soon to look again when work is due but none could be claimed.
const DUE_BUT_UNCLAIMED_RETRY: Duration = Duration::from_millis(50);

/// How the engine works.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Deliveries in flight at once, across all subscriptions.
    pub concurrency: usize,
    /// Deliveries in flight at once to one subscription, so a slow receiver cannot take all.
    pub per_subscription: usize,
    /// Most notices claimed at once.
    pub claim_batch: u32,
    /// How long a claim is leased: a claimed notice may wait for a slot before its attempt, and
    /// an attempt is started only if the lease outlasts it (see [`Self::attempt_timeout`]), so
    /// only a crashed worker's notices are ever claimed again.
    pub lease: Duration,
    /// Fallback poll, for work committed by another process (the CLI) that cannot signal.
    pub poll_interval: Duration,
    /// Retries and when the subscription is disabled.
    pub retry: RetryPolicy,
    /// The longest an attempt may take: one is started only while its lease outlasts it.
    pub attempt_timeout: Duration,
}

impl EngineConfig {
    /// Defaults for an attempt timeout of `attempt_timeout`.
    pub fn new(attempt_timeout: Duration) -> Self {
        Self {
            concurrency: 256,
            per_subscription: 32,
            claim_batch: 512,
            lease: attempt_timeout * 3 + Duration::from_secs(5),
            poll_interval: Duration::from_secs(1),
            retry: RetryPolicy::standard(),
            attempt_timeout,
        }
    }
}

/// What an engine works with, besides its configuration.
#[derive(Debug, Clone)]
pub struct EngineParts {
    /// Where notices are claimed and outcomes recorded.
    pub store: Arc<dyn Store>,
    /// The HTTP client of deliveries.
    pub sender: Sender,
    /// Opens the claimed notices' sealed account secrets.
    pub keyring: Keyring,
    /// Tells time.
    pub clock: Arc<dyn Clock>,
    /// Wakes the engine when work is committed.
    pub signal: WorkSignal,
    /// Where attempts are counted.
    pub metrics: Arc<Metrics>,
    /// Where the intake of this process hands fresh notices while the engine runs.
    pub handoff: Handoff,
}

/// What one [`DeliveryEngine::step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Notices claimed and started.
    pub claimed: usize,
    /// The claim asked for this many: fewer claimed means nothing more is claimable now.
    pub asked: usize,
    /// Enough notices are claimed and waiting for a slot: nothing was asked for.
    pub full: bool,
}

/// The delivery engine.
#[derive(Debug, Clone)]
pub struct DeliveryEngine {
    store: Arc<dyn Store>,
    sender: Sender,
    keyring: Keyring,
    config: Arc<EngineConfig>,
    clock: Arc<dyn Clock>,
    signal: WorkSignal,
    metrics: Arc<Metrics>,
    capacity: Arc<Capacity>,
    handoff: Handoff,
}

/// In-flight deliveries: the global cap, and each account's claimed count and cap.
#[derive(Debug)]
struct Capacity {
    global: Arc<Semaphore>,
    /// Notices claimed and not finished, in flight or waiting for a slot.
    outstanding: AtomicUsize,
    accounts: Mutex<HashMap<AccountId, AccountSlots>>,
    freed: Notify,
}

/// One account's claimed-but-unfinished notices and the permits they take turns with.
#[derive(Debug)]
struct AccountSlots {
    claimed: usize,
    permits: Arc<Semaphore>,
}

impl DeliveryEngine {
    /// An engine working with `parts`, configured by `config`.
    pub fn new(parts: EngineParts, config: EngineConfig) -> Self {
        let EngineParts {
            store,
            sender,
            keyring,
            clock,
            signal,
            metrics,
            handoff,
        } = parts;
        let capacity = Capacity {
            global: Arc::new(Semaphore::new(config.concurrency)),
            outstanding: AtomicUsize::new(0),
            accounts: Mutex::new(HashMap::new()),
            freed: Notify::new(),
        };
        Self {
            store,
            sender,
            keyring,
            config: Arc::new(config),
            clock,
            signal,
            metrics,
            capacity: Arc::new(capacity),
            handoff,
        }
    }

    /// Runs until `shutdown`, then waits for in-flight deliveries and records their outcomes.
    pub async fn run(self, shutdown: CancellationToken) {
        let (outcomes, received) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(run_recorder(Arc::clone(&self.store), received));
        let tracker = TaskTracker::new();
        self.handoff.attach(RunningEngine {
            engine: self.clone(),
            tracker: tracker.clone(),
            outcomes: outcomes.clone(),
        });
        tracing::info!(
            concurrency = self.config.concurrency,
            per_subscription = self.config.per_subscription,
            "delivery engine started"
        );
        while !shutdown.is_cancelled() {
            match self.step(&tracker, &outcomes).await {
                Ok(report) if report.full => self.wait_for_slots(&shutdown).await,
                // A full claim: more may be due at once.
                Ok(report) if report.claimed > 0 && report.claimed == report.asked => {}
                Ok(_) => self.wait_for_work(&shutdown).await,
                Err(error) => {
                    tracing::error!(%error, "claiming notices failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => {}
                        _ = tokio::time::sleep(self.config.poll_interval) => {}
                    }
                }
            }
        }
        // Notices handed over from now on, or still being recorded, are started by this engine
        // (the tracker and the recorder wait for them) or claimed from the queue later.
        self.handoff.detach(&self);
        tracker.close();
        tracker.wait().await;
        drop(outcomes);
        match recorder.await {
            Ok(()) => {}
            Err(error) if error.is_panic() => tracing::error!("outcome recorder panicked"),
            // The runtime is shutting down around the engine (the process is exiting): outcomes
            // not written yet are delivered again when their leases end.
            Err(_) => tracing::debug!("outcome recorder cancelled"),
        }
        tracing::info!("delivery engine stopped");
    }

    /// Claims what may be started soon and starts it on `tracker`; outcomes go to `outcomes`.
    ///
    /// Up to twice the concurrency is kept claimed, half of it waiting for a slot (and up to
    /// four times the per-subscription cap of one account), so that notices are claimed in
    /// batches rather than one per freed slot: each claim is a transaction. A notice that waited
    /// so long that its lease would end during the attempt is not attempted (see
    /// [`EngineConfig::lease`]).
    pub async fn step(
        &self,
        tracker: &TaskTracker,
        outcomes: &mpsc::UnboundedSender<AttemptOutcome>,
    ) -> Result<StepReport, optout_store::StoreError> {
        let outstanding = self.capacity.outstanding.load(Ordering::Acquire);
        if outstanding > self.config.concurrency {
            return Ok(StepReport {
                full: true,
                ..StepReport::default()
            });
        }
        let room = self.config.concurrency * 2 - outstanding;
        let now = self.clock.now();
        let lease = chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::MAX);
        let lease_until = now + lease;
        let limit = self
            .config
            .claim_batch
            .min(u32::try_from(room).unwrap_or(u32::MAX));
        let request = ClaimRequest {
            now,
            lease_until,
            limit,
            per_account_limit: u32::try_from(self.account_buffer()).unwrap_or(u32::MAX),
            saturated_accounts: self.saturated_accounts(),
        };
        let claimed = self.store.claim_due_notices(request).await?;
        let report = StepReport {
            claimed: claimed.len(),
            asked: limit as usize,
            full: false,
        };
        for notice in claimed {
            self.start_claimed(tracker, outcomes.clone(), notice, lease_until);
        }
        Ok(report)
    }

    /// Holds room for up to `most` notices (at most a claim's worth) that the intake of this
    /// process is about to claim, within the bounds that [`Self::step`] keeps (in all, and per
    /// account); returns the room held and the claim the intake may make. `None` when there is
    /// no room.
    pub(crate) fn reserve(&self, most: usize) -> Option<(usize, IntakeClaim)> {
        let ceiling = self.config.concurrency * 2;
        let most = most.min(self.config.claim_batch as usize);
        let lease = chrono::Duration::from_std(self.config.lease).ok()?;
        let lease_until = self.clock.now().checked_add_signed(lease)?;
        let mut reserved = 0;
        self.capacity
            .outstanding
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |outstanding| {
                reserved = ceiling.saturating_sub(outstanding).min(most);
                (reserved > 0).then_some(outstanding + reserved)
            })
            .ok()?;
        let claim = IntakeClaim {
            lease_until,
            limit: u32::try_from(reserved).unwrap_or(u32::MAX),
            per_account_limit: u32::try_from(self.account_buffer()).unwrap_or(u32::MAX),
            saturated_accounts: self.saturated_accounts(),
        };
        Some((reserved, claim))
    }

    /// Whether `other` is this engine (a clone of it).
    pub(crate) fn is(&self, other: &DeliveryEngine) -> bool {
        Arc::ptr_eq(&self.capacity, &other.capacity)
    }

    /// Frees `count` reserved places that no notice took.
    pub(crate) fn release_reserved(&self, count: usize) {
        self.capacity.outstanding.fetch_sub(count, Ordering::AcqRel);
        self.capacity.freed.notify_one();
    }

    /// An account with this many notices claimed gets no more; one below it may get up to this
    /// many more in a claim, so its deliveries are claimed in batches too (at most twice this
    /// claimed at once).
    fn account_buffer(&self) -> usize {
        self.config.per_subscription * 2
    }

    /// Delivers all due work until none is left, recording outcomes before returning.
    /// For tests and one-shot runs (`worker --once`).
    pub async fn drain(&self) -> Result<(), optout_store::StoreError> {
        let (outcomes, mut received) = mpsc::unbounded_channel();
        loop {
            let tracker = TaskTracker::new();
            let report = self.step(&tracker, &outcomes).await?;
            tracker.close();
            tracker.wait().await;
            let mut batch = Vec::new();
            while let Ok(outcome) = received.try_recv() {
                batch.push(outcome);
            }
            write_batch(self.store.as_ref(), &batch).await;
            if report.claimed == 0 {
                return Ok(());
            }
        }
    }

    /// Starts a claimed notice, counting it as outstanding.
    pub(crate) fn start_claimed(
        &self,
        tracker: &TaskTracker,
        outcomes: mpsc::UnboundedSender<AttemptOutcome>,
        notice: ClaimedNotice,
        lease_until: DateTime<Utc>,
    ) {
        self.capacity.outstanding.fetch_add(1, Ordering::AcqRel);
        self.start_reserved(tracker, outcomes, notice, lease_until);
    }

    /// Starts a claimed notice already counted as outstanding (by [`Self::reserve`]): it waits
    /// for its account's turn and a global slot, then makes its attempt if the lease allows.
    pub(crate) fn start_reserved(
        &self,
        tracker: &TaskTracker,
        outcomes: mpsc::UnboundedSender<AttemptOutcome>,
        notice: ClaimedNotice,
        lease_until: DateTime<Utc>,
    ) {
        let account_permits = self.take_account_slot(&notice.account_id);
        let engine = self.clone();
        tracker.spawn(async move {
            let global = Arc::clone(&engine.capacity.global);
            // Account first, then global: a notice waiting for its account's turn holds no
            // global slot, so a slow receiver cannot starve the others.
            let account_permit = account_permits.acquire_owned().await;
            let global_permit = global.acquire_owned().await;
            let account_id = notice.account_id.clone();
            let outcome = if engine.lease_outlasts_attempt(lease_until) {
                engine.deliver(notice).await
            } else {
                // Left under its lease: it comes due again when the lease ends.
                tracing::debug!(notice_id = %notice.notice_id, "lease too short for an attempt");
                None
            };
            drop(global_permit);
            drop(account_permit);
            engine.release_account_slot(&account_id);
            engine.capacity.outstanding.fetch_sub(1, Ordering::AcqRel);
            engine.capacity.freed.notify_one();
            if let Some(outcome) = outcome {
                if outcomes.send(outcome).is_err() {
                    tracing::error!("outcome recorder gone; the notice will be delivered again");
                }
            }
        });
    }

    /// Makes one attempt; `None` when the notice was left under its lease without an attempt.
    async fn deliver(&self, notice: ClaimedNotice) -> Option<AttemptOutcome> {
        let secrets = match self.open_secrets(&notice) {
            Ok(secrets) => secrets,
            Err(error) => return self.unopened(notice, &error),
        };
        let webhook_id = notice.notice_id.to_string();
        let sent = self
            .sender
            .send(Sending {
                webhook_id: &webhook_id,
                url: &notice.url,
                secret: &secrets.secret,
                previous_secret: secrets.previous_secret.as_ref(),
                payload: Arc::clone(&notice.payload),
                attempt: notice.attempt,
                test: false,
            })
            .await;
        let disposition = self.disposition(notice.attempt, &sent.result);
        self.count_attempt(
            &notice,
            &disposition,
            Duration::from_millis(sent.duration_ms),
        );
        let (outcome_label, status) = match &sent.result {
            AttemptResult::Delivered { status_code } => ("delivered", Some(*status_code)),
            AttemptResult::Failed { status_code, .. } => ("failed", *status_code),
        };
        // One line per attempt, with ids only: the URL, payload and secret never reach logs.
        tracing::info!(
            notice_id = %notice.notice_id,
            subscription_id = %notice.subscription_id,
            attempt = notice.attempt,
            outcome = outcome_label,
            status = status.unwrap_or(0),
            duration_ms = sent.duration_ms,
            "delivery attempt"
        );
        Some(outcome(
            notice,
            sent.started_at,
            sent.duration_ms,
            sent.result,
            disposition,
        ))
    }

    /// Whether an attempt started now ends before `lease_until`, with a second to spare.
    fn lease_outlasts_attempt(&self, lease_until: DateTime<Utc>) -> bool {
        let needed = self.config.attempt_timeout + Duration::from_secs(1);
        chrono::Duration::from_std(needed)
            .ok()
            .and_then(|needed| self.clock.now().checked_add_signed(needed))
            .is_some_and(|attempt_end| attempt_end <= lease_until)
    }

    /// The claimed notice's account secrets, opened.
    fn open_secrets(&self, notice: &ClaimedNotice) -> Result<AccountSecrets, SealError> {
        let sealed = AccountSecrets {
            secret: notice.secret.clone(),
            previous_secret: notice.previous_secret.clone(),
        };
        self.keyring.open_all(&sealed, &notice.account_id)
    }

    /// A notice whose account secret does not open is never sent (never unsigned).
    ///
    /// Sealed with a master key this node lacks, or still in plain text: the secret is fine and
    /// this node is behind, as during a key rotation or an upgrade rolling through several
    /// nodes. No attempt is spent: the notice keeps its lease and comes due again when it ends,
    /// for a node that has the key, or for this one once restarted with it.
    ///
    /// Altered or malformed: the attempt is recorded as failed and retried like any other, so
    /// the audit log shows it, and a subscription whose secret never opens is disabled in the
    /// end.
    fn unopened(&self, notice: ClaimedNotice, error: &SealError) -> Option<AttemptOutcome> {
        if matches!(error, SealError::UnknownKey(_) | SealError::PlainText) {
            tracing::warn!(
                notice_id = %notice.notice_id,
                account_id = %notice.account_id,
                %error,
                "delivery left for later: this node cannot open the account secret yet"
            );
            return None;
        }
        tracing::error!(
            notice_id = %notice.notice_id,
            account_id = %notice.account_id,
            %error,
            "delivery not sent: the account secret does not open"
        );
        let result = AttemptResult::Failed {
            status_code: None,
            error: UNOPENED_SECRET_ERROR.to_owned(),
        };
        let disposition = self.disposition(notice.attempt, &result);
        self.count_attempt(&notice, &disposition, Duration::ZERO);
        Some(outcome(notice, self.clock.now(), 0, result, disposition))
    }

    /// Counts an attempt in the metrics, and for a delivery its time since the opt-out.
    fn count_attempt(
        &self,
        notice: &ClaimedNotice,
        disposition: &NoticeDisposition,
        took: Duration,
    ) {
        let kind = match disposition {
            NoticeDisposition::Delivered => AttemptKind::Delivered,
            NoticeDisposition::RetryAt(_) => AttemptKind::Failed,
            NoticeDisposition::Exhausted => AttemptKind::Exhausted,
        };
        self.metrics.delivery.record_attempt(kind, took);
        if kind == AttemptKind::Delivered {
            let since_accepted = (self.clock.now() - notice.created_at)
                .to_std()
                .unwrap_or(Duration::ZERO);
            self.metrics.delivery.record_latency(since_accepted);
        }
    }

    /// What becomes of a notice after its attempt ended with `result`.
    fn disposition(&self, attempt: u32, result: &AttemptResult) -> NoticeDisposition {
        match result {
            AttemptResult::Delivered { .. } => NoticeDisposition::Delivered,
            AttemptResult::Failed { .. } => {
                let jitter = rand::thread_rng().gen::<f64>();
                match self
                    .config
                    .retry
                    .after_failure(attempt, self.clock.now(), jitter)
                {
                    AfterFailure::RetryAt(at) => NoticeDisposition::RetryAt(at),
                    AfterFailure::Exhausted => NoticeDisposition::Exhausted,
                }
            }
        }
    }

    /// Waits until a claimed notice has finished (or `shutdown`).
    async fn wait_for_slots(&self, shutdown: &CancellationToken) {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = self.capacity.freed.notified() => {}
        }
    }

    /// Waits for a wake-up, a freed slot, the next scheduled retry, or the poll interval.
    async fn wait_for_work(&self, shutdown: &CancellationToken) {
        let poll = self.config.poll_interval;
        let until_due = match self.store.find_next_due_at().await {
            Ok(Some(at)) => (at - self.clock.now()).to_std().unwrap_or(Duration::ZERO),
            _ => poll,
        };
        // Work due now that could not be claimed is held by another node's claim or belongs to
        // saturated accounts: look again shortly (a freed slot wakes this sooner).
        let sleep_for = if until_due.is_zero() {
            DUE_BUT_UNCLAIMED_RETRY.min(poll)
        } else {
            until_due.min(poll)
        };
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = self.signal.notified() => {}
            _ = self.capacity.freed.notified() => {}
            _ = tokio::time::sleep(sleep_for) => {}
        }
    }

    /// Counts a claimed notice against its account; returns the account's permits.
    fn take_account_slot(&self, account: &AccountId) -> Arc<Semaphore> {
        let mut accounts = lock(&self.capacity.accounts);
        let slots = accounts
            .entry(account.clone())
            .or_insert_with(|| AccountSlots {
                claimed: 0,
                permits: Arc::new(Semaphore::new(self.config.per_subscription)),
            });
        slots.claimed += 1;
        Arc::clone(&slots.permits)
    }

    fn release_account_slot(&self, account: &AccountId) {
        let mut accounts = lock(&self.capacity.accounts);
        if let Some(slots) = accounts.get_mut(account) {
            slots.claimed -= 1;
            if slots.claimed == 0 {
                accounts.remove(account);
            }
        }
    }

    fn saturated_accounts(&self) -> Vec<AccountId> {
        lock(&self.capacity.accounts)
            .iter()
            .filter(|(_, slots)| slots.claimed >= self.account_buffer())
            .map(|(account, _)| account.clone())
            .collect()
    }
}

/// The outcome of the claimed `notice`'s attempt.
fn outcome(
    notice: ClaimedNotice,
    started_at: DateTime<Utc>,
    duration_ms: u64,
    result: AttemptResult,
    disposition: NoticeDisposition,
) -> AttemptOutcome {
    AttemptOutcome {
        notice_id: notice.notice_id,
        lease_token: notice.lease_token,
        account_id: notice.account_id,
        subscription_id: notice.subscription_id,
        url: notice.url,
        attempt: notice.attempt,
        started_at,
        duration_ms,
        result,
        disposition,
    }
}

/// Locks a mutex, recovering from poisoning: the maps hold counters, always consistent.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
