//! The SQLite store's write connection is the relay's critical path: every write (an opt-out's
//! intake, a claim, a batch of outcomes) queues for it. When its thread wakes with a statement to
//! run, it should get a core at once instead of waiting for the end of a runtime thread's time
//! slice. Linux lets no unprivileged process raise a thread's priority, so every other thread of
//! the process is lowered instead; the threads they start later inherit it.
//!
//! Under a cgroup of its own (a systemd unit, a container) the process competes with others by
//! the cgroup's weight, and nice values only share its CPU time among its own threads. Only on a
//! machine where it shares a scheduling group with other processes do its lowered threads also
//! yield to those.

/// How much lower than the writer the other threads run: at nice +10 a thread weighs about a
/// ninth of one at nice 0 when both wait for a core.
const LOWERED_BY: i32 = 10;
/// The highest nice value there is.
const LOWEST_PRIORITY: i32 = 19;

/// Lowers the CPU priority of every thread of this process but the SQLite store's writer, once
/// the store is open; logs what it did. Does nothing where there is no writer thread (PostgreSQL)
/// or no `/proc` (outside Linux).
pub fn favour_store_writer() {
    #[cfg(target_os = "linux")]
    match linux::lower_all_but(optout_store_sqlite::WRITER_THREAD_PREFIX, LOWERED_BY) {
        Ok(0) => {}
        Ok(lowered) => tracing::debug!(
            lowered,
            by = LOWERED_BY,
            "threads lowered in priority below the store's writer"
        ),
        Err(error) => tracing::warn!(
            %error,
            "cannot lower the other threads' priority: the store's writer competes evenly with them"
        ),
    }
}

/// The nice value for the other threads: `by` above the writer's, within the range.
fn lowered(writer_nice: i32, current: i32, by: i32) -> i32 {
    // Never raised: a process started at a low priority stays there.
    (writer_nice + by).min(LOWEST_PRIORITY).max(current)
}

#[cfg(target_os = "linux")]
mod linux {
    use rustix::io::Errno;
    use rustix::process::{getpriority_process, setpriority_process, Pid};
    use std::io;

    /// This process's threads: id and name.
    fn threads() -> io::Result<Vec<(Pid, String)>> {
        let mut threads = Vec::new();
        for task in std::fs::read_dir("/proc/self/task")? {
            let task = task?;
            let Some(pid) = task
                .file_name()
                .to_str()
                .and_then(|id| id.parse().ok())
                .and_then(Pid::from_raw)
            else {
                continue;
            };
            // A thread that ended meanwhile has no name to read.
            if let Ok(name) = std::fs::read_to_string(task.path().join("comm")) {
                threads.push((pid, name.trim_end().to_owned()));
            }
        }
        Ok(threads)
    }

    /// Passes over the threads at most: a thread started during a pass by one not lowered yet
    /// keeps that one's priority, so passes repeat until one lowers nothing.
    const MAX_PASSES: usize = 3;

    /// Lowers every thread not named `keep...` to `by` below the first thread so named; the
    /// number lowered (0 if no thread is so named).
    pub(super) fn lower_all_but(keep: &str, by: i32) -> io::Result<usize> {
        let mut lowered = 0;
        for _ in 0..MAX_PASSES {
            let this_pass = lower_once(keep, by)?;
            if this_pass == 0 {
                break;
            }
            lowered += this_pass;
        }
        Ok(lowered)
    }

    fn lower_once(keep: &str, by: i32) -> io::Result<usize> {
        let threads = threads()?;
        let Some((writer, _)) = threads.iter().find(|(_, name)| name.starts_with(keep)) else {
            return Ok(0);
        };
        let writer_nice = match getpriority_process(Some(*writer)) {
            Ok(nice) => nice,
            // The writer ended meanwhile (its store closed): nothing to favour.
            Err(Errno::SRCH) => return Ok(0),
            Err(error) => return Err(error.into()),
        };
        let mut lowered = 0;
        for (thread, name) in &threads {
            if name.starts_with(keep) {
                continue;
            }
            match lower(*thread, writer_nice, by) {
                Ok(true) => lowered += 1,
                // Already low enough, or ended since the listing.
                Ok(false) | Err(Errno::SRCH) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(lowered)
    }

    /// Lowers one thread; whether it changed.
    fn lower(thread: Pid, writer_nice: i32, by: i32) -> Result<bool, Errno> {
        let current = getpriority_process(Some(thread))?;
        let target = super::lowered(writer_nice, current, by);
        if target == current {
            return Ok(false);
        }
        setpriority_process(Some(thread), target)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_threads_go_below_the_writer_but_never_up() {
        assert_eq!(lowered(0, 0, 10), 10);
        assert_eq!(lowered(5, 0, 10), 15);
        assert_eq!(lowered(15, 0, 10), 19, "capped at the lowest priority");
        assert_eq!(lowered(0, 12, 10), 12, "already lower: left alone");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn every_thread_but_the_kept_one_is_lowered() {
        use rustix::process::getpriority_process;
        // No thread so named: nothing changes.
        let before = getpriority_process(None).expect("this thread's nice value");
        assert_eq!(linux::lower_all_but("no-such-thread", 3).unwrap(), 0);
        assert_eq!(getpriority_process(None).unwrap(), before);

        let (told, kept_nice) = std::sync::mpsc::channel();
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started, named) = std::sync::mpsc::channel();
        let kept = std::thread::Builder::new()
            .name("kept-for-test-7".to_owned())
            .spawn(move || {
                // A new thread takes its name once it runs.
                started.send(()).unwrap();
                let _ = wait.recv();
                // `None` is the calling thread on Linux.
                told.send(getpriority_process(None).unwrap()).unwrap();
            })
            .unwrap();
        named.recv().unwrap();
        let lowered = linux::lower_all_but("kept-for-test", 3).unwrap();
        release.send(()).unwrap();
        let kept_nice = kept_nice.recv().unwrap();
        kept.join().unwrap();
        assert!(lowered >= 1, "this test's own thread at least");
        assert_eq!(kept_nice, before, "the kept thread keeps its priority");
        assert!(
            getpriority_process(None).unwrap() >= (before + 3).min(LOWEST_PRIORITY),
            "this thread went below the kept one"
        );
    }
}
