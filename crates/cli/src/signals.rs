//! Shutting down on SIGINT or SIGTERM.

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Installs SIGINT and SIGTERM handlers now, and cancels `shutdown` on the first of them.
pub fn cancel_on_signal(shutdown: CancellationToken) -> std::io::Result<()> {
    // Both handlers are registered here, synchronously, not when a spawned task first runs.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.recv() => tracing::info!("SIGINT received, shutting down"),
            _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
        }
        shutdown.cancel();
    });
    Ok(())
}
