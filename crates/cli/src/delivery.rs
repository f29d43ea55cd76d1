//! Turning the delivery and target flags into configuration, and `optout-relay worker`.

use anyhow::Context;
use optout_core::{RetryPolicy, SystemClock};
use optout_server::{AdminToken, App, AppConfig, EngineConfig};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use crate::cli::{DeliveryArgs, TargetArgs, WorkerArgs};
use crate::{database, master_key, signals};

/// Jitter of retry delays: ±20 % spreads retries of notices that failed together.
const RETRY_JITTER: f64 = 0.2;

/// The engine configuration the flags ask for.
pub fn engine_config(args: &DeliveryArgs) -> EngineConfig {
    let mut config = EngineConfig::new(args.attempt_timeout);
    config.concurrency = args.delivery_concurrency as usize;
    config.per_subscription = args.subscription_concurrency as usize;
    config.retry = RetryPolicy::new(args.retry_schedule.0.clone(), RETRY_JITTER);
    config
}

/// Applies the delivery flags to the application configuration.
pub fn apply(args: &DeliveryArgs, config: &mut AppConfig) {
    config.attempt_timeout = args.attempt_timeout;
    config.standard_webhooks = !args.no_standard_webhooks;
    config.user_agent = args.user_agent.clone();
}

/// Applies the SSRF guard's flags to the application configuration; `serve` and `worker` must
/// agree, or a URL accepted by one would be refused by the other.
pub fn apply_targets(args: &TargetArgs, config: &mut AppConfig) {
    config.allow_private_targets = args.allow_private_targets;
    config.allowed_targets = args.allowed_targets.clone();
    if !args.allowed_targets.is_empty() {
        let ranges: Vec<String> = args
            .allowed_targets
            .iter()
            .map(ToString::to_string)
            .collect();
        tracing::info!(
            allowed_targets = ranges.join(","),
            "webhook targets in these ranges are allowed besides public addresses"
        );
    }
}

/// Runs the delivery engine alone until SIGINT or SIGTERM.
pub async fn run_worker(args: WorkerArgs) -> anyhow::Result<()> {
    let opened = database::open(&args.database.database_url, database::Migrations::Apply).await?;
    crate::writer_priority::favour_store_writer();
    // The worker serves no API; its admin token is never checked, so a throwaway one will do.
    let token = AdminToken::new("worker-serves-no-admin-api").map_err(anyhow::Error::msg)?;
    let keyring = master_key::prepare(&opened, args.master_key.master_key.as_deref()).await?;
    let mut config = AppConfig::new(token, keyring);
    apply(&args.delivery, &mut config);
    apply_targets(&args.targets, &mut config);
    if args.targets.allow_private_targets {
        tracing::warn!("private webhook targets are allowed: development settings are on");
    }
    let app = App::new(opened.store, config, Arc::new(SystemClock))?;
    let shutdown = CancellationToken::new();
    signals::cancel_on_signal(shutdown.clone())?;
    let wakeups = database::forward_wakeups(
        opened.postgres_url.as_deref(),
        app.work_signal(),
        shutdown.clone(),
    )
    .await?;
    let retention = tokio::spawn(app.retention(args.retention.policy(), shutdown.clone()));
    app.delivery_engine(engine_config(&args.delivery))
        .run(shutdown)
        .await;
    retention.await.context("the retention purge panicked")?;
    if let Some(wakeups) = wakeups {
        wakeups.await.context("the work listener panicked")?;
    }
    Ok(())
}
