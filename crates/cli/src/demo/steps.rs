//! The seven steps of the demo, in order. Each prints its title and the API calls it makes,
//! then what the service answered.

use anyhow::Context as _;
use serde_json::Value;

use super::client::{self, AccountApi, Operator};
use super::live::{recipients, LiveView, WatchedAccount};
use super::script::{ACCOUNTS, CONTACTS, EXPOSURES};
use super::terminal::Tone;
use super::{receiver, report, service, Context, Parts, Summary};
use super::{DEADLINE, OPT_OUT_SPACING, STEP_PAUSE};

/// Steps of the demo.
const STEPS: usize = 7;

/// Runs the steps; what they start is kept in `parts`, to be stopped by the caller.
pub(super) async fn run(context: &Context<'_>, parts: &mut Parts) -> anyhow::Result<Summary> {
    let (http, operator) = start_service(context, parts).await?;
    let accounts = create_accounts(context, &operator, &http).await?;
    start_receivers(context, parts, &accounts).await?;
    subscribe(context, parts, &accounts).await?;
    record_exposures(context, &operator, &accounts).await?;
    let mut view = LiveView::new(
        context.terminal,
        operator.clone(),
        accounts,
        context.started_at,
    );
    let (notices, records) = opt_out_live(context, &operator, &mut view).await?;
    show_records(context, parts, &view, &records).await?;
    Ok(Summary {
        notices,
        failed_attempts: view.failed_attempts(),
    })
}

/// Step 1: the service, and the operator's client of it.
async fn start_service(
    context: &Context<'_>,
    parts: &mut Parts,
) -> anyhow::Result<(reqwest::Client, Operator)> {
    context.terminal.step(
        1,
        STEPS,
        "Start the service on a temporary SQLite database",
        "API and delivery engine in this process, on 127.0.0.1, port 0",
    );
    let service = service::start(context.dir, &context.shutdown).await?;
    let http = client::http_client()?;
    let operator = Operator::new(http.clone(), &service.url, &service.admin_token);
    println!("  service   {}", service.url);
    println!("  database  {}", service.database.display());
    let schedule: Vec<String> = service::RETRY_SCHEDULE
        .iter()
        .map(|delay| format!("{}s", delay.as_secs()))
        .collect();
    println!(
        "  a failed delivery is retried after {} (production default: 30s, 2m, 8m)",
        schedule.join(", ")
    );
    parts.service = Some(service);
    pause().await;
    Ok((http, operator))
}

/// Step 2: the operator creates the accounts; each gets its API key once.
async fn create_accounts(
    context: &Context<'_>,
    operator: &Operator,
    http: &reqwest::Client,
) -> anyhow::Result<Vec<WatchedAccount>> {
    context.terminal.step(
        2,
        STEPS,
        "The operator creates two customer accounts",
        "POST /admin/accounts  (Authorization: Bearer <admin token>)",
    );
    let mut accounts = Vec::new();
    for plan in ACCOUNTS {
        let created = operator.create_account(plan.name).await?;
        println!(
            "  account {}  {:<16}  API key {} (shown once)",
            created.id,
            plan.name,
            masked(&created.api_key)
        );
        accounts.push(WatchedAccount {
            api: AccountApi::new(http.clone(), operator.base(), &created.api_key),
            id: created.id,
            name: plan.name,
        });
    }
    pause().await;
    Ok(accounts)
}

/// Step 3: each account creates its secret, reads it back, and gives it to its receiver.
async fn start_receivers(
    context: &Context<'_>,
    parts: &mut Parts,
    accounts: &[WatchedAccount],
) -> anyhow::Result<()> {
    let terminal = context.terminal;
    terminal.step(
        3,
        STEPS,
        "Each account creates its webhook secret and starts a reference receiver with it",
        "POST /api/account/secret/regenerate, GET /api/account/secret  (api_key: <key>)",
    );
    for (plan, account) in ACCOUNTS.iter().zip(accounts) {
        let secret = account.api.regenerate_secret().await?;
        anyhow::ensure!(
            account.api.secret().await? == secret,
            "GET /api/account/secret did not return the secret just created"
        );
        let store = context.dir.join(format!("receiver-{}.db", account.id));
        let receiver =
            receiver::start(&secret, &store, plan.outage, context.shutdown.clone()).await?;
        println!(
            "  {:<16}  secret {}  receiver {}",
            plan.name,
            masked(&secret),
            receiver.url
        );
        if plan.outage > 0 {
            let outage = format!(
                "simulated outage: this receiver answers 503 to its first {} deliveries",
                plan.outage
            );
            println!("  {:<16}  {}", "", terminal.paint(&outage, Tone::Bad));
        }
        parts.receivers.push(receiver);
    }
    pause().await;
    Ok(())
}

