//! The SSRF guard at send time: a stored URL whose target is refused fails every delivery and
//! test delivery (A8) with the reason in the audit log, and is never dialled; the same URLs reach
//! their receiver when an allowed range holds their address.

use optout_core::Cidr;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::eventually::eventually;
use crate::helpers::{
    spawn_app_in_with_engine, spawn_app_with, spawn_app_with_engine, TestAccount,
};
use crate::operator::{email, exposure, opt_out};
use crate::propagation::rows;
use crate::receiver::TestReceiver;
use crate::ssrf::port_of;
use crate::ssrf_targets::{refused_targets, LOOPBACK_SPELLINGS};

/// An account and its subscription.
struct Subscribed {
    account: TestAccount,
    subscription_id: String,
}

/// A database with one account subscribed to each of `urls`, registered while every target was
/// allowed and no challenge was sent: as if the policy had been tightened since.
async fn registered_while_allowed(urls: &[String]) -> (TempDir, Vec<Subscribed>) {
    let lax = spawn_app_with(|config| config.url_challenge = false).await;
    let mut subscribed = Vec::new();
    for url in urls {
        let account = lax.create_account().await;
        lax.regenerate_secret(&account.api_key).await;
        let subscription_id = lax.subscribe(&account.api_key, url).await;
        subscribed.push(Subscribed {
            account,
            subscription_id,
        });
    }
    (lax.shutdown().await, subscribed)
}

/// Exposes one contact to every account, then records the contact's opt-out.
async fn opt_out_seen_by(app: &crate::helpers::TestApp, accounts: &[&TestAccount]) {
    let exposures: Vec<Value> = accounts
        .iter()
        .map(|account| exposure(&account.id, "c-1", &[email("jane@example.com")]))
        .collect();
    app.expose(&exposures).await;
    app.opt_out_id(&opt_out("c-1", "Jane Doe")).await;
}

#[tokio::test]
async fn every_refused_target_fails_at_send_time_with_its_reason_and_is_never_dialled() {
    let receiver = TestReceiver::spawn().await;
    let targets = refused_targets(port_of(&receiver));
    let urls: Vec<String> = targets.iter().map(|target| target.url.clone()).collect();
    let (dir, subscribed) = registered_while_allowed(&urls).await;
    let app =
        spawn_app_in_with_engine(dir, |config| config.allow_private_targets = false, |_| {}).await;

    let accounts: Vec<&TestAccount> = subscribed.iter().map(|sub| &sub.account).collect();
    opt_out_seen_by(&app, &accounts).await;

    for (sub, target) in subscribed.iter().zip(&targets) {
        let api_key = &sub.account.api_key;
        let logs = eventually(&format!("an attempt to {}", target.url), || async {
            let logs = app.audit_logs(api_key, "").await;
            if rows(&logs).is_empty() {
                Err(logs.to_string())
            } else {
                Ok(logs)
            }
        })
        .await;
        let first = rows(&logs).last().expect("a row");
        assert_eq!(first["status"], json!("failed"), "{}: {logs}", target.url);
        assert_eq!(first["error"], json!(target.refusal()), "{}", target.url);
        assert_eq!(first["statusCode"], Value::Null, "{}: {logs}", target.url);
        assert_eq!(first["subscriptionId"], json!(sub.subscription_id));
    }
    // A refusal is an ordinary failed attempt: retried, then the subscription is disabled.
    let first = &subscribed[0];
    let disabled = eventually("the first subscription to be disabled", || async {
        let subscription = app
            .subscription(&first.account.api_key, &first.subscription_id)
            .await;
        if subscription["isActive"] == json!(false) {
            Ok(subscription)
        } else {
            Err(subscription.to_string())
        }
    })
    .await;
    assert_eq!(disabled["blockReason"], json!("Max retries exceeded"));
    let logs = app.audit_logs(&first.account.api_key, "").await;
    let attempts: Vec<(&Value, &Value)> = rows(&logs)
        .iter()
        .map(|row| (&row["status"], &row["error"]))
        .collect();
    let reason = json!(targets[0].refusal());
    assert_eq!(
        attempts,
        [
            (&json!("permanent_failure"), &reason),
            (&json!("failed"), &reason),
            (&json!("failed"), &reason),
            (&json!("failed"), &reason),
        ],
        "{logs}"
    );
    assert_eq!(receiver.request_count(), 0, "a refused target was dialled");
    app.shutdown().await;
}

