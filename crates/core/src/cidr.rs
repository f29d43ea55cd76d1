//! IP address ranges in CIDR notation (`10.0.0.0/8`, `fd00::/8`), as the operator allows them.
//!
//! A range written with host bits set (`10.1.2.3/8`) is refused rather than silently widened to
//! `10.0.0.0/8`: in an allow-list of an SSRF guard, a range larger than the operator thought is
//! the one mistake that must not pass quietly, so the error names the range they may have meant.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A range of IP addresses: a network address and a prefix length, host bits all zero.
///
/// An IPv4 range holds only IPv4 addresses and an IPv6 range only IPv6 addresses;
/// `::ffff:10.0.0.1` is not in `10.0.0.0/8` (see `TargetPolicy` for where that matters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// Why a text is not a CIDR range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CidrError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    #[error("invalid CIDR range {text:?}: {address:?} is not an IP address (expected e.g. 10.0.0.0/8, fd00::/8 or 192.0.2.7)")]
    InvalidAddress {
        /// The whole text.
        text: String,
        /// The address part.
        address: String,
    },
    /// The prefix length is not a number from 0 to 32 (IPv4) or 128 (IPv6).
    #[error("invalid CIDR range {text:?}: the prefix length must be a number from 0 to {max}")]
    InvalidPrefix {
        /// The whole text.
        text: String,
        /// 32 or 128.
        max: u8,
    },
    /// Bits below the prefix are set, so the range is not what it seems.
    #[error("invalid CIDR range {text:?}: host bits are set (did you mean {suggestion}?)")]
    HostBitsSet {
        /// The whole text.
        text: String,
        /// The range with the host bits cleared.
        suggestion: Cidr,
    },
}

impl Cidr {
    /// The range of `prefix` leading bits of `network`; host bits must be zero.
    pub fn new(network: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let text = || format!("{network}/{prefix}");
        let max = max_prefix(network);
        if prefix > max {
            return Err(CidrError::InvalidPrefix { text: text(), max });
        }
        let cidr = Self::truncating(network, prefix);
        if cidr.network != network {
            return Err(CidrError::HostBitsSet {
                text: text(),
                suggestion: cidr,
            });
        }
        Ok(cidr)
    }

    /// The one address `ip` (`/32` or `/128`).
    pub fn host(ip: IpAddr) -> Self {
        Self {
            network: ip,
            prefix: max_prefix(ip),
        }
    }

    /// Parses `ADDRESS/PREFIX` or a bare `ADDRESS` (one address: `/32` or `/128`). Surrounding
    /// whitespace is ignored; IPv6 addresses may be written in brackets.
    pub fn parse(text: &str) -> Result<Self, CidrError> {
        let trimmed = text.trim();
        let (address, prefix) = match trimmed.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (trimmed, None),
        };
        let bare = address
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(address);
        let network: IpAddr = bare.parse().map_err(|_| CidrError::InvalidAddress {
            text: text.to_owned(),
            address: address.to_owned(),
        })?;
        let max = max_prefix(network);
        let prefix = match prefix {
            None => max,
            // Digits only: `u8::from_str` would also take `+8`.
            Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                digits
                    .parse::<u8>()
                    .ok()
                    .filter(|prefix| *prefix <= max)
                    .ok_or_else(|| CidrError::InvalidPrefix {
                        text: text.to_owned(),
                        max,
                    })?
            }
            Some(_) => {
                return Err(CidrError::InvalidPrefix {
                    text: text.to_owned(),
                    max,
                })
            }
        };
        Self::new(network, prefix).map_err(|error| match error {
            CidrError::HostBitsSet { suggestion, .. } => CidrError::HostBitsSet {
                text: text.to_owned(),
                suggestion,
            },
            other => other,
        })
    }

    /// The network address (host bits zero).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether the range is one address (`/32` for IPv4, `/128` for IPv6).
    pub fn is_single_address(&self) -> bool {
        let full = if self.network.is_ipv4() { 32 } else { 128 };
        self.prefix == full
    }

    /// Whether `ip` is in the range. Addresses of the other family never are.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(ip) & mask == u32::from(network)
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(ip) & mask == u128::from(network)
            }
            _ => false,
        }
    }

    /// `network` with the bits below `prefix` cleared; `prefix` must not exceed the family's.
    fn truncating(network: IpAddr, prefix: u8) -> Self {
        let network = match network {
            IpAddr::V4(ip) => IpAddr::V4((u32::from(ip) & mask32(prefix)).into()),
            IpAddr::V6(ip) => IpAddr::V6((u128::from(ip) & mask128(prefix)).into()),
        };
        Self { network, prefix }
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Cidr {
    /// Always with the prefix: `10.0.0.0/8`, `::1/128`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> Cidr {
        Cidr::parse(text).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ranges_and_bare_addresses_parse() {
        assert_eq!(cidr("10.0.0.0/8").to_string(), "10.0.0.0/8");
        assert_eq!(cidr("::1/128").to_string(), "::1/128");
        assert_eq!(cidr("127.0.0.1").to_string(), "127.0.0.1/32");
        assert_eq!(cidr("fd00::").to_string(), "fd00::/128");
        assert_eq!(cidr("[fd00::]/8").to_string(), "fd00::/8");
        assert_eq!(cidr(" 0.0.0.0/0 ").to_string(), "0.0.0.0/0");
        assert_eq!(cidr("::/0").to_string(), "::/0");
    }

    #[test]
    fn contains_checks_the_prefix_bits_of_the_same_family() {
        let private = cidr("10.0.0.0/8");
        assert!(private.contains(ip("10.255.0.1")));
        assert!(!private.contains(ip("11.0.0.0")));
        assert!(!private.contains(ip("::ffff:10.0.0.1")));
        let everything = cidr("0.0.0.0/0");
        assert!(everything.contains(ip("255.255.255.255")));
        assert!(!everything.contains(ip("::1")));
        let ula = cidr("fc00::/7");
        assert!(ula.contains(ip("fdff::1")));
        assert!(!ula.contains(ip("fe00::1")));
        assert!(cidr("::1").contains(ip("::1")));
        assert!(!cidr("::1").contains(ip("::2")));
    }

    #[test]
    fn host_bits_are_an_error_that_suggests_the_network() {
        let error = Cidr::parse("10.1.2.3/8").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid CIDR range \"10.1.2.3/8\": host bits are set (did you mean 10.0.0.0/8?)"
        );
        assert!(Cidr::parse("fd00::1/8").is_err());
    }

    #[test]
    fn bad_texts_are_refused_with_a_clear_error() {
        for (text, message) in [
            ("", "\"\" is not an IP address"),
            ("10.0.0.0/", "prefix length must be a number from 0 to 32"),
            ("10.0.0.0/33", "prefix length must be a number from 0 to 32"),
            ("10.0.0.0/+8", "prefix length must be a number from 0 to 32"),
            (
                "10.0.0.0/8/8",
                "prefix length must be a number from 0 to 32",
            ),
            ("::/129", "prefix length must be a number from 0 to 128"),
            ("10.0.0/8", "\"10.0.0\" is not an IP address"),
            ("localhost", "\"localhost\" is not an IP address"),
            ("0x7f.0.0.1", "is not an IP address"),
        ] {
            let error = Cidr::parse(text).unwrap_err().to_string();
            assert!(error.contains(message), "{text:?}: {error}");
        }
    }
}
