//! The benchmark's receiver: answers 200 at once and notes when each notice arrived.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the receiver has seen.
#[derive(Debug)]
pub struct Arrivals {
    /// POSTs received, duplicates included.
    pub count: AtomicU64,
    /// `(contact number, arrival)` of every notice that carried a `bench-N` contact id.
    pub times: Mutex<Vec<(u64, Instant)>>,
}

/// Starts the receiver on 127.0.0.1:0 until `shutdown`, with room for `expected` arrivals
/// (the record of arrivals then never moves while notices arrive, nor takes twice its size).
pub async fn spawn(
    shutdown: CancellationToken,
    expected: u64,
) -> anyhow::Result<(SocketAddr, Arc<Arrivals>)> {
    let arrivals = Arc::new(Arrivals {
        count: AtomicU64::new(0),
        times: Mutex::new(Vec::with_capacity(usize::try_from(expected)?)),
    });
    let router = Router::new()
        .route("/hook", post(receive))
        .route("/raw", post(|| async { StatusCode::OK }))
        .with_state(Arc::clone(&arrivals));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(error) = served {
            eprintln!("bench receiver stopped: {error}");
        }
    });
    Ok((address, arrivals))
}

async fn receive(State(arrivals): State<Arc<Arrivals>>, body: Bytes) -> StatusCode {
    let now = Instant::now();
    arrivals.count.fetch_add(1, Ordering::Relaxed);
    if let Some(contact) = contact_number(&body) {
        arrivals
            .times
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((contact, now));
    }
    StatusCode::OK
}

/// The N of `"contactId":"bench-N"`, found without parsing the whole body.
fn contact_number(body: &[u8]) -> Option<u64> {
    const MARKER: &[u8] = b"\"contactId\":\"bench-";
    let start = body
        .windows(MARKER.len())
        .position(|window| window == MARKER)?
        + MARKER.len();
    let digits = body[start..]
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    std::str::from_utf8(&body[start..start + digits])
        .ok()?
        .parse()
        .ok()
}
