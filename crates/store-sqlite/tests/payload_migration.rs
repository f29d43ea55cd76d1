//! Upgrading a database from before notice bodies had a table of their own: every kept body
//! moves with its notice, a purged one stays gone, and the queue's rows lose the column.

use chrono::{TimeZone, Utc};
use optout_store::Store;
use optout_store_sqlite::SqliteStore;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::path::Path;

/// The migrations before the move, applied from copies of their files.
async fn migrate_to_before_the_move(db: &Path, scratch: &Path) {
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let before = scratch.join("migrations");
    std::fs::create_dir(&before).expect("migrations copy directory");
    for entry in std::fs::read_dir(&migrations).expect("migrations directory") {
        let entry = entry.expect("a migration file");
        let name = entry.file_name();
        if name.to_string_lossy().as_ref() < "0007" {
            std::fs::copy(entry.path(), before.join(&name)).expect("copy a migration");
        }
    }
    let mut conn = SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true)
        .connect()
        .await
        .expect("connect");
    let migrator = sqlx::migrate::Migrator::new(before.as_path())
        .await
        .expect("the earlier migrations");
    migrator.run(&mut conn).await.expect("migrate");
    sqlx::raw_sql(
        "INSERT INTO opt_outs (id, contact_id, opted_out_at, recorded_at, notices)
         VALUES ('6560a0000000000000000001', 'c-1', 1000, 1000, 3);
         INSERT INTO notices (id, opt_out_id, account_id, payload, state, next_attempt_at,
                              created_at, delivered_at, payload_purged_at, datapoint_evidence)
         VALUES ('6560a0000000000000000011', '6560a0000000000000000001', 'acct-a',
                 CAST('{\"waiting\":1}' AS BLOB), 'waiting', 1000, 1000, NULL, NULL, NULL),
                ('6560a0000000000000000012', '6560a0000000000000000001', 'acct-b',
                 CAST('{\"delivered\":1}' AS BLOB), 'delivered', 2000, 1000, 2000, NULL, NULL),
                ('6560a0000000000000000013', '6560a0000000000000000001', 'acct-c',
                 X'', 'delivered', 2000, 1000, 2000, 9000, '{\"salt\":\"00\",\"hashes\":[]}');",
    )
    .execute(&mut conn)
    .await
    .expect("rows of the earlier schema");
    conn.close().await.expect("close");
}

#[tokio::test]
async fn kept_bodies_move_to_their_own_table_and_purged_ones_stay_gone() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("store.db");
    migrate_to_before_the_move(&db, dir.path()).await;

    let store = SqliteStore::open(&db).await.expect("open and migrate");
    let purgeable = store
        .list_purgeable_payloads(Utc.timestamp_millis_opt(3000).unwrap(), 10)
        .await
        .expect("purgeable bodies");
    assert_eq!(purgeable.len(), 1);
    assert_eq!(
        purgeable[0].notice_id.to_string(),
        "6560a0000000000000000012"
    );
    assert_eq!(purgeable[0].payload, b"{\"delivered\":1}");
    store.close().await;

    let mut conn = SqliteConnectOptions::new()
        .filename(&db)
        .connect()
        .await
        .expect("connect");
    let bodies: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT notice_id, payload FROM notice_payloads ORDER BY notice_id")
            .fetch_all(&mut conn)
            .await
            .expect("bodies");
    assert_eq!(
        bodies,
        [
            (
                "6560a0000000000000000011".to_owned(),
                b"{\"waiting\":1}".to_vec()
            ),
            (
                "6560a0000000000000000012".to_owned(),
                b"{\"delivered\":1}".to_vec()
            ),
        ]
    );
    let payload_columns: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pragma_table_info('notices') WHERE name = 'payload'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("columns");
    assert_eq!(payload_columns, 0);
    let notices: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notices")
        .fetch_one(&mut conn)
        .await
        .expect("notices");
    assert_eq!(notices, 3);
}
