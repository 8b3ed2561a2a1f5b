//! Typed errors of the catalog, privileges and sysvars, each with the MySQL
//! code and SQLSTATE it is reported with. Every error converts into
//! [`SqlError`].
//!
//! Model catalog errors use 1105 (HY000). TiDB sends any error that has no
//! registered code as 1105 with the error's own text, and TiDB registers
//! no model-specific codes. Two model checks reuse MySQL's column checks
//! (1059, 1060).

use crate::target::SqlError;

/// A warning a statement reports without failing (`SHOW WARNINGS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlWarning {
    /// `Note` or `Warning`.
    pub level: &'static str,
    /// MySQL error code.
    pub code: u16,
    /// Message text.
    pub message: String,
}

/// A model catalog error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// CREATE MODEL without IF NOT EXISTS on a live name.
    #[error("model '{db}.{name}' already exists")]
    AlreadyExists {
        /// Database.
        db: String,
        /// Model name.
        name: String,
    },
    /// No live model of that name (DDL), or no model of that name ever
    /// (reads).
    #[error("model '{db}.{name}' does not exist")]
    NotFound {
        /// Database.
        db: String,
        /// Model name.
        name: String,
    },
    /// The model was created after the read ts.
    #[error("model '{db}.{name}' has no version visible at ts {read_ts}")]
    NotVisible {
        /// Database.
        db: String,
        /// Model name.
        name: String,
        /// The read ts.
        read_ts: u64,
    },
    /// The model was dropped at or before the read ts.
    #[error("model '{db}.{name}' was dropped at ts {deleted_at} (read at ts {read_ts})")]
    Dropped {
        /// Database.
        db: String,
        /// Model name.
        name: String,
        /// Commit ts of the DROP.
        deleted_at: u64,
        /// The read ts.
        read_ts: u64,
    },
    /// The CHECKSUM clause is not `sha256:<64 hex>`.
    #[error("invalid checksum '{checksum}' for model '{db}.{name}': expected 'sha256:' followed by 64 hexadecimal digits")]
    InvalidChecksum {
        /// Database.
        db: String,
        /// Model name.
        name: String,
        /// The rejected value.
        checksum: String,
    },
    /// An INPUT or OUTPUT type the catalog does not know.
    #[error("unsupported type '{type_name}' for model column '{column}'; use INT, BIGINT, FLOAT, DOUBLE or STRING")]
    UnsupportedType {
        /// Column name.
        column: String,
        /// The rejected type name.
        type_name: String,
    },
    /// Other invalid CREATE/ALTER MODEL input; the message names the model
    /// and the problem.
    #[error("{0}")]
    InvalidDefinition(String),
    /// Two INPUT (or two OUTPUT) columns share a name (MySQL 1060).
    #[error("Duplicate column name '{column}'")]
    DuplicateColumn {
        /// The repeated name.
        column: String,
    },
    /// A model name longer than 64 characters (MySQL 1059).
    #[error("Identifier name '{name}' is too long")]
    IdentifierTooLong {
        /// The rejected name.
        name: String,
    },
    /// A write whose ts does not follow the last commit: a bug in the
    /// caller's commit clock.
    #[error("internal error: commit ts {commit_ts} is not greater than the last commit ts {last_commit_ts}; the commit clock must be strictly increasing")]
    CommitTsNotIncreasing {
        /// The rejected ts.
        commit_ts: u64,
        /// The last applied commit ts.
        last_commit_ts: u64,
    },
    /// A broken catalog invariant.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ModelError {
    /// MySQL error code and SQLSTATE.
    pub fn code(&self) -> (u16, &'static str) {
        match self {
            ModelError::DuplicateColumn { .. } => (1060, "42S21"),
            ModelError::IdentifierTooLong { .. } => (1059, "42000"),
            _ => (1105, "HY000"),
        }
    }
}

/// A privilege or account error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrivilegeError {
    /// A table privilege check failed (MySQL 1142).
    #[error("{privilege} command denied to user '{user}'@'{host}' for table '{table}'")]
    TableAccessDenied {
        /// Privilege name, e.g. `SELECT`.
        privilege: String,
        /// Account user.
        user: String,
        /// Account host pattern.
        host: String,
        /// Bare table name.
        table: String,
    },
    /// A global, dynamic or model privilege check failed (MySQL 1227).
    #[error("Access denied; you need (at least one of) the {privileges} privilege(s) for this operation")]
    SpecificAccessDenied {
        /// The privileges that would allow it, joined by ` or `.
        privileges: String,
    },
    /// GRANT or REVOKE on a database without the right to do so (MySQL
    /// 1044).
    #[error("Access denied for user '{user}'@'{host}' to database '{db}'")]
    DbAccessDenied {
        /// Account user.
        user: String,
        /// Account host pattern.
        host: String,
        /// Database.
        db: String,
    },
    /// CREATE USER on an existing account or DROP USER on a missing one
    /// (MySQL 1396). TiDB writes accounts as `user@host` without quotes.
    #[error("Operation {operation} failed for {accounts}")]
    OperationFailed {
        /// `CREATE USER` or `DROP USER`.
        operation: &'static str,
        /// The failing accounts, `user@host`, joined by `,`.
        accounts: String,
    },
    /// SET PASSWORD for a missing account (MySQL 1133).
    #[error("Can't find any matching row in the user table")]
    NoSuchUser,
    /// GRANT to a missing account (MySQL 1410), as TiDB does not create
    /// accounts implicitly.
    #[error("You are not allowed to create a user with GRANT")]
    CantCreateUserWithGrant,
    /// SHOW GRANTS or REVOKE for an account without such grant (MySQL
    /// 1141).
    #[error("There is no such grant defined for user '{user}' on host '{host}'")]
    NonExistingGrant {
        /// Account user.
        user: String,
        /// Account host pattern.
        host: String,
    },
    /// REVOKE at table scope without such grant (MySQL 1147).
    #[error(
        "There is no such grant defined for user '{user}' on host '{host}' on table '{table}'"
    )]
    NonExistingTableGrant {
        /// Account user.
        user: String,
        /// Account host pattern.
        host: String,
        /// Table name.
        table: String,
    },
    /// A global-only privilege granted at database scope (MySQL 1221).
    #[error("Incorrect usage of DB GRANT and GLOBAL PRIVILEGES")]
    GlobalPrivilegeOnDb,
    /// A privilege that does not exist at table scope (MySQL 1144).
    #[error("Illegal GRANT/REVOKE command; please consult the manual to see which privileges can be used")]
    IllegalTableGrant,
}

