//! `GET /metrics`: the Prometheus exposition moves as opt-outs are queued, fail and are delivered.

use reqwest::StatusCode;
use std::collections::HashMap;

use crate::delivery_receiver::{DeliveryReceiver, Reply};
use crate::helpers::{spawn_app, spawn_app_with_engine, TestApp};
use crate::operator::{email, exposure, opt_out};

/// One scrape: every sample line, keyed by its series (name and labels as written).
struct Scrape(HashMap<String, f64>);

impl Scrape {
    /// The value of `series` (`name{labels}` exactly as exposed); panics if it is missing.
    fn value(&self, series: &str) -> f64 {
        *self
            .0
            .get(series)
            .unwrap_or_else(|| panic!("{series} is not exposed; got {:?}", self.0.keys()))
    }
}

impl TestApp {
    /// `GET /metrics` as the operator, which must succeed in the text format.
    async fn scrape(&self) -> Scrape {
        let response = self
            .client
            .get(self.url("/metrics"))
            .bearer_auth(&self.admin_token)
            .send()
            .await
            .expect("scrape");
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("a text content type")
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = response.text().await.expect("body");
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("sample line");
                (series.to_owned(), value.parse::<f64>().expect("number"))
            })
            .collect();
        Scrape(samples)
    }
}

#[tokio::test]
async fn metrics_count_a_failed_attempt_a_delivery_and_its_latency() {
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/flaky").await;
    receiver.reply("/flaky", Reply::FailNext(1));
    app.expose(&[exposure(
        &subscriber.account.id,
        "c-1",
        &[email("a@example.com")],
    )])
    .await;
    let before = app.scrape().await;
    assert_eq!(
        before.value(r#"optout_relay_notices{status="delivered"}"#),
        0.0
    );
    assert_eq!(
        before.value(r#"optout_relay_delivery_attempts_total{outcome="delivered"}"#),
        0.0
    );

    let opt_out_id = app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
    app.wait_for_recipient(&opt_out_id, &subscriber.account.id, "delivered")
        .await;

    let after = app.scrape().await;
    assert_eq!(
        after.value(r#"optout_relay_notices{status="delivered"}"#),
        1.0
    );
    assert_eq!(after.value("optout_relay_notices_created"), 1.0);
    assert_eq!(after.value("optout_relay_queue_depth"), 0.0);
    assert_eq!(
        after.value("optout_relay_oldest_due_notice_age_seconds"),
        0.0
    );
    assert_eq!(
        after.value(r#"optout_relay_delivery_attempts_total{outcome="failed"}"#),
        1.0
    );
    assert_eq!(
        after.value(r#"optout_relay_delivery_attempts_total{outcome="delivered"}"#),
        1.0
    );
    assert_eq!(
        after.value(r#"optout_relay_delivery_attempts_total{outcome="exhausted"}"#),
        0.0
    );
    assert_eq!(
        after.value("optout_relay_delivery_latency_seconds_count"),
        1.0
    );
    assert!(after.value("optout_relay_delivery_latency_seconds_sum") > 0.0);
    assert_eq!(
        after.value(r#"optout_relay_delivery_latency_seconds_bucket{le="+Inf"}"#),
        1.0
    );
    assert_eq!(
        after.value("optout_relay_delivery_attempt_duration_seconds_count"),
        2.0
    );
    assert_eq!(
        after.value(r#"optout_relay_subscriptions{state="active"}"#),
        1.0
    );
    assert_eq!(
        after.value(
            r#"optout_relay_http_requests_total{method="POST",route="/admin/opt-outs",status="202"}"#
        ),
        1.0
    );
    assert_eq!(
        after.value(
            r#"optout_relay_http_request_duration_seconds_count{method="POST",route="/admin/opt-outs",status="202"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn queued_and_held_notices_show_in_the_queue_gauges() {
    let app = spawn_app().await;
    let receiver = DeliveryReceiver::spawn().await;
    let subscriber = app.subscriber(&receiver, "/queued").await;
    let unsubscribed = app.create_account().await;
    app.expose(&[
        exposure(&subscriber.account.id, "c-1", &[email("a@example.com")]),
        exposure(&unsubscribed.id, "c-1", &[email("a@example.com")]),
    ])
    .await;

    app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;

    // No engine runs: one notice is due and queued, the other held.
    let scrape = app.scrape().await;
    assert_eq!(
        scrape.value(r#"optout_relay_notices{status="pending"}"#),
        1.0
    );
    assert_eq!(
        scrape.value(r#"optout_relay_notices{status="waiting"}"#),
        1.0
    );
    assert_eq!(scrape.value("optout_relay_queue_depth"), 1.0);
    assert_eq!(scrape.value("optout_relay_notices_created"), 2.0);
    assert!(scrape.value("optout_relay_oldest_due_notice_age_seconds") >= 0.0);
    assert_eq!(
        scrape.value(r#"optout_relay_subscriptions{state="disabled"}"#),
        0.0
    );
}

#[tokio::test]
async fn unknown_paths_are_counted_under_one_route_label() {
    let app = spawn_app().await;
    for path in ["/no/such/path", "/another/unknown"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }

    let scrape = app.scrape().await;
    assert_eq!(
        scrape.value(
            r#"optout_relay_http_requests_total{method="GET",route="unmatched",status="404"}"#
        ),
        2.0
    );
    assert!(!scrape
        .0
        .keys()
        .any(|series| series.contains("/no/such/path")));
}

#[tokio::test]
async fn metrics_require_the_admin_token() {
    let app = spawn_app().await;
    let anonymous = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
}
