//! The SSRF guard at the guard itself and at registration (A3, A6): every target of the table
//! gets its verdict, and a refused URL is a 400 naming the reason, with nothing created, changed
//! or dialled.

use optout_core::{Cidr, TargetPolicy, UrlPolicy, WebhookUrl};
use optout_server::target_guard::TargetGuard;
use reqwest::StatusCode;
use serde_json::json;
use url::Host;

use crate::helpers::{assert_error, errors_of, spawn_app, spawn_app_in, spawn_app_with};
use crate::receiver::TestReceiver;
use crate::ssrf_targets::{refused_targets, targets, Verdict};

const INSECURE: UrlPolicy = UrlPolicy {
    allow_insecure: true,
};

/// The port of a receiver's `http://HOST:PORT` address.
pub fn port_of(receiver: &TestReceiver) -> u16 {
    receiver
        .address
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("receiver address ends with a port")
}

fn webhook_url(text: &str) -> WebhookUrl {
    WebhookUrl::parse(text, INSECURE).unwrap_or_else(|problems| panic!("{text}: {problems:?}"))
}

#[tokio::test]
async fn the_guard_gives_each_of_more_than_fifty_targets_its_verdict() {
    let guard = TargetGuard::new(TargetPolicy::public_only());
    let table = targets(8080);
    assert!(table.len() >= 50, "only {} targets", table.len());

    for target in &table {
        let url = webhook_url(&target.url);
        let vetted = guard.vet(&url).await;
        // The sender's own check of IP-literal URLs, which no resolver sees, agrees.
        let literal = guard.vet_literal(&url);
        let is_literal = !matches!(url.as_url().host(), Some(Host::Domain(_)));
        match target.verdict {
            Verdict::Allowed => {
                assert!(vetted.is_ok(), "{} refused: {vetted:?}", target.url);
                assert!(literal.is_ok(), "{} refused: {literal:?}", target.url);
            }
            Verdict::Refused(_) => {
                let refusal = vetted.expect_err(&target.url).to_string();
                assert_eq!(refusal, target.refusal(), "{}", target.url);
                if is_literal {
                    let refused = literal.expect_err(&target.url);
                    assert_eq!(refused.to_string(), target.refusal(), "{}", target.url);
                }
            }
        }
    }
}

#[tokio::test]
async fn the_guard_lets_allowed_ranges_through_and_still_refuses_the_rest() {
    let guard = TargetGuard::new(TargetPolicy::new(
        false,
        vec![
            Cidr::parse("127.0.0.0/8").expect("range"),
            Cidr::parse("::1/128").expect("range"),
        ],
    ));
    for allowed in [
        "http://127.0.0.1:9/",
        "http://2130706433:9/",
        "http://localhost:9/",
        "http://[::ffff:127.0.0.1]:9/",
        "http://[::1]:9/",
    ] {
        let vetted = guard.vet(&webhook_url(allowed)).await;
        assert!(vetted.is_ok(), "{allowed}: {vetted:?}");
    }
    for refused in [
        "http://10.0.0.1/",
        "http://169.254.169.254/",
        "http://[64:ff9b::127.0.0.1]/",
    ] {
        assert!(guard.vet(&webhook_url(refused)).await.is_err(), "{refused}");
    }
}

#[tokio::test]
async fn every_refused_target_is_refused_at_registration_with_its_reason_and_never_dialled() {
    let receiver = TestReceiver::spawn().await;
    let app = spawn_app_with(|config| config.allow_private_targets = false).await;
    let account = app.create_account().await;
    app.regenerate_secret(&account.api_key).await;
    let before = app.snapshot().await;

    for target in refused_targets(port_of(&receiver)) {
        let response = app.create_subscription(&account.api_key, &target.url).await;

        let body = assert_error(response, StatusCode::BAD_REQUEST, "URL validation failed").await;
        assert_eq!(errors_of(&body), [target.refusal()], "{}", target.url);
    }
    assert_eq!(app.snapshot().await, before, "nothing is created");
    assert_eq!(receiver.request_count(), 0, "no challenge was sent");
    assert_eq!(app.receiver.request_count(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn every_refused_target_is_refused_as_a_new_url_of_a_subscription_and_nothing_changes() {
    // The subscription is registered while private targets are allowed; the app is then
    // restarted on the same database with the production policy.
    let lax = spawn_app().await;
    let (account, created) = lax.subscribed_account().await;
    let id = created["id"].as_str().expect("id").to_owned();
    let dir = lax.shutdown().await;
    let app = spawn_app_in(dir, |config| config.allow_private_targets = false).await;
    let receiver = TestReceiver::spawn().await;
    let before = app.snapshot().await;

    for target in refused_targets(port_of(&receiver)) {
        let response = app
            .patch_subscription(&account.api_key, &id, &json!({ "url": target.url }))
            .await;

        let body = assert_error(response, StatusCode::BAD_REQUEST, "URL validation failed").await;
        assert_eq!(errors_of(&body), [target.refusal()], "{}", target.url);
    }
    assert_eq!(
        app.snapshot().await,
        before,
        "the subscription is unchanged"
    );
    assert_eq!(receiver.request_count(), 0, "no challenge was sent");
    app.shutdown().await;
}
