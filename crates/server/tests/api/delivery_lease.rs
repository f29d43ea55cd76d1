//! An attempt is started only while the claim's lease outlasts it: a notice whose lease would
//! end during the attempt is left for later, never sent where another node might send it too.

use std::time::Duration;

use crate::delivery_receiver::DeliveryReceiver;
use crate::helpers::spawn_app_with_engine;
use crate::operator::{email, exposure, opt_out};

#[tokio::test]
async fn no_attempt_starts_when_the_lease_would_end_during_it() {
    // A lease shorter than the attempt timeout: no attempt may start under it.
    let app =
        spawn_app_with_engine(|_| {}, |engine| engine.lease = engine.attempt_timeout / 2).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/leased").await;
    app.expose(&[exposure(
        &subscriber.account.id,
        "leased-1",
        &[email("leased@example.com")],
    )])
    .await;
    let id = app.opt_out_id(&opt_out("leased-1", "Leased Contact")).await;

    // Unguarded, the engine delivers within milliseconds of the opt-out.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        receiver.deliveries("/leased").is_empty(),
        "an attempt started under a lease too short for it"
    );
    let record = app.compliance_record(&id).await;
    assert_ne!(
        record["recipients"][0]["status"],
        serde_json::json!("delivered"),
        "{record}"
    );
}
