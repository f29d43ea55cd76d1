//! The opt-out subscription endpoints (spec A3 to A7).

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use optout_core::time_format::truncate_to_millis;
use optout_core::{
    AccountId, NewSubscription, PageRequest, SignalType, Subscription, SubscriptionChanges,
    SubscriptionId, SubscriptionName, WebhookSecret, WebhookUrl,
};

use super::auth::CallerAccount;
use super::error::{ApiError, ErrorOut};
use super::json_body::JsonObject;
use super::path_id::PathId;
use super::query::QueryParams;
use super::state::AppState;
use super::subscription_out::{
    DeleteErrorOut, DeleteResultOut, DeleteSubscriptionsOut, DeletedSubscriptionOut, PaginationOut,
    SubscriptionCreatedOut, SubscriptionListOut, SubscriptionOut,
};
use super::url_acceptance::accept_url;

/// Largest page of A4 (spec).
const MAX_PAGE_SIZE: u64 = 100;
/// A4's page size when none is asked for (spec).
const DEFAULT_PAGE_SIZE: u64 = 10;
/// Most ids one A7 request may delete (spec).
const MAX_DELETE_IDS: usize = 25;

/// A3: creates the account's opt-out subscription.
#[utoipa::path(
    post, path = "/api/subscriptions/opt-out", tag = "subscriptions",
    request_body = super::request_schemas::SubscriptionIn,
    params(("api_key" = String, Header, description = "The account's API key")),
    responses(
        (status = 201, description = "Created", body = SubscriptionCreatedOut),
        (status = 400, description = "Validation failed, URL validation failed, malformed JSON or wrong content type", body = ErrorOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
        (status = 429, description = "Too many requests from this account", body = ErrorOut,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 403, description = "A subscription exists already, or the account has no secret", body = ErrorOut),
        (status = 413, description = "Payload too large", body = ErrorOut),
        (status = 408, description = "Request body not received in time", body = ErrorOut),
        (status = 500, description = "Internal server error", body = ErrorOut),
    )
)]
pub(crate) async fn create_opt_out_subscription(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
    mut body: JsonObject,
) -> Result<(StatusCode, Json<SubscriptionCreatedOut>), ApiError> {
    let entity_type = body.required_string("entityType");
    if entity_type.as_deref().is_some_and(|kind| kind != "contact") {
        body.problem("entityType must be one of: contact");
    }
    let url = body
        .required_string("url")
        .and_then(|text| parse_url(&mut body, &text, &state));
    let name = body
        .optional_string("name")
        .and_then(|text| parse_name(&mut body, &text));
    body.finish()?;
    let Some(url) = url else {
        return Err(ApiError::Internal);
    };

    // Cheap refusals first, so a URL is never challenged for a request that cannot succeed.
    if state
        .store
        .find_account_secret(&account_id)
        .await?
        .is_none()
    {
        return Err(ApiError::SecretRequired);
    }
    let existing = state
        .store
        .list_subscriptions(
            &account_id,
            PageRequest {
                limit: 1,
                offset: 0,
            },
        )
        .await?;
    if existing.total > 0 {
        return Err(ApiError::SubscriptionExists);
    }
    accept_url(&state, &url).await?;

    let created_at = truncate_to_millis(state.clock.now());
    let subscription = state
        .store
        .create_subscription(NewSubscription {
            id: SubscriptionId::generate(created_at),
            account_id,
            url,
            name,
            created_at,
        })
        .await?;
    // Notices that waited for this subscription are due now.
    state.signal.notify();
    tracing::info!(subscription_id = %subscription.id, account_id = %subscription.account_id, "opt-out subscription created");
    Ok((
        StatusCode::CREATED,
        Json(SubscriptionCreatedOut::from(&subscription)),
    ))
}

