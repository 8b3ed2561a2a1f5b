//! Errors of the sidecar client.

use std::time::Duration;

use sidecar_protocol::ErrorCode;

use crate::duration::format_go_duration;

/// A failed sidecar call. [`ClientError::kills_worker`] tells whether the
/// worker survived it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The sidecar process did not become ready.
    #[error("sidecar failed to start ({command}): {reason}{stderr}", stderr = format_stderr(.stderr))]
    Start {
        /// The command line that was run.
        command: String,
        /// The cause.
        reason: String,
        /// Last lines of the sidecar's standard error.
        stderr: Vec<String>,
    },

    /// No response within the request timeout; the worker was killed.
    #[error("request to sidecar for model {model_path} timed out after {}", format_go_duration(*.timeout))]
    Timeout {
        /// The model the request was for.
        model_path: String,
        /// The configured timeout.
        timeout: Duration,
    },

    /// The sidecar sent an error response.
    #[error("sidecar {code}: {message}")]
    Remote {
        /// Protocol error code.
        code: ErrorCode,
        /// Sidecar's message.
        message: String,
        /// Python exception type, if any.
        exception: Option<String>,
    },

    /// The connection failed or the process died.
    #[error("sidecar worker died: {reason}{stderr}", stderr = format_stderr(.stderr))]
    Died {
        /// What was observed (EOF, reset, exit status).
        reason: String,
        /// Last lines of the sidecar's standard error.
        stderr: Vec<String>,
    },

    /// The sidecar broke the protocol; the worker was killed.
    #[error("sidecar protocol violation: {0}")]
    Protocol(String),

    /// The caller's request cannot be sent (sizes, names).
    #[error("invalid sidecar request: {0}")]
    InvalidRequest(String),

    /// The pool was shut down.
    #[error("sidecar pool is shut down")]
    ShutDown,
}

impl ClientError {
    /// Whether the worker that produced this error is gone and must be
    /// replaced before the next request.
    pub fn kills_worker(&self) -> bool {
        match self {
            ClientError::Remote { code, .. } => code.closes_connection(),
            ClientError::InvalidRequest(_) | ClientError::ShutDown => false,
            _ => true,
        }
    }

    /// The error with any captured sidecar stderr left out, for messages
    /// that must not vary between runs.
    pub fn without_stderr(&self) -> ClientError {
        let mut error = self.clone();
        if let ClientError::Died { stderr, .. } | ClientError::Start { stderr, .. } = &mut error {
            stderr.clear();
        }
        error
    }

    /// Whether the call timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::Timeout { .. })
    }
}

fn format_stderr(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; sidecar stderr: {}", lines.join(" | "))
    }
}
