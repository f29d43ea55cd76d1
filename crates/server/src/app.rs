//! One running instance: state, router, delivery engine, and the serve loop.

use axum::Router;
use optout_core::Clock;
use optout_store::Store;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, state::AppState};
use crate::config::AppConfig;
use crate::delivery::{
    DeliveryEngine, EngineConfig, EngineParts, Handoff, Sender, SenderConfig, WorkSignal,
};
use crate::http_server;
use crate::metrics::{self, Metrics};
use crate::retention::{self, RetentionPolicy};
use crate::target_guard::TargetGuard;

/// Idle keep-alive connections kept per receiver host: as many as deliveries in flight by
/// default, so a busy receiver's connections are reused instead of reopened.
const IDLE_CONNECTIONS_PER_HOST: usize = 256;

/// How often the queue is sampled for the dashboard's chart: an hour of history in 360 points.
const QUEUE_SAMPLE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// The application: everything needed to serve the API and deliver notices.
#[derive(Debug, Clone)]
pub struct App {
    state: AppState,
}

impl App {
    /// Builds the application on `store`, configured by `config`, telling time by `clock`.
    pub fn new(
        store: Arc<dyn Store>,
        config: AppConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let guard = TargetGuard::new(config.target_policy());
        let sender = Sender::new(SenderConfig {
            attempt_timeout: config.attempt_timeout,
            user_agent: config.user_agent.clone(),
            standard_webhooks: config.standard_webhooks,
            idle_connections_per_host: IDLE_CONNECTIONS_PER_HOST,
            target_policy: config.target_policy(),
        })?;
        let handoff = Handoff::new();
        Ok(Self {
            state: AppState {
                opt_out_commits: crate::group_commit::OptOutCommits::new(
                    Arc::clone(&store),
                    handoff.clone(),
                ),
                handoff,
                store,
                clock,
                config: Arc::new(config),
                guard,
                signal: WorkSignal::new(),
                sender,
                metrics: Arc::new(Metrics::new()),
            },
        })
    }

    /// The API as an axum router (for embedding or `tower::ServiceExt::oneshot`).
    pub fn router(&self) -> Router {
        api::router(self.state.clone())
    }

    /// The delivery engine of this instance, woken by the API's commits. While it runs, the
    /// opt-out intake hands it fresh notices directly (see [`Handoff`]).
    pub fn delivery_engine(&self, config: EngineConfig) -> DeliveryEngine {
        let parts = EngineParts {
            store: Arc::clone(&self.state.store),
            sender: self.state.sender.clone(),
            keyring: self.state.config.keyring.clone(),
            clock: Arc::clone(&self.state.clock),
            signal: self.state.signal.clone(),
            metrics: Arc::clone(&self.state.metrics),
            handoff: self.state.handoff.clone(),
        };
        DeliveryEngine::new(parts, config)
    }

    /// The retention purge of this instance's store, on its clock: runs at once, then every
    /// `policy.interval`, until `shutdown` is cancelled.
    pub fn retention(
        &self,
        policy: RetentionPolicy,
        shutdown: CancellationToken,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        retention::run_retention(
            Arc::clone(&self.state.store),
            Arc::clone(&self.state.clock),
            policy,
            shutdown,
        )
    }

    /// The signal that wakes this instance's delivery engine.
    pub fn work_signal(&self) -> WorkSignal {
        self.state.signal.clone()
    }

    /// This instance's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.state.metrics)
    }

    /// Serves the API on `listener` until `shutdown` is cancelled, then finishes in-flight
    /// requests and returns. Samples the queue for the dashboard meanwhile.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let sampler = tokio::spawn(metrics::run_sampler(
            Arc::clone(&self.state.store),
            Arc::clone(&self.state.clock),
            Arc::clone(&self.state.metrics),
            QUEUE_SAMPLE_INTERVAL,
            shutdown.child_token(),
        ));
        let header_timeout = self.state.config.header_timeout;
        let served = http_server::serve(listener, self.router(), shutdown, header_timeout).await;
        sampler.abort();
        served
    }
}
