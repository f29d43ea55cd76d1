//! How long the single write connection has been held, in all: every write waits for it, so a
//! connection held most of the time bounds the write rate however idle the cores are. Read by
//! `optout-relay bench`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The write connection's hand-outs and returns, timed (two clock reads per transaction).
#[derive(Debug)]
pub(crate) struct WriterHold {
    epoch: Instant,
    /// When the connection was last handed out, in nanoseconds since `epoch`.
    acquired_at: AtomicU64,
    /// Nanoseconds held in all, up to its last return.
    held: AtomicU64,
}

impl WriterHold {
    pub(crate) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            acquired_at: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// The connection was handed out. There is one, so hand-outs and returns alternate.
    pub(crate) fn acquired(&self) {
        self.acquired_at.store(self.now(), Ordering::Relaxed);
    }

    /// The connection came back.
    pub(crate) fn released(&self) {
        let since = self.acquired_at.load(Ordering::Relaxed);
        self.held
            .fetch_add(self.now().saturating_sub(since), Ordering::Relaxed);
    }

    /// Time held in all, up to the last return.
    pub(crate) fn held(&self) -> Duration {
        Duration::from_nanos(self.held.load(Ordering::Relaxed))
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    #[test]
    fn only_the_time_between_a_hand_out_and_its_return_counts() {
        let hold = WriterHold::new();
        assert_eq!(hold.held(), Duration::ZERO);
        hold.acquired();
        std::thread::sleep(Duration::from_millis(20));
        hold.released();
        let once = hold.held();
        assert!(once >= Duration::from_millis(20), "{once:?}");
        // Idle: nothing more is counted until the next hand-out returns.
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(hold.held(), once);
    }

    #[tokio::test]
    async fn the_store_times_its_write_connection() {
        let dir = tempfile::tempdir().unwrap();
        let opened = Instant::now();
        let store = SqliteStore::open(&dir.path().join("hold.db"))
            .await
            .unwrap();
        let before = store.writer_held();
        store.checkpoint().await.unwrap();
        // The connection returns to its pool in the background: the second checkpoint waits
        // for it, so the first one's hold has been counted once it has the connection.
        store.checkpoint().await.unwrap();
        let after = store.writer_held();
        assert!(after > before, "{before:?} -> {after:?}");
        assert!(
            after <= opened.elapsed(),
            "held longer than the store was open"
        );
        store.close().await;
    }

    #[tokio::test]
    async fn the_write_connection_runs_on_a_thread_named_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("named.db"))
            .await
            .unwrap();
        let names: Vec<String> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
            .collect();
        assert!(
            names
                .iter()
                .any(|name| name.starts_with(crate::WRITER_THREAD_PREFIX)),
            "{names:?}"
        );
        store.close().await;
    }
}