impl PrivilegeError {
    /// MySQL error code and SQLSTATE.
    pub fn code(&self) -> (u16, &'static str) {
        match self {
            PrivilegeError::TableAccessDenied { .. } => (1142, "42000"),
            PrivilegeError::SpecificAccessDenied { .. } => (1227, "42000"),
            PrivilegeError::DbAccessDenied { .. } => (1044, "42000"),
            PrivilegeError::OperationFailed { .. } => (1396, "HY000"),
            PrivilegeError::NoSuchUser => (1133, "42000"),
            PrivilegeError::CantCreateUserWithGrant => (1410, "42000"),
            PrivilegeError::NonExistingGrant { .. } => (1141, "42000"),
            PrivilegeError::NonExistingTableGrant { .. } => (1147, "42000"),
            PrivilegeError::GlobalPrivilegeOnDb => (1221, "HY000"),
            PrivilegeError::IllegalTableGrant => (1144, "42000"),
        }
    }
}

/// A system variable error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SysVarError {
    /// No such variable (MySQL 1193).
    #[error("Unknown system variable '{name}'")]
    Unknown {
        /// The name as written.
        name: String,
    },
    /// A value outside the allowed set (MySQL 1231).
    #[error("Variable '{name}' can't be set to the value of '{value}'")]
    WrongValue {
        /// Variable name.
        name: String,
        /// The rejected value as text (`NULL` for NULL).
        value: String,
    },
    /// A value of the wrong type, e.g. text for an integer (MySQL 1232).
    #[error("Incorrect argument type to variable '{name}'")]
    WrongType {
        /// Variable name.
        name: String,
    },
    /// SET SESSION on a global-only variable (MySQL 1229).
    #[error("Variable '{name}' is a GLOBAL variable and should be set with SET GLOBAL")]
    GlobalOnly {
        /// Variable name.
        name: String,
    },
    /// SET GLOBAL on a session-only variable (MySQL 1228).
    #[error("Variable '{name}' is a SESSION variable and can't be used with SET GLOBAL")]
    SessionOnly {
        /// Variable name.
        name: String,
    },
    /// SET on a read-only variable, or `@@global.x`/`@@session.x` read in
    /// a scope the variable lacks (MySQL 1238).
    #[error("Variable '{name}' is a {kind} variable")]
    IncorrectScope {
        /// Variable name.
        name: String,
        /// `read only`, `GLOBAL` or `SESSION`.
        kind: &'static str,
    },
    /// An invalid `time_zone` value (MySQL 1298).
    #[error("Unknown or incorrect time zone: '{value}'")]
    UnknownTimeZone {
        /// The rejected value.
        value: String,
    },
    /// An unknown character set name (MySQL 1115).
    #[error("Unknown character set: '{value}'")]
    UnknownCharset {
        /// The rejected value.
        value: String,
    },
    /// SET GLOBAL without SUPER or SYSTEM_VARIABLES_ADMIN (MySQL 1227,
    /// with TiDB's wording).
    #[error("Access denied; you need (at least one of) the SUPER or SYSTEM_VARIABLES_ADMIN privilege(s) for this operation")]
    AccessDenied,
}

impl SysVarError {
    /// MySQL error code and SQLSTATE.
    pub fn code(&self) -> (u16, &'static str) {
        match self {
            SysVarError::Unknown { .. } => (1193, "HY000"),
            SysVarError::WrongValue { .. } => (1231, "42000"),
            SysVarError::WrongType { .. } => (1232, "42000"),
            SysVarError::GlobalOnly { .. } => (1229, "HY000"),
            SysVarError::SessionOnly { .. } => (1228, "HY000"),
            SysVarError::IncorrectScope { .. } => (1238, "HY000"),
            SysVarError::UnknownTimeZone { .. } => (1298, "HY000"),
            SysVarError::UnknownCharset { .. } => (1115, "42000"),
            SysVarError::AccessDenied => (1227, "42000"),
        }
    }
}

/// Builds the [`SqlError`] of a typed error from its code and message.
fn to_sql_error(code: (u16, &'static str), message: String) -> SqlError {
    SqlError::new(code.0, code.1, message)
}

impl From<ModelError> for SqlError {
    fn from(err: ModelError) -> SqlError {
        to_sql_error(err.code(), err.to_string())
    }
}

impl From<PrivilegeError> for SqlError {
    fn from(err: PrivilegeError) -> SqlError {
        to_sql_error(err.code(), err.to_string())
    }
}

impl From<SysVarError> for SqlError {
    fn from(err: SysVarError) -> SqlError {
        to_sql_error(err.code(), err.to_string())
    }
}
