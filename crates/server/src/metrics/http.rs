//! HTTP requests served, by method, route template and status, with their latency.
//!
//! Routes are labelled by their template (`/api/subscriptions/{id}`), never by the raw path, so
//! the label set stays bounded whatever clients send; a request no route matched is `unmatched`.

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::exposition::{Exposition, Kind};
use super::histogram::Histogram;
use super::Metrics;

/// Upper bounds (seconds) of a request's latency.
const REQUEST_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// The matched route template, carried from the router to the outer middleware in the response.
#[derive(Debug, Clone)]
struct RouteTemplate(Arc<str>);

/// Requests and their latency by (method, route, status).
#[derive(Debug, Default)]
pub(crate) struct HttpMetrics {
    routes: Mutex<HashMap<RouteKey, Histogram>>,
}

/// Method, route template, status: cloning it allocates nothing on a request's path.
type RouteKey = (Method, Arc<str>, u16);

impl HttpMetrics {
    fn record(&self, method: Method, route: Arc<str>, status: u16, elapsed: Duration) {
        let mut routes = self
            .routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        routes
            .entry((method, route, status))
            .or_insert_with(|| Histogram::new(REQUEST_BOUNDS))
            .observe(elapsed);
    }

    pub fn write(&self, out: &mut Exposition) {
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Sorted, so a scrape lists series in a stable order.
        let mut series: Vec<(&str, &str, String, &Histogram)> = routes
            .iter()
            .map(|((method, route, status), latency)| {
                (method.as_str(), &**route, status.to_string(), latency)
            })
            .collect();
        series.sort_by(|a, b| (a.0, a.1, &a.2).cmp(&(b.0, b.1, &b.2)));
        let labels =
            |method, route, status| [("method", method), ("route", route), ("status", status)];

        let name = "optout_relay_http_requests_total";
        out.family(
            name,
            Kind::Counter,
            "HTTP requests served, by method, route and status.",
        );
        for (method, route, status, latency) in &series {
            out.sample(
                name,
                &labels(*method, *route, status.as_str()),
                latency.count() as f64,
            );
        }
        let name = "optout_relay_http_request_duration_seconds";
        out.family(
            name,
            Kind::Histogram,
            "HTTP request latency, by method, route and status.",
        );
        for (method, route, status, latency) in &series {
            latency.write(out, name, &labels(*method, *route, status.as_str()));
        }
    }
}

/// Outer middleware (`Router::layer`): counts every request, matched or not.
pub(crate) async fn track_requests(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = response
        .extensions()
        .get::<RouteTemplate>()
        .map_or_else(|| Arc::from(UNMATCHED), |template| Arc::clone(&template.0));
    metrics
        .http
        .record(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// Inner middleware (`Router::route_layer`): hands the matched route template outwards.
pub(crate) async fn tag_route(request: Request, next: Next) -> Response {
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| RouteTemplate(Arc::from(path.as_str())));
    let mut response = next.run(request).await;
    if let Some(template) = template {
        response.extensions_mut().insert(template);
    }
    response
}
