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

/// One datapoint of a contact.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DatapointIn {
    /// The email address or phone number.
    #[schema(example = "jane.doe@acme.com")]
    datapoint_id: String,
    /// `email` or `phone`.
    #[schema(example = "email")]
    datapoint_type: String,
}

/// One item of `POST /admin/exposures`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ExposureIn {
    /// The account that received the data.
    #[schema(example = "431705")]
    account_id: String,
    /// The contact whose data it was.
    #[schema(example = "987654321")]
    contact_id: String,
    /// The datapoints sent (1 to 1000).
    datapoints: Vec<DatapointIn>,
    /// When they were sent (RFC 3339; default: now).
    #[schema(example = "2025-08-03T09:15:47Z")]
    exposed_at: Option<String>,
    /// The account's own tenant reference, echoed in its notices.
    #[schema(example = "acme-crm-tenant-42")]
    partner_client_id: Option<String>,
}

/// One item of `POST /admin/opt-outs`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OptOutIn {
    /// The contact who opted out.
    #[schema(example = "987654321")]
    contact_id: String,
    /// Their full name, as notices carry it.
    #[schema(example = "Jane Doe")]
    full_name: String,
    /// Their company.
    company_name: Option<String>,
    /// Their job title.
    job_title: Option<String>,
    /// Their LinkedIn profile URL.
    linkedin_url: Option<String>,
    /// When they opted out (RFC 3339; default: now).
    opted_out_at: Option<String>,
    /// Narrows the opt-out to these datapoints (default: all of the contact's).
    datapoints: Option<Vec<DatapointIn>>,
}
