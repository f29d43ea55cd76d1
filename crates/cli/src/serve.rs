//! `optout-relay serve`: the API server and the delivery engine until SIGINT or SIGTERM.

use anyhow::Context;
use optout_core::rate_limit::RateLimit;
use optout_core::{SystemClock, UrlPolicy};
use optout_server::{App, AppConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::ServeArgs;
use crate::{admin_token, database, delivery, master_key, signals};

/// The window `--rate-limit` counts requests in.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Runs the server until a shutdown signal, then drains in-flight requests and deliveries.
pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let migrations = if args.no_migrate {
        database::Migrations::Skip
    } else {
        database::Migrations::Apply
    };
    let opened = database::open(&args.database.database_url, migrations).await?;
    crate::writer_priority::favour_store_writer();
    let admin_token = admin_token::resolve(args.admin_token, &opened.data_dir)?;
    let keyring = master_key::prepare(&opened, args.master_key.master_key.as_deref()).await?;
    let mut config = AppConfig::new(admin_token, keyring);
    config.url_policy = UrlPolicy {
        allow_insecure: args.allow_insecure_urls,
    };
    delivery::apply_targets(&args.targets, &mut config);
    config.url_challenge = !args.no_url_challenge;
    delivery::apply(&args.delivery, &mut config);
    config.rate_limit = RateLimit::new(args.rate_limit, RATE_WINDOW);
    config.header_timeout = args.header_timeout;
    config.body_timeout = args.body_timeout;
    let allow_private_targets = args.targets.allow_private_targets;
    if args.allow_insecure_urls || allow_private_targets || args.no_url_challenge {
        tracing::warn!(
            allow_insecure_urls = args.allow_insecure_urls,
            allow_private_targets,
            url_challenge = config.url_challenge,
            "development settings are on: do not expose this instance"
        );
    }
    let app = App::new(opened.store, config, Arc::new(SystemClock))?;
    // Handlers are installed before the server says it listens: a signal sent from then on
    // always shuts down gracefully.
    let shutdown = CancellationToken::new();
    signals::cancel_on_signal(shutdown.clone())?;
    // Work committed by another node wakes this node's engine at once.
    let wakeups = database::forward_wakeups(
        opened.postgres_url.as_deref(),
        app.work_signal(),
        shutdown.clone(),
    )
    .await?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, "optout-relay listening");
    let engine = (!args.no_delivery).then(|| {
        let engine = app.delivery_engine(delivery::engine_config(&args.delivery));
        tokio::spawn(engine.run(shutdown.clone()))
    });
    let retention = tokio::spawn(app.retention(args.retention.policy(), shutdown.clone()));
    app.run(listener, shutdown.clone()).await?;
    if let Some(engine) = engine {
        engine.await.context("the delivery engine panicked")?;
    }
    retention.await.context("the retention purge panicked")?;
    if let Some(wakeups) = wakeups {
        wakeups.await.context("the work listener panicked")?;
    }
    tracing::info!("optout-relay stopped");
    Ok(())
}
