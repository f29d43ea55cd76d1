//! The cases, one module per group of use cases. Every case takes a fresh, empty store.

pub mod accounts;
pub mod audit;
pub mod concurrency;
pub mod exposures;
pub mod operator;
pub mod opt_outs;
pub mod queue;
pub mod rate_limits;
pub mod reseal;
pub mod retention;
pub mod rotation;
pub mod subscriptions;
