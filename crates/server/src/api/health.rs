//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::state::AppState;

/// A probe's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthOut {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: the process answers HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = HealthOut)))]
pub(crate) async fn healthz() -> Json<HealthOut> {
    Json(HealthOut { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = HealthOut),
        (status = 503, description = "The database does not answer", body = HealthOut),
    ))]
pub(crate) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<HealthOut>) {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(HealthOut { status: "ok" })),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(HealthOut {
                    status: "database unavailable",
                }),
            )
        }
    }
}
