//! This process's resident memory, read from `/proc/self/status` (Linux).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the peak sampler reads the resident size.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// The resident set size in MiB, or `None` where `/proc` does not tell.
pub fn resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// The largest resident size seen while it runs, sampled every 50 ms.
#[derive(Debug)]
pub struct PeakSampler {
    peak_kib: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl PeakSampler {
    /// Starts sampling.
    pub fn start() -> Self {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let stop = CancellationToken::new();
        let (peak, stopped) = (Arc::clone(&peak_kib), stop.clone());
        tokio::spawn(async move {
            loop {
                if let Some(mb) = resident_mb() {
                    peak.fetch_max((mb * 1024.0) as u64, Ordering::Relaxed);
                }
                tokio::select! {
                    _ = stopped.cancelled() => return,
                    _ = tokio::time::sleep(SAMPLE_EVERY) => {}
                }
            }
        });
        Self { peak_kib, stop }
    }

    /// Stops sampling; the peak in MiB (0 where `/proc` does not tell).
    pub fn finish(self) -> f64 {
        self.stop.cancel();
        let last = resident_mb().map_or(0, |mb| (mb * 1024.0) as u64);
        self.peak_kib.fetch_max(last, Ordering::Relaxed).max(last) as f64 / 1024.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_size_is_read_on_linux() {
        let mb = resident_mb().expect("/proc/self/status has VmRSS on Linux");
        assert!(mb > 0.5 && mb < 100_000.0, "{mb} MiB");
    }
}
