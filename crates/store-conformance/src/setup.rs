//! Building inputs and putting a store into a known state, through the trait only.
//!
//! Time never comes from a clock: every instant is an offset from [`t0`], so cases state exactly
//! when things happen and what is due.

use chrono::{DateTime, Duration, TimeZone, Utc};
use optout_core::{
    AccountId, AccountName, AttemptOutcome, AttemptResult, ClaimRequest, ClaimedNotice,
    ContactDetails, ContactId, Datapoint, ExposureIntake, Keyring, MasterKey, NewAccount,
    NewApiKey, NewExposure, NewOptOut, NewSubscription, NoticeDisposition, OptOutBatch, OptOutId,
    OptOutRecorded, SealedSecret, Subscription, SubscriptionId, WebhookSecret, WebhookUrl,
};
use optout_store::Store;

/// The instant every case counts from.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0)
        .single()
        .expect("a valid instant")
}

/// `seconds` after [`t0`].
pub fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

/// A day of August 2025 at 09:15:47 UTC: when data was exposed.
pub fn exposure_day(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 8, day, 9, 15, 47)
        .single()
        .expect("a valid day")
}

/// An account with an allocated id.
pub async fn account(store: &dyn Store) -> AccountId {
    let (_, key) = NewApiKey::generate(t0());
    store
        .create_account(
            NewAccount {
                id: None,
                name: AccountName::parse("Acme").expect("a valid name"),
                created_at: t0(),
            },
            key,
        )
        .await
        .expect("account created")
        .id
}

/// An account id nobody created.
pub fn unknown_account() -> AccountId {
    AccountId::parse("999999999").expect("a valid id")
}

/// A receiver URL.
pub fn url(path: &str) -> WebhookUrl {
    WebhookUrl::from_stored(&format!("https://receiver.example/{path}")).expect("a valid URL")
}

/// A fresh secret, sealed as the server would seal it. A store treats it as opaque text, so the
/// key and account it is sealed with do not matter here.
pub fn sealed_secret() -> SealedSecret {
    Keyring::new(MasterKey::generate(), Vec::new())
        .expect("a keyring of one key")
        .seal(&WebhookSecret::generate(), &unknown_account())
}

/// Gives the account a fresh secret.
pub async fn give_secret(store: &dyn Store, account: &AccountId) -> SealedSecret {
    let secret = sealed_secret();
    store
        .record_account_secret(account, &secret, t0())
        .await
        .expect("secret recorded");
    secret
}

/// The input of a subscription created at `at`.
pub fn new_subscription(account: &AccountId, at: DateTime<Utc>) -> NewSubscription {
    NewSubscription {
        id: SubscriptionId::generate(at),
        account_id: account.clone(),
        url: url(account.as_str()),
        name: None,
        created_at: at,
    }
}

/// Subscribes an account that already has a secret, at `at`.
pub async fn subscribe(store: &dyn Store, account: &AccountId, at: DateTime<Utc>) -> Subscription {
    store
        .create_subscription(new_subscription(account, at))
        .await
        .expect("subscription created")
}

/// An account with a secret and an active subscription created at [`t0`].
#[derive(Debug, Clone)]
pub struct Subscribed {
    /// The account.
    pub account: AccountId,
    /// Its subscription.
    pub subscription: Subscription,
    /// Its secret.
    pub secret: SealedSecret,
}

/// A new account with a secret and an active subscription.
pub async fn subscribed_account(store: &dyn Store) -> Subscribed {
    let account = account(store).await;
    let secret = give_secret(store, &account).await;
    let subscription = subscribe(store, &account, t0()).await;
    Subscribed {
        account,
        subscription,
        secret,
    }
}

/// A contact id.
pub fn contact(id: &str) -> ContactId {
    ContactId::parse(id).expect("a valid contact id")
}

/// An email datapoint.
pub fn email(value: &str) -> Datapoint {
    Datapoint::parse(value, "email").expect("a valid email datapoint")
}

/// A phone datapoint.
pub fn phone(value: &str) -> Datapoint {
    Datapoint::parse(value, "phone").expect("a valid phone datapoint")
}

/// One exposure item.
pub fn exposure(
    account: &AccountId,
    contact_id: &str,
    datapoints: Vec<Datapoint>,
    exposed_at: DateTime<Utc>,
    partner_client_id: Option<&str>,
) -> NewExposure {
    NewExposure {
        account_id: account.clone(),
        contact_id: contact(contact_id),
        datapoints,
        exposed_at,
        partner_client_id: partner_client_id.map(str::to_owned),
    }
}

/// Records one exposure item on day 3 of August 2025, without a partner id.
pub async fn expose(
    store: &dyn Store,
    account: &AccountId,
    contact_id: &str,
    datapoints: Vec<Datapoint>,
) -> ExposureIntake {
    store
        .record_exposures(&[exposure(
            account,
            contact_id,
            datapoints,
            exposure_day(3),
            None,
        )])
        .await
        .expect("exposures recorded")
}

