//! The conformance suite of the optout-relay [`Store`] trait: what every backend must do.
//!
//! Each case is an async function that takes a freshly created, empty store and exercises one
//! use case of the trait through its public contract only (never SQL), concurrency included.
//! A backend runs the whole suite from one test file:
//!
//! ```text
//! async fn fresh_store() -> MyFixture { /* a new, empty, migrated store */ }
//! optout_store_conformance::conformance_tests!(fresh_store);
//! ```
//!
//! which expands to one `#[tokio::test]` per case, named after it, so a failure names the
//! behaviour that broke. The test file needs `tokio` as a dev-dependency.
//!
//! It is not a benchmark and not a test of any backend's internals; it is never part of a
//! normal build (backends take it as a dev-dependency only).
//!
//! Design decision a newcomer may question: the suite is a crate of its own rather than a
//! feature of `optout-store`. The contract crate stays free of tokio and test code, and the
//! cases are ordinary library code that clippy and rustdoc check like any other.

pub mod cases;
pub mod setup;

use optout_store::Store;
use std::future::Future;
use std::sync::Arc;

/// A fresh store for one case, and how to dispose of it afterwards.
pub trait Fixture: Send + 'static {
    /// The store under test.
    fn store(&self) -> Arc<dyn Store>;

    /// Releases what the fixture created (a temporary file, a database), after the case ran
    /// whether or not it passed.
    fn teardown(self) -> impl Future<Output = ()> + Send;
}

/// Runs one case against a fixture, tears the fixture down, then reports the case's failure.
pub async fn run<X, C, F>(fixture: X, case: C)
where
    X: Fixture,
    C: FnOnce(Arc<dyn Store>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    // On its own task, so that a failed assertion still lets the teardown run.
    let outcome = tokio::spawn(case(fixture.store())).await;
    fixture.teardown().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("the case did not finish: {error}"),
        }
    }
}

/// Expands to one `#[tokio::test]` per conformance case. `$fixture` is an async function
/// without arguments that returns a fresh [`Fixture`].
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:path) => {
        $crate::__conformance_tests! { $fixture;
            accounts::allocated_account_ids_start_at_100001_and_skip_chosen_ones,
            accounts::a_chosen_account_id_that_is_taken_is_account_exists,
            accounts::a_created_account_is_found_and_an_unknown_one_is_not,
            accounts::an_api_key_finds_its_account_until_it_is_revoked,
            accounts::keys_and_secrets_of_an_unknown_account_are_not_found,
            accounts::an_account_secret_is_created_then_replaced,
            accounts::the_store_answers_a_ping,
            subscriptions::a_subscription_needs_an_account_secret,
            subscriptions::a_second_subscription_of_an_account_is_refused,
            subscriptions::a_subscription_is_found_and_listed_only_for_its_account,
            subscriptions::an_update_changes_only_what_it_names_and_only_for_the_owner,
            subscriptions::deleting_subscriptions_answers_per_id_in_order,
            exposures::exposure_intake_counts_each_datapoint,
            exposures::exposures_for_an_unknown_account_are_refused_per_item,
            exposures::opted_out_datapoints_are_refused_at_intake,
            exposures::the_earliest_exposure_wins,
            opt_outs::an_opt_out_notifies_each_exposed_account_of_exactly_its_datapoints,
            opt_outs::a_second_opt_out_of_the_same_contact_notifies_nobody,
            opt_outs::an_opt_out_narrowed_to_datapoints_covers_only_those,
            opt_outs::an_idempotency_key_replays_the_first_result_and_refuses_another_request,
            opt_outs::a_failed_opt_out_batch_records_nothing,
            queue::notices_wait_for_a_subscription_and_its_creation_releases_them,
            queue::a_lease_hides_the_notice_until_it_ends_and_fences_stale_outcomes,
            queue::a_delivered_notice_is_done,
            queue::a_failed_attempt_is_retried_at_the_scheduled_time,
            queue::exhausted_retries_disable_the_subscription_and_hold_the_account_notices,
            queue::pausing_or_deleting_holds_notices_and_resuming_or_resubscribing_releases_them,
            queue::pausing_during_an_attempt_leaves_the_notice_to_its_lease,
            queue::exhaustion_leaves_a_notice_in_flight_to_its_lease,
            queue::claims_respect_the_limits_and_skip_saturated_accounts,
            queue::a_claim_spreads_over_accounts_due_at_the_same_instant,
            queue::claims_pass_over_a_saturated_backlog_and_take_each_notice_once,
            queue::the_oldest_due_notice_is_claimed_first,
            queue::notices_claimed_at_intake_are_leased_like_claimed_ones,
            rotation::a_replaced_secret_signs_beside_the_new_one_until_its_grace_ends,
            rotation::regenerating_during_a_grace_keeps_only_the_secret_just_replaced,
            rotation::secrets_of_an_unknown_account_cannot_rotate,
            reseal::stored_secrets_are_listed_by_account_in_pages,
            reseal::a_reseal_replaces_only_secrets_unchanged_since_listed,
            audit::audit_entries_are_listed_newest_first_filtered_and_counted,
            audit::attempts_are_audited_with_their_outcome,
            audit::the_compliance_record_reports_each_recipient,
            concurrency::concurrent_claimers_claim_every_notice_exactly_once,
            concurrency::concurrent_allocations_get_distinct_account_ids,
            concurrency::opt_outs_racing_subscription_creation_leave_no_notice_behind,
            concurrency::exposures_racing_an_opt_out_are_refused_or_notified,
            concurrency::concurrent_requests_with_one_idempotency_key_record_once,
            rate_limits::requests_over_the_limit_are_refused_per_account,
            rate_limits::concurrent_requests_never_exceed_the_limit,
            operator::queue_metrics_follow_notices_through_their_statuses,
            operator::every_subscription_is_listed_disabled_first,
            operator::recent_failures_of_every_account_are_listed_newest_first,
            retention::only_bodies_delivered_before_the_horizon_are_purgeable,
            retention::a_purge_keeps_the_evidence_and_is_idempotent,
            retention::a_purge_never_touches_a_notice_still_to_deliver,
            retention::audit_rows_are_purged_by_status_horizon_in_bounded_batches,
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($fixture:path; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                $crate::run($fixture().await, $crate::cases::$module::$case).await;
            }
        )*
    };
}
