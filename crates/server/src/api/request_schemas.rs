//! Request body shapes, for the OpenAPI document only.
//!
//! Handlers read bodies field by field with [`super::json_body::JsonObject`] so that every
//! problem is reported at once; these types describe the same fields to API clients. A test
//! keeps the two in step by sending each documented example to the server.

#![allow(dead_code)]

use utoipa::ToSchema;

/// A3's body.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriptionIn {
    /// Must be `contact`.
    #[schema(example = "contact")]
    entity_type: String,
    /// Absolute `https` URL, at most 2048 characters.
    #[schema(example = "https://example.com/webhook", max_length = 2048)]
    url: String,
    /// Display name, at most 100 characters.
    #[schema(example = "Account opt-out webhook", max_length = 100)]
    name: Option<String>,
}

/// A6's body; every field is optional.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubscriptionPatch {
    /// New URL, challenged like A3's.
    #[schema(max_length = 2048)]
    url: Option<String>,
    /// New display name.
    #[schema(max_length = 100)]
    name: Option<String>,
    /// `false` pauses deliveries; `true` resumes them and clears a block.
    is_active: Option<bool>,
    /// `true` regenerates the account secret; the answer then carries `secret`.
    regenerate_secret: Option<bool>,
    /// Only `["optOut"]` is valid.
    #[schema(example = json!(["optOut"]))]
    signal_types: Option<Vec<String>>,
}

/// A7's body.
#[derive(ToSchema)]
pub(crate) struct DeleteSubscriptionsIn {
    /// 1 to 25 subscription ids; duplicates are removed.
    #[schema(example = json!(["6a0ca910b402df368d2aff07"]))]
    ids: Vec<String>,
}

/// The body of `POST /admin/accounts`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountIn {
    /// Display name, 1 to 200 characters.
    #[schema(example = "Acme Corp")]
    name: String,
    /// A numeric id of your choosing (1 to 18 digits); allocated when omitted.
    #[schema(example = "431705")]
    account_id: Option<String>,
}
