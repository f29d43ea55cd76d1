//! Classification of IP addresses for the SSRF guard: which targets a webhook may reach.
//!
//! A webhook URL is chosen by a customer, so the server must not be talked into calling its own
//! network. Every address the guard would dial is classified here; embedded IPv4 addresses inside
//! IPv6 encodings (mapped, compatible, NAT64, 6to4) are classified as the IPv4 address they carry.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not a public unicast target, or `None` if it is one.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => "unspecified address",
        (10, _, _) => "private address",
        (100, 64..=127, _) => "shared (CGNAT) address",
        (127, _, _) => "loopback address",
        (169, 254, _) => "link-local or cloud metadata address",
        (172, 16..=31, _) => "private address",
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation address",
        (192, 88, 99) => "6to4 relay anycast address",
        (192, 168, _) => "private address",
        (198, 18..=19, _) => "benchmarking address",
        (224..=239, _, _) => "multicast address",
        (240..=255, _, _) => "reserved or broadcast address",
        _ => return None,
    };
    Some(reason)
}

fn v6_reason(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("unspecified address");
    }
    if ip.is_loopback() {
        return Some("loopback address");
    }
    if let Some(v4) = embedded_v4(ip) {
        return v4_reason(v4).or(Some("IPv6 encoding of an IPv4 address"));
    }
    let segments = ip.segments();
    let first = segments[0];
    let reason = match first {
        0xfc00..=0xfdff => "unique local address",
        0xfe80..=0xfebf => "link-local address",
        0xfec0..=0xfeff => "site-local address",
        0xff00..=0xffff => "multicast address",
        0x2001 if segments[1] == 0x0db8 => "documentation address",
        0x2001 if segments[1] == 0 => "Teredo address",
        0x2001 if segments[1] < 0x0200 => "IETF protocol assignment",
        0x3fff if segments[1] < 0x1000 => "documentation address",
        0x0100 if segments[1..4] == [0, 0, 0] => "discard-only address",
        0x0000..=0x00ff => "reserved address",
        _ => return None,
    };
    Some(reason)
}

/// The IPv4 address carried by an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(tail()),
        // 64:ff9b::a.b.c.d (well-known NAT64) and 64:ff9b:1::/48 (local-use NAT64).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(tail()),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> Option<&'static str> {
        non_public_reason(text.parse().unwrap())
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "2a00:1450:4001::1",
        ] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }

    #[test]
    fn internal_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:0001::1",
        ] {
            assert!(reason(ip).is_some(), "{ip} should be refused");
        }
    }

    #[test]
    fn mapped_public_address_is_still_refused_as_an_encoding() {
        assert_eq!(
            reason("::ffff:8.8.8.8"),
            Some("IPv6 encoding of an IPv4 address")
        );
    }
}
