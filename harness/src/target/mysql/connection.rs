//! One session on a live server, with a blocking `execute`.
//!
//! Statements go over the text protocol (`COM_QUERY`), never as prepared
//! statements, so every cell is the text the server sends, exactly as
//! mysql-tester prints it.

use std::sync::Arc;
use std::time::Duration;

use futures::future::LocalBoxFuture;
use mysql_async::consts::ColumnType as WireType;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::errors::{client_error, ClientError};
use super::BlockingRuntime;
use crate::target::{Column, ColumnType, Connection, Outcome, ResultSet, SqlError};

/// How long dropping a connection waits for the server to take `COM_QUIT`.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A session on a live MySQL-protocol server.
///
/// `execute` blocks on the target's own Tokio runtime. Call it from a plain
/// thread (inside async code, through `tokio::task::spawn_blocking`). Inside
/// a runtime it returns an error instead of blocking.
pub struct MysqlConnection {
    runtime: Arc<BlockingRuntime>,
    /// `None` after the connection was lost.
    conn: Option<Conn>,
    address: String,
    session: SessionInfo,
}

/// What the session setup found out about the server.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionInfo {
    /// `SELECT VERSION()`.
    pub server_version: String,
    /// `SELECT tidb_version()`, or `None` when the server has no such
    /// function.
    pub tidb_version: Option<String>,
    /// The `time_zone` value the session runs with: `Asia/Shanghai`, or
    /// `+08:00` when the server has no time zone tables.
    pub time_zone: String,
}

impl MysqlConnection {
    pub(super) fn new(
        runtime: Arc<BlockingRuntime>,
        conn: Conn,
        address: String,
        session: SessionInfo,
    ) -> MysqlConnection {
        MysqlConnection {
            runtime,
            conn: Some(conn),
            address,
            session,
        }
    }

    /// What the session setup found out about the server.
    pub fn session(&self) -> &SessionInfo {
        &self.session
    }
}

impl MysqlConnection {
    /// Runs `work` on the session and blocks until it finishes. Server
    /// errors pass through. A client-side failure leaves the protocol state
    /// unknown, so it drops the session and later calls fail fast with
    /// "server has gone away".
    pub(super) fn run_blocking<T, F>(&mut self, work: F) -> Result<T, SqlError>
    where
        F: for<'c> FnOnce(&'c mut Conn) -> LocalBoxFuture<'c, Result<T, mysql_async::Error>>,
    {
        BlockingRuntime::ensure_outside_runtime()?;
        let Some(conn) = self.conn.as_mut() else {
            return Err(client_error(
                ClientError::ServerGone,
                &self.address,
                "the connection was lost by an earlier statement",
            ));
        };

        match self.runtime.block_on(work(conn)) {
            Ok(value) => Ok(value),
            Err(mysql_async::Error::Server(error)) => Err(SqlError {
                code: error.code,
                sqlstate: error.state,
                message: error.message,
            }),
            Err(error) => {
                tracing::warn!(address = %self.address, %error, "lost the connection to the server");
                self.conn = None;
                Err(client_error(
                    ClientError::ServerLost,
                    &self.address,
                    &error.to_string(),
                ))
            }
        }
    }
}

impl Connection for MysqlConnection {
    fn execute(&mut self, sql: &str) -> Result<Outcome, SqlError> {
        let sql = sql.to_string();
        self.run_blocking(move |conn| Box::pin(async move { run_text_query(conn, &sql).await }))
    }
}

impl Drop for MysqlConnection {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if BlockingRuntime::ensure_outside_runtime().is_err() {
            // Blocking is not allowed inside a runtime, so the disconnect
            // runs as a task on the target's runtime and is not awaited.
            self.runtime.spawn(async move {
                let _ = tokio::time::timeout(DISCONNECT_TIMEOUT, conn.disconnect()).await;
            });
            return;
        }
        let disconnect =
            async { tokio::time::timeout(DISCONNECT_TIMEOUT, conn.disconnect()).await };
        match self.runtime.block_on(disconnect) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::debug!(address = %self.address, %error, "disconnect failed"),
            Err(_) => tracing::debug!(address = %self.address, "disconnect timed out"),
        }
    }
}

