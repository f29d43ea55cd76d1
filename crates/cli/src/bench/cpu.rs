//! CPU time this process spends over a phase, read from `/proc` (Linux): the whole process's,
//! and that of SQLite's connection threads, where the store's statements and commits run.
//!
//! Within one run, a raw POST's CPU time against a notice's says what the relay's work costs,
//! apart from how busy it keeps the cores; the two together make the ratio of the rates.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/*/stat` times (`USER_HZ`: 100 on x86 and ARM Linux, the
/// machines this runs on; a few rare architectures use other values).
const TICKS_PER_SECOND: u64 = 100;
/// SQLite's connection threads: the writer's, and the others' (sqlx names them
/// `sqlx-sqlite-worker-N`; the kernel keeps the first 15 bytes of a thread's name).
const STORE_THREAD_PREFIXES: [&str; 2] =
    [optout_store_sqlite::WRITER_THREAD_PREFIX, "sqlx-sqlite-wor"];

/// CPU time used so far, as seen at one instant.
#[derive(Debug, Clone)]
struct Snapshot {
    at: Instant,
    /// The whole process's, user and system, threads that have ended included.
    process: Duration,
    /// Each live store thread's time on a CPU, by thread id.
    store_threads: HashMap<u32, Duration>,
}

/// What a phase used, from [`Meter::start`] to [`Meter::stop`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// Wall-clock time of the phase.
    pub wall: Duration,
    /// CPU time of the whole process (every thread, user and system).
    pub process: Duration,
    /// CPU time of SQLite's connection threads (those alive when the phase ended).
    pub store_threads: Duration,
}

impl CpuUse {
    /// CPU time per item, in microseconds.
    pub fn micros_per(&self, items: u64) -> f64 {
        self.process.as_secs_f64() * 1e6 / items.max(1) as f64
    }

    /// The store threads' CPU time per item, in microseconds.
    pub fn store_micros_per(&self, items: u64) -> f64 {
        self.store_threads.as_secs_f64() * 1e6 / items.max(1) as f64
    }

    /// Cores kept busy on average: CPU time over wall-clock time.
    pub fn cores_busy(&self) -> f64 {
        self.process.as_secs_f64() / self.wall.as_secs_f64().max(f64::EPSILON)
    }
}

/// Measures one phase's CPU time.
#[derive(Debug)]
pub struct Meter {
    start: Option<Snapshot>,
}

impl Meter {
    /// Starts measuring now.
    pub fn start() -> Self {
        Self { start: snapshot() }
    }

    /// What was used since [`Meter::start`]; `None` where `/proc` does not tell.
    pub fn stop(self) -> Option<CpuUse> {
        let start = self.start?;
        let end = snapshot()?;
        let store_threads = end
            .store_threads
            .iter()
            .map(|(thread, used)| {
                used.saturating_sub(start.store_threads.get(thread).copied().unwrap_or_default())
            })
            .sum();
        Some(CpuUse {
            wall: end.at - start.at,
            process: end.process.saturating_sub(start.process),
            store_threads,
        })
    }
}

fn snapshot() -> Option<Snapshot> {
    let at = Instant::now();
    let process = process_time(&std::fs::read_to_string("/proc/self/stat").ok()?)?;
    Some(Snapshot {
        at,
        process,
        store_threads: store_thread_times(),
    })
}

/// User plus system time from a `/proc/*/stat` line (fields 14 and 15, in clock ticks).
fn process_time(stat: &str) -> Option<Duration> {
    // The name, field 2, is in parentheses and may hold spaces and parentheses itself.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (user + system) * 1000 / TICKS_PER_SECOND,
    ))
}

/// The thread's name from a `/proc/*/stat` line.
fn thread_name(stat: &str) -> Option<&str> {
    stat.get(stat.find('(')? + 1..stat.rfind(')')?)
}

/// Time on a CPU from a `/proc/*/schedstat` line (its first field, in nanoseconds).
fn scheduled_time(schedstat: &str) -> Option<Duration> {
    Some(Duration::from_nanos(
        schedstat.split_whitespace().next()?.parse().ok()?,
    ))
}

/// Each live store thread's time on a CPU so far, by thread id.
fn store_thread_times() -> HashMap<u32, Duration> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return HashMap::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let thread: u32 = task.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let name = thread_name(&stat)?;
            if !STORE_THREAD_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix))
            {
                return None;
            }
            let schedstat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            Some((thread, scheduled_time(&schedstat)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_past_a_name_with_spaces_and_parentheses() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 9 0";
        assert_eq!(process_time(stat), Some(Duration::from_millis(3_250)));
        assert_eq!(thread_name(stat), Some("a (b) c"));
        assert_eq!(process_time("4242 (truncated) S 1 2"), None);
    }

    #[test]
    fn scheduled_time_is_the_first_field_in_nanoseconds() {
        assert_eq!(
            scheduled_time("1500000 20 3\n"),
            Some(Duration::from_micros(1_500))
        );
        assert_eq!(scheduled_time(""), None);
    }

    #[test]
    fn a_busy_phase_shows_its_cpu_time_and_only_store_threads_count_as_the_store() {
        let meter = Meter::start();
        let (spun, done) = std::sync::mpsc::channel();
        let store_thread = std::thread::Builder::new()
            .name("sqlx-sqlite-worker-7".to_owned())
            .spawn(move || {
                spin_on_cpu(Duration::from_millis(300));
                spun.send(()).expect("the test waits");
                // Alive when the phase ends, as the store's threads are.
                std::thread::park();
            })
            .expect("thread starts");
        spin_on_cpu(Duration::from_millis(300));
        done.recv().expect("the store thread spun");
        let used = meter.stop().expect("/proc tells on Linux");
        store_thread.thread().unpark();
        store_thread.join().expect("thread ends");
        // 600 ms on a CPU, in ticks of 10 ms; more if the test's neighbours ran meanwhile.
        assert!(used.process >= Duration::from_millis(590), "{used:?}");
        assert!(
            used.store_threads >= Duration::from_millis(300)
                && used.store_threads < Duration::from_millis(450),
            "{used:?}"
        );
        assert!(used.cores_busy() > 0.0 && used.wall >= Duration::from_millis(300));
        assert_eq!(used.micros_per(1000), used.process.as_secs_f64() * 1e3);
    }

    /// Keeps the calling thread on a CPU for `how_long` of its own CPU time, however many other
    /// threads share the cores meanwhile.
    fn spin_on_cpu(how_long: Duration) {
        let on_cpu = || {
            let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat")
                .expect("/proc tells on Linux");
            scheduled_time(&schedstat).expect("a schedstat line")
        };
        let until = on_cpu() + how_long;
        let mut spins = 0_u64;
        while on_cpu() < until {
            for _ in 0..10_000 {
                spins = std::hint::black_box(spins.wrapping_add(1));
            }
        }
    }
}
