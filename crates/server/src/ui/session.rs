//! Browser sessions of the dashboard: a signed, expiring cookie, and who may see a page.
//!
//! The cookie is `<expiry unix seconds>.<hex HMAC-SHA256>` keyed with the admin token, so the
//! server keeps no session table, every node accepts every other node's cookies, and changing the
//! admin token signs every browser out. Nothing here logs the token or a cookie.

use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::api::auth::{bearer_token, is_admin_token};
use crate::api::state::AppState;

/// The cookie's name.
pub(crate) const COOKIE_NAME: &str = "optout_ui_session";
/// How long a session lasts: a working day, so an operator signs in once a shift.
pub(crate) const SESSION_SECS: i64 = 12 * 60 * 60;
/// What the MAC covers besides the expiry: a fixed context, so that no other HMAC keyed with
/// the admin token can ever pass for a session.
const CONTEXT: &str = "optout-relay ui session|";

type HmacSha256 = Hmac<Sha256>;

/// How a request to a dashboard page stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A valid session cookie or the admin bearer token.
    Granted,
    /// Nothing presented: the sign-in form.
    Anonymous,
    /// A session cookie that is expired, altered or from another token.
    SessionInvalid,
    /// An `Authorization` header with the wrong token.
    TokenRejected,
}

/// Decides [`Access`] from the request's `Authorization` header and session cookie.
pub(crate) fn access(headers: &HeaderMap, state: &AppState) -> Access {
    let token = state.config.admin_token.expose();
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    if let Some(presented) = presented {
        return if is_admin_token(presented, token) {
            Access::Granted
        } else {
            Access::TokenRejected
        };
    }
    match session_cookie(headers) {
        None => Access::Anonymous,
        Some(value) if verify(token, value, state.clock.now()) => Access::Granted,
        Some(_) => Access::SessionInvalid,
    }
}

/// The `Set-Cookie` value of a session that starts at `now`.
pub(crate) fn issue(token: &str, now: DateTime<Utc>) -> String {
    let expiry = now.timestamp() + SESSION_SECS;
    format!(
        "{COOKIE_NAME}={expiry}.{}; HttpOnly; SameSite=Strict; Path=/ui; Max-Age={SESSION_SECS}",
        hex::encode(mac(token, expiry).finalize().into_bytes())
    )
}

/// The `Set-Cookie` value that removes the session.
pub(crate) fn clear() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=0")
}

/// Whether `value` is a session signed with `token` that has not expired at `now`. The MAC is
/// compared in constant time.
pub(crate) fn verify(token: &str, value: &str, now: DateTime<Utc>) -> bool {
    let Some((expiry, signature)) = value.split_once('.') else {
        return false;
    };
    if expiry.is_empty() || !expiry.bytes().all(|byte| byte.is_ascii_digit()) {
        return false;
    }
    let (Ok(expiry), Ok(signature)) = (expiry.parse::<i64>(), hex::decode(signature)) else {
        return false;
    };
    mac(token, expiry).verify_slice(&signature).is_ok() && now.timestamp() < expiry
}

fn mac(token: &str, expiry: i64) -> HmacSha256 {
    // HMAC takes keys of any length; the constructor cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(CONTEXT.as_bytes());
    mac.update(expiry.to_string().as_bytes());
    mac
}

/// The session cookie's value, if the request carries one.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const TOKEN: &str = "an-admin-token-of-some-length";

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).expect("valid instant")
    }

    /// The cookie's value as a browser sends it back.
    fn value_of(set_cookie: &str) -> String {
        let pair = set_cookie.split(';').next().expect("a pair");
        pair.split_once('=').expect("name=value").1.to_owned()
    }

    #[test]
    fn a_session_is_valid_until_it_expires() {
        let value = value_of(&issue(TOKEN, at(1_000)));

        assert!(verify(TOKEN, &value, at(1_000)));
        assert!(verify(TOKEN, &value, at(1_000 + SESSION_SECS - 1)));
        assert!(!verify(TOKEN, &value, at(1_000 + SESSION_SECS)));
    }

    #[test]
    fn a_session_signed_with_another_token_is_refused() {
        let value = value_of(&issue("another-admin-token-entirely", at(1_000)));

        assert!(!verify(TOKEN, &value, at(1_000)));
    }

    #[test]
    fn a_session_with_a_moved_expiry_is_refused() {
        let value = value_of(&issue(TOKEN, at(1_000)));
        let (_, signature) = value.split_once('.').expect("two parts");
        let extended = format!("{}.{signature}", 1_000 + SESSION_SECS * 100);

        assert!(!verify(TOKEN, &extended, at(1_000)));
    }

    #[test]
    fn malformed_values_are_refused() {
        for value in [
            "",
            ".",
            "123",
            "123.",
            "x.00",
            "+43200.00",
            "-1.00",
            "99.zz",
        ] {
            assert!(!verify(TOKEN, value, at(0)), "{value:?}");
        }
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_scoped_to_the_dashboard() {
        let set_cookie = issue(TOKEN, at(1_000));

        assert!(set_cookie.starts_with("optout_ui_session=44200."));
        assert!(
            set_cookie.ends_with("; HttpOnly; SameSite=Strict; Path=/ui; Max-Age=43200"),
            "{set_cookie}"
        );
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("theme=dark; optout_ui_session=5.ab; other=1"),
        );

        assert_eq!(session_cookie(&headers), Some("5.ab"));
    }
}
