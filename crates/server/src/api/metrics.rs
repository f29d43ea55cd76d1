//! `GET /metrics`: the Prometheus exposition, for the operator (admin token).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;

use super::auth::Operator;
use super::error::{ApiError, ErrorOut};
use super::state::AppState;
use crate::metrics::exposition;

/// Prometheus metrics: the queue (all nodes) and this node's deliveries and HTTP requests.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Metrics in the Prometheus text format (version 0.0.4)",
         content_type = "text/plain", body = String),
        (status = 401, description = "Invalid admin token", body = ErrorOut),
    ))]
pub(crate) async fn metrics(
    _operator: Operator,
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let now = state.clock.now();
    let queue = state.store.find_queue_metrics(now).await?;
    let text = state.metrics.render(&queue, now);
    Ok(([(CONTENT_TYPE, exposition::CONTENT_TYPE)], text))
}
