//! The frame of every dashboard page and its stylesheet.

use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::html::esc;

/// The stylesheet, served from `/ui/style.css` (the Content-Security-Policy allows no inline
/// styles).
const STYLESHEET: &str = include_str!("style.css");

/// Whether the page offers to sign out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Chrome {
    /// The sign-in page.
    SignedOut,
    /// A page behind the session.
    SignedIn,
}

/// A whole HTML document around `body`, which must already be escaped.
pub(crate) fn document(title: &str, chrome: Chrome, body: &str) -> String {
    let sign_out = match chrome {
        Chrome::SignedOut => "",
        Chrome::SignedIn => {
            r#"<form method="post" action="/ui/logout" class="sign-out"><button type="submit" id="sign-out">Sign out</button></form>"#
        }
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · optout-relay</title>
<link rel="stylesheet" href="/ui/style.css">
</head>
<body>
<header class="top"><span class="brand">optout-relay</span><span class="subtitle">operator dashboard</span>{sign_out}</header>
<main>
{body}
</main>
</body>
</html>
"#,
        title = esc(title),
    )
}

/// An HTML response.
pub(crate) fn html(status: StatusCode, document: String) -> Response {
    (status, Html(document)).into_response()
}

/// `GET /ui/style.css`.
pub(crate) async fn stylesheet() -> Response {
    ([(CONTENT_TYPE, "text/css; charset=utf-8")], STYLESHEET).into_response()
}
