//! The demo's calls to its service, one method per API call, made over HTTP exactly as an
//! operator (`Authorization: Bearer <admin token>`) or an account developer (`api_key: <key>`)
//! would make them, so reading this file is reading the API.

use anyhow::Context;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

/// Longest wait for one API answer; the service is local, so anything slower is a fault.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Audit rows fetched per poll: the most the API serves at once, far more than the demo makes.
const AUDIT_PAGE: u32 = 100;

/// An HTTP client for the local service; it never goes through a proxy.
pub fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("cannot build the HTTP client")
}

/// The operator: the admin API (spec Part B).
#[derive(Debug, Clone)]
pub struct Operator {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// An account created by the operator, with its first API key.
#[derive(Debug, Clone)]
pub struct CreatedAccount {
    /// The numeric account id.
    pub id: String,
    /// The API key, shown once by the service.
    pub api_key: String,
}

/// What recording one opt-out answered.
#[derive(Debug, Clone)]
pub struct RecordedOptOut {
    /// The id of its compliance record.
    pub id: String,
    /// Notices created: one per account that received the contact's data.
    pub notices: u64,
}

impl Operator {
    /// The operator of the service at `base` (`http://host:port`), holding `token`.
    pub fn new(http: reqwest::Client, base: &str, token: &str) -> Self {
        Self {
            http,
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    /// The service's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
    }

    /// `POST /admin/accounts`: a new account and its first API key.
    pub async fn create_account(&self, name: &str) -> anyhow::Result<CreatedAccount> {
        let request = self
            .request(Method::POST, "/admin/accounts")
            .json(&json!({ "name": name }));
        let body = expect(request, StatusCode::CREATED, "POST /admin/accounts").await?;
        Ok(CreatedAccount {
            id: text(&body, "accountId")?.to_owned(),
            api_key: text(&body, "apiKey")?.to_owned(),
        })
    }

    /// `POST /admin/exposures`: who received which datapoints; returns the intake counts.
    pub async fn record_exposures(&self, exposures: &[Value]) -> anyhow::Result<Value> {
        let request = self
            .request(Method::POST, "/admin/exposures")
            .json(exposures);
        expect(request, StatusCode::OK, "POST /admin/exposures").await
    }

    /// `POST /admin/opt-outs` with an `Idempotency-Key`, so a retried call records it once.
    pub async fn record_opt_out(
        &self,
        opt_out: &Value,
        idempotency_key: &str,
    ) -> anyhow::Result<RecordedOptOut> {
        let request = self
            .request(Method::POST, "/admin/opt-outs")
            .header("Idempotency-Key", idempotency_key)
            .json(opt_out);
        let body = expect(request, StatusCode::ACCEPTED, "POST /admin/opt-outs").await?;
        Ok(RecordedOptOut {
            id: text(&body, "optOutId")?.to_owned(),
            notices: body["notices"]
                .as_u64()
                .context("POST /admin/opt-outs answered without a notice count")?,
        })
    }

    /// `GET /admin/opt-outs/{id}`: the compliance record of an opt-out.
    pub async fn compliance_record(&self, opt_out_id: &str) -> anyhow::Result<Value> {
        let request = self.request(Method::GET, &format!("/admin/opt-outs/{opt_out_id}"));
        expect(request, StatusCode::OK, "GET /admin/opt-outs/{id}").await
    }
}

/// An account developer: the account API (spec Part A), authenticated by the account's key.
#[derive(Debug, Clone)]
pub struct AccountApi {
    http: reqwest::Client,
    base: String,
    api_key: String,
}

impl AccountApi {
    /// The account API of the service at `base`, as the holder of `api_key`.
    pub fn new(http: reqwest::Client, base: &str, api_key: &str) -> Self {
        Self {
            http,
            base: base.to_owned(),
            api_key: api_key.to_owned(),
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("api_key", &self.api_key)
    }

    /// `POST /api/account/secret/regenerate`: creates (or replaces) the webhook secret.
    pub async fn regenerate_secret(&self) -> anyhow::Result<String> {
        let request = self.request(Method::POST, "/api/account/secret/regenerate");
        let body = expect(
            request,
            StatusCode::OK,
            "POST /api/account/secret/regenerate",
        )
        .await?;
        Ok(text(&body, "secret")?.to_owned())
    }

    /// `GET /api/account/secret`: the current webhook secret.
    pub async fn secret(&self) -> anyhow::Result<String> {
        let request = self.request(Method::GET, "/api/account/secret");
        let body = expect(request, StatusCode::OK, "GET /api/account/secret").await?;
        Ok(text(&body, "secret")?.to_owned())
    }

    /// `POST /api/subscriptions/opt-out`: registers the opt-out webhook; the service
    /// challenges `url` first. Returns the subscription.
    pub async fn subscribe(&self, url: &str, name: &str) -> anyhow::Result<Value> {
        let request = self
            .request(Method::POST, "/api/subscriptions/opt-out")
            .json(&json!({ "entityType": "contact", "url": url, "name": name }));
        expect(
            request,
            StatusCode::CREATED,
            "POST /api/subscriptions/opt-out",
        )
        .await
    }

    /// `GET /api/audit-logs`: the account's delivery attempts, newest first.
    pub async fn audit_logs(&self) -> anyhow::Result<Vec<Value>> {
        let request = self.request(Method::GET, &format!("/api/audit-logs?limit={AUDIT_PAGE}"));
        let mut body = expect(request, StatusCode::OK, "GET /api/audit-logs").await?;
        match body["data"].take() {
            Value::Array(rows) => Ok(rows),
            _ => anyhow::bail!("GET /api/audit-logs answered without a data array"),
        }
    }
}

/// Sends `request` and returns its JSON body if the status is `expected`; otherwise an error
/// naming the call and the service's message (error bodies carry no secrets).
async fn expect(
    request: RequestBuilder,
    expected: StatusCode,
    call: &str,
) -> anyhow::Result<Value> {
    let response = request
        .send()
        .await
        .with_context(|| format!("{call}: no answer from the service"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("{call}: the answer ({status}) is not JSON"))?;
    if status != expected {
        let message = body["message"].as_str().unwrap_or("no message");
        let errors = match &body["errors"] {
            Value::Null => String::new(),
            errors => format!(" {errors}"),
        };
        anyhow::bail!("{call}: expected {expected}, got {status}: {message}{errors}");
    }
    Ok(body)
}

/// The string field `name` of `body`.
pub fn text<'a>(body: &'a Value, name: &str) -> anyhow::Result<&'a str> {
    body[name]
        .as_str()
        .with_context(|| format!("the service's answer has no {name:?} string"))
}
