//! A clock the tests move forward: the app's notion of now, without waiting for it.

use chrono::{DateTime, Utc};
use optout_core::Clock;
use std::sync::Mutex;

/// The system clock plus an offset that only grows. Deliveries still sign with the real time,
/// so a receiver's timestamp tolerance is unaffected; what the app decides by its clock (due
/// notices, retention horizons, the compliance record's now) sees the moved time.
#[derive(Debug, Default)]
pub struct TestClock {
    ahead: Mutex<chrono::Duration>,
}

impl TestClock {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        *self.ahead.lock().expect("clock lock") += by;
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + *self.ahead.lock().expect("clock lock")
    }
}