/// Runs one statement and converts its result.
///
/// A statement text with several statements (`SELECT 1; SELECT 2`) gives
/// several result sets. The outcome is the last result set that has
/// columns. When none has columns, it is the affected-rows count and info
/// of the last one.
// NOTE: mysql-tester at HEAD prints every result set of a multi-statement,
// but `Outcome` carries one, so earlier result sets are not shown.
pub(super) async fn run_text_query(
    conn: &mut Conn,
    sql: &str,
) -> Result<Outcome, mysql_async::Error> {
    let mut result = conn.query_iter(sql).await?;
    let mut last_rows: Option<ResultSet> = None;
    let mut last_affected = Outcome::Affected {
        rows: 0,
        info: String::new(),
    };

    while let Some(columns) = result.columns() {
        // The OK packet values must be read before collecting, because
        // collecting moves on to the next result set's header.
        let affected = result.affected_rows();
        let info = result.info().into_owned();
        let rows: Vec<Row> = result.collect().await?;

        if columns.is_empty() {
            last_affected = Outcome::Affected {
                rows: affected,
                info,
            };
        } else {
            last_rows = Some(to_result_set(&columns, rows));
        }
    }

    // An error in a later result set of a multi-statement is pending here
    // and surfaces from this call.
    result.drop_result().await?;

    Ok(match last_rows {
        Some(rows) => Outcome::Rows(rows),
        None => last_affected,
    })
}

fn to_result_set(columns: &[mysql_async::Column], rows: Vec<Row>) -> ResultSet {
    let columns: Vec<Column> = columns
        .iter()
        .map(|column| Column {
            name: column.name_str().into_owned(),
            column_type: map_column_type(column.column_type()),
        })
        .collect();

    let rows = rows
        .into_iter()
        .map(|row| row.unwrap().into_iter().map(cell_text).collect())
        .collect();

    ResultSet { columns, rows }
}

/// The text of one text-protocol cell; `None` for NULL.
fn cell_text(value: Value) -> Option<String> {
    match value {
        Value::NULL => None,
        // NOTE: a cell that is not UTF-8 (binary data, latin1 columns) is
        // shown with U+FFFD replacement characters, so it compares unequal
        // to the server's bytes.
        Value::Bytes(bytes) => Some(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
        }),
        // The text protocol sends every non-NULL cell as bytes. The typed
        // variants come only from the binary protocol, which is not used.
        other => Some(other.as_sql(true)),
    }
}

/// Maps the wire column type to the kit's column type. `DATE`, `TIME`,
/// `YEAR` as text, `BIT`, `ENUM`, `SET` and geometry map to `Text`, since
/// the kit has no type of its own for them.
fn map_column_type(wire: WireType) -> ColumnType {
    match wire {
        WireType::MYSQL_TYPE_TINY
        | WireType::MYSQL_TYPE_SHORT
        | WireType::MYSQL_TYPE_INT24
        | WireType::MYSQL_TYPE_LONG
        | WireType::MYSQL_TYPE_LONGLONG
        | WireType::MYSQL_TYPE_YEAR => ColumnType::Int,
        WireType::MYSQL_TYPE_FLOAT => ColumnType::Float,
        WireType::MYSQL_TYPE_DOUBLE => ColumnType::Double,
        WireType::MYSQL_TYPE_DECIMAL | WireType::MYSQL_TYPE_NEWDECIMAL => ColumnType::Decimal,
        WireType::MYSQL_TYPE_DATETIME
        | WireType::MYSQL_TYPE_DATETIME2
        | WireType::MYSQL_TYPE_TIMESTAMP
        | WireType::MYSQL_TYPE_TIMESTAMP2 => ColumnType::DateTime,
        WireType::MYSQL_TYPE_JSON => ColumnType::Json,
        WireType::MYSQL_TYPE_NULL => ColumnType::Null,
        _ => ColumnType::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_map() {
        assert_eq!(
            map_column_type(WireType::MYSQL_TYPE_LONGLONG),
            ColumnType::Int
        );
        assert_eq!(
            map_column_type(WireType::MYSQL_TYPE_FLOAT),
            ColumnType::Float
        );
        assert_eq!(
            map_column_type(WireType::MYSQL_TYPE_DOUBLE),
            ColumnType::Double
        );
        assert_eq!(
            map_column_type(WireType::MYSQL_TYPE_NEWDECIMAL),
            ColumnType::Decimal
        );
        assert_eq!(
            map_column_type(WireType::MYSQL_TYPE_TIMESTAMP),
            ColumnType::DateTime
        );
        assert_eq!(map_column_type(WireType::MYSQL_TYPE_JSON), ColumnType::Json);
        assert_eq!(map_column_type(WireType::MYSQL_TYPE_NULL), ColumnType::Null);
        assert_eq!(
            map_column_type(WireType::MYSQL_TYPE_VAR_STRING),
            ColumnType::Text
        );
        assert_eq!(map_column_type(WireType::MYSQL_TYPE_DATE), ColumnType::Text);
    }

    #[test]
    fn cells_keep_server_text() {
        assert_eq!(cell_text(Value::NULL), None);
        assert_eq!(
            cell_text(Value::Bytes(b"0.1".to_vec())),
            Some("0.1".to_string())
        );
        assert_eq!(cell_text(Value::Bytes(Vec::new())), Some(String::new()));
        assert_eq!(
            cell_text(Value::Bytes(vec![b'a', 0xff])),
            Some("a\u{fffd}".to_string())
        );
    }
}
