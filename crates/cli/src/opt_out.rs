//! `optout-relay opt-out`: one opt-out, recorded straight in the database.

use chrono::Utc;
use optout_core::OptOutBatch;
use serde_json::{json, Map, Value};

use crate::cli::OptOutArgs;
use crate::database;

/// Records the opt-out and prints its id and notice count. A running `serve` picks the notices
/// up at its next poll.
pub async fn run(args: OptOutArgs) -> anyhow::Result<()> {
    let item = to_item(&args)?;
    let recorded_at = Utc::now();
    let opt_out = optout_server::intake::parse_opt_out(item, 0, recorded_at)
        .map_err(|problems| anyhow::anyhow!("invalid opt-out: {}", problems.join("; ")))?;
    let opened = database::open(&args.database.database_url, database::Migrations::Apply).await?;
    let results = opened
        .store
        .record_opt_outs(OptOutBatch {
            opt_outs: vec![opt_out],
            idempotency: None,
            recorded_at,
        })
        .await?;
    for result in results {
        println!("opt-out id: {}", result.opt_out_id);
        println!("notices:    {}", result.notices);
    }
    Ok(())
}

/// The flags as the JSON item the API would receive, so both are validated by one parser.
fn to_item(args: &OptOutArgs) -> anyhow::Result<Value> {
    let mut item = Map::new();
    item.insert("contactId".into(), json!(args.contact_id));
    item.insert("fullName".into(), json!(args.full_name));
    let optional = [
        ("companyName", &args.company_name),
        ("jobTitle", &args.job_title),
        ("linkedinUrl", &args.linkedin_url),
        ("optedOutAt", &args.opted_out_at),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            item.insert(key.into(), json!(value));
        }
    }
    if !args.datapoints.is_empty() {
        let datapoints = args
            .datapoints
            .iter()
            .map(|text| {
                let (kind, value) = text.split_once(':').ok_or_else(|| {
                    anyhow::anyhow!("--datapoint must be email:VALUE or phone:VALUE")
                })?;
                Ok(json!({"datapointId": value, "datapointType": kind}))
            })
            .collect::<anyhow::Result<Vec<Value>>>()?;
        item.insert("datapoints".into(), Value::Array(datapoints));
    }
    Ok(Value::Object(item))
}
