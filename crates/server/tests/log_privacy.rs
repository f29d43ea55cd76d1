//! Logs carry no personal data and no credentials, at every level.
//!
//! One app runs with its delivery engine while every log record of the process, at TRACE and
//! from every crate (hyper, reqwest, sqlx included), is captured. Marker values are then sent
//! through every API path that takes personal data or credentials, including failing
//! deliveries, refused requests and secret rotation, and none of them may appear in the
//! captured text, while ids do.
//!
//! It is a test binary of its own because the capturing subscriber is process-wide.

#[path = "api/delivery_receiver.rs"]
#[allow(dead_code)]
mod delivery_receiver;
#[path = "api/eventually.rs"]
#[allow(dead_code)]
mod eventually;
#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "api/operator.rs"]
#[allow(dead_code)]
mod operator;
#[path = "api/propagation.rs"]
#[allow(dead_code)]
mod propagation;
#[path = "api/receiver.rs"]
#[allow(dead_code)]
mod receiver;
#[path = "api/snapshot.rs"]
#[allow(dead_code)]
mod snapshot;

use serde_json::{json, Value};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use tracing_subscriber::fmt::MakeWriter;

use delivery_receiver::{DeliveryReceiver, Reply};
use helpers::{spawn_app_with_engine, text, ADMIN_TOKEN};
use operator::{exposure, opt_out, Caller, NDJSON};

const EMAIL: &str = "privacy.marker.zq81@example.com";
const OTHER_EMAIL: &str = "second.marker.zq82@example.com";
const PHONE: &str = "+15550109876";
const FULL_NAME: &str = "Quillon Markerfield";
const BAD_EMAIL: &str = "not-an-email-marker-zq83";
const JOB_TITLE: &str = "Chief Markerzq86 Officer";
const LINKEDIN: &str = "https://www.linkedin.com/in/markerzq87";

/// Every formatted log line of the process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs the TRACE subscriber (and the `log` bridge) once for the process.
fn capture_logs() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .with_writer(captured.clone())
                .try_init()
                .expect("install the capturing subscriber");
            captured
        })
        .clone()
}

