//! What every handler shares.

use optout_core::Clock;
use optout_store::Store;
use std::sync::Arc;

use crate::config::AppConfig;
use crate::delivery::{Sender, WorkSignal};
use crate::metrics::Metrics;
use crate::target_guard::TargetGuard;

/// Shared, cheaply cloned handler state.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<AppConfig>,
    pub guard: TargetGuard,
    /// Wakes the delivery engine after work is committed.
    pub signal: WorkSignal,
    /// The HTTP client of deliveries, also used by test deliveries (A8).
    pub sender: Sender,
    /// This process's metrics.
    pub metrics: Arc<Metrics>,
    /// Records opt-outs, several requests per transaction.
    pub opt_out_commits: crate::group_commit::OptOutCommits,
    /// Where the intake hands fresh notices to this process's running engine.
    pub handoff: crate::delivery::Handoff,
}
