//! What the server is configured with.

use optout_core::rate_limit::{RateLimit, DEFAULT_RATE_LIMIT};
use optout_core::{Cidr, Keyring, TargetPolicy, UrlPolicy};
use std::fmt;
use std::time::Duration;

/// The operator's bearer token for the admin API.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Wraps a token. Tokens shorter than 16 characters are refused as too easy to guess.
    pub fn new(token: impl Into<String>) -> Result<Self, String> {
        let token = token.into();
        if token.len() < 16 {
            return Err("the admin token must be at least 16 characters".to_owned());
        }
        if token.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("the admin token must not contain whitespace".to_owned());
        }
        Ok(Self(token))
    }

    /// The token's text (never to log).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Server settings that handlers consult.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// The admin API's bearer token.
    pub admin_token: AdminToken,
    /// Which URL schemes webhooks may use.
    pub url_policy: UrlPolicy,
    /// Accept webhook targets on loopback and private networks, and every other non-public
    /// address (development and tests only).
    pub allow_private_targets: bool,
    /// Non-public address ranges webhooks may reach anyway, e.g. a receiver on `10.0.0.0/8`.
    pub allowed_targets: Vec<Cidr>,
    /// Challenge a webhook URL before accepting it (spec A10).
    pub url_challenge: bool,
    /// How long a URL challenge may take.
    pub challenge_timeout: Duration,
    /// `User-Agent` of outgoing requests.
    pub user_agent: String,
    /// Per-attempt timeout of deliveries (spec C2: 10 s).
    pub attempt_timeout: Duration,
    /// Add the Standard Webhooks headers to deliveries.
    pub standard_webhooks: bool,
    /// Requests each account may make to the account API; `None` turns the limit off.
    pub rate_limit: Option<RateLimit>,
    /// How long a client may take to send a request body before it gets 408.
    pub body_timeout: Duration,
    /// How long a client may take to send a request's head before the connection is closed.
    pub header_timeout: Duration,
    /// The master keys that seal account secrets at rest: the active one seals, all open.
    pub keyring: Keyring,
}

/// Default time a URL challenge may take (spec A10: 10 s).
pub const DEFAULT_CHALLENGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default per-attempt timeout of deliveries (spec C2).
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time a client has to send a request body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default time a client has to send a request's head.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `User-Agent` of outgoing requests (spec C1).
pub const DEFAULT_USER_AGENT: &str = "Lusha-Webhooks/1.0";

impl AppConfig {
    /// Production defaults: https only, public targets only, challenge on, 100 requests per
    /// minute per account; secrets sealed with `keyring`.
    pub fn new(admin_token: AdminToken, keyring: Keyring) -> Self {
        Self {
            admin_token,
            url_policy: UrlPolicy::default(),
            allow_private_targets: false,
            allowed_targets: Vec::new(),
            url_challenge: true,
            challenge_timeout: DEFAULT_CHALLENGE_TIMEOUT,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            standard_webhooks: true,
            rate_limit: Some(DEFAULT_RATE_LIMIT),
            body_timeout: DEFAULT_BODY_TIMEOUT,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            keyring,
        }
    }

    /// The SSRF guard's policy: registration, test deliveries and the engine all apply it.
    pub fn target_policy(&self) -> TargetPolicy {
        TargetPolicy::new(self.allow_private_targets, self.allowed_targets.clone())
    }
}
