//! Waiting for something the delivery engine does in the background, with a bound.
//!
//! Nothing here measures time: a condition is checked until it holds or the bound passes, and
//! the bound is far above what any delivery in these tests takes, so it only turns a hang into
//! a clear failure.

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// The longest any condition is waited for.
pub const WAIT_LIMIT: Duration = Duration::from_secs(10);
/// How often a condition is checked.
const CHECK_EVERY: Duration = Duration::from_millis(15);

/// Checks `probe` until it gives `Ok`, and returns that. `Err` describes the state seen, for the
/// failure message when [`WAIT_LIMIT`] passes first.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) if Instant::now() >= deadline => {
                panic!("timed out after {WAIT_LIMIT:?} waiting for {what}; last seen: {seen}")
            }
            Err(_) => tokio::time::sleep(CHECK_EVERY).await,
        }
    }
}
