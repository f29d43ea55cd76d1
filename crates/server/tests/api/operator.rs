//! The operator's propagation API (spec Part B): exposures, opt-outs and compliance records, as
//! requests of the app under test and the bodies they are built from.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// The content type of NDJSON bodies.
pub const NDJSON: &str = "application/x-ndjson";

/// Who is calling the operator API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// With the configured admin token.
    Operator,
    /// With no `Authorization` header.
    Anonymous,
    /// With this bearer token.
    Token(&'a str),
}

/// `{"datapointId":id,"datapointType":"email"}`.
pub fn email(id: &str) -> Value {
    json!({ "datapointId": id, "datapointType": "email" })
}

/// `{"datapointId":id,"datapointType":"phone"}`.
pub fn phone(id: &str) -> Value {
    json!({ "datapointId": id, "datapointType": "phone" })
}

/// An exposure item: `account_id` received these `datapoints` of `contact_id`.
pub fn exposure(account_id: &str, contact_id: &str, datapoints: &[Value]) -> Value {
    json!({ "accountId": account_id, "contactId": contact_id, "datapoints": datapoints })
}

/// An exposure item with an `exposedAt`.
pub fn exposure_at(
    account_id: &str,
    contact_id: &str,
    datapoints: &[Value],
    exposed_at: &str,
) -> Value {
    let mut item = exposure(account_id, contact_id, datapoints);
    item["exposedAt"] = json!(exposed_at);
    item
}

/// An opt-out item with only the required fields.
pub fn opt_out(contact_id: &str, full_name: &str) -> Value {
    json!({ "contactId": contact_id, "fullName": full_name })
}

/// NDJSON: one compact JSON value per line.
pub fn ndjson(items: &[Value]) -> String {
    items.iter().map(|item| format!("{item}\n")).collect()
}

impl TestApp {
    /// `POST path` on the operator API with a raw body.
    pub async fn post_operator(
        &self,
        path: &str,
        caller: Caller<'_>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
        idempotency_key: Option<&str>,
    ) -> Response {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        request = match caller {
            Caller::Operator => request.bearer_auth(&self.admin_token),
            Caller::Anonymous => request,
            Caller::Token(token) => request.bearer_auth(token),
        };
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        request.send().await.expect("request")
    }

    /// `POST /admin/exposures` with a JSON body.
    pub async fn post_exposures(&self, body: &Value) -> Response {
        self.post_operator(
            "/admin/exposures",
            Caller::Operator,
            "application/json",
            body.to_string(),
            None,
        )
        .await
    }

    /// Records exposures that must all be valid; the 200 body.
    pub async fn expose(&self, items: &[Value]) -> Value {
        let response = self.post_exposures(&Value::from(items.to_vec())).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::OK, "exposures answered {body}");
        body
    }

    /// `POST /admin/opt-outs` with a JSON body and an optional `Idempotency-Key`.
    pub async fn post_opt_outs(&self, body: &Value, idempotency_key: Option<&str>) -> Response {
        self.post_operator(
            "/admin/opt-outs",
            Caller::Operator,
            "application/json",
            body.to_string(),
            idempotency_key,
        )
        .await
    }

    /// Records one opt-out that must be valid; the 202 body `{"optOutId","notices"}`.
    pub async fn record_opt_out(&self, item: &Value) -> Value {
        let response = self.post_opt_outs(item, None).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::ACCEPTED, "opt-out answered {body}");
        body
    }

    /// Records one opt-out; its id.
    pub async fn opt_out_id(&self, item: &Value) -> String {
        let body = self.record_opt_out(item).await;
        crate::helpers::text(&body["optOutId"])
    }

    /// `GET /admin/opt-outs/{id}` as `caller`.
    pub async fn get_compliance_record(&self, id: &str, caller: Caller<'_>) -> Response {
        let request = self.client.get(self.url(&format!("/admin/opt-outs/{id}")));
        let request = match caller {
            Caller::Operator => request.bearer_auth(&self.admin_token),
            Caller::Anonymous => request,
            Caller::Token(token) => request.bearer_auth(token),
        };
        request.send().await.expect("request")
    }

    /// The compliance record of an opt-out that must exist.
    pub async fn compliance_record(&self, id: &str) -> Value {
        let response = self.get_compliance_record(id, Caller::Operator).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, StatusCode::OK, "compliance record answered {body}");
        body
    }
}
