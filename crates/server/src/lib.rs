//! The optout-relay server: the HTTP API (axum) and the wiring of one running instance.
//!
//! It is not the storage (see `optout-store`) nor the binary's command line (see `optout-relay`).
//! [`App`] is built from a store, a configuration and a clock, and served on a listener the caller
//! binds, until a cancellation token fires.
//!
//! Design decision a newcomer may question: the server is a function of `(listener, shutdown)`.
//! It never binds addresses or installs signal handlers itself, so tests bind port 0, get the real
//! address back, and stop the server by cancelling a token, with no sleeps.

mod api;
mod app;
mod challenge;
pub mod config;
pub mod delivery;
mod group_commit;
pub mod http_server;
pub mod intake;
pub mod metrics;
pub mod reseal;
pub mod retention;
pub mod target_guard;
mod ui;

pub use app::App;
pub use config::{AdminToken, AppConfig};
pub use delivery::{DeliveryEngine, EngineConfig, WorkSignal};
pub use reseal::{reseal_account_secrets, ResealError, ResealReport};
pub use retention::{purge_once, run_retention, PurgeReport, RetentionPolicy};

/// The OpenAPI document of the API, as pretty JSON.
pub fn openapi_document() -> String {
    api::openapi::openapi_document()
}
