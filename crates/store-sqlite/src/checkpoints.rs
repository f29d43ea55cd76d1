//! WAL checkpoints off the write path. The writer never checkpoints (`wal_autocheckpoint = 0`):
//! a background task on a connection of its own copies committed pages from the WAL into the
//! database file every [`CHECKPOINT_INTERVAL`], beside the writer instead of inside one of its
//! commits (where SQLite's automatic checkpoint would stall every write queued behind it). Once
//! a checkpoint has copied everything, the next commit reuses the WAL from its start, and
//! `journal_size_limit` cuts the file back to [`WAL_SIZE_LIMIT_BYTES`] after a burst.
//!
//! Under sustained writes a passive checkpoint never catches up with the writer, so the WAL would
//! never start over and would grow for as long as the load lasts. Once the file is larger than
//! [`WAL_RESTART_BYTES`], the checkpoint is a `RESTART` one: it holds new writes back while it
//! copies the frames written since the passive one (about a second's worth) and waits for readers
//! to leave the WAL, at most [`RESTART_WAIT`], so that the next commit starts the WAL over.

use sqlx::SqlitePool;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the WAL is checkpointed.
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// The size the WAL file is cut back to once it is reused from its start.
pub(crate) const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// Above this size the WAL is made to start over (see the module's documentation). A safety
/// net for long bursts, not a routine: each restart holds writes back for up to a few hundred
/// milliseconds (at 256 MiB and 1 GiB it did so during the benchmark's ordinary load, whose WAL
/// reaches some 850 MiB).
const WAL_RESTART_BYTES: u64 = 64 * WAL_SIZE_LIMIT_BYTES;
/// How long a restarting checkpoint waits for the writer and readers before it gives up until
/// the next tick: writes wait meanwhile, so it is short.
pub(crate) const RESTART_WAIT: Duration = Duration::from_millis(100);

/// Keeps the checkpoint task running: it stops once every clone of the store is dropped or the
/// store is closed.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoints {
    pool: SqlitePool,
    _alive: Arc<()>,
}

impl Checkpoints {
    /// Starts checkpointing the database at `database` with `pool` (one connection that may
    /// write, with a busy timeout of [`RESTART_WAIT`]).
    pub(crate) fn start(pool: SqlitePool, database: &Path) -> Self {
        let alive = Arc::new(());
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        tokio::spawn(run(
            pool.clone(),
            PathBuf::from(wal),
            Arc::downgrade(&alive),
        ));
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

async fn run(pool: SqlitePool, wal: PathBuf, alive: Weak<()>) {
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
            continue;
        }
        let size = std::fs::metadata(&wal).map(|meta| meta.len()).unwrap_or(0);
        if size > WAL_RESTART_BYTES {
            // A busy writer or reader makes it give up (SQLITE_BUSY is reported in the result
            // row, not as an error): the next tick tries again.
            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(RESTART)")
                .execute(&pool)
                .await
            {
                if !pool.is_closed() {
                    tracing::warn!(%error, "WAL restart failed; retrying at the next tick");
                }
            }
        }
    }
    pool.close().await;
}