#[tokio::test]
async fn a_test_delivery_to_a_refused_target_fails_with_its_reason_and_is_never_dialled() {
    let receiver = TestReceiver::spawn().await;
    let targets = refused_targets(port_of(&receiver));
    let urls: Vec<String> = targets.iter().map(|target| target.url.clone()).collect();
    let (dir, subscribed) = registered_while_allowed(&urls).await;
    let app =
        spawn_app_in_with_engine(dir, |config| config.allow_private_targets = false, |_| {}).await;

    for (sub, target) in subscribed.iter().zip(&targets) {
        let response = app
            .test_delivery(&sub.account.api_key, &sub.subscription_id, "mode=direct")
            .await;
        let body: Value = response.json().await.expect("json");

        assert_eq!(body["isSuccess"], json!(false), "{}: {body}", target.url);
        let check = &body["flowCheck"];
        assert_eq!(check["error"], json!(target.refusal()), "{}", target.url);
        assert_eq!(check["statusCode"], Value::Null, "{}: {body}", target.url);
    }
    let first = &subscribed[0];
    let response = app
        .test_delivery(&first.account.api_key, &first.subscription_id, "")
        .await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["isSuccess"], json!(false), "{body}");
    let logs = app.audit_logs(&first.account.api_key, "").await;
    assert_eq!(rows(&logs).len(), 1, "{logs}");
    assert_eq!(rows(&logs)[0]["error"], json!(targets[0].refusal()));
    assert_eq!(receiver.request_count(), 0, "a refused target was dialled");
    app.shutdown().await;
}

#[tokio::test]
async fn loopback_targets_reach_their_receiver_when_an_allowed_range_holds_them() {
    let app = spawn_app_with_engine(
        |config| {
            config.allow_private_targets = false;
            config.allowed_targets = vec![
                Cidr::parse("127.0.0.0/8").expect("range"),
                Cidr::parse("::1/128").expect("range"),
            ];
        },
        |_| {},
    )
    .await;
    let ipv6_receiver = TestReceiver::spawn_on("[::1]:0").await;
    let mut subscribed = Vec::new();
    for host in LOOPBACK_SPELLINGS {
        let port = if *host == "[::1]" {
            port_of(&ipv6_receiver)
        } else {
            port_of(&app.receiver)
        };
        let url = format!("http://{host}:{port}/webhook");
        let account = app.create_account().await;
        app.regenerate_secret(&account.api_key).await;
        // The challenge reaches the receiver, or A3 would fail.
        let subscription_id = app.subscribe(&account.api_key, &url).await;
        subscribed.push((url, account, subscription_id));
    }
    let other = app.create_account().await;
    app.regenerate_secret(&other.api_key).await;
    let outside = app
        .create_subscription(&other.api_key, "http://10.0.0.1/")
        .await;
    assert_eq!(
        outside.status(),
        reqwest::StatusCode::BAD_REQUEST,
        "not in a range"
    );

    let accounts: Vec<&TestAccount> = subscribed.iter().map(|(_, account, _)| account).collect();
    opt_out_seen_by(&app, &accounts).await;

    for (url, account, subscription_id) in &subscribed {
        eventually(&format!("a delivery to {url}"), || async {
            let logs = app.audit_logs(&account.api_key, "").await;
            match rows(&logs).first() {
                Some(row) if row["status"] == json!("success") => Ok(()),
                _ => Err(logs.to_string()),
            }
        })
        .await;
        let response = app
            .test_delivery(&account.api_key, subscription_id, "mode=direct")
            .await;
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["isSuccess"], json!(true), "{url}: {body}");
    }
    // Each URL got its challenge, its notice and its test delivery.
    let ipv4_urls = LOOPBACK_SPELLINGS.len() - 1;
    assert_eq!(app.receiver.request_count(), 3 * ipv4_urls);
    assert_eq!(ipv6_receiver.request_count(), 3);
    app.shutdown().await;
}
