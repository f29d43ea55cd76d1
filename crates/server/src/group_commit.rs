//! Group commit of opt-outs: requests that arrive while commits are in progress are recorded
//! together in the next transaction, so a burst of single opt-outs costs a few durable commits
//! rather than one each. Each request still gets its own results, and none is answered before
//! the commit holding it is on disk.
//!
//! Two groups may be in progress at once: while one waits for the disk, the next is written
//! (the store's writer takes one transaction at a time, and one sync of the log covers every
//! commit made before it).
//!
//! While this process's engine has room, each transaction also claims fresh notices for it
//! (see [`Handoff`]), which the engine starts as soon as the transaction has committed.

use optout_core::{OptOutBatch, OptOutRecorded};
use optout_store::{Store, StoreError};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::delivery::Handoff;

/// Most requests recorded in one transaction.
const MAX_REQUESTS_PER_COMMIT: usize = 256;
/// Groups in progress at once: one being written while the one before waits for the disk.
const GROUPS_IN_PROGRESS: usize = 2;

/// What a request is answered with.
type Recorded = Result<Vec<OptOutRecorded>, StoreError>;

/// One request's opt-outs and where its answer goes.
struct Request {
    batch: OptOutBatch,
    reply: oneshot::Sender<Recorded>,
}

/// Records opt-out batches, several requests per transaction when they arrive together.
#[derive(Clone)]
pub struct OptOutCommits {
    store: Arc<dyn Store>,
    handoff: Handoff,
    /// Started on first use, from inside the runtime.
    requests: Arc<OnceLock<mpsc::UnboundedSender<Request>>>,
}

impl std::fmt::Debug for OptOutCommits {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OptOutCommits")
            .finish_non_exhaustive()
    }
}

impl OptOutCommits {
    /// Group commits into `store`, handing fresh notices over through `handoff`.
    pub fn new(store: Arc<dyn Store>, handoff: Handoff) -> Self {
        Self {
            store,
            handoff,
            requests: Arc::new(OnceLock::new()),
        }
    }

    /// Records `batch` as [`Store::record_opt_outs`] does. A batch with an idempotency key is
    /// recorded alone, since its key belongs to its own transaction.
    pub async fn record(&self, batch: OptOutBatch) -> Recorded {
        let intake = Intake {
            store: Arc::clone(&self.store),
            handoff: self.handoff.clone(),
        };
        if batch.idempotency.is_some() {
            // In a task of its own, so that a client that goes away cannot cancel it between
            // the commit and the start of the notices it claimed.
            return tokio::spawn(async move { intake.record(batch).await })
                .await
                .map_err(|_| gone())?;
        }
        let requests = self.requests.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(run(intake, receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        requests
            .send(Request { batch, reply })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Where a batch is recorded and its fresh notices handed over.
struct Intake {
    store: Arc<dyn Store>,
    handoff: Handoff,
}

impl Intake {
    /// Records `batch` in one transaction, claiming fresh notices for the engine if it has room:
    /// as many as the batch has opt-outs at most (the usual one notice each; a wider fan-out
    /// is claimed from the queue), so the room held while the transaction runs stays small.
    async fn record(&self, batch: OptOutBatch) -> Recorded {
        let reservation = if self.store.claims_at_intake() {
            self.handoff.reserve(batch.opt_outs.len())
        } else {
            None
        };
        let Some(reservation) = reservation else {
            return self.store.record_opt_outs(batch).await;
        };
        // On failure the reservation is dropped: its room is freed, nothing was claimed.
        let intake = self
            .store
            .record_opt_outs_claiming(batch, reservation.claim())
            .await?;
        reservation.start(intake.claimed);
        Ok(intake.recorded)
    }
}

/// Takes whatever requests are waiting and records them together, until every sender is gone,
/// with up to [`GROUPS_IN_PROGRESS`] groups in progress at once.
async fn run(intake: Intake, mut requests: mpsc::UnboundedReceiver<Request>) {
    let intake = Arc::new(intake);
    let in_progress = Arc::new(Semaphore::new(GROUPS_IN_PROGRESS));
    let mut waiting = Vec::with_capacity(MAX_REQUESTS_PER_COMMIT);
    loop {
        // A place first, then the requests: those that arrive while every group is in progress
        // wait together for the next one.
        let Ok(place) = Arc::clone(&in_progress).acquire_owned().await else {
            return;
        };
        if requests
            .recv_many(&mut waiting, MAX_REQUESTS_PER_COMMIT)
            .await
            == 0
        {
            return;
        }
        let group = std::mem::take(&mut waiting);
        let intake = Arc::clone(&intake);
        tokio::spawn(async move {
            commit(&intake, group).await;
            drop(place);
        });
    }
}

/// Records `requests` in one transaction; if that fails, each on its own, so one request that
/// cannot be recorded never fails the others.
async fn commit(intake: &Intake, mut requests: Vec<Request>) {
    if requests.len() == 1 {
        let request = requests.remove(0);
        let _ = request.reply.send(intake.record(request.batch).await);
        return;
    }
    let merged = OptOutBatch {
        opt_outs: requests
            .iter()
            .flat_map(|request| request.batch.opt_outs.iter().cloned())
            .collect(),
        idempotency: None,
        recorded_at: requests
            .iter()
            .map(|request| request.batch.recorded_at)
            .max()
            .unwrap_or_default(),
    };
    match intake.record(merged).await {
        // One result per opt-out, in order: each request takes its own.
        Ok(results) => {
            let mut results = results.into_iter();
            for request in requests {
                let own: Vec<OptOutRecorded> = results
                    .by_ref()
                    .take(request.batch.opt_outs.len())
                    .collect();
                let _ = request.reply.send(Ok(own));
            }
        }
        // Nothing of the merged transaction was kept.
        Err(error) => {
            tracing::warn!(%error, requests = requests.len(), "group commit failed; recording each request alone");
            for request in requests {
                let _ = request.reply.send(intake.record(request.batch).await);
            }
        }
    }
}

fn gone() -> StoreError {
    StoreError::Backend("the opt-out committer stopped".into())
}
