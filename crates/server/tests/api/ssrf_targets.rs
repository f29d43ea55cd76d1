//! The SSRF guard's table of webhook targets: URLs and whether a public-only policy allows them.
//!
//! Every refused URL that spells a loopback address points at the port of a receiver the test
//! runs on 127.0.0.1, so a guard that let one through would show as a request there. The other
//! refused URLs are never dialled by a working guard. Allowed URLs are public IP literals: the
//! guard checks them without DNS, and the tests never send anything to them.

/// What a public-only guard does with a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Refused with `url target is not allowed: <reason>`.
    Refused(&'static str),
    /// Allowed.
    Allowed,
}

/// A webhook URL and its verdict.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub verdict: Verdict,
}

impl Target {
    /// The error the guard gives for a refused target.
    pub fn refusal(&self) -> String {
        match self.verdict {
            Verdict::Refused(reason) => format!("url target is not allowed: {reason}"),
            Verdict::Allowed => panic!("{} is allowed", self.url),
        }
    }
}

const LOOPBACK: Verdict = Verdict::Refused("loopback address");

/// Hosts that spell a loopback address: in a URL with the receiver's port they reach it unless
/// the guard refuses them. The last one reaches a receiver on `[::1]` instead.
pub const LOOPBACK_SPELLINGS: &[&str] = &[
    "127.0.0.1",
    "2130706433",
    "127.1",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "localhost",
    "[::ffff:127.0.0.1]",
    "[::1]",
];

/// Every target of the table; loopback ones on `port`.
pub fn targets(port: u16) -> Vec<Target> {
    let on_port = |host: &str, verdict: Verdict| Target {
        url: format!("http://{host}:{port}/webhook"),
        verdict,
    };
    let plain = |url: &str, verdict: Verdict| Target {
        url: url.to_owned(),
        verdict,
    };
    let refused = |reason: &'static str| Verdict::Refused(reason);
    let mut table: Vec<Target> = [
        // Loopback, in every spelling the URL parser turns into 127.0.0.1 or an IPv6 form.
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f000001",
        "0x7f.0.0.1",
        "0x7f.1",
        "0177.0.0.1",
        "017700000001",
        "127.0.0.1.",
        "%31%32%37.0.0.1",
        "\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}",
        "127.255.255.254",
        "localhost",
        "LocalHost",
        "[::1]",
        "[0:0:0:0:0:0:0:1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[0:0:0:0:0:ffff:127.0.0.1]",
        "[::ffff:0:127.0.0.1]",
        "[::127.0.0.1]",
        "[64:ff9b::127.0.0.1]",
        "[2002:7f00:1::1]",
    ]
    .into_iter()
    .map(|host| on_port(host, LOOPBACK))
    .collect();
    table.extend([
        on_port("0.0.0.0", refused("unspecified address")),
        on_port("0", refused("unspecified address")),
        on_port("[::]", refused("unspecified address")),
        plain("http://0.1.2.3/", refused("this-network address")),
        plain("http://10.0.0.1/", refused("private address")),
        plain("http://10.255.255.255:8080/", refused("private address")),
        plain("http://172.16.0.1/", refused("private address")),
        plain("http://172.31.255.254/", refused("private address")),
        plain("http://192.168.0.1/", refused("private address")),
        plain("http://3232235521/", refused("private address")),
        plain("http://0xc0.0xa8.0.1/", refused("private address")),
        plain("http://[::ffff:10.0.0.1]/", refused("private address")),
        plain("http://[2002:c0a8:1::1]/", refused("private address")),
        plain("http://[fd00::1]/", refused("unique local address")),
        plain("http://[fc00::1]/", refused("unique local address")),
        plain(
            "http://169.254.169.254/latest/meta-data/",
            refused("cloud metadata address"),
        ),
        plain("http://2852039166/", refused("cloud metadata address")),
        plain("http://0xa9fea9fe/", refused("cloud metadata address")),
        plain(
            "http://0251.0376.0251.0376/",
            refused("cloud metadata address"),
        ),
        plain("http://[fd00:ec2::254]/", refused("cloud metadata address")),
        plain(
            "http://[::ffff:169.254.169.254]/",
            refused("cloud metadata address"),
        ),
        plain(
            "http://[64:ff9b::a9fe:a9fe]/",
            refused("cloud metadata address"),
        ),
        plain("http://169.254.1.1/", refused("link-local address")),
        plain("http://[fe80::1]/", refused("link-local address")),
        plain("http://100.64.0.1/", refused("shared (CGNAT) address")),
        plain("http://100.100.100.200/", refused("shared (CGNAT) address")),
        plain("http://224.0.0.1/", refused("multicast address")),
        plain("http://239.255.255.250/", refused("multicast address")),
        plain("http://[ff02::1]/", refused("multicast address")),
        plain("http://240.0.0.1/", refused("reserved address")),
        plain("http://255.255.255.255/", refused("broadcast address")),
        plain("http://192.0.2.1/", refused("documentation address")),
        plain("http://198.51.100.7/", refused("documentation address")),
        plain("http://203.0.113.9/", refused("documentation address")),
        plain("http://[2001:db8::1]/", refused("documentation address")),
        plain("http://[3fff::1]/", refused("documentation address")),
        plain("http://198.18.0.1/", refused("benchmarking address")),
        plain("http://192.0.0.192/", refused("IETF protocol assignment")),
        plain("http://192.88.99.1/", refused("6to4 relay anycast address")),
        plain(
            "http://[64:ff9b:1::a00:1]/",
            refused("local-use NAT64 address"),
        ),
        plain("http://[2001::1]/", refused("Teredo address")),
        plain("http://[2001:2::1]/", refused("IETF protocol assignment")),
        plain("http://[100::1]/", refused("discard-only address")),
        plain("http://[fec0::1]/", refused("site-local address")),
        plain("http://[fe00::1]/", refused("reserved address")),
        plain(
            "http://[::ffff:8.8.8.8]/",
            refused("IPv6 encoding of an IPv4 address"),
        ),
        plain("https://127.0.0.1/webhook", LOOPBACK),
        // Public addresses, in plain and odd spellings, and the first addresses past the edges
        // of refused ranges.
        plain("http://8.8.8.8/", Verdict::Allowed),
        plain("https://1.1.1.1:8443/hook", Verdict::Allowed),
        plain("http://134744072/", Verdict::Allowed),
        plain("http://93.184.216.34/", Verdict::Allowed),
        plain("http://[2606:4700:4700::1111]/", Verdict::Allowed),
        plain("http://[2001:4860:4860::8888]/", Verdict::Allowed),
        plain("http://[2001:200::1]/", Verdict::Allowed),
        plain("http://[3fff:1000::1]/", Verdict::Allowed),
        plain("http://100.128.0.1/", Verdict::Allowed),
        plain("http://172.32.0.1/", Verdict::Allowed),
        plain("http://198.20.0.1/", Verdict::Allowed),
        plain("http://223.255.255.255/", Verdict::Allowed),
        plain("http://11.0.0.0/", Verdict::Allowed),
    ]);
    table
}

/// The refused targets of the table.
pub fn refused_targets(port: u16) -> Vec<Target> {
    targets(port)
        .into_iter()
        .filter(|target| target.verdict != Verdict::Allowed)
        .collect()
}
