//! `GET /ui`: the dashboard, or the sign-in form for a browser without a session.

use axum::extract::{RawQuery, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use optout_core::{ComplianceRecord, Subscription};
use optout_store::{AccountAuditEntry, QueueMetrics, StoreError};
use std::fmt::Write as _;

use super::html::{esc, instant};
use super::page::{document, html, Chrome};
use super::search::{self, Query};
use super::session::{self, Access};
use super::{chart, login, summary, tables};
use crate::api::state::AppState;
use crate::metrics::QueueSample;

/// Everything the dashboard shows, read at one instant.
struct View {
    now: DateTime<Utc>,
    queue: QueueMetrics,
    history: Vec<QueueSample>,
    subscriptions: Vec<Subscription>,
    failures: Vec<AccountAuditEntry>,
    query: Query,
    record: Option<ComplianceRecord>,
}

/// `GET /ui[?optOut=<id>]`.
pub(crate) async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    match session::access(&headers, &state) {
        Access::Granted => {}
        Access::Anonymous => return login::form_page(StatusCode::OK, None),
        Access::SessionInvalid => {
            let mut page = login::form_page(
                StatusCode::OK,
                Some("Your session has expired or is no longer valid; sign in again."),
            );
            if let Ok(clear) = HeaderValue::from_str(&session::clear()) {
                page.headers_mut().insert(SET_COOKIE, clear);
            }
            return page;
        }
        Access::TokenRejected => {
            return login::form_page(
                StatusCode::UNAUTHORIZED,
                Some("The Authorization header does not carry the admin token."),
            )
        }
    }
    let text = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == search::PARAMETER)
        .map(|(_, value)| value.into_owned());
    let query = Query::parse(text.as_deref());
    match load(&state, query).await {
        Ok(view) => html(
            StatusCode::OK,
            document("Dashboard", Chrome::SignedIn, &render(&view)),
        ),
        Err(error) => {
            tracing::error!(%error, "the dashboard could not read the store");
            let body = r#"<section class="panel"><h1>Dashboard unavailable</h1><p class="notice error">The database could not be read; the server log has the details. Try again shortly.</p></section>"#;
            html(
                StatusCode::INTERNAL_SERVER_ERROR,
                document("Dashboard unavailable", Chrome::SignedIn, body),
            )
        }
    }
}

async fn load(state: &AppState, query: Query) -> Result<View, StoreError> {
    let now = state.clock.now();
    let store = state.store.as_ref();
    let record = async {
        match &query {
            Query::Id(id) => store.find_compliance_record(*id, now).await,
            Query::Empty | Query::Malformed(_) => Ok(None),
        }
    };
    let (queue, subscriptions, failures, record) = tokio::try_join!(
        store.find_queue_metrics(now),
        store.list_all_subscriptions(tables::SUBSCRIPTIONS_SHOWN),
        store.list_recent_failures(tables::FAILURES_SHOWN),
        record,
    )?;
    Ok(View {
        now,
        queue,
        history: state.metrics.queue_history(),
        subscriptions,
        failures,
        query,
        record,
    })
}

fn render(view: &View) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<div class="heading"><h1>Dashboard</h1><p class="as-of">As of {} · <a href="/ui" id="refresh">Refresh</a></p></div>"#,
        esc(&instant(view.now))
    );
    out.push_str(&summary::section(&view.queue, view.now));
    out.push_str(&search::section(&view.query, view.record.as_ref()));
    out.push_str(&chart::section(&view.history));
    out.push_str(&tables::subscriptions(&view.subscriptions));
    out.push_str(&tables::failures(&view.failures));
    out
}
