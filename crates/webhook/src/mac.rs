//! HMAC-SHA256 fed piece by piece, so that no signed message is ever built in memory.

use std::fmt::{self, Write as _};

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// The MAC both schemes use.
pub(crate) type HmacSha256 = Hmac<Sha256>;

/// Length of an HMAC-SHA256 tag in bytes.
pub(crate) const TAG_LEN: usize = 32;

/// A MAC keyed with `key`.
pub(crate) fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC hashes long keys and pads short ones, so no key length is invalid.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Feeds the `Display` form of `value` (a timestamp, an id) into the MAC without allocating.
pub(crate) fn update_display(mac: &mut HmacSha256, value: impl fmt::Display) {
    struct Feed<'a>(&'a mut HmacSha256);

    impl fmt::Write for Feed<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0.update(s.as_bytes());
            Ok(())
        }
    }

    // `Feed` never fails, and integer and string `Display` impls only fail if the writer does.
    let _ = write!(Feed(mac), "{value}");
}

/// The finished tag.
pub(crate) fn finish(mac: HmacSha256) -> [u8; TAG_LEN] {
    mac.finalize().into_bytes().into()
}
