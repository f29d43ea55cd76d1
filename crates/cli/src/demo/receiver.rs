//! The demo's receivers: the reference receiver (`optout-relay receive`'s router, verifying
//! every signature with its account's secret and keeping a suppression list), optionally
//! behind a simulated outage that answers 503 to its first deliveries.

use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use optout_receiver::{receiver_router, ReceiverConfig, ReceiverState, SuppressionStore};
use optout_webhook::Secret;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The path the receivers take deliveries on (the reference receiver accepts any).
const WEBHOOK_PATH: &str = "/optout-webhook";

/// A receiver serving on 127.0.0.1 until the demo's shutdown.
#[derive(Debug)]
pub struct RunningReceiver {
    /// The webhook URL to subscribe.
    pub url: String,
    /// Its suppression list.
    pub store: SuppressionStore,
    served: JoinHandle<std::io::Result<()>>,
}

/// How many deliveries a receiver refuses with 503 before it recovers; 0 for none.
#[derive(Debug)]
struct Outage {
    remaining: AtomicU32,
}

impl Outage {
    /// Whether this request falls in the outage; each call uses up one refusal.
    fn refuses(&self) -> bool {
        self.remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

/// Starts a reference receiver trusting `secret`, keeping its list in `store_path`, that
/// answers 503 to its first `outage` deliveries (URL challenges are always answered).
pub async fn start(
    secret: &str,
    store_path: &Path,
    outage: u32,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningReceiver> {
    let store = SuppressionStore::open(store_path)
        .await
        .with_context(|| format!("cannot open the receiver store {}", store_path.display()))?;
    let config = ReceiverConfig::new(vec![Secret::new(secret)]);
    let outage = Arc::new(Outage {
        remaining: AtomicU32::new(outage),
    });
    let router = receiver_router(ReceiverState::new(config, store.clone()))
        .layer(middleware::from_fn_with_state(outage, simulate_outage));
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1")?;
    let url = format!("http://{}{WEBHOOK_PATH}", listener.local_addr()?);
    let served = tokio::spawn(optout_server::http_server::serve(
        listener,
        router,
        shutdown,
        optout_server::config::DEFAULT_HEADER_TIMEOUT,
    ));
    Ok(RunningReceiver { url, store, served })
}

impl RunningReceiver {
    /// Waits for the receiver to finish (after the shutdown token fired) and closes its store.
    pub async fn stop(self) -> anyhow::Result<()> {
        let served = self.served.await.context("the receiver panicked")?;
        self.store.close().await;
        served.context("the receiver failed")
    }
}

/// Answers 503 in place of the receiver while the outage lasts; only deliveries count.
async fn simulate_outage(
    State(outage): State<Arc<Outage>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::POST && outage.refuses() {
        return (StatusCode::SERVICE_UNAVAILABLE, "simulated outage").into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outage_refuses_exactly_its_count_then_recovers() {
        let outage = Outage {
            remaining: AtomicU32::new(2),
        };
        let answers: Vec<bool> = (0..4).map(|_| outage.refuses()).collect();
        assert_eq!(answers, [true, true, false, false]);
    }
}
