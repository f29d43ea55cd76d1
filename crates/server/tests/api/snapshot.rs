//! Every row of every table of a SQLite file, as a comparable value.
//!
//! A request that fails must change nothing; comparing the whole database before and after it
//! proves that without knowing which table a bug would touch.

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Column, Connection, Row, SqliteConnection, TypeInfo, ValueRef};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// One cell, decoded by its SQLite storage class.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum Cell {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// One table: its column names and its rows, sorted so that row order does not matter.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Cell>>,
}

/// Every table of a database, by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub tables: BTreeMap<String, Table>,
}

/// Opens a connection of its own to `db_path`.
pub async fn connect(db_path: &Path, read_only: bool) -> SqliteConnection {
    let options = SqliteConnectOptions::new()
        .filename(db_path)
        .read_only(read_only)
        .busy_timeout(Duration::from_secs(10));
    SqliteConnection::connect_with(&options)
        .await
        .expect("open the test database")
}

/// Reads every table of the database at `db_path`.
pub async fn snapshot(db_path: &Path) -> Snapshot {
    let mut conn = connect(db_path, true).await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .expect("list tables");
    let mut tables = BTreeMap::new();
    for name in names {
        let sql = format!("SELECT * FROM \"{}\"", name.replace('"', "\"\""));
        let rows = sqlx::query(&sql)
            .fetch_all(&mut conn)
            .await
            .expect("read table");
        let columns: Vec<String> = match rows.first() {
            Some(row) => row.columns().iter().map(|c| c.name().to_owned()).collect(),
            None => Vec::new(),
        };
        let mut decoded: Vec<Vec<Cell>> = rows
            .iter()
            .map(|row| (0..row.len()).map(|index| cell(row, index)).collect())
            .collect();
        decoded.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        tables.insert(
            name,
            Table {
                columns,
                rows: decoded,
            },
        );
    }
    conn.close().await.expect("close the snapshot connection");
    Snapshot { tables }
}

fn cell(row: &sqlx::sqlite::SqliteRow, index: usize) -> Cell {
    let raw = row.try_get_raw(index).expect("raw cell");
    if raw.is_null() {
        return Cell::Null;
    }
    let class = raw.type_info().name().to_owned();
    match class.as_str() {
        "INTEGER" | "BOOLEAN" => Cell::Integer(row.get::<i64, _>(index)),
        "REAL" => Cell::Real(row.get::<f64, _>(index)),
        "TEXT" => Cell::Text(row.get::<String, _>(index)),
        "BLOB" => Cell::Blob(row.get::<Vec<u8>, _>(index)),
        other => panic!("unexpected SQLite storage class {other}"),
    }
}

/// Runs `sql` on the database behind the app's back, to set up states the API cannot reach
/// (a subscription blocked by the delivery engine, a second row for paging).
pub async fn execute(db_path: &Path, sql: &str) {
    let mut conn = connect(db_path, false).await;
    sqlx::query(sql)
        .execute(&mut conn)
        .await
        .expect("execute SQL on the test database");
    conn.close().await.expect("close the connection");
}
