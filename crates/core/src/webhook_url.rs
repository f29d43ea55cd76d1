//! Webhook URLs as accounts register them.

use std::fmt;
use url::Url;

/// Longest accepted URL, in characters (spec A3).
pub const MAX_URL_CHARS: usize = 2048;

/// What the server accepts beyond `https` URLs to public hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Accept `http://` URLs (development only).
    pub allow_insecure: bool,
}

/// An absolute `https` (or, when allowed, `http`) URL with a host and no credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    /// Parses a URL under `policy`, listing every problem found.
    pub fn parse(text: &str, policy: UrlPolicy) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        if text.chars().count() > MAX_URL_CHARS {
            problems.push(format!("url must be at most {MAX_URL_CHARS} characters"));
        }
        if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            problems.push("url must not contain whitespace or control characters".to_owned());
            return Err(problems);
        }
        let url = match Url::parse(text) {
            Ok(url) => url,
            Err(_) => {
                problems.push("url must be a valid absolute URL".to_owned());
                return Err(problems);
            }
        };
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_insecure => {}
            _ => problems.push("url must use https".to_owned()),
        }
        if url.host_str().is_none_or(str::is_empty) {
            problems.push("url must have a host".to_owned());
        }
        if !url.username().is_empty() || url.password().is_some() {
            problems.push("url must not contain credentials".to_owned());
        }
        if url.fragment().is_some() {
            problems.push("url must not contain a fragment".to_owned());
        }
        if problems.is_empty() {
            Ok(Self(url))
        } else {
            Err(problems)
        }
    }

    /// Wraps a URL read back from a store, where it was stored after validation. A row written
    /// around the API is checked again for what would change the request itself: a scheme other
    /// than `http`/`https`, no host, or credentials (which would go out as `Authorization`).
    pub fn from_stored(text: &str) -> Option<Self> {
        let url = Url::parse(text).ok()?;
        let sendable = matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.username().is_empty()
            && url.password().is_none();
        sendable.then_some(Self(url))
    }

    /// The parsed URL.
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_url_is_read_back_only_if_it_could_be_sent_as_validated() {
        assert!(WebhookUrl::from_stored("https://receiver.example/hook").is_some());
        assert!(WebhookUrl::from_stored("http://127.0.0.1:9000/hook").is_some());
        for stored in [
            "https://user:pass@receiver.example/hook",
            "https://user@receiver.example/hook",
            "ftp://receiver.example/hook",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(WebhookUrl::from_stored(stored).is_none(), "{stored}");
        }
    }

    const STRICT: UrlPolicy = UrlPolicy {
        allow_insecure: false,
    };
    const DEV: UrlPolicy = UrlPolicy {
        allow_insecure: true,
    };

    #[test]
    fn https_url_is_accepted() {
        let url = WebhookUrl::parse("https://example.com/webhook", STRICT).unwrap();
        assert_eq!(url.as_str(), "https://example.com/webhook");
    }

    #[test]
    fn http_needs_the_insecure_policy() {
        assert_eq!(
            WebhookUrl::parse("http://example.com/", STRICT).unwrap_err(),
            vec!["url must use https".to_owned()]
        );
        assert!(WebhookUrl::parse("http://example.com/", DEV).is_ok());
    }

    #[test]
    fn every_problem_is_listed() {
        let long = format!("http://user:pw@example.com/{}", "a".repeat(2048));
        let problems = WebhookUrl::parse(&long, STRICT).unwrap_err();
        assert_eq!(
            problems,
            vec![
                "url must be at most 2048 characters".to_owned(),
                "url must use https".to_owned(),
                "url must not contain credentials".to_owned(),
            ]
        );
    }

    #[test]
    fn relative_and_odd_urls_are_refused() {
        assert!(WebhookUrl::parse("/webhook", STRICT).is_err());
        assert!(WebhookUrl::parse("ftp://example.com/", DEV).is_err());
        assert!(WebhookUrl::parse("https://example.com/\r\nX: y", STRICT).is_err());
        assert!(WebhookUrl::parse("https://example.com/#frag", STRICT).is_err());
    }

    /// The SSRF guard classifies the parsed host, so every odd spelling of an IPv4 address must
    /// reach it as the address itself, never as a name to resolve. The WHATWG parser behind
    /// `url` does that for http(s) URLs.
    #[test]
    fn numeric_host_spellings_are_normalised_to_the_address() {
        use std::net::{Ipv4Addr, Ipv6Addr};
        use url::Host;

        let loopback = Host::Ipv4(Ipv4Addr::new(127, 0, 0, 1));
        for host in [
            "127.0.0.1",
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "0x7f.1",
            "0x7F.0.0.1",
            "127.1",
            "127.0.1",
            "0177.1",
            "017700000001",
            "127.0.0.1.",
            "%31%32%37.0.0.1",
            "\u{ff11}\u{ff12}\u{ff17}.0.0.1",
            "127\u{3002}0\u{3002}0\u{3002}1",
        ] {
            let url = WebhookUrl::parse(&format!("https://{host}:8443/hook"), STRICT).unwrap();
            assert_eq!(url.as_url().host(), Some(loopback.clone()), "{host}");
            assert_eq!(url.as_str(), "https://127.0.0.1:8443/hook", "{host}");
        }
        for (host, expected) in [
            ("0", [0, 0, 0, 0]),
            ("0x0", [0, 0, 0, 0]),
            ("0xA9FEA9FE", [169, 254, 169, 254]),
        ] {
            let url = WebhookUrl::parse(&format!("https://{host}/"), STRICT).unwrap();
            assert_eq!(
                url.as_url().host(),
                Some(Host::Ipv4(expected.into())),
                "{host}"
            );
        }
        let mapped = WebhookUrl::parse("https://[0:0:0:0:0:ffff:7f00:1]/", STRICT).unwrap();
        assert_eq!(
            mapped.as_url().host(),
            Some(Host::Ipv6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1)))
        );
        assert_eq!(mapped.as_str(), "https://[::ffff:7f00:1]/");
        // Out of range numbers are not addresses, and not host names either.
        for host in ["4294967296", "127.0.0.256", "0x1.0x1.0x1.0x100"] {
            assert!(
                WebhookUrl::parse(&format!("https://{host}/"), STRICT).is_err(),
                "{host}"
            );
        }
    }
}
