//! WAL checkpoints off the write path. The writer never checkpoints (`wal_autocheckpoint = 0`):
//! a background task on a connection of its own copies committed pages from the WAL into the
//! database file every [`CHECKPOINT_INTERVAL`], beside the writer instead of inside one of its
//! commits (where SQLite's automatic checkpoint would stall every write queued behind it). Once
//! a checkpoint has copied everything, the next commit reuses the WAL from its start.
//!
//! Under sustained writes a passive checkpoint never catches up with the writer, so the WAL would
//! never start over and would grow for as long as the load lasts. Once the WAL holds more than
//! [`WAL_RESTART_BYTES`] of frames, the checkpoint is a `RESTART` one: it holds new writes back
//! while it copies the frames not copied yet and waits for readers to leave the WAL, at most
//! [`RESTART_WAIT`], so that the next commit starts the WAL over. Passive checkpoints catch up with
//! the writer first (at most [`CATCH_UP_PASSES`]), so that the restart has a few frames to copy
//! rather than a second's worth.
//!
//! After a burst the file is cut back to [`WAL_SIZE_LIMIT_BYTES`] a step at a time. SQLite cuts
//! the file in the first commit that reuses the WAL from its start, holding the write lock, down
//! to the writer's `journal_size_limit`, and cutting gigabytes at once took the better part of a
//! second. So the task keeps the writer's limit one [`CUT_BACK_STEP_BYTES`] below the file's size:
//! each restart of the WAL cuts at most one step, and a service that keeps writing brings the
//! file back to the limit over a few restarts.

use sqlx::SqlitePool;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How often the WAL is checkpointed.
pub(crate) const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
/// The size the WAL file is cut back to after a burst.
pub(crate) const WAL_SIZE_LIMIT_BYTES: u64 = 64 * 1024 * 1024;
/// The most the WAL file is cut back by at one restart of the WAL (see the module's
/// documentation): cutting 4 GiB at once took 0.7 to 1.1 s on the benchmark's machine, and a
/// step 35 ms.
const CUT_BACK_STEP_BYTES: u64 = 128 * 1024 * 1024;
/// Above this many bytes of frames the WAL is made to start over (see the module's documentation).
/// A safety net for long bursts, not a routine: each restart holds writes back for up to a few
/// hundred milliseconds (at 256 MiB and 1 GiB it did so during the benchmark's ordinary load, whose
/// WAL reaches some 850 MiB).
const WAL_RESTART_BYTES: u64 = 64 * WAL_SIZE_LIMIT_BYTES;
/// Passive checkpoints run at most before a restart, each copying what the writer added during
/// the one before.
const CATCH_UP_PASSES: usize = 3;
/// Frames left to copy that a restart may copy itself (4 MiB of 4 KiB pages).
const CATCH_UP_FRAMES: i64 = 1024;
/// How long a restarting checkpoint waits for the writer and readers before it gives up until
/// the next tick: writes wait meanwhile, so it is short.
pub(crate) const RESTART_WAIT: Duration = Duration::from_millis(100);

/// The sizes that steer the checkpoints: the service's constants, smaller ones in tests.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WalSizes {
    /// The size the WAL file is cut back to after a burst; the writer's `journal_size_limit`
    /// when it is opened.
    pub(crate) limit: u64,
    /// The most the file is cut back by at one restart of the WAL.
    pub(crate) cut_back_step: u64,
    /// Above this many bytes of frames the WAL is made to start over.
    pub(crate) restart: u64,
}

impl WalSizes {
    /// The service's sizes.
    pub(crate) const SERVICE: Self = Self {
        limit: WAL_SIZE_LIMIT_BYTES,
        cut_back_step: CUT_BACK_STEP_BYTES,
        restart: WAL_RESTART_BYTES,
    };

    /// The writer's `journal_size_limit` for a WAL file of `size` bytes: one step below it, and
    /// never below the limit.
    fn writer_limit(&self, size: u64) -> u64 {
        size.saturating_sub(self.cut_back_step).max(self.limit)
    }
}

/// Keeps the checkpoint task running: it stops once every clone of the store is dropped or the
/// store is closed.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoints {
    pool: SqlitePool,
    _alive: Arc<()>,
}

