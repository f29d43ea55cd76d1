//! The SSRF guard: a webhook may only reach the addresses the [`TargetPolicy`] allows.
//!
//! The guard judges the addresses that are actually dialled, after DNS resolution, and those
//! addresses are the ones connected to, so a second DNS answer cannot swap in another:
//! registration dials the [`VettedTarget`] that [`TargetGuard::vet`] returns, and deliveries go
//! through a client whose resolver is the guard's (`GuardedResolver`). A URL whose host is an
//! IP address never reaches a resolver, so the sender vets it with [`TargetGuard::vet_literal`].

use optout_core::{TargetPolicy, TargetRefused, WebhookUrl};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use url::Host;

/// Vets the addresses a webhook URL resolves to against the policy. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TargetGuard {
    policy: Arc<TargetPolicy>,
}

/// The vetted target: the host and the one address to dial, so the connection goes to the
/// address that was checked and not to whatever a second DNS lookup would return.
#[derive(Debug, Clone)]
pub struct VettedTarget {
    /// The URL's host: a name, or an address without brackets.
    pub host: String,
    /// The first address of the host, with the URL's port.
    pub address: SocketAddr,
}

/// Why a target may not be dialled; it displays as the reason given to the customer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    /// An address of the host is refused by the policy.
    #[error(transparent)]
    Refused(#[from] TargetRefused),
    /// The host has no address (the DNS lookup failed or found none).
    #[error("url host {host} could not be resolved")]
    Unresolved {
        /// The host name.
        host: String,
    },
    /// The URL has no host or no port (never for a parsed `WebhookUrl`).
    #[error("url has no host or port")]
    NoHost,
}

impl TargetGuard {
    /// A guard applying `policy`.
    pub fn new(policy: TargetPolicy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }

    /// The policy applied.
    pub fn policy(&self) -> &TargetPolicy {
        &self.policy
    }

    /// Resolves the URL's host and checks every address; the first is the one to dial.
    pub async fn vet(&self, url: &WebhookUrl) -> Result<VettedTarget, TargetError> {
        let parsed = url.as_url();
        let port = parsed.port_or_known_default().ok_or(TargetError::NoHost)?;
        let (host, addresses) = match parsed.host().ok_or(TargetError::NoHost)? {
            Host::Ipv4(ip) => (ip.to_string(), self.vet_ip(IpAddr::V4(ip), port)?),
            Host::Ipv6(ip) => (ip.to_string(), self.vet_ip(IpAddr::V6(ip), port)?),
            Host::Domain(name) => (name.to_owned(), self.resolve(name, port).await?),
        };
        let address = *addresses
            .first()
            .ok_or_else(|| TargetError::Unresolved { host: host.clone() })?;
        Ok(VettedTarget { host, address })
    }

    /// Checks the URL's host if it is an IP address; a host name passes here and is vetted
    /// when it is resolved.
    pub fn vet_literal(&self, url: &WebhookUrl) -> Result<(), TargetRefused> {
        match url.as_url().host() {
            Some(Host::Ipv4(ip)) => self.policy.check(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => self.policy.check(IpAddr::V6(ip)),
            _ => Ok(()),
        }
    }

    /// Resolves `host` once and checks every address found: a host with one allowed and one
    /// refused address is refused, since either may be the one dialled.
    pub(crate) async fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, TargetError> {
        let unresolved = || TargetError::Unresolved {
            host: host.to_owned(),
        };
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| unresolved())?
            .collect();
        if addresses.is_empty() {
            return Err(unresolved());
        }
        for address in &addresses {
            self.policy.check(address.ip())?;
        }
        Ok(addresses)
    }

    fn vet_ip(&self, ip: IpAddr, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
        self.policy.check(ip)?;
        Ok(vec![SocketAddr::new(ip, port)])
    }
}
