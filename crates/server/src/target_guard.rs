//! The SSRF guard: a webhook may only reach public addresses, unless the operator allows more.

use optout_core::address::non_public_reason;
use optout_core::WebhookUrl;
use std::net::{IpAddr, SocketAddr};

/// Vets the addresses a webhook URL resolves to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TargetGuard {
    allow_private: bool,
}

/// The vetted target: the host name and the one address to dial, so the connection goes to the
/// address that was checked and not to whatever a second DNS lookup would return.
#[derive(Debug, Clone)]
pub(crate) struct VettedTarget {
    pub host: String,
    pub address: SocketAddr,
}

impl TargetGuard {
    pub(crate) fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }

    /// Resolves the URL's host and checks every address; `Err` says why the target is refused.
    pub(crate) async fn vet(&self, url: &WebhookUrl) -> Result<VettedTarget, String> {
        let parsed = url.as_url();
        let host = parsed
            .host_str()
            .ok_or_else(|| "url has no host".to_owned())?;
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| "url has no port".to_owned())?;
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        let addresses: Vec<SocketAddr> = match bare_host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((bare_host, port))
                .await
                .map_err(|_| format!("url host {host} could not be resolved"))?
                .collect(),
        };
        let first = *addresses
            .first()
            .ok_or_else(|| format!("url host {host} could not be resolved"))?;
        if !self.allow_private {
            // Every address must pass: a host with one public and one internal address is refused.
            for address in &addresses {
                if let Some(reason) = non_public_reason(address.ip()) {
                    return Err(format!("url target is not allowed: {reason}"));
                }
            }
        }
        Ok(VettedTarget {
            host: bare_host.to_owned(),
            address: first,
        })
    }
}
