//! Fixtures of the propagation tests: accounts subscribed to a [`DeliveryReceiver`] path, and
//! waiting for a notice to reach a state.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::delivery_receiver::DeliveryReceiver;
use crate::eventually::eventually;
use crate::helpers::{text, TestAccount, TestApp};

/// An account with a secret and an opt-out subscription to one receiver path.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub account: TestAccount,
    pub secret: String,
    pub subscription_id: String,
}

impl TestApp {
    /// An account with a secret, which `receiver` verifies deliveries to `path` with; no
    /// subscription yet.
    pub async fn account_with_secret(
        &self,
        receiver: &DeliveryReceiver,
        path: &str,
    ) -> (TestAccount, String) {
        let account = self.create_account().await;
        let secret = self.regenerate_secret(&account.api_key).await;
        receiver.set_secret(path, &secret);
        (account, secret)
    }

    /// A3 for `url`, which must succeed; the new subscription's id.
    pub async fn subscribe(&self, api_key: &str, url: &str) -> String {
        let response = self.create_subscription(api_key, url).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "A3 answered {body}");
        text(&body["id"])
    }

    /// An account subscribed to `receiver`'s `path`.
    pub async fn subscriber(&self, receiver: &DeliveryReceiver, path: &str) -> Subscriber {
        let (account, secret) = self.account_with_secret(receiver, path).await;
        let subscription_id = self.subscribe(&account.api_key, &receiver.url(path)).await;
        Subscriber {
            account,
            secret,
            subscription_id,
        }
    }

    /// The compliance record's entry for `account_id`, which must be a recipient.
    pub async fn recipient(&self, opt_out_id: &str, account_id: &str) -> Value {
        let record = self.compliance_record(opt_out_id).await;
        recipient_of(&record, account_id).clone()
    }

    /// Waits (bounded) until `account_id`'s notice of the opt-out has `status`; its entry then.
    pub async fn wait_for_recipient(
        &self,
        opt_out_id: &str,
        account_id: &str,
        status: &str,
    ) -> Value {
        eventually(
            &format!("the notice of opt-out {opt_out_id} to account {account_id} to be {status}"),
            || async {
                let recipient = self.recipient(opt_out_id, account_id).await;
                if recipient["status"] == json!(status) {
                    Ok(recipient)
                } else {
                    Err(recipient.to_string())
                }
            },
        )
        .await
    }

    /// A5: the subscription, which must exist.
    pub async fn subscription(&self, api_key: &str, id: &str) -> Value {
        let response = self.get_subscription(api_key, id).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("json")
    }

    /// A9: `GET /api/audit-logs?{query}`, which must succeed.
    pub async fn audit_logs(&self, api_key: &str, query: &str) -> Value {
        let response = self.get(&format!("/api/audit-logs?{query}"), api_key).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::OK, "audit logs answered {body}");
        body
    }

    /// A9: `GET /api/audit-logs/stats?{query}`, which must succeed.
    pub async fn audit_stats(&self, api_key: &str, query: &str) -> Value {
        let response = self
            .get(&format!("/api/audit-logs/stats?{query}"), api_key)
            .await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::OK, "audit stats answered {body}");
        body
    }

    /// A8: `POST /api/subscriptions/{id}/test?{query}`, answered with whatever status.
    pub async fn test_delivery(&self, api_key: &str, id: &str, query: &str) -> reqwest::Response {
        let path = if query.is_empty() {
            format!("/api/subscriptions/{id}/test")
        } else {
            format!("/api/subscriptions/{id}/test?{query}")
        };
        self.post_empty(&path, api_key).await
    }
}

/// The recipient entry of `account_id` in a compliance record.
pub fn recipient_of<'a>(record: &'a Value, account_id: &str) -> &'a Value {
    record["recipients"]
        .as_array()
        .unwrap_or_else(|| panic!("no recipients in {record}"))
        .iter()
        .find(|recipient| recipient["accountId"] == json!(account_id))
        .unwrap_or_else(|| panic!("account {account_id} is not a recipient in {record}"))
}

/// The rows of an audit log page.
pub fn rows(page: &Value) -> &Vec<Value> {
    page["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data in {page}"))
}

/// Checks `text` against `pattern`, where `d` is any ASCII digit and any other character stands
/// for itself.
pub fn assert_pattern(text: &str, pattern: &str) {
    let matches = text.len() == pattern.len()
        && text.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            other => c == other,
        });
    assert!(matches, "{text:?} does not have the form {pattern:?}");
}
