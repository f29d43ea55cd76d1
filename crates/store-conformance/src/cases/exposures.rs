//! The exposure ledger: intake counts, refusals, and the earliest exposure.

use optout_core::{ExposureIntake, Refusal, RefusalReason};
use optout_store::Store;
use std::sync::Arc;

use crate::setup::{
    account, at, claim, email, expose, exposure, exposure_day, opt_out, payload, phone,
    record_opt_outs, subscribed_account, unknown_account,
};

/// Accepted, duplicate and refused are counted per datapoint; a repeat inside one batch is a
/// duplicate too.
pub async fn exposure_intake_counts_each_datapoint(store: Arc<dyn Store>) {
    let account = account(&*store).await;
    let first = expose(
        &*store,
        &account,
        "c1",
        vec![email("a@x.io"), phone("+1555")],
    )
    .await;
    assert_eq!(
        first,
        ExposureIntake {
            accepted: 2,
            duplicates: 0,
            refused: 0,
            refusals: Vec::new(),
        }
    );
    let again = expose(
        &*store,
        &account,
        "c1",
        vec![email("a@x.io"), phone("+1555")],
    )
    .await;
    assert_eq!((again.accepted, again.duplicates, again.refused), (0, 2, 0));

    let item = exposure(&account, "c2", vec![email("b@x.io")], exposure_day(4), None);
    let repeated = store
        .record_exposures(&[item.clone(), item])
        .await
        .expect("recorded");
    assert_eq!(
        (repeated.accepted, repeated.duplicates, repeated.refused),
        (1, 1, 0)
    );
    let empty = store.record_exposures(&[]).await.expect("recorded");
    assert_eq!(empty, ExposureIntake::default());
}

/// An item for an account that does not exist is refused whole, the rest is recorded.
pub async fn exposures_for_an_unknown_account_are_refused_per_item(store: Arc<dyn Store>) {
    let account = account(&*store).await;
    let intake = store
        .record_exposures(&[
            exposure(&account, "c1", vec![email("a@x.io")], exposure_day(3), None),
            exposure(
                &unknown_account(),
                "c1",
                vec![email("a@x.io"), phone("+1555")],
                exposure_day(3),
                None,
            ),
        ])
        .await
        .expect("recorded");
    assert_eq!(
        intake,
        ExposureIntake {
            accepted: 1,
            duplicates: 0,
            refused: 2,
            refusals: vec![Refusal {
                index: 1,
                reason: RefusalReason::UnknownAccount,
            }],
        }
    );
}

/// After an opt-out, its datapoints (or the whole contact) are refused for every account; the
/// item's other datapoints and other contacts are still recorded.
pub async fn opted_out_datapoints_are_refused_at_intake(store: Arc<dyn Store>) {
    let first = account(&*store).await;
    let second = account(&*store).await;
    expose(&*store, &first, "c1", vec![email("a@x.io"), phone("+1555")]).await;
    record_opt_outs(
        &*store,
        vec![opt_out("c1", Some(vec![email("a@x.io")]))],
        at(1),
    )
    .await;
    // A whole-contact opt-out suppresses even a contact nobody received yet.
    record_opt_outs(&*store, vec![opt_out("c2", None)], at(2)).await;

    let intake = store
        .record_exposures(&[
            exposure(
                &second,
                "c1",
                vec![email("a@x.io"), phone("+1555")],
                exposure_day(5),
                None,
            ),
            exposure(
                &second,
                "c2",
                vec![email("b@x.io"), phone("+1666")],
                exposure_day(5),
                None,
            ),
            exposure(&second, "c3", vec![email("c@x.io")], exposure_day(5), None),
        ])
        .await
        .expect("recorded");
    assert_eq!(
        intake,
        ExposureIntake {
            accepted: 2,
            duplicates: 0,
            refused: 3,
            refusals: vec![
                Refusal {
                    index: 0,
                    reason: RefusalReason::OptedOut,
                },
                Refusal {
                    index: 1,
                    reason: RefusalReason::OptedOut,
                },
            ],
        }
    );
}

/// A datapoint keeps its earliest exposure date, and the partner id of the earliest exposure
/// that carried one, across requests and inside one.
pub async fn the_earliest_exposure_wins(store: Arc<dyn Store>) {
    let subscribed = subscribed_account(&*store).await;
    let account = &subscribed.account;
    let record = |item| {
        let store = store.clone();
        async move { store.record_exposures(&[item]).await.expect("recorded") }
    };
    let first = record(exposure(
        account,
        "c1",
        vec![email("a@x.io")],
        exposure_day(5),
        Some("late"),
    ))
    .await;
    assert_eq!(first.accepted, 1);
    let earlier = record(exposure(
        account,
        "c1",
        vec![email("a@x.io")],
        exposure_day(3),
        Some("early"),
    ))
    .await;
    assert_eq!((earlier.accepted, earlier.duplicates), (0, 1));
    record(exposure(
        account,
        "c1",
        vec![email("a@x.io")],
        exposure_day(4),
        Some("middle"),
    ))
    .await;
    // Earlier still, but without a partner id: the date moves, the partner id stays.
    record(exposure(
        account,
        "c1",
        vec![email("a@x.io")],
        exposure_day(1),
        None,
    ))
    .await;

    // Inside one request: the earlier item wins the date, the later one lends its partner id.
    store
        .record_exposures(&[
            exposure(
                account,
                "c2",
                vec![email("b@x.io")],
                exposure_day(9),
                Some("x"),
            ),
            exposure(account, "c2", vec![email("b@x.io")], exposure_day(8), None),
        ])
        .await
        .expect("recorded");

    record_opt_outs(
        &*store,
        vec![opt_out("c1", None), opt_out("c2", None)],
        at(10),
    )
    .await;
    let claimed = claim(&*store, at(10)).await;
    assert_eq!(claimed.len(), 2);
    let by_contact = |contact: &str| {
        claimed
            .iter()
            .find(|notice| payload(notice)["contactId"] == contact)
            .map(payload)
            .expect("a notice for the contact")
    };
    let c1 = by_contact("c1");
    assert_eq!(c1["contactExposureDate"], "2025-08-01 09:15:47");
    assert_eq!(c1["partnerClientId"], "early");
    let c2 = by_contact("c2");
    assert_eq!(c2["contactExposureDate"], "2025-08-08 09:15:47");
    assert_eq!(c2["partnerClientId"], "x");
    assert_eq!(c2["datapoints"][0]["datapointId"], "b@x.io");
}