/// A4: lists the account's subscriptions, newest first.
#[utoipa::path(
    get, path = "/api/subscriptions", tag = "subscriptions",
    params(
        ("api_key" = String, Header, description = "The account's API key"),
        ("limit" = Option<u32>, Query, description = "1 to 100, default 10"),
        ("offset" = Option<u64>, Query, description = "0 or more, default 0"),
    ),
    responses(
        (status = 200, description = "A page of subscriptions", body = SubscriptionListOut),
        (status = 400, description = "Invalid or unknown query parameter", body = ErrorOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
        (status = 429, description = "Too many requests from this account", body = ErrorOut,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn list_subscriptions(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
    RawQuery(query): RawQuery,
) -> Result<Json<SubscriptionListOut>, ApiError> {
    let mut params = QueryParams::parse(query.as_deref(), &["limit", "offset"]);
    let limit = params.integer("limit", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE);
    let offset = params.integer("offset", 0, i64::MAX as u64, 0);
    params.finish().map_err(ApiError::Validation)?;
    let request = PageRequest {
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
        offset,
    };
    let page = state.store.list_subscriptions(&account_id, request).await?;
    Ok(Json(SubscriptionListOut {
        pagination: PaginationOut {
            total: page.total,
            limit: request.limit,
            offset: request.offset,
            has_more: page.has_more(request),
        },
        data: page
            .items
            .iter()
            .map(|subscription| SubscriptionOut::new(subscription, None))
            .collect(),
    }))
}

/// A5: one of the account's subscriptions.
#[utoipa::path(
    get, path = "/api/subscriptions/{id}", tag = "subscriptions",
    params(
        ("api_key" = String, Header, description = "The account's API key"),
        ("id" = String, Path, description = "24 hex characters"),
    ),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
        (status = 429, description = "Too many requests from this account", body = ErrorOut,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 404, description = "Resource not found", body = ErrorOut),
    )
)]
pub(crate) async fn get_subscription(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
    PathId(id): PathId,
) -> Result<Json<SubscriptionOut>, ApiError> {
    let subscription = find_caller_subscription(&state, &account_id, &id).await?;
    Ok(Json(SubscriptionOut::new(&subscription, None)))
}

/// A6: changes a subscription.
#[utoipa::path(
    patch, path = "/api/subscriptions/{id}", tag = "subscriptions",
    request_body = super::request_schemas::SubscriptionPatch,
    params(
        ("api_key" = String, Header, description = "The account's API key"),
        ("id" = String, Path, description = "24 hex characters"),
    ),
    responses(
        (status = 200, description = "The changed subscription (with `secret` if regenerated)", body = SubscriptionOut),
        (status = 400, description = "Validation failed or URL validation failed", body = ErrorOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
        (status = 429, description = "Too many requests from this account", body = ErrorOut,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 404, description = "Resource not found", body = ErrorOut),
        (status = 413, description = "Payload too large", body = ErrorOut),
        (status = 408, description = "Request body not received in time", body = ErrorOut),
    )
)]
pub(crate) async fn update_subscription(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
    PathId(id): PathId,
    mut body: JsonObject,
) -> Result<Json<SubscriptionOut>, ApiError> {
    let url = body
        .optional_string("url")
        .and_then(|text| parse_url(&mut body, &text, &state));
    let name = body
        .optional_string("name")
        .and_then(|text| parse_name(&mut body, &text));
    let is_active = body.optional_bool("isActive");
    let regenerate_secret = body.optional_bool("regenerateSecret") == Some(true);
    if let Some(signals) = body.optional_string_array("signalTypes") {
        if signals != [SignalType::OptOut.as_str()] {
            body.problem("signalTypes must be [\"optOut\"] for an opt-out subscription");
        }
    }
    // A malformed id answers 404 like a missing one, but only once the body is known to be valid.
    body.finish()?;
    let current = find_caller_subscription(&state, &account_id, &id).await?;
    let url = url.filter(|url| *url != current.url);
    if let Some(url) = &url {
        accept_url(&state, url).await?;
    }
    let new_secret = regenerate_secret.then(WebhookSecret::generate);
    let changes = SubscriptionChanges {
        url,
        name,
        is_active,
        new_secret: new_secret
            .as_ref()
            .map(|secret| state.config.keyring.seal(secret, &account_id)),
        updated_at: truncate_to_millis(state.clock.now()),
    };
    let updated = state
        .store
        .update_subscription(&account_id, current.id, changes)
        .await?
        .ok_or(ApiError::NotFound)?;
    if updated.is_active {
        // Reactivation released the notices that waited.
        state.signal.notify();
    }
    tracing::info!(subscription_id = %updated.id, secret_regenerated = regenerate_secret, "subscription updated");
    let secret = new_secret.map(|secret| secret.expose().to_owned());
    Ok(Json(SubscriptionOut::new(&updated, secret)))
}

