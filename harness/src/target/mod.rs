//! What the runner executes statements against: the embedded reference
//! engine, or a live MySQL-protocol server.
//!
//! Results are already rendered as the MySQL text protocol renders them
//! (`NULL` is `None`), because mysql-tester compares those bytes.

pub mod mysql;

/// The type of a result column, as the text protocol reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Integer types.
    Int,
    /// FP32 `FLOAT`.
    Float,
    /// FP64 `DOUBLE`.
    Double,
    /// `DECIMAL`.
    Decimal,
    /// Character and text types.
    Text,
    /// `DATETIME` and `TIMESTAMP`.
    DateTime,
    /// `JSON`.
    Json,
    /// A column of only NULLs with no other type.
    Null,
}

/// One result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name or alias, as printed in headers.
    pub name: String,
    /// Column type.
    pub column_type: ColumnType,
}

/// A result set in text-protocol form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResultSet {
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows; each cell is the text the server sends, `None` for NULL.
    pub rows: Vec<Vec<Option<String>>>,
}

/// The outcome of one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A statement that returns a result set (SELECT, SHOW, EXPLAIN).
    Rows(ResultSet),
    /// A statement without a result set.
    Affected {
        /// Affected row count.
        rows: u64,
        /// The info string (may be empty).
        info: String,
    },
}

/// An error as a MySQL server reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Error {code} ({sqlstate}): {message}")]
pub struct SqlError {
    /// MySQL error code, e.g. 1146.
    pub code: u16,
    /// Five-character SQLSTATE, e.g. `42S02`.
    pub sqlstate: String,
    /// Message text.
    pub message: String,
}

impl SqlError {
    /// Builds an error from its parts.
    pub fn new(code: u16, sqlstate: &str, message: impl Into<String>) -> SqlError {
        SqlError {
            code,
            sqlstate: sqlstate.to_string(),
            message: message.into(),
        }
    }
}

/// Transaction state of a session, as the server status flags of the
/// MySQL protocol report it after each statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStatus {
    /// `@@autocommit` is on.
    pub autocommit: bool,
    /// A transaction is open.
    pub in_transaction: bool,
}

impl Default for SessionStatus {
    fn default() -> SessionStatus {
        SessionStatus {
            autocommit: true,
            in_transaction: false,
        }
    }
}

/// One session on a target.
pub trait Connection: Send {
    /// Executes one statement.
    fn execute(&mut self, sql: &str) -> Result<Outcome, SqlError>;

    /// Returns the session's transaction state. The default is autocommit
    /// with no open transaction.
    fn status(&self) -> SessionStatus {
        SessionStatus::default()
    }
}

/// Options of a new connection, as mysql-tester's `connect` gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// User name; empty means `root`.
    pub user: String,
    /// Password.
    pub password: String,
    /// Default database; empty for none.
    pub database: String,
}

/// A place to open connections to.
pub trait Target: Send + Sync {
    /// Opens a new session.
    fn connect(&self, options: &ConnectOptions) -> Result<Box<dyn Connection>, SqlError>;

    /// A short name for reports (`reference`, `mysql://host:port`).
    fn name(&self) -> String;
}