fn datapoints() -> Vec<Value> {
    vec![
        json!({ "datapointId": EMAIL, "datapointType": "email" }),
        json!({ "datapointId": PHONE, "datapointType": "phone" }),
        json!({ "datapointId": OTHER_EMAIL, "datapointType": "email" }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_personal_data_or_credential_reaches_the_logs_at_trace_level() {
    let logs = capture_logs();
    let app = spawn_app_with_engine(|_| {}, |_| {}).await;
    let receiver = DeliveryReceiver::spawn().await;

    // Accounts, keys and secrets, including a rotation with grace and a regeneration by PATCH.
    let first = app.subscriber(&receiver, "/first").await;
    let second = app.subscriber(&receiver, "/second").await;
    let extra_key: Value = app
        .client
        .post(app.url(&format!("/admin/accounts/{}/api-keys", first.account.id)))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let extra_key = text(&extra_key["apiKey"]);
    let rotated: Value = app
        .post_empty(
            "/api/account/secret/regenerate?graceSeconds=60",
            &first.account.api_key,
        )
        .await
        .json()
        .await
        .expect("json");
    let rotated = text(&rotated["secret"]);
    receiver.set_secret("/first", &rotated);
    let patched: Value = app
        .patch_subscription(
            &second.account.api_key,
            &second.subscription_id,
            &json!({ "regenerateSecret": true }),
        )
        .await
        .json()
        .await
        .expect("json");
    let patched = text(&patched["secret"]);
    receiver.set_secret("/second", &patched);
    let fetched = app.get_secret(&extra_key).await.text().await.expect("body");
    assert!(fetched.contains(&rotated));

    // Exposures as JSON and NDJSON, a refused datapoint, then opt-outs: one delivered at once,
    // one to a receiver that fails first.
    receiver.reply("/second", Reply::FailNext(2));
    app.expose(&[exposure(&first.account.id, "c-private", &datapoints())])
        .await;
    let ndjson_items = operator::ndjson(&[
        exposure(&second.account.id, "c-private", &datapoints()),
        exposure(
            &second.account.id,
            "c-refused",
            &[json!({ "datapointId": BAD_EMAIL, "datapointType": "email" })],
        ),
    ]);
    app.post_operator(
        "/admin/exposures",
        Caller::Operator,
        NDJSON,
        ndjson_items,
        None,
    )
    .await;
    let mut item = opt_out("c-private", FULL_NAME);
    item["jobTitle"] = json!(JOB_TITLE);
    item["linkedinUrl"] = json!(LINKEDIN);
    let opt_out_id = app.opt_out_id(&item).await;
    app.wait_for_recipient(&opt_out_id, &first.account.id, "delivered")
        .await;
    app.wait_for_recipient(&opt_out_id, &second.account.id, "delivered")
        .await;
    // Refused requests that carry personal data or credentials.
    let mut bad = opt_out("c-bad", FULL_NAME);
    bad["datapoints"] = json!([{ "datapointId": BAD_EMAIL, "datapointType": "fax" }]);
    app.post_opt_outs(&bad, None).await;
    app.post_operator(
        "/admin/opt-outs",
        Caller::Operator,
        "application/json",
        format!("{{\"contactId\":\"{EMAIL}\",\"fullName\":\"{FULL_NAME}\""),
        None,
    )
    .await;
    app.get_compliance_record(&opt_out_id, Caller::Token("wrong-admin-token-zq84-000000"))
        .await;
    app.get(
        "/api/subscriptions",
        "oor_wrongkeymarkerzq850000000000000000",
    )
    .await;
    // Reads: compliance record, audit logs, stats, a test delivery.
    let record = app
        .get_compliance_record(&opt_out_id, Caller::Operator)
        .await
        .text()
        .await
        .expect("body");
    assert!(record.contains(&opt_out_id));
    app.audit_logs(&second.account.api_key, "").await;
    app.audit_stats(&second.account.api_key, "").await;
    app.test_delivery(&first.account.api_key, &first.subscription_id, "?mode=full")
        .await;
    app.shutdown().await;

    let captured = logs.text();
    let secrets = [
        first.account.api_key.as_str(),
        second.account.api_key.as_str(),
        extra_key.as_str(),
        first.secret.as_str(),
        second.secret.as_str(),
        rotated.as_str(),
        patched.as_str(),
        ADMIN_TOKEN,
        "wrong-admin-token-zq84",
        "oor_wrongkeymarkerzq85",
    ];
    let personal = [
        EMAIL,
        OTHER_EMAIL,
        PHONE,
        FULL_NAME,
        BAD_EMAIL,
        "Markerfield",
        JOB_TITLE,
        "markerzq87",
    ];
    for marker in secrets.iter().chain(&personal) {
        assert!(
            !captured.contains(marker),
            "{marker:?} appears in the logs:\n{}",
            lines_with(&captured, marker)
        );
        // Secrets' cores without their prefixes, and URL-encoded forms, do not appear either.
        let core = marker
            .trim_start_matches("whsec_")
            .trim_start_matches("oor_");
        assert!(!captured.contains(core), "{core:?} appears in the logs");
    }
    assert!(!captured.contains("privacy.marker.zq81%40example.com"));
    assert!(!captured.contains("%2B15550109876"));
    // The capture did work, at TRACE, with the ids an operator needs.
    assert!(captured.contains("TRACE"), "nothing was logged at TRACE");
    assert!(captured.lines().count() > 100, "too little was captured");
    assert!(
        captured.contains(&opt_out_id) || captured.contains(&first.subscription_id),
        "ids are logged"
    );
}

fn lines_with(captured: &str, marker: &str) -> String {
    captured
        .lines()
        .filter(|line| line.contains(marker))
        .take(5)
        .collect::<Vec<_>>()
        .join("\n")
}
