//! A slow receiver takes only its own share of the engine: another account's notice is
//! delivered while it hangs, and it never has more deliveries in flight than its cap.

use serde_json::json;
use std::collections::BTreeSet;

use crate::delivery_receiver::DeliveryReceiver;
use crate::eventually::eventually;
use crate::helpers::{spawn_app_with_engine, text};
use crate::operator::{email, exposure, opt_out};

/// The engine's cap of deliveries in flight to one subscription, in this test.
const PER_SUBSCRIPTION: usize = 2;
/// Notices queued for the slow account: three times its cap.
const SLOW_NOTICES: usize = 6;

#[tokio::test]
async fn a_slow_receiver_does_not_delay_another_account() {
    let app =
        spawn_app_with_engine(|_| {}, |engine| engine.per_subscription = PER_SUBSCRIPTION).await;
    let receiver = DeliveryReceiver::spawn().await;
    let slow = app.subscriber(&receiver, "/slow").await;
    let fast = app.subscriber(&receiver, "/fast").await;
    receiver.close_gate("/slow");
    let contacts: Vec<String> = (0..SLOW_NOTICES).map(|n| format!("slow-{n}")).collect();
    let mut exposures: Vec<_> = contacts
        .iter()
        .map(|contact| {
            exposure(
                &slow.account.id,
                contact,
                &[email(&format!("{contact}@example.com"))],
            )
        })
        .collect();
    exposures.push(exposure(
        &fast.account.id,
        "fast-0",
        &[email("fast@example.com")],
    ));
    app.expose(&exposures).await;

    let bulk: Vec<_> = contacts
        .iter()
        .map(|contact| opt_out(contact, "Slow Contact"))
        .collect();
    let response = app.post_opt_outs(&json!(bulk), None).await;
    assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
    let body: serde_json::Value = response.json().await.expect("json");
    let slow_ids: Vec<String> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|result| text(&result["optOutId"]))
        .collect();
    eventually(
        "the slow receiver to hold its cap of deliveries",
        || async {
            match receiver.in_flight("/slow") {
                PER_SUBSCRIPTION => Ok(()),
                other => Err(format!("{other} in flight")),
            }
        },
    )
    .await;
    let fast_id = app.opt_out_id(&opt_out("fast-0", "Fast Contact")).await;

    app.wait_for_recipient(&fast_id, &fast.account.id, "delivered")
        .await;
    assert_eq!(
        receiver.deliveries("/slow").len(),
        PER_SUBSCRIPTION,
        "the slow receiver got more than its cap while gated"
    );
    assert_eq!(receiver.in_flight("/slow"), PER_SUBSCRIPTION);

    receiver.open_gate("/slow");
    for id in &slow_ids {
        app.wait_for_recipient(id, &slow.account.id, "delivered")
            .await;
    }
    let webhook_ids: BTreeSet<String> = receiver
        .notices("/slow")
        .iter()
        .map(|delivery| delivery.webhook_id().to_owned())
        .collect();
    assert_eq!(webhook_ids.len(), SLOW_NOTICES, "every slow notice arrived");
    assert_eq!(
        receiver.max_in_flight("/slow"),
        PER_SUBSCRIPTION,
        "more deliveries in flight to one subscription than its cap"
    );
    // The engine stops with the server, having nothing left in flight.
    app.shutdown().await;
}
