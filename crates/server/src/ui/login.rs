//! Signing in and out of the dashboard: the form, `POST /ui/login` and `POST /ui/logout`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::fmt::Write as _;

use super::html::esc;
use super::page::{document, html, Chrome};
use super::session;
use crate::api::auth::is_admin_token;
use crate::api::state::AppState;

/// Largest sign-in form accepted: a token and some slack; anything bigger is not our form.
const MAX_FORM_BYTES: usize = 4 * 1024;

/// The sign-in page, with `message` shown above the form when given.
pub(crate) fn form_page(status: StatusCode, message: Option<&str>) -> Response {
    let mut body = String::from(r#"<section class="panel sign-in"><h1>Sign in</h1>"#);
    if let Some(message) = message {
        let _ = write!(
            body,
            r#"<p class="notice error" id="login-error" role="alert">{}</p>"#,
            esc(message)
        );
    }
    body.push_str(
        r#"<form method="post" action="/ui/login" id="login">
<label for="token">Admin token</label>
<input type="password" id="token" name="token" autocomplete="current-password" required autofocus>
<button type="submit" id="sign-in">Sign in</button>
</form>
<p class="hint">The service's admin token: <code>--admin-token</code>, or the <code>admin-token</code> file in its data folder. The session lasts 12 hours.</p>
</section>"#,
    );
    html(status, document("Sign in", Chrome::SignedOut, &body))
}

/// `POST /ui/login`: a form with `token`. The right token sets the session cookie and goes to
/// the dashboard; anything else answers 401 with the form again and sets nothing.
pub(crate) async fn login(State(state): State<AppState>, request: Request) -> Response {
    if is_cross_site(request.headers()) {
        return form_page(StatusCode::FORBIDDEN, Some(CROSS_SITE));
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_FORM_BYTES as u64) {
        return form_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            Some("The form is too large."),
        );
    }
    let Some(form) = read_form(request.into_body(), &state).await else {
        return form_page(
            StatusCode::BAD_REQUEST,
            Some("The form could not be read; try again."),
        );
    };
    let presented = url::form_urlencoded::parse(&form)
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    let expected = state.config.admin_token.expose();
    if presented.is_empty() || !is_admin_token(&presented, expected) {
        tracing::info!("dashboard sign-in refused: wrong admin token");
        return form_page(
            StatusCode::UNAUTHORIZED,
            Some("That is not the admin token. Check it and try again."),
        );
    }
    tracing::info!("dashboard sign-in");
    redirect_to_dashboard(session::issue(expected, state.clock.now()))
}

/// `POST /ui/logout`: clears the session cookie and goes back to the sign-in form.
pub(crate) async fn logout(headers: HeaderMap) -> Response {
    if is_cross_site(&headers) {
        return form_page(StatusCode::FORBIDDEN, Some(CROSS_SITE));
    }
    redirect_to_dashboard(session::clear())
}

const CROSS_SITE: &str = "Sign-in and sign-out are only accepted from the dashboard itself.";

/// Whether the browser says the form came from another site (`Sec-Fetch-Site`): such posts are
/// refused, so no other site can sign a browser in or out. Clients that send no such header
/// (curl, scripts) are not browsers being tricked, and pass.
fn is_cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|site| site.eq_ignore_ascii_case("cross-site"))
}

async fn read_form(body: Body, state: &AppState) -> Option<bytes::Bytes> {
    let read = axum::body::to_bytes(body, MAX_FORM_BYTES);
    tokio::time::timeout(state.config.body_timeout, read)
        .await
        .ok()?
        .ok()
}

fn redirect_to_dashboard(set_cookie: String) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(LOCATION, "/ui".to_owned()), (SET_COOKIE, set_cookie)],
    )
        .into_response()
}
