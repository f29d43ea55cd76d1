//! Which addresses the server may dial for a webhook: public ones, plus what the operator allows.
//!
//! One policy is shared by URL registration, test deliveries and the delivery engine, so a URL
//! that is refused at registration is refused at send time for the same reason.

use std::net::IpAddr;

use crate::address::{non_public_reason, CLOUD_METADATA};
use crate::cidr::Cidr;

/// The addresses webhook requests may go to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    allow_private: bool,
    allowed: Vec<Cidr>,
}

/// A target address the policy refuses. It displays as the reason given to customers and
/// written in the audit log, `url target is not allowed: loopback address`; the address itself
/// is left out, because for a host name it tells about the server's own network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("url target is not allowed: {reason}")]
pub struct TargetRefused {
    address: IpAddr,
    reason: &'static str,
}

impl TargetRefused {
    /// The refused address.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// Why it is refused, e.g. `loopback address`.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl TargetPolicy {
    /// Public addresses only: the production default.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Public addresses, every address if `allow_private` (development and tests), and any
    /// address inside one of the `allowed` ranges.
    pub fn new(allow_private: bool, allowed: Vec<Cidr>) -> Self {
        Self {
            allow_private,
            allowed,
        }
    }

    /// The ranges allowed beyond public addresses.
    pub fn allowed(&self) -> &[Cidr] {
        &self.allowed
    }

    /// Whether every address is allowed.
    pub fn allows_private(&self) -> bool {
        self.allow_private
    }

    /// Whether `ip` may be dialled.
    ///
    /// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) is also allowed by a range holding its
    /// IPv4 address, because a socket dialling it reaches that IPv4 address. Other encodings
    /// (NAT64, 6to4, compatible) reach a translator or nothing, so only an IPv6 range allows them.
    ///
    /// A cloud metadata address is allowed only by a range of that one address (`/32`, `/128`):
    /// allowing `169.254.0.0/16` or `fd00::/8` for an internal network does not open it.
    pub fn check(&self, ip: IpAddr) -> Result<(), TargetRefused> {
        let Some(reason) = non_public_reason(ip) else {
            return Ok(());
        };
        let single_address_only = reason == CLOUD_METADATA;
        if self.allow_private || self.in_allowed_range(ip, single_address_only) {
            return Ok(());
        }
        Err(TargetRefused {
            address: ip,
            reason,
        })
    }

    fn in_allowed_range(&self, ip: IpAddr, single_address_only: bool) -> bool {
        let mapped = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allowed
            .iter()
            .filter(|range| !single_address_only || range.is_single_address())
            .any(|range| range.contains(ip) || mapped.is_some_and(|v4| range.contains(v4)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn loopback_ranges() -> TargetPolicy {
        TargetPolicy::new(
            false,
            vec![
                Cidr::parse("127.0.0.0/8").unwrap(),
                Cidr::parse("::1/128").unwrap(),
            ],
        )
    }

    #[test]
    fn metadata_addresses_need_a_range_of_exactly_that_address() {
        let wide = TargetPolicy::new(
            false,
            vec![
                Cidr::parse("169.254.0.0/16").unwrap(),
                Cidr::parse("fd00::/8").unwrap(),
            ],
        );
        assert_eq!(wide.check(ip("169.254.1.1")), Ok(()));
        assert_eq!(wide.check(ip("fd00::1")), Ok(()));
        for metadata in ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254"] {
            let refused = wide.check(ip(metadata)).unwrap_err();
            assert_eq!(refused.reason(), "cloud metadata address", "{metadata}");
        }
        let exact = TargetPolicy::new(false, vec![Cidr::parse("169.254.169.254/32").unwrap()]);
        assert_eq!(exact.check(ip("169.254.169.254")), Ok(()));
        assert!(TargetPolicy::new(true, Vec::new())
            .check(ip("fd00:ec2::254"))
            .is_ok());
    }

    #[test]
    fn public_only_refuses_internal_addresses_with_the_reason() {
        let policy = TargetPolicy::public_only();
        assert_eq!(policy.check(ip("8.8.8.8")), Ok(()));
        let refused = policy.check(ip("127.0.0.1")).unwrap_err();
        assert_eq!(refused.reason(), "loopback address");
        assert_eq!(refused.address(), ip("127.0.0.1"));
        assert_eq!(
            refused.to_string(),
            "url target is not allowed: loopback address"
        );
    }

    #[test]
    fn allowed_ranges_let_their_addresses_through_and_nothing_else() {
        let policy = loopback_ranges();
        assert_eq!(policy.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(policy.check(ip("127.9.9.9")), Ok(()));
        assert_eq!(policy.check(ip("::1")), Ok(()));
        assert!(policy.check(ip("10.0.0.1")).is_err());
        assert!(policy.check(ip("169.254.169.254")).is_err());
        assert!(policy.check(ip("::")).is_err());
    }

    #[test]
    fn a_mapped_address_is_allowed_by_its_ipv4_range_but_other_encodings_are_not() {
        let policy = loopback_ranges();
        assert_eq!(policy.check(ip("::ffff:127.0.0.1")), Ok(()));
        assert!(policy.check(ip("64:ff9b::127.0.0.1")).is_err());
        assert!(policy.check(ip("2002:7f00:1::1")).is_err());
        assert!(policy.check(ip("::127.0.0.1")).is_err());
    }

    #[test]
    fn allow_private_allows_every_address() {
        let policy = TargetPolicy::new(true, Vec::new());
        for text in ["127.0.0.1", "::1", "169.254.169.254", "10.0.0.1", "8.8.8.8"] {
            assert_eq!(policy.check(ip(text)), Ok(()), "{text}");
        }
    }
}
