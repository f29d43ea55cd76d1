//! The delivery engine: claims due notices under a lease, POSTs them signed, records outcomes.
//!
//! [`DeliveryEngine::run`] is a small loop around [`DeliveryEngine::step`], which tests call.
//! Outcomes are written in batches by a separate recorder task, so one commit (one fsync on
//! SQLite) covers many deliveries.

mod engine;
mod guarded_resolver;
mod handoff;
mod recorder;
mod sender;
mod signal;

pub use engine::{DeliveryEngine, EngineConfig, EngineParts, StepReport, UNOPENED_SECRET_ERROR};
pub use handoff::{Handoff, Reservation};
pub use sender::{SendResult, Sender, SenderConfig, Sending};
pub use signal::WorkSignal;
