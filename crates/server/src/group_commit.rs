//! Group commit of opt-outs: requests that arrive while a commit is in progress are recorded
//! together in the next transaction, so a burst of single opt-outs costs a few durable commits
//! rather than one each. Each request still gets its own results, and none is answered before
//! the commit holding it is on disk.

use optout_core::{OptOutBatch, OptOutRecorded};
use optout_store::{Store, StoreError};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

/// Most requests recorded in one transaction.
const MAX_REQUESTS_PER_COMMIT: usize = 256;

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
    /// Group commits into `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            requests: Arc::new(OnceLock::new()),
        }
    }

    /// Records `batch` as [`Store::record_opt_outs`] does. A batch with an idempotency key is
    /// recorded alone, since its key belongs to its own transaction.
    pub async fn record(&self, batch: OptOutBatch) -> Recorded {
        if batch.idempotency.is_some() {
            return self.store.record_opt_outs(batch).await;
        }
        let requests = self.requests.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(run(Arc::clone(&self.store), receiver));
            sender
        });
        let (reply, answer) = oneshot::channel();
        requests
            .send(Request { batch, reply })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Takes whatever requests are waiting and records them together, until every sender is gone.
async fn run(store: Arc<dyn Store>, mut requests: mpsc::UnboundedReceiver<Request>) {
    let mut waiting = Vec::with_capacity(MAX_REQUESTS_PER_COMMIT);
    while requests
        .recv_many(&mut waiting, MAX_REQUESTS_PER_COMMIT)
        .await
        > 0
    {
        commit(store.as_ref(), std::mem::take(&mut waiting)).await;
    }
}

/// Records `requests` in one transaction; if that fails, each on its own, so one request that
/// cannot be recorded never fails the others.
async fn commit(store: &dyn Store, mut requests: Vec<Request>) {
    if requests.len() == 1 {
        let request = requests.remove(0);
        let _ = request
            .reply
            .send(store.record_opt_outs(request.batch).await);
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
    match store.record_opt_outs(merged).await {
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
                let _ = request
                    .reply
                    .send(store.record_opt_outs(request.batch).await);
            }
        }
    }
}

fn gone() -> StoreError {
    StoreError::Backend("the opt-out committer stopped".into())
}
