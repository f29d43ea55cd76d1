//! The reference receiver of optout-relay deliveries: an axum router that verifies each signed
//! opt-out notice and keeps the opted-out datapoints on a suppression list in SQLite.
//!
//! [`receiver_router`] answers the URL challenge (`GET <any path>?challenge=X`) and takes
//! deliveries (`POST <any path>`): it checks `X-Lusha-Signature` with [`optout_webhook::Verifier`]
//! (any configured secret, the rotation header `X-Lusha-Signature-Previous` included, a 5-minute
//! window by default), parses the body as an [`optout_webhook::OptOutNotice`], and records the
//! notice's datapoints together with its `X-Lusha-Webhook-Id` in one transaction, so a retried
//! or replayed delivery is applied once. [`SuppressionStore`] also answers "is this value
//! suppressed?" and exports the list as CSV or NDJSON. The clock is injectable
//! ([`ReceiverState::with_clock`]) so tests can move time.
//!
//! # What it is not
//!
//! Not part of the relay, and not a CRM integration: it depends only on `optout-webhook`, so a
//! customer can read it as a worked example or run it as is (`optout-relay receive`) and point
//! their own systems at its list. It keeps no names, companies or job titles, only what a
//! suppression list needs, and its logs carry ids, never datapoints. It does not delete the
//! customer's copies of the data; it tells them what to delete and never to contact again.
//!
//! # The decision you will question
//!
//! Dedupe is keyed on the webhook id *and* the digest of the body, and a known id arriving with a
//! different, correctly signed body is applied anyway (and logged). The Lusha signature covers
//! the timestamp and the body but not `X-Lusha-Webhook-Id`, so trusting the id alone would let
//! anyone holding a captured request re-send it, within the tolerance, under the id of a notice
//! not yet delivered, and the receiver would then skip that real notice as a "replay". Adding
//! a suppression is always safe, so an unexpected body is applied rather than dropped; a true
//! retry (same id, same bytes) writes nothing and is answered 201 like the first delivery, since
//! any non-2xx makes the sender retry and eventually disable the subscription.
#![deny(missing_docs)]

mod error;
mod export;
mod lookup;
mod rejection;
mod router;
mod store;

pub use error::ReceiverError;
pub use export::ExportFormat;
pub use lookup::lookup_key;
pub use router::{receiver_router, ReceiverConfig, ReceiverState, MAX_BODY_BYTES};
pub use store::{Delivery, Recorded, Suppression, SuppressionStore};
