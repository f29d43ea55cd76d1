//! `optout-relay receive`: the reference receiver until SIGINT or SIGTERM.

use anyhow::Context;
use optout_receiver::{receiver_router, ReceiverConfig, ReceiverState, SuppressionStore};
use optout_webhook::Secret;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::ReceiveArgs;
use crate::signals;

/// How long a sender has to send a request's head to the receiver.
const RECEIVER_HEADER_TIMEOUT: Duration = optout_server::config::DEFAULT_HEADER_TIMEOUT;

/// Serves the receiver until a shutdown signal, then finishes in-flight requests.
pub async fn run(args: ReceiveArgs) -> anyhow::Result<()> {
    if args
        .secrets
        .secrets
        .iter()
        .any(|secret| secret.trim().is_empty())
    {
        anyhow::bail!("--secret must not be empty");
    }
    let path = &args.store.store;
    let store = SuppressionStore::open(path)
        .await
        .with_context(|| format!("cannot open the suppression store {}", path.display()))?;
    let mut config =
        ReceiverConfig::new(args.secrets.secrets.into_iter().map(Secret::new).collect());
    config.tolerance = Duration::from_secs(args.tolerance_secs);
    let router = receiver_router(ReceiverState::new(config, store.clone()));
    // Handlers are installed before the receiver says it listens: a signal sent from then on
    // always shuts down gracefully.
    let shutdown = CancellationToken::new();
    signals::cancel_on_signal(shutdown.clone())?;
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, store = %path.display(),
        "optout-relay receiver listening");
    // Receivers face the internet too: request heads must arrive in time.
    optout_server::http_server::serve(listener, router, shutdown, RECEIVER_HEADER_TIMEOUT)
        .await
        .context("the receiver failed")?;
    store.close().await;
    tracing::info!("optout-relay receiver stopped");
    Ok(())
}
