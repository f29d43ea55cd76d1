//! The OpenAPI document, generated from the handlers and DTOs.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{
    account_secret, admin, admin_exposures, admin_opt_outs, audit_logs, error, health, metrics,
    request_schemas, subscription_out, subscription_test, subscriptions,
};

/// Every route, schema and error of the API.
#[derive(OpenApi)]
#[openapi(
    info(title = "optout-relay", description = "Propagates data opt-outs to every account that received the data. Part A (/api) is wire-compatible with Lusha's Webhooks API; Part B (/admin) is the operator API."),
    paths(
        account_secret::regenerate_secret,
        account_secret::get_secret,
        subscriptions::create_opt_out_subscription,
        subscriptions::list_subscriptions,
        subscriptions::get_subscription,
        subscriptions::update_subscription,
        subscriptions::delete_subscriptions,
        subscription_test::test_subscription,
        audit_logs::list_audit_logs,
        audit_logs::audit_stats,
        admin::create_account,
        admin::create_api_key,
        admin::revoke_api_key,
        admin_exposures::record_exposures,
        admin_opt_outs::record_opt_outs,
        admin_opt_outs::get_compliance_record,
        health::healthz,
        health::readyz,
        metrics::metrics,
        openapi_json,
    ),
    components(schemas(
        error::ErrorOut,
        request_schemas::SubscriptionIn,
        request_schemas::SubscriptionPatch,
        request_schemas::DeleteSubscriptionsIn,
        request_schemas::AccountIn,
        request_schemas::DatapointIn,
        request_schemas::ExposureIn,
        request_schemas::OptOutIn,
        subscription_out::SubscriptionCreatedOut,
        subscription_out::SubscriptionOut,
        subscription_out::SubscriptionListOut,
        subscription_out::DeleteSubscriptionsOut,
    )),
    modifiers(&SecuritySchemes),
    tags(
        (name = "account", description = "The account webhook secret (Lusha-compatible)"),
        (name = "subscriptions", description = "The opt-out subscription (Lusha-compatible)"),
        (name = "audit", description = "Delivery attempts (Lusha-compatible)"),
        (name = "admin", description = "Operator API"),
        (name = "operations", description = "Probes and documents"),
    )
)]
pub(crate) struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("api_key"))),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document as pretty JSON, as committed in `openapi.json`.
pub fn openapi_document() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| String::from("{}"))
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document")))]
pub(crate) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
