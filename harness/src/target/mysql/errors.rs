//! Errors of the live target.
//!
//! Server errors pass through unchanged: code, SQLSTATE and message as the
//! server sent them. Failures on the client side (connection refused, lost
//! connection) use the MySQL client library's error codes, 2000 to 2013,
//! with SQLSTATE `HY000`, so a `--error 2013` in a case can name them and
//! `is_client_error` tells them apart from server errors.

use super::url::UrlError;
use crate::target::SqlError;

/// A client-side failure, with its MySQL client error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// `CR_UNKNOWN_ERROR`: anything without a more specific code.
    Unknown,
    /// `CR_CONN_HOST_ERROR`: the TCP connection or handshake failed.
    ConnectHost,
    /// `CR_SERVER_GONE_ERROR`: the connection was already lost.
    ServerGone,
    /// `CR_SERVER_LOST`: the connection broke during a statement.
    ServerLost,
}

impl ClientError {
    /// The MySQL client error code.
    pub fn code(self) -> u16 {
        match self {
            ClientError::Unknown => 2000,
            ClientError::ConnectHost => 2003,
            ClientError::ServerGone => 2006,
            ClientError::ServerLost => 2013,
        }
    }
}

/// Whether `error` was raised on the client side rather than sent by the
/// server. MySQL reserves codes 2000 to 2999 for client errors.
pub fn is_client_error(error: &SqlError) -> bool {
    (2000..3000).contains(&error.code)
}

/// Builds a client-side error naming the server address.
pub(super) fn client_error(kind: ClientError, address: &str, detail: &str) -> SqlError {
    let message = match kind {
        ClientError::Unknown => format!("Client error with MySQL server at '{address}': {detail}"),
        ClientError::ConnectHost => {
            format!("Can't connect to MySQL server on '{address}' ({detail})")
        }
        ClientError::ServerGone => format!("MySQL server at '{address}' has gone away ({detail})"),
        ClientError::ServerLost => {
            format!("Lost connection to MySQL server at '{address}' during query ({detail})")
        }
    };
    SqlError::new(kind.code(), "HY000", message)
}

/// Converts a mysql_async error raised while connecting. Server errors
/// (1045 access denied, 1049 unknown database) keep the server's text.
pub(super) fn connect_error(error: mysql_async::Error, address: &str) -> SqlError {
    match error {
        mysql_async::Error::Server(error) => SqlError {
            code: error.code,
            sqlstate: error.state,
            message: error.message,
        },
        mysql_async::Error::Io(error) => {
            client_error(ClientError::ConnectHost, address, &error.to_string())
        }
        other => client_error(ClientError::Unknown, address, &other.to_string()),
    }
}

/// An error creating a live target.
#[derive(Debug, thiserror::Error)]
pub enum MysqlTargetError {
    /// The server URL is invalid.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// The Tokio runtime that drives connections could not start.
    #[error("failed to start the Tokio runtime for MySQL connections: {0}")]
    Runtime(#[source] std::io::Error),
}
