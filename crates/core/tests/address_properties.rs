//! Properties of the SSRF guard's address classifier, CIDR ranges and target policy.
//!
//! The classifier is checked against a reference written differently: plain tables of CIDR
//! ranges (from the IANA special-purpose registries), searched in order. Addresses are drawn both
//! uniformly and from inside each listed range, edges included, so small ranges are exercised.

use optout_core::address::{non_public_reason, CLOUD_METADATA};
use optout_core::{Cidr, TargetPolicy};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Refused IPv4 ranges and their reasons; the first range holding an address gives its reason.
const V4_REFUSED: &[(&str, &str)] = &[
    ("169.254.169.254/32", "cloud metadata address"),
    ("0.0.0.0/32", "unspecified address"),
    ("255.255.255.255/32", "broadcast address"),
    ("0.0.0.0/8", "this-network address"),
    ("10.0.0.0/8", "private address"),
    ("100.64.0.0/10", "shared (CGNAT) address"),
    ("127.0.0.0/8", "loopback address"),
    ("169.254.0.0/16", "link-local address"),
    ("172.16.0.0/12", "private address"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation address"),
    ("192.88.99.0/24", "6to4 relay anycast address"),
    ("192.168.0.0/16", "private address"),
    ("198.18.0.0/15", "benchmarking address"),
    ("198.51.100.0/24", "documentation address"),
    ("203.0.113.0/24", "documentation address"),
    ("224.0.0.0/4", "multicast address"),
    ("240.0.0.0/4", "reserved address"),
];

/// Refused IPv6 ranges that carry no IPv4 address, and their reasons, searched in order.
const V6_REFUSED: &[(&str, &str)] = &[
    ("::/128", "unspecified address"),
    ("::1/128", "loopback address"),
    ("fd00:ec2::254/128", "cloud metadata address"),
    ("64:ff9b:1::/48", "local-use NAT64 address"),
    ("2001:db8::/32", "documentation address"),
    ("2001::/32", "Teredo address"),
    ("2001::/23", "IETF protocol assignment"),
    ("3fff::/20", "documentation address"),
    ("100::/64", "discard-only address"),
    ("fc00::/7", "unique local address"),
    ("fe80::/10", "link-local address"),
    ("fec0::/10", "site-local address"),
    ("ff00::/8", "multicast address"),
];

/// IPv6 ranges that embed an IPv4 address, and where: the bit offset of its 32 bits from the
/// low end.
const V6_EMBEDDING: &[(&str, u32)] = &[
    ("::ffff:0:0/96", 0),   // IPv4-mapped
    ("::ffff:0:0:0/96", 0), // IPv4-translated (RFC 2765)
    ("::/96", 0),           // IPv4-compatible
    ("64:ff9b::/96", 0),    // well-known NAT64 prefix
    ("2002::/16", 80),      // 6to4
];

/// The only IPv6 space that can hold public unicast addresses.
const V6_GLOBAL_UNICAST: &str = "2000::/3";

fn cidr(text: &str) -> Cidr {
    Cidr::parse(text).expect("reference range parses")
}

fn v4_reference(ip: Ipv4Addr) -> Option<&'static str> {
    V4_REFUSED
        .iter()
        .find(|(range, _)| cidr(range).contains(IpAddr::V4(ip)))
        .map(|(_, reason)| *reason)
}

fn v6_reference(ip: Ipv6Addr) -> Option<&'static str> {
    let address = IpAddr::V6(ip);
    // The three single addresses come first: `::` and `::1` also sit inside `::/96`.
    if let Some((_, reason)) = V6_REFUSED[..3]
        .iter()
        .find(|(range, _)| cidr(range).contains(address))
    {
        return Some(reason);
    }
    if let Some((_, offset)) = V6_EMBEDDING
        .iter()
        .find(|(range, _)| cidr(range).contains(address))
    {
        let v4 = Ipv4Addr::from((u128::from(ip) >> offset) as u32);
        return Some(v4_reference(v4).unwrap_or("IPv6 encoding of an IPv4 address"));
    }
    if let Some((_, reason)) = V6_REFUSED[3..]
        .iter()
        .find(|(range, _)| cidr(range).contains(address))
    {
        return Some(reason);
    }
    if cidr(V6_GLOBAL_UNICAST).contains(address) {
        None
    } else {
        Some("reserved address")
    }
}

