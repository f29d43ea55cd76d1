//! Waking the engine the moment work is committed, instead of waiting for a poll.

use std::sync::Arc;
use tokio::sync::Notify;

/// A wake-up signal shared by whoever commits work (the API) and the engine.
///
/// A signal sent while the engine is busy is kept (one permit), so no wake-up is lost between
/// the engine's last claim and its next wait.
#[derive(Debug, Clone, Default)]
pub struct WorkSignal(Arc<Notify>);

impl WorkSignal {
    /// A new signal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tells the engine that new work may be due.
    pub fn notify(&self) {
        self.0.notify_one();
    }

    /// Waits for the next signal.
    pub async fn notified(&self) {
        self.0.notified().await;
    }
}
