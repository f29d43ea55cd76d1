//! The locks that order concurrent use cases, where the SQLite backend has a single writer.
//!
//! Every use case takes its locks in this one order, so no two ever wait for each other in a
//! cycle: advisory locks first (account allocation, then contact buckets in ascending order),
//! then account rows in ascending id order, then notice rows. Claims lock notice rows only and
//! skip locked ones, so they never wait at all.

use sqlx::PgConnection;

use crate::error::map_err;
use optout_store::StoreError;

/// First key of every advisory lock this crate takes ("oor" in ASCII), so that other
/// applications sharing the database do not collide with ours.
const NAMESPACE: i32 = 0x006f_6f72;
/// Second key of the lock that serialises account id allocation.
const ACCOUNT_ALLOCATION: i32 = 0;
/// Contacts hash into this many advisory locks. An exposure intake takes every bucket its
/// contacts fall in, so the number bounds the locks one transaction holds (PostgreSQL's lock
/// table is sized for about 64 per transaction); collisions only make unrelated contacts wait
/// for a few milliseconds.
const CONTACT_BUCKETS: u32 = 64;

/// Serialises allocation of account ids until the transaction ends.
pub(crate) async fn lock_account_allocation(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(NAMESPACE)
        .bind(ACCOUNT_ALLOCATION)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// How a use case holds the contacts it touches.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ContactAccess {
    /// Exposure intake: many intakes may run together.
    Shared,
    /// Opt-out: alone with the contact, so no exposure lands between reading the ledger and
    /// recording the suppression.
    Exclusive,
}

/// Locks the buckets of `contacts` until the transaction ends.
pub(crate) async fn lock_contacts<'a>(
    conn: &mut PgConnection,
    contacts: impl IntoIterator<Item = &'a str>,
    access: ContactAccess,
) -> Result<(), StoreError> {
    let mut buckets: Vec<i32> = contacts.into_iter().map(contact_bucket).collect();
    buckets.sort_unstable();
    buckets.dedup();
    if buckets.is_empty() {
        return Ok(());
    }
    // UNNEST yields the array in order, so the locks are taken in ascending order.
    let sql = match access {
        ContactAccess::Shared => {
            "SELECT pg_advisory_xact_lock_shared($1, b) FROM UNNEST($2::int4[]) AS b"
        }
        ContactAccess::Exclusive => {
            "SELECT pg_advisory_xact_lock($1, b) FROM UNNEST($2::int4[]) AS b"
        }
    };
    sqlx::query(sql)
        .bind(NAMESPACE)
        .bind(buckets)
        .execute(conn)
        .await
        .map_err(map_err)?;
    Ok(())
}

/// The bucket of a contact: FNV-1a of its id, offset past [`ACCOUNT_ALLOCATION`]. Computed here
/// rather than with PostgreSQL's `hashtext`, whose values are not a stable interface.
fn contact_bucket(contact: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in contact.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    // Below CONTACT_BUCKETS + 1, so it fits an i32.
    (hash % CONTACT_BUCKETS + 1) as i32
}

/// How a use case holds the accounts it touches.
#[derive(Debug, Clone, Copy)]
pub(crate) enum AccountAccess {
    /// Decides from the account's subscription whether new notices are queued or held.
    Share,
    /// Changes whether the account has an active subscription, and holds or releases its
    /// notices to match. Does not block foreign-key checks, unlike `FOR UPDATE`.
    Change,
}

/// Locks the rows of `accounts` until the transaction ends, in ascending id order. Returns the
/// ids that exist.
pub(crate) async fn lock_accounts(
    conn: &mut PgConnection,
    accounts: &[&str],
    access: AccountAccess,
) -> Result<Vec<String>, StoreError> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let sql = match access {
        AccountAccess::Share => "SELECT id FROM accounts WHERE id = ANY($1) ORDER BY id FOR SHARE",
        AccountAccess::Change => {
            "SELECT id FROM accounts WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE"
        }
    };
    sqlx::query_scalar(sql)
        .bind(accounts)
        .fetch_all(conn)
        .await
        .map_err(map_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_buckets_stay_in_range_and_apart_from_allocation() {
        for contact in ["", "1", "987654321", "a much longer contact id with spaces"] {
            let bucket = contact_bucket(contact);
            assert!((1..=CONTACT_BUCKETS as i32).contains(&bucket));
            assert_ne!(bucket, ACCOUNT_ALLOCATION);
        }
        assert_eq!(contact_bucket("987654321"), contact_bucket("987654321"));
    }
}
