//! A lock-free histogram of durations with fixed buckets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::exposition::Exposition;

/// Observed durations, counted into fixed buckets (upper bounds in seconds).
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus one for the `+Inf` bucket; not cumulative.
    counts: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// An empty histogram with the given bucket upper bounds, ascending.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Counts one observation.
    pub fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// How many observations were counted.
    pub fn count(&self) -> u64 {
        self.counts
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }

    /// Writes the `_bucket`, `_sum` and `_count` samples of `name` with `labels`.
    pub fn write(&self, out: &mut Exposition, name: &str, labels: &[(&str, &str)]) {
        let bucket_name = format!("{name}_bucket");
        let mut cumulative = 0;
        for (index, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let bound = self
                .bounds
                .get(index)
                .map_or_else(|| "+Inf".to_owned(), |bound| bound.to_string());
            let mut with_le = labels.to_vec();
            with_le.push(("le", &bound));
            out.sample(&bucket_name, &with_le, cumulative as f64);
        }
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        out.sample(&format!("{name}_sum"), labels, sum);
        out.sample(&format!("{name}_count"), labels, cumulative as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_with_inf() {
        let histogram = Histogram::new(&[0.1, 1.0]);
        histogram.observe(Duration::from_millis(50));
        histogram.observe(Duration::from_millis(500));
        histogram.observe(Duration::from_secs(5));
        let mut out = Exposition::default();
        histogram.write(&mut out, "t_seconds", &[("route", "/x")]);
        let text = out.finish();
        assert!(text.contains("t_seconds_bucket{route=\"/x\",le=\"0.1\"} 1\n"));
        assert!(text.contains("t_seconds_bucket{route=\"/x\",le=\"1\"} 2\n"));
        assert!(text.contains("t_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3\n"));
        assert!(text.contains("t_seconds_sum{route=\"/x\"} 5.55\n"));
        assert!(text.contains("t_seconds_count{route=\"/x\"} 3\n"));
        assert_eq!(histogram.count(), 3);
    }
}
