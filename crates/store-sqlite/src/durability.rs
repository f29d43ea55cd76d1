//! Durable commits without holding the write lock through `fsync`.
//!
//! The writer commits with `synchronous = NORMAL`: SQLite appends the transaction to the WAL
//! (a `write`, no `fsync`) and releases the write lock at once. Before the store reports the
//! write as done, [`WalSync::commit_is_durable`] syncs the WAL file, so a write that returned is
//! on disk exactly as with `synchronous = FULL`. The difference is who waits: the sync runs
//! outside the write lock, so the next transaction is written meanwhile, and one sync covers every
//! commit made before it started (group commit across transactions).
//!
//! A commit is visible to readers of the database before it is durable, as in any group-commit
//! design; nothing is acknowledged to a caller before it is. The one write that does not wait is a
//! queue claim's lease: one lost in a crash only lets its notices be delivered once more. After a
//! crash, a commit that was never acknowledged may be gone: the notice it recorded as delivered is
//! delivered again (never lost), an opt-out whose `202` was never sent is sent again by its client.
//!
//! If a sync fails, the state of the file on disk is unknown (the kernel may have dropped the
//! dirty pages and will not report the failure twice), so every later write fails too, until
//! the store is reopened and SQLite recovers from what is really on disk.

use optout_store::StoreError;
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A sync that takes longer than this is logged (at debug level): the commits it covers waited
/// at least as long.
const SLOW_SYNC: Duration = Duration::from_millis(50);

/// Syncs the WAL file of one database on behalf of its writer.
#[derive(Debug, Clone)]
pub(crate) struct WalSync {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    wal: File,
    /// Commits made through this store so far, numbered from 1.
    committed: AtomicU64,
    /// The number of the last commit known to be on disk.
    synced: AtomicU64,
    /// Set for good once a sync has failed (or its outcome is unknown).
    failed: AtomicBool,
    /// Lets one sync run at a time, so that callers queued behind it share the next one.
    turn: tokio::sync::Mutex<()>,
    /// Syncs started so far.
    syncs: AtomicU64,
}

impl Inner {
    /// Syncs the WAL, covering every commit numbered up to `covered`, and records the outcome
    /// here rather than in the caller, which may be gone by then.
    fn sync(&self, covered: u64) {
        let started = Instant::now();
        let result = self.wal.sync_data();
        let took = started.elapsed();
        if took > SLOW_SYNC {
            tracing::debug!(
                took_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                "slow WAL sync"
            );
        }
        match result {
            Ok(()) => {
                self.synced.fetch_max(covered, Ordering::SeqCst);
            }
            Err(error) => {
                self.failed.store(true, Ordering::SeqCst);
                tracing::error!(%error, "syncing the WAL failed; every further write fails");
            }
        }
    }
}

impl WalSync {
    /// Opens the WAL file beside `database` (it exists once a connection has opened the
    /// database in WAL mode).
    pub(crate) fn open(database: &Path) -> std::io::Result<Self> {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        // Opened for writing because some systems refuse to sync a read-only descriptor; this
        // descriptor never writes.
        let wal = std::fs::OpenOptions::new().write(true).open(wal)?;
        Ok(Self::of_file(wal))
    }

    fn of_file(wal: File) -> Self {
        Self {
            inner: Arc::new(Inner {
                wal,
                committed: AtomicU64::new(0),
                synced: AtomicU64::new(0),
                failed: AtomicBool::new(false),
                turn: tokio::sync::Mutex::new(()),
                syncs: AtomicU64::new(0),
            }),
        }
    }

    /// Fails once a sync has failed: nothing may be written after that, as it could be
    /// acknowledged while earlier commits are not on disk. Check it before every write.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        if self.inner.failed.load(Ordering::SeqCst) {
            return Err(failed());
        }
        Ok(())
    }

    /// Returns once the commit that just returned on the writer is on disk. Call it after every
    /// write on the writer connection, before reporting the write as done.
    pub(crate) async fn commit_is_durable(&self) -> Result<(), StoreError> {
        let inner = &self.inner;
        let mine = inner.committed.fetch_add(1, Ordering::SeqCst) + 1;
        let _turn = inner.turn.lock().await;
        self.check()?;
        if inner.synced.load(Ordering::SeqCst) >= mine {
            return Ok(());
        }
        // Every commit numbered up to here has been written to the WAL before its number was
        // taken, so this sync covers them all: callers queued behind this one return at once.
        let covered = inner.committed.load(Ordering::SeqCst);
        inner.syncs.fetch_add(1, Ordering::Relaxed);
        let syncing = Arc::clone(inner);
        if tokio::task::spawn_blocking(move || syncing.sync(covered))
            .await
            .is_err()
        {
            // It panicked or never ran: whether the WAL is on disk is unknown.
            inner.failed.store(true, Ordering::SeqCst);
        }
        self.check()?;
        if inner.synced.load(Ordering::SeqCst) >= mine {
            Ok(())
        } else {
            Err(failed())
        }
    }
}

fn failed() -> StoreError {
    StoreError::Backend(
        "syncing the database's WAL to disk failed earlier; restart the service so the \
         database recovers from what is on disk"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_beside_a_database() -> (tempfile::TempDir, WalSync) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database = dir.path().join("relay.db");
        std::fs::write(dir.path().join("relay.db-wal"), b"frames").expect("WAL file");
        let sync = WalSync::open(&database).expect("the WAL file opens");
        (dir, sync)
    }

    #[tokio::test]
    async fn one_sync_covers_the_commits_made_before_it_started() {
        let (_dir, sync) = wal_beside_a_database();
        let callers: Vec<_> = (0..64)
            .map(|_| {
                let sync = sync.clone();
                tokio::spawn(async move { sync.commit_is_durable().await })
            })
            .collect();
        for caller in callers {
            caller
                .await
                .expect("caller ran")
                .expect("commit is durable");
        }
        let syncs = sync.inner.syncs.load(Ordering::Relaxed);
        assert!((1..64).contains(&syncs), "{syncs} syncs for 64 commits");
        // A commit after them all needs a sync of its own.
        sync.commit_is_durable().await.expect("durable");
        assert_eq!(sync.inner.syncs.load(Ordering::Relaxed), syncs + 1);
    }

    #[tokio::test]
    async fn a_failed_sync_fails_every_later_write() {
        // A pipe cannot be synced: the sync fails as a failing disk's would.
        let (reader, _writer) = std::io::pipe().expect("pipe");
        let sync = WalSync::of_file(File::from(std::os::fd::OwnedFd::from(reader)));
        assert!(sync.commit_is_durable().await.is_err());
        let later = sync.commit_is_durable().await.expect_err("poisoned");
        assert!(later.to_string().contains("restart"), "{later}");
        assert_eq!(sync.inner.syncs.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_database_without_a_wal_file_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        assert!(WalSync::open(&dir.path().join("missing.db")).is_err());
    }
}
