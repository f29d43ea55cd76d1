//! Handing fresh notices from the opt-out intake straight to this process's engine.
//!
//! While the engine has room, the intake transaction inserts up to that many of its new notices
//! already claimed (under a lease, as a claim from the queue would), and the engine starts them
//! as soon as the transaction commits: a fresh notice then costs no claim at all. Nothing else
//! changes: the lease is written in the same transaction as the notice, so if this process dies
//! before the outcome is recorded, the notice comes due again when the lease ends, like any
//! claimed notice of a crashed worker.

use optout_core::{AttemptOutcome, ClaimedNotice, IntakeClaim};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use tokio_util::task::TaskTracker;

use super::engine::DeliveryEngine;

/// Where the intake hands fresh notices: the running engine of this process, if any. (When
/// several engines run on one application, the one started last takes them.)
#[derive(Clone, Default)]
pub struct Handoff {
    running: Arc<Mutex<Option<RunningEngine>>>,
}

impl std::fmt::Debug for Handoff {
    // Not the engine: it holds this handoff.
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Handoff").finish_non_exhaustive()
    }
}

/// A running engine and what its deliveries report to.
#[derive(Debug, Clone)]
pub(crate) struct RunningEngine {
    pub(crate) engine: DeliveryEngine,
    pub(crate) tracker: TaskTracker,
    pub(crate) outcomes: mpsc::UnboundedSender<AttemptOutcome>,
}

impl Handoff {
    /// A handoff with no engine attached: every notice is claimed from the queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Room for up to `most` fresh notices in the running engine, or `None` when no engine
    /// runs in this process or it has no room. The room is held until the reservation is
    /// started or dropped.
    pub fn reserve(&self, most: usize) -> Option<Reservation> {
        let running = lock(&self.running).clone()?;
        let (reserved, claim) = running.engine.reserve(most)?;
        Some(Reservation {
            running,
            reserved,
            claim,
        })
    }

    /// From now on, fresh notices go to `running`.
    pub(crate) fn attach(&self, running: RunningEngine) {
        *lock(&self.running) = Some(running);
    }

    /// From now on, fresh notices wait in the queue, if `engine` is the one attached (it is
    /// stopping).
    pub(crate) fn detach(&self, engine: &DeliveryEngine) {
        let mut running = lock(&self.running);
        if running
            .as_ref()
            .is_some_and(|running| running.engine.is(engine))
        {
            *running = None;
        }
    }
}

/// Room held in the running engine for notices an intake is about to claim.
#[derive(Debug)]
pub struct Reservation {
    running: RunningEngine,
    reserved: usize,
    claim: IntakeClaim,
}

impl Reservation {
    /// What the intake may claim: at most the room held, under the engine's lease.
    pub fn claim(&self) -> IntakeClaim {
        self.claim.clone()
    }

    /// Starts the notices the intake claimed (committed), and frees the room left unused.
    pub fn start(mut self, claimed: Vec<ClaimedNotice>) {
        let RunningEngine {
            engine,
            tracker,
            outcomes,
        } = &self.running;
        for notice in claimed {
            if self.reserved > 0 {
                self.reserved -= 1;
                engine.start_reserved(tracker, outcomes.clone(), notice, self.claim.lease_until);
            } else {
                // More than was asked for: counted on its own.
                engine.start_claimed(tracker, outcomes.clone(), notice, self.claim.lease_until);
            }
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.reserved > 0 {
            self.running.engine.release_reserved(self.reserved);
        }
    }
}

/// Locks the mutex, recovering from poisoning: it holds a plain option.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
