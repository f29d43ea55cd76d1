//! One HTTP attempt: vet the target, sign the frozen body, POST it, classify the response.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use optout_core::{AttemptResult, TargetPolicy, WebhookSecret, WebhookUrl};
use optout_webhook::{header, sign_lusha, sign_standard, Secret, SignError};
use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::guarded_resolver::GuardedResolver;
use crate::target_guard::{TargetError, TargetGuard};

/// Largest part of a response body that is read; the body carries no meaning (spec C2), it is
/// read only so the connection can be reused.
const MAX_RESPONSE_BYTES: usize = 4 * 1024;

/// How outgoing deliveries are made.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Per-attempt timeout, connection included (spec C2: 10 s).
    pub attempt_timeout: Duration,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Add the Standard Webhooks headers.
    pub standard_webhooks: bool,
    /// Idle keep-alive connections kept per host.
    pub idle_connections_per_host: usize,
    /// The addresses deliveries may go to (the SSRF guard).
    pub target_policy: TargetPolicy,
}

/// The shared HTTP client of all deliveries (keep-alive pooled, redirects never followed, every
/// dialled address vetted by the SSRF guard).
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    guard: TargetGuard,
    config: Arc<SenderConfig>,
}

/// One delivery to make.
#[derive(Debug)]
pub struct Sending<'a> {
    /// `X-Lusha-Webhook-Id` / `webhook-id`: the notice id.
    pub webhook_id: &'a str,
    /// Where to POST.
    pub url: &'a WebhookUrl,
    /// The account secret.
    pub secret: &'a WebhookSecret,
    /// The secret it replaced, while its rotation grace lasts (spec C3): signs
    /// `X-Lusha-Signature-Previous` and a second `webhook-signature` entry.
    pub previous_secret: Option<&'a WebhookSecret>,
    /// The frozen body.
    pub payload: Arc<[u8]>,
    /// `X-Lusha-Attempt`.
    pub attempt: u32,
    /// Mark as a test delivery (`X-Lusha-Test: true`).
    pub test: bool,
}

/// What an attempt gave.
#[derive(Debug, Clone)]
pub struct SendResult {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// How it ended.
    pub result: AttemptResult,
}

impl Sender {
    /// Builds the client.
    pub fn new(config: SenderConfig) -> Result<Self, reqwest::Error> {
        let guard = TargetGuard::new(config.target_policy.clone());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy would dial the target itself, past the guard's resolver.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
            .timeout(config.attempt_timeout)
            .connect_timeout(config.attempt_timeout)
            .pool_max_idle_per_host(config.idle_connections_per_host)
            .tcp_nodelay(true)
            .user_agent(config.user_agent.clone())
            .build()?;
        Ok(Self {
            client,
            guard,
            config: Arc::new(config),
        })
    }

    /// Makes one signed attempt. Never fails: every problem is an [`AttemptResult::Failed`].
    pub async fn send(&self, sending: Sending<'_>) -> SendResult {
        let started_at = Utc::now();
        let clock = Instant::now();
        let result = self.attempt(&sending, started_at.timestamp()).await;
        SendResult {
            started_at,
            duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            result,
        }
    }

    async fn attempt(&self, sending: &Sending<'_>, timestamp: i64) -> AttemptResult {
        // An IP address in the URL is dialled without asking the resolver: vet it here.
        if let Err(refused) = self.guard.vet_literal(sending.url) {
            return target_failure(sending, &TargetError::Refused(refused));
        }
        let secret = Secret::new(sending.secret.expose());
        let previous = sending
            .previous_secret
            .map(|previous| Secret::new(previous.expose()));
        let mut request = self
            .client
            .post(sending.url.as_url().clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                header::SIGNATURE,
                sign_lusha(&secret, timestamp, &sending.payload),
            )
            .header(header::TIMESTAMP, timestamp)
            .header(header::WEBHOOK_ID, sending.webhook_id)
            .header(header::ATTEMPT, sending.attempt);
        if let Some(previous) = &previous {
            request = request.header(
                header::SIGNATURE_PREVIOUS,
                sign_lusha(previous, timestamp, &sending.payload),
            );
        }
        if self.config.standard_webhooks {
            match standard_signatures(&secret, previous.as_ref(), sending, timestamp) {
                Ok(signature) => {
                    request = request
                        .header(header::STD_ID, sending.webhook_id)
                        .header(header::STD_TIMESTAMP, timestamp)
                        .header(header::STD_SIGNATURE, signature);
                }
                Err(_) => tracing::warn!(
                    webhook_id = sending.webhook_id,
                    "an account secret is not base64 after whsec_: Standard Webhooks headers left out"
                ),
            }
        }
        if sending.test {
            request = request.header(header::TEST, "true");
        }
        let body = Bytes::from_owner(Arc::clone(&sending.payload));
        let timeout_ms = self.config.attempt_timeout.as_millis();
        match request.body(body).send().await {
            Ok(mut response) => {
                let status = response.status().as_u16();
                // Read a little of the body so the connection goes back to the pool.
                let mut read = 0;
                while read < MAX_RESPONSE_BYTES {
                    match response.chunk().await {
                        Ok(Some(chunk)) => read += chunk.len(),
                        _ => break,
                    }
                }
                if (200..300).contains(&status) {
                    AttemptResult::Delivered {
                        status_code: status,
                    }
                } else {
                    AttemptResult::Failed {
                        status_code: Some(status),
                        error: format!("HTTP {status}"),
                    }
                }
            }
            Err(error) => match target_error(&error) {
                Some(target) => target_failure(sending, target),
                None => AttemptResult::Failed {
                    status_code: None,
                    error: no_response_reason(&error, timeout_ms),
                },
            },
        }
    }
}

/// Why a request got no response, for the audit log.
fn no_response_reason(error: &reqwest::Error, timeout_ms: u128) -> String {
    if error.is_timeout() {
        format!("timeout after {timeout_ms} ms")
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    }
}

/// The failed attempt of a target the guard refused or could not resolve; nothing was sent.
fn target_failure(sending: &Sending<'_>, target: &TargetError) -> AttemptResult {
    if let TargetError::Refused(refused) = target {
        tracing::warn!(
            webhook_id = sending.webhook_id,
            address = %refused.address(),
            reason = refused.reason(),
            "delivery target refused by the SSRF guard"
        );
    }
    AttemptResult::Failed {
        status_code: None,
        error: target.to_string(),
    }
}

/// The guard's error, where the resolver put it: somewhere in the request error's source chain.
fn target_error(error: &reqwest::Error) -> Option<&TargetError> {
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(target) = current.downcast_ref::<TargetError>() {
            return Some(target);
        }
        cause = current.source();
    }
    None
}

/// The `webhook-signature` value: the current secret's `v1` entry, then the previous secret's
/// during a rotation grace, space-separated as Standard Webhooks allows.
fn standard_signatures(
    secret: &Secret,
    previous: Option<&Secret>,
    sending: &Sending<'_>,
    timestamp: i64,
) -> Result<String, SignError> {
    let mut signatures = sign_standard(secret, sending.webhook_id, timestamp, &sending.payload)?;
    if let Some(previous) = previous {
        signatures.push(' ');
        signatures.push_str(&sign_standard(
            previous,
            sending.webhook_id,
            timestamp,
            &sending.payload,
        )?);
    }
    Ok(signatures)
}
