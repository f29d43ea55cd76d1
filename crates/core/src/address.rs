//! Classification of IP addresses for the SSRF guard: which targets a webhook may reach.
//!
//! A webhook URL is chosen by a customer, so the server must not be talked into calling its own
//! network. Every address the guard would dial is classified here; embedded IPv4 addresses inside
//! IPv6 encodings (mapped, translated, compatible, NAT64, 6to4) are classified as the IPv4 address
//! they carry, and such an encoding of a public IPv4 address is refused too: a receiver has no
//! reason to publish one, and the IPv4 address itself can be used instead.
//!
//! The ranges follow the IANA IPv4 and IPv6 special-purpose address registries. IPv6 is judged
//! by allow-list: only global unicast space (`2000::/3`) can be public, so unassigned space
//! (`fe00::/9`, `4000::/3`, ...) is refused without being listed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The instance metadata service of EC2 over IPv6 (the IPv4 one is 169.254.169.254).
const AWS_METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);
/// The instance metadata service of most clouds (AWS, GCP, Azure, OpenStack, ...).
const CLOUD_METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// The reason given for a cloud metadata service address: only `--allow-private-targets` or an
/// allowed range naming that one address lets it through, never a wider range around it.
pub const CLOUD_METADATA: &str = "cloud metadata address";

/// Why an address is not a public unicast target, or `None` if it is one.
pub fn non_public_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    if ip == CLOUD_METADATA_V4 {
        return Some(CLOUD_METADATA);
    }
    if ip.is_unspecified() {
        return Some("unspecified address");
    }
    if ip.is_broadcast() {
        return Some("broadcast address");
    }
    let [a, b, c, _] = ip.octets();
    let reason = match (a, b, c) {
        (0, _, _) => "this-network address",
        (10, _, _) => "private address",
        (100, 64..=127, _) => "shared (CGNAT) address",
        (127, _, _) => "loopback address",
        (169, 254, _) => "link-local address",
        (172, 16..=31, _) => "private address",
        // Also holds Oracle Cloud's metadata service, 192.0.0.192.
        (192, 0, 0) => "IETF protocol assignment",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation address",
        (192, 88, 99) => "6to4 relay anycast address",
        (192, 168, _) => "private address",
        (198, 18..=19, _) => "benchmarking address",
        (224..=239, _, _) => "multicast address",
        (240..=255, _, _) => "reserved address",
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
    if ip == AWS_METADATA_V6 {
        return Some(CLOUD_METADATA);
    }
    if let Some(v4) = embedded_v4(ip) {
        return v4_reason(v4).or(Some("IPv6 encoding of an IPv4 address"));
    }
    let reason = match ip.segments() {
        // Local-use NAT64 (RFC 8215): where the IPv4 address sits depends on the local prefix
        // length, so it cannot be read back; the range is not global anyway.
        [0x64, 0xff9b, 1, ..] => "local-use NAT64 address",
        [0x2001, 0x0db8, ..] => "documentation address",
        [0x2001, 0x0000, ..] => "Teredo address",
        [0x2001, 0x0000..=0x01ff, ..] => "IETF protocol assignment",
        [0x3fff, 0x0000..=0x0fff, ..] => "documentation address",
        [0x2000..=0x3fff, ..] => return None,
        [0x0100, 0, 0, 0, ..] => "discard-only address",
        [0xfc00..=0xfdff, ..] => "unique local address",
        [0xfe80..=0xfebf, ..] => "link-local address",
        [0xfec0..=0xfeff, ..] => "site-local address",
        [0xff00..=0xffff, ..] => "multicast address",
        _ => "reserved address",
    };
    Some(reason)
}

/// The IPv4 address carried by an IPv4-mapped, IPv4-translated, IPv4-compatible, well-known
/// NAT64 or 6to4 IPv6 address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    match s {
        // ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated, RFC 2765) and ::a.b.c.d
        // (compatible, deprecated).
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0xffff, 0, hi, lo]
        | [0, 0, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        // 64:ff9b::a.b.c.d (well-known NAT64, RFC 6052).
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
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

    #[test]
    fn each_range_is_named_by_its_reason() {
        for (ip, expected) in [
            ("0.0.0.0", "unspecified address"),
            ("0.1.2.3", "this-network address"),
            ("127.255.255.254", "loopback address"),
            ("169.254.169.254", "cloud metadata address"),
            ("169.254.0.1", "link-local address"),
            ("100.100.100.200", "shared (CGNAT) address"),
            ("192.0.0.192", "IETF protocol assignment"),
            ("192.88.99.1", "6to4 relay anycast address"),
            ("198.19.255.255", "benchmarking address"),
            ("239.255.255.250", "multicast address"),
            ("240.0.0.1", "reserved address"),
            ("255.255.255.255", "broadcast address"),
            ("::", "unspecified address"),
            ("::1", "loopback address"),
            ("fd00:ec2::254", "cloud metadata address"),
            ("::ffff:169.254.169.254", "cloud metadata address"),
            ("::ffff:0:10.0.0.1", "private address"),
            ("::10.0.0.1", "private address"),
            ("64:ff9b::127.0.0.1", "loopback address"),
            ("64:ff9b:1::8.8.8.8", "local-use NAT64 address"),
            ("2002:c0a8:0101::1", "private address"),
            ("2002:0808:0808::1", "IPv6 encoding of an IPv4 address"),
            ("100::1", "discard-only address"),
            ("100:0:0:1::1", "reserved address"),
            ("2001::1", "Teredo address"),
            ("2001:1ff::1", "IETF protocol assignment"),
            ("2001:200::1", "public"),
            ("2001:db8::1", "documentation address"),
            ("3fff:fff::1", "documentation address"),
            ("3fff:1000::1", "public"),
            ("fc00::1", "unique local address"),
            ("fe00::1", "reserved address"),
            ("febf::1", "link-local address"),
            ("fec0::1", "site-local address"),
            ("ff0e::1", "multicast address"),
            ("4000::1", "reserved address"),
            ("5f00::1", "reserved address"),
        ] {
            assert_eq!(reason(ip).unwrap_or("public"), expected, "{ip}");
        }
    }
}
