//! The demo's service: the real `optout_server::App` and its delivery engine, on a SQLite
//! database in the demo's temporary directory, configured through the same helpers as `serve`.

use anyhow::Context;
use optout_core::{Keyring, MasterKey, SystemClock, UrlPolicy};
use optout_server::{AdminToken, App, AppConfig};
use optout_store_sqlite::SqliteStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::cli::{DeliveryArgs, RetrySchedule, TargetArgs};
use crate::{admin_token, delivery};

/// Delays between attempts: short, so a failed delivery is retried while the user watches
/// (production defaults are 30 s, 2 min, 8 min).
pub const RETRY_SCHEDULE: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
];
/// Timeout of one attempt: the receivers are local and answer in milliseconds.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// Deliveries in flight at once: the demo makes a handful.
const CONCURRENCY: u32 = 16;

/// The service running on 127.0.0.1 until the demo's shutdown.
#[derive(Debug)]
pub struct Service {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The random admin token of this run.
    pub admin_token: String,
    /// The database file.
    pub database: PathBuf,
    store: Arc<SqliteStore>,
    api: JoinHandle<std::io::Result<()>>,
    engine: JoinHandle<()>,
}

/// The delivery flags `serve` would get for the demo.
fn delivery_args() -> DeliveryArgs {
    DeliveryArgs {
        retry_schedule: RetrySchedule(RETRY_SCHEDULE.to_vec()),
        attempt_timeout: ATTEMPT_TIMEOUT,
        delivery_concurrency: CONCURRENCY,
        subscription_concurrency: CONCURRENCY,
        user_agent: optout_server::config::DEFAULT_USER_AGENT.to_owned(),
        no_standard_webhooks: false,
    }
}

/// Starts the API and the delivery engine on a new database in `dir`, until `shutdown`.
pub async fn start(dir: &Path, shutdown: &CancellationToken) -> anyhow::Result<Service> {
    let database = dir.join("optout-relay.db");
    let store = Arc::new(
        SqliteStore::open(&database)
            .await
            .with_context(|| format!("cannot open the SQLite database {}", database.display()))?,
    );
    let token = admin_token::generate();
    let keyring = Keyring::new(MasterKey::generate(), Vec::new())?;
    let mut config = AppConfig::new(
        AdminToken::new(token.clone()).map_err(anyhow::Error::msg)?,
        keyring,
    );
    // The receivers listen on http://127.0.0.1: development settings, on a private instance.
    config.url_policy = UrlPolicy {
        allow_insecure: true,
    };
    delivery::apply_targets(
        &TargetArgs {
            allow_private_targets: true,
            allowed_targets: Vec::new(),
        },
        &mut config,
    );
    let deliveries = delivery_args();
    delivery::apply(&deliveries, &mut config);
    // The live view reads the audit log five times a second per account, above the default
    // 100 requests per minute; nobody else can reach this instance.
    config.rate_limit = None;
    let app = App::new(store.clone(), config, Arc::new(SystemClock))?;
    let engine = tokio::spawn(
        app.delivery_engine(delivery::engine_config(&deliveries))
            .run(shutdown.clone()),
    );
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on 127.0.0.1")?;
    let url = format!("http://{}", listener.local_addr()?);
    let api = tokio::spawn(app.run(listener, shutdown.clone()));
    Ok(Service {
        url,
        admin_token: token,
        database,
        store,
        api,
        engine,
    })
}

impl Service {
    /// Waits for the API and the engine to finish (after the shutdown token fired; in-flight
    /// deliveries are drained) and closes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        let served = self.api.await.context("the API panicked")?;
        self.engine.await.context("the delivery engine panicked")?;
        self.store.close().await;
        served.context("the API failed")
    }
}
