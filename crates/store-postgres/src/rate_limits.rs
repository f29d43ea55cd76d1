//! Rate-limit counters of the account API, in a table every node shares.
//!
//! The limit holds across nodes because the count and the check are one conditional upsert:
//! `hits` only grows while it is under the bound, so concurrent requests on several nodes can
//! never count more than the limit between them.

use optout_core::rate_limit::{RateDecision, RateLimit};
use optout_core::AccountId;
use optout_store::StoreError;
use sqlx::PgPool;

use crate::error::map_err;

/// Decides one request of `account_id` at `unix_ms`, counting it if allowed.
pub(crate) async fn take_slot(
    pool: &PgPool,
    account_id: &AccountId,
    limit: RateLimit,
    unix_ms: i64,
) -> Result<RateDecision, StoreError> {
    let position = limit.position(unix_ms);
    let rows: Vec<(i64, i32)> = sqlx::query_as(
        "SELECT window_start, hits FROM rate_limit_windows
         WHERE account_id = $1 AND window_start IN ($2, $3)",
    )
    .bind(account_id.as_str())
    .bind(position.start)
    .bind(position.previous_start)
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    let hits_of = |start: i64| {
        rows.iter()
            .find(|(window_start, _)| *window_start == start)
            .map_or(0, |(_, hits)| u32::try_from(*hits).unwrap_or(0))
    };
    let previous = hits_of(position.previous_start);
    let current = hits_of(position.start);
    let bound = limit.current_bound(previous, &position);
    if current >= bound {
        return Ok(limit.decide(previous, current, &position));
    }
    let counted: Option<(i32, bool)> = sqlx::query_as(
        "INSERT INTO rate_limit_windows (account_id, window_start, hits) VALUES ($1, $2, 1)
         ON CONFLICT (account_id, window_start)
         DO UPDATE SET hits = rate_limit_windows.hits + 1 WHERE rate_limit_windows.hits < $3
         RETURNING hits, (xmax = 0) AS inserted",
    )
    .bind(account_id.as_str())
    .bind(position.start)
    .bind(i32::try_from(bound).unwrap_or(i32::MAX))
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    match counted {
        Some((hits, inserted)) => {
            if inserted {
                // A new window began for this account: windows before the previous one no
                // longer weigh anything.
                sqlx::query(
                    "DELETE FROM rate_limit_windows WHERE account_id = $1 AND window_start < $2",
                )
                .bind(account_id.as_str())
                .bind(position.previous_start)
                .execute(pool)
                .await
                .map_err(map_err)?;
            }
            let hits = u32::try_from(hits).unwrap_or(bound);
            Ok(RateDecision::Allowed {
                remaining: bound.saturating_sub(hits),
            })
        }
        // Other nodes filled the window between the read and the upsert.
        None => Ok(limit.decide(previous, bound, &position)),
    }
}