impl Checkpoints {
    /// Starts checkpointing the database at `database` with `pool` (one connection that may
    /// write, with a busy timeout of [`RESTART_WAIT`]). `writer` is the store's writer, opened
    /// with a `journal_size_limit` of `sizes.limit`.
    pub(crate) fn start(
        pool: SqlitePool,
        writer: SqlitePool,
        database: &Path,
        sizes: WalSizes,
    ) -> Self {
        let alive = Arc::new(());
        let checkpointer = Checkpointer::new(pool.clone(), writer, database, sizes);
        tokio::spawn(run(checkpointer, Arc::downgrade(&alive)));
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

async fn run(mut checkpointer: Checkpointer, alive: Weak<()>) {
    let mut ticks = tokio::time::interval(CHECKPOINT_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if alive.strong_count() == 0 || checkpointer.is_closed() {
            break;
        }
        checkpointer.tick().await;
    }
    checkpointer.pool.close().await;
}

/// One database's checkpoints, a tick at a time.
struct Checkpointer {
    pool: SqlitePool,
    writer: SqlitePool,
    wal: PathBuf,
    sizes: WalSizes,
    /// The writer's `journal_size_limit` as last set.
    writer_limit: u64,
    /// Bytes of one WAL frame, once read.
    frame_bytes: Option<u64>,
}

/// What a checkpoint reported: frames in the WAL since it last started over, and how many of
/// them are copied into the database file.
struct WalProgress {
    frames: i64,
    copied: i64,
}

impl WalProgress {
    /// Frames not copied yet.
    fn left(&self) -> i64 {
        self.frames - self.copied
    }
}

impl Checkpointer {
    fn new(pool: SqlitePool, writer: SqlitePool, database: &Path, sizes: WalSizes) -> Self {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        Self {
            pool,
            writer,
            wal: PathBuf::from(wal),
            sizes,
            writer_limit: sizes.limit,
            frame_bytes: None,
        }
    }

    fn is_closed(&self) -> bool {
        self.pool.is_closed() || self.writer.is_closed()
    }

    /// Keeps the next cut of the file to a step, checkpoints what it can, and starts the WAL
    /// over if what it holds has grown past its restart size. Failures are logged and retried at
    /// the next tick.
    async fn tick(&mut self) {
        // Set before the checkpoint: the WAL starts over only once a checkpoint has copied all of
        // it, so the restart that may follow this one cuts the file to this limit.
        if let Err(error) = self.limit_next_cut(self.wal_size()).await {
            if !self.is_closed() {
                tracing::warn!(%error, "cannot set the WAL size limit; retrying at the next tick");
            }
            return;
        }
        // PASSIVE never waits for the writer or readers: it copies what it can now, and the
        // rest at a later tick.
        let frames = match self.passive().await {
            Ok(progress) => progress.frames,
            Err(error) => {
                if !self.is_closed() {
                    tracing::warn!(%error, "WAL checkpoint failed; retrying at the next tick");
                }
                return;
            }
        };
        // What the WAL holds since it last started over, not the file's size: after a restart
        // the file stays larger than that until it has been cut back.
        let held = match self.frame_bytes().await {
            Ok(frame_bytes) => frames.unsigned_abs() * frame_bytes,
            Err(error) => {
                if !self.is_closed() {
                    tracing::warn!(%error, "cannot read the page size; retrying at the next tick");
                }
                return;
            }
        };
        if held > self.sizes.restart {
            // The restart holds writes back while it copies what the passive one left: catch up
            // first, so that it has a few frames to copy rather than a second's worth.
            let mut left = None;
            for _ in 0..CATCH_UP_PASSES {
                match self.passive().await {
                    Ok(progress) => {
                        left = Some(progress.left());
                        if progress.left() <= CATCH_UP_FRAMES {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
            self.restart(left).await;
        }
    }

    /// A `RESTART` checkpoint: it copies what is left, waits for readers to leave the WAL (new
    /// writes wait meanwhile), and so makes the next commit start the WAL over. A writer or
    /// reader that stays past [`RESTART_WAIT`] makes it give up (SQLITE_BUSY is reported in the
    /// result row, not as an error): the next tick tries again. `left` is what the catch-up
    /// left for it to copy, `None` when no catch-up pass succeeded.
    async fn restart(&self, left: Option<i64>) {
        let started = Instant::now();
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(RESTART)")
            .fetch_one(&self.pool)
            .await
        {
            Ok((busy, _, _)) => tracing::debug!(
                frames_left = left,
                gave_up = busy != 0,
                took_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "WAL restart"
            ),
            Err(error) => {
                if !self.is_closed() {
                    tracing::warn!(%error, "WAL restart failed; retrying at the next tick");
                }
            }
        }
    }

    /// A passive checkpoint.
    async fn passive(&self) -> Result<WalProgress, sqlx::Error> {
        let (_, frames, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&self.pool)
            .await?;
        Ok(WalProgress { frames, copied })
    }

    /// Bytes of one WAL frame: a page and its 24-byte header (read once).
    async fn frame_bytes(&mut self) -> Result<u64, sqlx::Error> {
        if let Some(frame_bytes) = self.frame_bytes {
            return Ok(frame_bytes);
        }
        let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(&self.pool)
            .await?;
        let frame_bytes = page_size.unsigned_abs() + 24;
        self.frame_bytes = Some(frame_bytes);
        Ok(frame_bytes)
    }

    fn wal_size(&self) -> u64 {
        std::fs::metadata(&self.wal)
            .map(|meta| meta.len())
            .unwrap_or(0)
    }

    /// Sets the writer's `journal_size_limit` one step below the file's `size`, so that the
    /// next restart of the WAL cuts the file by a step at most.
    async fn limit_next_cut(&mut self, size: u64) -> Result<(), sqlx::Error> {
        let wanted = self.sizes.writer_limit(size);
        if wanted != self.writer_limit {
            sqlx::query(&format!("PRAGMA journal_size_limit = {wanted}"))
                .persistent(false)
                .execute(&self.writer)
                .await?;
            self.writer_limit = wanted;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
    use std::str::FromStr;

    const KIB: u64 = 1024;
    const SIZES: WalSizes = WalSizes {
        limit: 64 * KIB,
        cut_back_step: 256 * KIB,
        restart: u64::MAX,
    };

    async fn one_connection(options: SqliteConnectOptions) -> SqlitePool {
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_large_wal_is_cut_back_a_step_per_restart() {
        cut_back_a_step_per_restart(SIZES).await;
    }

    /// The same through restarting checkpoints, which catch up with passive ones first.
    #[tokio::test]
    async fn a_large_wal_is_cut_back_a_step_per_restarting_checkpoint() {
        cut_back_a_step_per_restart(WalSizes {
            restart: 0,
            ..SIZES
        })
        .await;
    }

    async fn cut_back_a_step_per_restart(sizes: WalSizes) {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("cut.db");
        let options = SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(&database)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let writer = one_connection(
            options
                .clone()
                .pragma("wal_autocheckpoint", "0")
                .pragma("journal_size_limit", sizes.limit.to_string()),
        )
        .await;
        let mut checkpointer = Checkpointer::new(
            one_connection(options).await,
            writer.clone(),
            &database,
            sizes,
        );
        sqlx::query("CREATE TABLE t (b BLOB)")
            .execute(&writer)
            .await
            .unwrap();
        // Some 2 MiB of WAL in one burst.
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
             INSERT INTO t SELECT randomblob(1000) FROM n",
        )
        .execute(&writer)
        .await
        .unwrap();
        let burst = checkpointer.wal_size();
        assert!(burst > 2 * sizes.cut_back_step, "WAL of {burst} bytes");

        let mut cuts = Vec::new();
        for _ in 0..20 {
            let before = checkpointer.wal_size();
            if before <= sizes.limit {
                break;
            }
            checkpointer.tick().await;
            // The first commit after the checkpoint reuses the WAL from its start and cuts it.
            sqlx::query("INSERT INTO t VALUES (x'00')")
                .execute(&writer)
                .await
                .unwrap();
            cuts.push(before - checkpointer.wal_size());
        }
        assert!(
            checkpointer.wal_size() <= sizes.limit,
            "cut back to {} bytes after cuts of {cuts:?}",
            checkpointer.wal_size()
        );
        assert!(cuts.len() > 2, "cuts {cuts:?}");
        assert!(
            cuts.iter().all(|&cut| cut <= sizes.cut_back_step),
            "cuts {cuts:?} larger than a step"
        );
    }
}
