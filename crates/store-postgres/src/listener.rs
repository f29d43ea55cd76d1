//! Wake-ups across nodes: `LISTEN optout_relay_work`.

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{OpenError, WORK_CHANNEL};

/// First wait before reconnecting after the listening connection failed.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between reconnection attempts: the engine still polls meanwhile, so a slow
/// retry costs latency, never work.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest wait for the listening connection to close (its `UNLISTEN` needs the server): a
/// shutdown does not hang on a server that stopped answering.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Wake-ups for a delivery engine: one each time another node (or this one) commits work that
/// made notices due. Wake-ups that arrive while nobody waits are coalesced into one, as a
/// wake-up only means "look for due notices".
///
/// A background task holds one connection that `LISTEN`s. When the connection fails it
/// reconnects with backoff and then wakes the engine once, because notifications sent while it
/// was away are lost. The task ends when the `WorkListener` (or its receiver) is dropped, soon
/// after; [`WorkListener::close`] waits until it has.
#[derive(Debug)]
pub struct WorkListener {
    wakeups: mpsc::Receiver<()>,
    task: JoinHandle<()>,
}

impl WorkListener {
    /// Connects to the database named by a `postgres://` URL and starts listening. Fails if
    /// the first connection fails; later failures are retried in the background.
    pub async fn connect(url: &str) -> Result<Self, OpenError> {
        let listener = subscribe(url).await?;
        let (sender, wakeups) = mpsc::channel(1);
        let task = tokio::spawn(listen(url.to_owned(), listener, sender));
        Ok(Self { wakeups, task })
    }

    /// Stops listening and waits until the listening connection is closed, so that the
    /// database can be dropped next without the listener seeing its connection lost.
    pub async fn close(self) {
        drop(self.wakeups);
        // The task only returns or panics; a panic was already reported by the runtime.
        let _ = self.task.await;
    }

    /// Waits for the next wake-up. `None` only if the background task ended (it panicked).
    pub async fn recv(&mut self) -> Option<()> {
        self.wakeups.recv().await
    }

    /// The channel of wake-ups, for callers that select over several sources.
    pub fn into_receiver(self) -> mpsc::Receiver<()> {
        self.wakeups
    }
}

/// A listening connection, in a pool of its own: closing the pool waits until the connection is
/// closed (dropping a `PgListener` only starts its `UNLISTEN` in the background).
struct Subscription {
    pool: PgPool,
    listener: PgListener,
}

impl Subscription {
    /// Drops the listener and waits, up to [`CLOSE_WAIT`], until its connection is closed.
    async fn close(self) {
        drop(self.listener);
        if tokio::time::timeout(CLOSE_WAIT, self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("work listener's connection did not close in time; left to close");
        }
    }
}

async fn subscribe(url: &str) -> Result<Subscription, OpenError> {
    // As `PgListener::connect` makes its pool, but kept, so that it can be closed.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect(url)
        .await?;
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.ignore_pool_close_event(true);
    listener.listen(WORK_CHANNEL).await?;
    Ok(Subscription { pool, listener })
}

/// A wake-up already pending is as good as a new one.
fn wake(sender: &mpsc::Sender<()>) {
    let _ = sender.try_send(());
}

async fn listen(url: String, mut subscription: Subscription, sender: mpsc::Sender<()>) {
    loop {
        let received = tokio::select! {
            () = sender.closed() => break,
            received = subscription.listener.try_recv() => received,
        };
        match received {
            Ok(Some(_)) => wake(&sender),
            // The connection dropped and was re-established: whatever was sent meanwhile is lost.
            Ok(None) => wake(&sender),
            Err(error) => {
                tracing::warn!(%error, "work listener lost its connection; reconnecting");
                // The lost connection is dropped, not closed: there is nothing to wait for.
                let Some(reconnected) = reconnect(&url, &sender).await else {
                    return;
                };
                subscription = reconnected;
                wake(&sender);
            }
        }
    }
    subscription.close().await;
}

/// A new listening connection, retried with backoff; `None` once nobody listens any more, at
/// once even while a connection is being tried (which may take long with the server down).
async fn reconnect(url: &str, sender: &mpsc::Sender<()>) -> Option<Subscription> {
    let mut backoff = FIRST_BACKOFF;
    loop {
        tokio::select! {
            () = sender.closed() => return None,
            () = tokio::time::sleep(backoff) => {}
        }
        let subscribed = tokio::select! {
            () = sender.closed() => return None,
            subscribed = subscribe(url) => subscribed,
        };
        match subscribed {
            Ok(subscription) => {
                tracing::info!("work listener reconnected");
                return Some(subscription);
            }
            Err(error) => {
                tracing::warn!(%error, "work listener cannot reconnect yet");
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