/// A7: deletes up to 25 of the account's subscriptions.
#[utoipa::path(
    post, path = "/api/subscriptions/delete", tag = "subscriptions",
    request_body = super::request_schemas::DeleteSubscriptionsIn,
    params(("api_key" = String, Header, description = "The account's API key")),
    responses(
        (status = 200, description = "One result per distinct id", body = DeleteSubscriptionsOut),
        (status = 400, description = "Validation failed", body = ErrorOut),
        (status = 401, description = "Invalid API key", body = ErrorOut),
        (status = 408, description = "Request body not received in time", body = ErrorOut),
        (status = 413, description = "Payload too large", body = ErrorOut),
        (status = 429, description = "Too many requests from this account", body = ErrorOut,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
    )
)]
pub(crate) async fn delete_subscriptions(
    State(state): State<AppState>,
    CallerAccount(account_id): CallerAccount,
    mut body: JsonObject,
) -> Result<Json<DeleteSubscriptionsOut>, ApiError> {
    let ids = body.required_string_array("ids").unwrap_or_default();
    let mut distinct: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !distinct.contains(&id) {
            distinct.push(id);
        }
    }
    if distinct.is_empty() || distinct.len() > MAX_DELETE_IDS {
        body.problem(format!(
            "ids must contain 1 to {MAX_DELETE_IDS} distinct ids"
        ));
    }
    body.finish()?;

    let parsed: Vec<Option<SubscriptionId>> = distinct
        .iter()
        .map(|id| SubscriptionId::parse(id))
        .collect();
    let valid: Vec<SubscriptionId> = parsed.iter().flatten().copied().collect();
    let mut deleted = state
        .store
        .delete_subscriptions(&account_id, &valid)
        .await?
        .into_iter();
    let results: Vec<DeleteResultOut> = distinct
        .iter()
        .zip(&parsed)
        .enumerate()
        .map(|(index, (text, id))| {
            let found = id.and_then(|_| deleted.next().flatten());
            match found {
                Some(subscription) => DeleteResultOut::Deleted {
                    index,
                    success: true,
                    subscription: DeletedSubscriptionOut::from(&subscription),
                },
                None => DeleteResultOut::Failed {
                    index,
                    success: false,
                    error: DeleteErrorOut {
                        code: "NOT_FOUND",
                        message: format!("Subscription with id '{text}' not found"),
                    },
                },
            }
        })
        .collect();
    let successful = results
        .iter()
        .filter(|result| matches!(result, DeleteResultOut::Deleted { .. }))
        .count();
    Ok(Json(DeleteSubscriptionsOut {
        total: results.len(),
        successful,
        failed: results.len() - successful,
        results,
    }))
}

/// The caller's subscription named by a path id: 404 alike for a malformed id, a missing
/// subscription and another account's.
pub(crate) async fn find_caller_subscription(
    state: &AppState,
    account_id: &AccountId,
    id: &str,
) -> Result<Subscription, ApiError> {
    let id = SubscriptionId::parse(id).ok_or(ApiError::NotFound)?;
    state
        .store
        .find_subscription(account_id, id)
        .await?
        .ok_or(ApiError::NotFound)
}

fn parse_url(body: &mut JsonObject, text: &str, state: &AppState) -> Option<WebhookUrl> {
    WebhookUrl::parse(text, state.config.url_policy)
        .map_err(|problems| body.problems(problems))
        .ok()
}

fn parse_name(body: &mut JsonObject, text: &str) -> Option<SubscriptionName> {
    SubscriptionName::parse(text)
        .map_err(|problem| body.problem(problem))
        .ok()
}
