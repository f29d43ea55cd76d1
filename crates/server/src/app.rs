//! One running instance: state, router, and the serve loop.

use axum::Router;
use optout_core::Clock;
use optout_store::Store;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::{self, state::AppState};
use crate::config::AppConfig;
use crate::target_guard::TargetGuard;

/// The application: everything needed to serve the API.
#[derive(Debug, Clone)]
pub struct App {
    state: AppState,
}

impl App {
    /// Builds the application on `store`, configured by `config`, telling time by `clock`.
    pub fn new(store: Arc<dyn Store>, config: AppConfig, clock: Arc<dyn Clock>) -> Self {
        let guard = TargetGuard::new(config.allow_private_targets);
        Self {
            state: AppState {
                store,
                clock,
                config: Arc::new(config),
                guard,
            },
        }
    }

    /// The API as an axum router (for embedding or `tower::ServiceExt::oneshot`).
    pub fn router(&self) -> Router {
        api::router(self.state.clone())
    }

    /// Serves the API on `listener` until `shutdown` is cancelled, then finishes in-flight
    /// requests and returns.
    pub async fn run(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        let router = self.router();
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
    }
}
