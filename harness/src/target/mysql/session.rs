//! Session setup, as mysql-tester does it for every connection.
//!
//! mysql-tester puts `time_zone='Asia/Shanghai'` in its DSN, which makes the
//! Go driver run `SET time_zone = 'Asia/Shanghai'` on connect. When
//! `SELECT tidb_version()` works, it also sets the `tidb_*` variables below
//! so that plans and chunking are the same on every run.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::connection::{run_text_query, SessionInfo};
use crate::target::Outcome;

/// The session time zone of mysql-tester's DSN.
pub const TIME_ZONE: &str = "Asia/Shanghai";

/// The fixed offset used when the server has no time zone tables.
/// Asia/Shanghai has been UTC+8 without daylight saving time since 1992,
/// so the two agree for every later timestamp.
pub const TIME_ZONE_OFFSET: &str = "+08:00";

/// `ER_UNKNOWN_TIME_ZONE`: the server does not know the named zone
/// (MySQL and MariaDB without loaded `mysql.time_zone*` tables).
const ER_UNKNOWN_TIME_ZONE: u16 = 1298;

/// The session variables mysql-tester sets on TiDB, in its order.
pub const TIDB_SESSION_SETTINGS: &[&str] = &[
    "SET @@tidb_init_chunk_size = 1",
    "SET @@tidb_max_chunk_size = 32",
    "SET @@tidb_multi_statement_mode = 1",
    "SET @@tidb_hash_join_concurrency = 1",
    "SET @@tidb_enable_pseudo_for_outdated_stats = false",
    "SET @@tidb_enable_analyze_snapshot = 1",
    "SET @@tidb_enable_clustered_index = 'int_only'",
];

/// Sets the time zone, reads the server version and, on TiDB, applies
/// [`TIDB_SESSION_SETTINGS`]. Any error fails the connection.
pub(super) async fn set_up(conn: &mut Conn) -> Result<SessionInfo, mysql_async::Error> {
    let time_zone = set_time_zone(conn).await?;

    let server_version = first_cell(conn, "SELECT VERSION()").await?;

    let tidb_version = match first_cell(conn, "SELECT tidb_version()").await {
        Ok(version) => Some(version),
        Err(mysql_async::Error::Server(_)) => None,
        Err(other) => return Err(other),
    };

    if tidb_version.is_some() {
        for statement in TIDB_SESSION_SETTINGS {
            if let Err(error) = conn.query_drop(*statement).await {
                tracing::error!(%error, statement, "TiDB session setting failed");
                return Err(error);
            }
        }
    }

    Ok(SessionInfo {
        server_version,
        tidb_version,
        time_zone,
    })
}

/// Sets [`TIME_ZONE`], falling back to [`TIME_ZONE_OFFSET`] when the server
/// does not know the zone name. Returns the value set.
async fn set_time_zone(conn: &mut Conn) -> Result<String, mysql_async::Error> {
    let named = format!("SET time_zone = '{TIME_ZONE}'");
    match conn.query_drop(named).await {
        Ok(()) => Ok(TIME_ZONE.to_string()),
        Err(mysql_async::Error::Server(error)) if error.code == ER_UNKNOWN_TIME_ZONE => {
            tracing::debug!(
                "server has no time zone tables; using time_zone '{TIME_ZONE_OFFSET}' for '{TIME_ZONE}'"
            );
            conn.query_drop(format!("SET time_zone = '{TIME_ZONE_OFFSET}'"))
                .await?;
            Ok(TIME_ZONE_OFFSET.to_string())
        }
        Err(other) => Err(other),
    }
}

/// The first cell of the first row, or an empty string when there is none.
async fn first_cell(conn: &mut Conn, sql: &str) -> Result<String, mysql_async::Error> {
    let Outcome::Rows(result) = run_text_query(conn, sql).await? else {
        return Ok(String::new());
    };
    let cell = result
        .rows
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next());
    Ok(cell.flatten().unwrap_or_default())
}