/// An address inside `range`: its network, its last address, or random host bits.
fn v4_in(range: &str, pick: u8, bits: u32) -> Ipv4Addr {
    let range = cidr(range);
    let IpAddr::V4(network) = range.network() else {
        unreachable!("IPv4 range")
    };
    let host_mask = u32::MAX.checked_shr(u32::from(range.prefix())).unwrap_or(0);
    let host = match pick % 4 {
        0 => 0,
        1 => host_mask,
        _ => bits & host_mask,
    };
    Ipv4Addr::from(u32::from(network) | host)
}

fn v6_in(range: &str, pick: u8, bits: u128) -> Ipv6Addr {
    let range = cidr(range);
    let IpAddr::V6(network) = range.network() else {
        unreachable!("IPv6 range")
    };
    let host_mask = u128::MAX
        .checked_shr(u32::from(range.prefix()))
        .unwrap_or(0);
    let host = match pick % 4 {
        0 => 0,
        1 => host_mask,
        _ => bits & host_mask,
    };
    Ipv6Addr::from(u128::from(network) | host)
}

fn any_v4() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        any::<u32>().prop_map(Ipv4Addr::from),
        (0..V4_REFUSED.len(), any::<u8>(), any::<u32>()).prop_map(|(index, pick, bits)| v4_in(
            V4_REFUSED[index].0,
            pick,
            bits
        )),
    ]
}

fn any_v6() -> impl Strategy<Value = Ipv6Addr> {
    let ranges: Vec<&'static str> = V6_REFUSED
        .iter()
        .map(|(range, _)| *range)
        .chain(V6_EMBEDDING.iter().map(|(range, _)| *range))
        .chain([
            V6_GLOBAL_UNICAST,
            "fe00::/9",
            "2001:200::/23",
            "3fff:1000::/20",
        ])
        .collect();
    prop_oneof![
        any::<u128>().prop_map(Ipv6Addr::from),
        (0..ranges.len(), any::<u8>(), any::<u128>()).prop_map(move |(index, pick, bits)| v6_in(
            ranges[index],
            pick,
            bits
        )),
    ]
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any_v4().prop_map(IpAddr::V4), any_v6().prop_map(IpAddr::V6)]
}

fn any_cidr() -> impl Strategy<Value = Cidr> {
    prop_oneof![
        (any::<u32>(), 0..=32u8).prop_map(|(bits, prefix)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            Cidr::new(IpAddr::V4(Ipv4Addr::from(bits & mask)), prefix).expect("host bits cleared")
        }),
        (any::<u128>(), 0..=128u8).prop_map(|(bits, prefix)| {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            Cidr::new(IpAddr::V6(Ipv6Addr::from(bits & mask)), prefix).expect("host bits cleared")
        }),
    ]
}