/// Step 4: each account subscribes its receiver, which answers the service's URL challenge.
async fn subscribe(
    context: &Context<'_>,
    parts: &Parts,
    accounts: &[WatchedAccount],
) -> anyhow::Result<()> {
    context.terminal.step(
        4,
        STEPS,
        "Each account registers its opt-out webhook",
        "POST /api/subscriptions/opt-out  (the service first calls GET <url>?challenge=...)",
    );
    for (account, receiver) in accounts.iter().zip(&parts.receivers) {
        let subscription = account
            .api
            .subscribe(&receiver.url, "Opt-out webhook")
            .await?;
        println!(
            "  {:<16}  subscription {}  challenge answered, active: {}",
            account.name,
            client::text(&subscription, "id")?,
            subscription["isActive"]
        );
    }
    pause().await;
    Ok(())
}

/// Step 5: the exposure ledger, who received which datapoints.
async fn record_exposures(
    context: &Context<'_>,
    operator: &Operator,
    accounts: &[WatchedAccount],
) -> anyhow::Result<()> {
    context.terminal.step(
        5,
        STEPS,
        "The operator records which account received which datapoints",
        "POST /admin/exposures",
    );
    let mut items = Vec::new();
    for exposure in EXPOSURES {
        let account = &accounts[exposure.account];
        let kinds: Vec<&str> = exposure
            .datapoints()
            .into_iter()
            .map(|(kind, _)| kind)
            .collect();
        println!(
            "  contact {}  {:<12}  -> {}",
            CONTACTS[exposure.contact].id,
            kinds.join(", "),
            account.name
        );
        items.push(exposure.to_json(&account.id));
    }
    let intake = operator.record_exposures(&items).await?;
    println!(
        "  {} datapoints recorded in the exposure ledger",
        intake["accepted"]
    );
    pause().await;
    Ok(())
}

/// Step 6: the opt-outs, one at a time, with every delivery attempt shown as it happens;
/// returns the notices made and, once all are delivered, the compliance records.
async fn opt_out_live(
    context: &Context<'_>,
    operator: &Operator,
    view: &mut LiveView,
) -> anyhow::Result<(u64, Vec<Value>)> {
    let terminal = context.terminal;
    terminal.step(
        6,
        STEPS,
        "Three contacts opt out; watch the notices being delivered",
        "POST /admin/opt-outs, then GET /api/audit-logs of each account every 200 ms",
    );
    let mut notices = 0;
    for (index, contact) in CONTACTS.iter().filter(|c| c.opts_out).enumerate() {
        if index > 0 {
            view.watch_for(OPT_OUT_SPACING).await?;
        }
        let idempotency_key = format!("demo-opt-out-{}", contact.id);
        let recorded = operator
            .record_opt_out(&contact.opt_out_json(), &idempotency_key)
            .await?;
        let record = operator.compliance_record(&recorded.id).await?;
        view.follow(&record)?;
        let to: Vec<&str> = recipients(&record)
            .map(|recipient| view.account_name(recipient["accountId"].as_str().unwrap_or("")))
            .collect();
        let plural = if recorded.notices == 1 { "" } else { "s" };
        println!(
            "  {} contact {} opts out: {} notice{plural}, to {}",
            terminal.paint(">>", Tone::Bold),
            contact.id,
            recorded.notices,
            to.join(" and ")
        );
        notices += recorded.notices;
    }
    let records = view
        .watch_until_delivered(context.deadline)
        .await
        .with_context(|| format!("the demo did not finish within {} s", DEADLINE.as_secs()))?;
    pause().await;
    Ok((notices, records))
}

/// Step 7: the compliance records, and each receiver's list checked against the ledger.
async fn show_records(
    context: &Context<'_>,
    parts: &Parts,
    view: &LiveView,
    records: &[Value],
) -> anyhow::Result<()> {
    context.terminal.step(
        7,
        STEPS,
        "The compliance record of each opt-out, and what each receiver applied",
        "GET /admin/opt-outs/{id}; each receiver's suppression list",
    );
    report::print_compliance(context.terminal, view, records)?;
    println!();
    let receivers: Vec<report::ReceiverReport<'_>> = parts
        .receivers
        .iter()
        .enumerate()
        .map(|(account, receiver)| report::ReceiverReport {
            account,
            store: &receiver.store,
        })
        .collect();
    report::print_receivers(context.terminal, &receivers).await
}

/// Reading time between steps.
async fn pause() {
    tokio::time::sleep(STEP_PAUSE).await;
}

/// The start of a key or secret: enough to tell them apart, too little to use.
fn masked(secret: &str) -> String {
    let shown: String = secret.chars().take(8).collect();
    format!("{shown}...")
}
