//! Integration tests of the optout-relay HTTP API: one binary, one module per concern.
//!
//! Every test spawns its own app on port 0 with a fresh SQLite file (`helpers::spawn_app`), talks
//! to it over real HTTP, and where a request must change nothing compares a snapshot of every
//! table taken before and after it. Propagation tests also run the app's delivery engine
//! (`helpers::spawn_app_with_engine`) against a `DeliveryReceiver` that verifies every signature,
//! and wait for outcomes with a bound (`eventually`), never for a fixed time.

mod account_secret;
mod admin;
mod audit_logs;
mod compliance_record;
mod dashboard;
mod dashboard_browser;
mod delivery_fairness;
mod delivery_headers;
mod delivery_holds;
mod delivery_lease;
mod delivery_outcomes;
mod delivery_receiver;
mod delivery_retries;
mod delivery_wakeup;
mod errors;
mod eventually;
mod exposures;
mod helpers;
mod hostile_input;
mod isolation;
mod lusha_schema;
mod metrics;
mod notice_payload;
mod openapi;
mod operator;
mod opt_outs;
mod propagation;
mod rate_limit;
mod receiver;
mod request_bodies;
mod restart;
mod retention;
mod secret_rotation;
mod secrets_at_rest;
mod snapshot;
mod ssrf;
mod ssrf_delivery;
mod ssrf_targets;
mod subscription_test_delivery;
mod subscriptions_create;
mod subscriptions_delete;
mod subscriptions_read;
mod subscriptions_update;
mod test_clock;
