//! The HTTP API: routes, extractors, handlers and their one error type.

mod account_secret;
mod admin;
mod admin_exposures;
mod admin_opt_outs;
mod audit_logs;
pub(crate) mod auth;
mod error;
mod health;
mod item_fields;
mod json_body;
mod metrics;
pub(crate) mod openapi;
mod path_id;
mod query;
mod request_schemas;
pub(crate) mod state;
mod subscription_out;
mod subscription_test;
mod subscriptions;
mod url_acceptance;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

use state::AppState;
use std::sync::Arc;

pub(crate) use admin_exposures::parse_item as parse_exposure_item;
pub(crate) use admin_opt_outs::parse_item as parse_opt_out_item;
pub(crate) use json_body::bulk_items;

/// The whole API.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/api/account/secret/regenerate",
            post(account_secret::regenerate_secret),
        )
        .route("/api/account/secret", get(account_secret::get_secret))
        .route(
            "/api/subscriptions/opt-out",
            post(subscriptions::create_opt_out_subscription),
        )
        .route("/api/subscriptions", get(subscriptions::list_subscriptions))
        .route(
            "/api/subscriptions/delete",
            post(subscriptions::delete_subscriptions),
        )
        .route(
            "/api/subscriptions/{id}",
            get(subscriptions::get_subscription).patch(subscriptions::update_subscription),
        )
        .route(
            "/api/subscriptions/{id}/test",
            post(subscription_test::test_subscription),
        )
        .route("/api/audit-logs", get(audit_logs::list_audit_logs))
        .route("/api/audit-logs/stats", get(audit_logs::audit_stats))
        .route("/admin/accounts", post(admin::create_account))
        .route(
            "/admin/accounts/{account_id}/api-keys",
            post(admin::create_api_key),
        )
        .route("/admin/api-keys/{key_id}", delete(admin::revoke_api_key))
        .route("/admin/exposures", post(admin_exposures::record_exposures))
        .route("/admin/opt-outs", post(admin_opt_outs::record_opt_outs))
        .route(
            "/admin/opt-outs/{opt_out_id}",
            get(admin_opt_outs::get_compliance_record),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        // The operator dashboard: HTML pages, not API, so not in the OpenAPI document.
        .merge(crate::ui::routes())
        .route_layer(middleware::from_fn(crate::metrics::http::tag_route))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        // Bodies are read by `JsonObject` with its own 1 MiB cap and 413 in the error shape.
        .layer(DefaultBodyLimit::disable())
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            crate::metrics::http::track_requests,
        ))
        .with_state(state)
}
