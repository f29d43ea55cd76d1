//! WAL checkpoints off the write path. The writer never checkpoints (`wal_autocheckpoint = 0`):
//! a background task on a connection of its own copies committed pages from the WAL into the
//! database file every [`CHECKPOINT_INTERVAL`], beside the writer instead of inside one of its
//! commits (where SQLite's automatic checkpoint would stall every write queued behind it). Once
//! a checkpoint has copied everything, the next commit reuses the WAL from its start, and
//! `journal_size_limit` cuts the file back to [`WAL_SIZE_LIMIT_BYTES`] after a burst.

use sqlx::SqlitePool;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the WAL is checkpointed.
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// The size the WAL file is cut back to once it is reused from its start.
pub(crate) const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

/// Keeps the checkpoint task running: it stops once every clone of the store is dropped or the
/// store is closed.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoints {
    pool: SqlitePool,
    _alive: Arc<()>,
}

impl Checkpoints {
    /// Starts checkpointing with `pool` (one connection that may write).
    pub(crate) fn start(pool: SqlitePool) -> Self {
        let alive = Arc::new(());
        tokio::spawn(run(pool.clone(), Arc::downgrade(&alive)));
        Self {
            pool,
            _alive: alive,
        }
    }

    /// Stops checkpointing: the last checkpoint already ran or is running to its end.
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

async fn run(pool: SqlitePool, alive: Weak<()>) {
    let mut ticks = tokio::time::interval(CHECKPOINT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if alive.strong_count() == 0 || pool.is_closed() {
            break;
        }
        // PASSIVE never waits for the writer or readers: it copies what it can now, and the
        // rest at a later tick.
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if !pool.is_closed() {
                tracing::warn!(%error, "WAL checkpoint failed; retrying at the next tick");
            }
        }
    }
    pool.close().await;
}