/// The IPv6 encodings of `v4` that the classifier must see through.
fn encodings(v4: Ipv4Addr) -> [Ipv6Addr; 5] {
    let bits = u128::from(u32::from(v4));
    [
        v4.to_ipv6_mapped(),
        Ipv6Addr::from(0xffff_0000_0000 | bits),
        v4.to_ipv6_compatible(),
        Ipv6Addr::from((0x0064_ff9b_u128 << 96) | bits),
        Ipv6Addr::from((0x2002_u128 << 112) | (bits << 80) | 1),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn the_ipv4_classifier_agrees_with_the_reference_ranges(ip in any_v4()) {
        prop_assert_eq!(non_public_reason(IpAddr::V4(ip)), v4_reference(ip), "{}", ip);
    }

    #[test]
    fn the_ipv6_classifier_agrees_with_the_reference_ranges(ip in any_v6()) {
        prop_assert_eq!(non_public_reason(IpAddr::V6(ip)), v6_reference(ip), "{}", ip);
    }

    #[test]
    fn every_address_of_a_refused_ipv4_range_is_refused(
        index in 0..V4_REFUSED.len(), pick in any::<u8>(), bits in any::<u32>(),
    ) {
        let ip = v4_in(V4_REFUSED[index].0, pick, bits);
        prop_assert!(non_public_reason(IpAddr::V4(ip)).is_some(), "{}", ip);
    }

    #[test]
    fn every_ipv6_encoding_of_an_ipv4_address_is_refused_for_the_same_reason(ip in any_v4()) {
        let expected = non_public_reason(IpAddr::V4(ip)).unwrap_or("IPv6 encoding of an IPv4 address");
        for encoded in encodings(ip) {
            // `::` and `::1` are compatible encodings of 0.0.0.0 and 0.0.0.1 with reasons of their own.
            if encoded.is_unspecified() || encoded.is_loopback() {
                continue;
            }
            prop_assert_eq!(non_public_reason(IpAddr::V6(encoded)), Some(expected), "{}", encoded);
        }
    }

    #[test]
    fn a_public_only_policy_allows_exactly_the_public_addresses(ip in any_ip()) {
        let verdict = TargetPolicy::public_only().check(ip);
        match non_public_reason(ip) {
            None => prop_assert!(verdict.is_ok()),
            Some(reason) => {
                let refused = verdict.expect_err("a non-public address is refused");
                prop_assert_eq!(refused.reason(), reason);
                prop_assert_eq!(refused.to_string(), format!("url target is not allowed: {reason}"));
            }
        }
    }

    #[test]
    fn an_allowed_range_lets_its_addresses_and_their_mapped_forms_through(
        range in any_cidr(), ip in any_ip(),
    ) {
        let policy = TargetPolicy::new(false, vec![range]);
        let mapped_v4 = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        let reason = non_public_reason(ip);
        // Cloud metadata addresses pass only a range of exactly that one address.
        let range_applies = reason != Some(CLOUD_METADATA) || range.is_single_address();
        let expected = reason.is_none()
            || (range_applies
                && (range.contains(ip) || mapped_v4.is_some_and(|v4| range.contains(v4))));
        prop_assert_eq!(policy.check(ip).is_ok(), expected, "{} in {}", ip, range);
    }

    #[test]
    fn a_cidr_range_round_trips_through_its_text(range in any_cidr()) {
        prop_assert_eq!(Cidr::parse(&range.to_string()), Ok(range));
    }

    #[test]
    fn a_cidr_range_holds_exactly_the_addresses_sharing_its_prefix(range in any_cidr(), ip in any_ip()) {
        let expected = match (range.network(), ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let shift = 32 - u32::from(range.prefix());
                u32::from(network).checked_shr(shift).unwrap_or(0)
                    == u32::from(ip).checked_shr(shift).unwrap_or(0)
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let shift = 128 - u32::from(range.prefix());
                u128::from(network).checked_shr(shift).unwrap_or(0)
                    == u128::from(ip).checked_shr(shift).unwrap_or(0)
            }
            _ => false,
        };
        prop_assert_eq!(range.contains(ip), expected);
        prop_assert!(range.contains(range.network()));
    }

    #[test]
    fn a_bare_address_is_a_range_of_one(ip in any_ip(), other in any_ip()) {
        let range = Cidr::parse(&ip.to_string()).expect("a bare address parses");
        prop_assert_eq!(range, Cidr::host(ip));
        prop_assert!(range.contains(ip));
        prop_assert_eq!(range.contains(other), other == ip);
    }

    #[test]
    fn a_range_with_host_bits_set_is_refused_with_the_network_suggested(
        range in any_cidr(), bits in any::<u128>(),
    ) {
        let widest = match range.network() { IpAddr::V4(_) => 32, IpAddr::V6(_) => 128 };
        prop_assume!(range.prefix() < widest);
        let with_host_bits = match range.network() {
            IpAddr::V4(network) => {
                let host_mask = u32::MAX.checked_shr(u32::from(range.prefix())).unwrap_or(0);
                let host = (bits as u32 & host_mask).max(1);
                IpAddr::V4(Ipv4Addr::from(u32::from(network) | host))
            }
            IpAddr::V6(network) => {
                let host_mask = u128::MAX.checked_shr(u32::from(range.prefix())).unwrap_or(0);
                let host = (bits & host_mask).max(1);
                IpAddr::V6(Ipv6Addr::from(u128::from(network) | host))
            }
        };
        let text = format!("{with_host_bits}/{}", range.prefix());
        let error = Cidr::parse(&text).expect_err("host bits are refused").to_string();
        prop_assert!(error.contains(&format!("did you mean {range}?")), "{}", error);
    }
}
