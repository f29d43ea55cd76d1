//! Any text as a webhook URL: parsing answers, never panics, and a URL it accepts has a host.
#![no_main]

use libfuzzer_sys::fuzz_target;
use optout_core::{UrlPolicy, WebhookUrl};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        for allow_insecure in [false, true] {
            if let Ok(url) = WebhookUrl::parse(text, UrlPolicy { allow_insecure }) {
                assert!(url.as_url().host_str().is_some());
            }
        }
    }
});
