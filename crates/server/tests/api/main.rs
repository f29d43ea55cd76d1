//! Integration tests of the optout-relay HTTP API: one binary, one module per concern.
//!
//! Every test spawns its own app on port 0 with a fresh SQLite file (`helpers::spawn_app`), talks
//! to it over real HTTP, and where a request must change nothing compares a snapshot of every
//! table taken before and after it.

mod account_secret;
mod admin;
mod errors;
mod helpers;
mod isolation;
mod lusha_schema;
mod openapi;
mod receiver;
mod request_bodies;
mod restart;
mod snapshot;
mod subscriptions_create;
mod subscriptions_delete;
mod subscriptions_read;
mod subscriptions_update;
