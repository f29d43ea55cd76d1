//! The API wakes its engine when it commits work: an opt-out is delivered at once, not at the
//! engine's next poll.

use std::time::Duration;

use crate::delivery_receiver::DeliveryReceiver;
use crate::helpers::spawn_app_with_engine;
use crate::operator::{email, exposure, opt_out};

/// Far beyond the bounded wait of [`crate::eventually`]: a delivery that waited for a poll would
/// time the test out.
const POLL_INTERVAL: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_committed_opt_out_is_delivered_without_waiting_for_the_poll() {
    let app = spawn_app_with_engine(|_| {}, |engine| engine.poll_interval = POLL_INTERVAL).await;
    assert!(POLL_INTERVAL > crate::eventually::WAIT_LIMIT * 5);
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/prompt").await;
    let account_id = &subscriber.account.id;

    // Several rounds: from the second on, the engine has certainly gone idle after delivering
    // the previous notice, so only the API's signal can start the next delivery in time.
    for round in 0..3 {
        let contact = format!("c-{round}");
        app.expose(&[exposure(
            account_id,
            &contact,
            &[email(&format!("{contact}@example.com"))],
        )])
        .await;
        let opt_out_id = app.opt_out_id(&opt_out(&contact, "Jane Doe")).await;
        app.wait_for_recipient(&opt_out_id, account_id, "delivered")
            .await;
        assert_eq!(receiver.notices("/prompt").len(), round + 1);
    }
    // The engine stops with the server, having nothing left in flight.
    app.shutdown().await;
}