/// An opt-out of a contact, of all its datapoints (`None`) or of some.
pub fn opt_out(contact_id: &str, datapoints: Option<Vec<Datapoint>>) -> NewOptOut {
    NewOptOut {
        id: OptOutId::generate(t0()),
        contact_id: contact(contact_id),
        details: ContactDetails {
            full_name: "Jane Doe".to_owned(),
            company_name: Some("Acme Corp".to_owned()),
            job_title: None,
            linkedin_url: None,
        },
        opted_out_at: t0(),
        datapoints,
    }
}

/// A batch of opt-outs recorded at `at`, without an idempotency key.
pub fn batch(opt_outs: Vec<NewOptOut>, at: DateTime<Utc>) -> OptOutBatch {
    OptOutBatch {
        opt_outs,
        idempotency: None,
        recorded_at: at,
    }
}

/// Records opt-outs at `at`.
pub async fn record_opt_outs(
    store: &dyn Store,
    opt_outs: Vec<NewOptOut>,
    at: DateTime<Utc>,
) -> Vec<OptOutRecorded> {
    store
        .record_opt_outs(batch(opt_outs, at))
        .await
        .expect("opt-outs recorded")
}

/// A claim of up to 100 notices at `now`, leased for `lease_seconds`.
pub fn claim_request(now: DateTime<Utc>, lease_seconds: i64) -> ClaimRequest {
    ClaimRequest {
        now,
        lease_until: now + Duration::seconds(lease_seconds),
        limit: 100,
        per_account_limit: 100,
        saturated_accounts: Vec::new(),
    }
}

/// Claims up to 100 notices at `now` under a 60-second lease.
pub async fn claim(store: &dyn Store, now: DateTime<Utc>) -> Vec<ClaimedNotice> {
    store
        .claim_due_notices(claim_request(now, 60))
        .await
        .expect("claim")
}

/// Claims exactly one notice at `now` under a 60-second lease.
pub async fn claim_one(store: &dyn Store, now: DateTime<Utc>) -> ClaimedNotice {
    let mut claimed = claim(store, now).await;
    assert_eq!(claimed.len(), 1, "expected one due notice");
    claimed.remove(0)
}

/// The outcome of an attempt on a claimed notice that started at `started_at` and took 250 ms.
pub fn outcome(
    claimed: &ClaimedNotice,
    started_at: DateTime<Utc>,
    disposition: NoticeDisposition,
) -> AttemptOutcome {
    let result = match disposition {
        NoticeDisposition::Delivered => AttemptResult::Delivered { status_code: 200 },
        NoticeDisposition::RetryAt(_) | NoticeDisposition::Exhausted => AttemptResult::Failed {
            status_code: Some(503),
            error: "HTTP 503".to_owned(),
        },
    };
    AttemptOutcome {
        notice_id: claimed.notice_id,
        lease_token: claimed.lease_token,
        account_id: claimed.account_id.clone(),
        subscription_id: claimed.subscription_id,
        url: claimed.url.clone(),
        attempt: claimed.attempt,
        started_at,
        duration_ms: 250,
        result,
        disposition,
    }
}

/// Records outcomes and returns how many were recorded.
pub async fn record(store: &dyn Store, outcomes: &[AttemptOutcome]) -> usize {
    store
        .record_attempts(outcomes)
        .await
        .expect("attempts recorded")
}

/// The frozen body of a claimed notice, parsed.
pub fn payload(claimed: &ClaimedNotice) -> serde_json::Value {
    serde_json::from_slice(&claimed.payload).expect("the payload is JSON")
}

/// The `(datapointId, datapointType)` pairs of a claimed notice, in payload order.
pub fn datapoints(claimed: &ClaimedNotice) -> Vec<(String, String)> {
    payload(claimed)["datapoints"]
        .as_array()
        .expect("datapoints is an array")
        .iter()
        .map(|datapoint| {
            (
                datapoint["datapointId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                datapoint["datapointType"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// A `(value, type)` pair as [`datapoints`] returns them.
pub fn pair(value: &str, kind: &str) -> (String, String) {
    (value.to_owned(), kind.to_owned())
}

/// The contact id in a claimed notice's payload.
pub fn contact_of(claimed: &ClaimedNotice) -> String {
    payload(claimed)["contactId"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The one claimed notice of `account`.
pub fn notice_for<'a>(claimed: &'a [ClaimedNotice], account: &AccountId) -> &'a ClaimedNotice {
    let mine: Vec<&ClaimedNotice> = claimed
        .iter()
        .filter(|notice| &notice.account_id == account)
        .collect();
    assert_eq!(mine.len(), 1, "expected one notice for account {account}");
    mine[0]
}
