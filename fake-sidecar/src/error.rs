//! Errors that become error responses.

use sidecar_protocol::{ErrorBody, ErrorCode, Response};

/// A failed request: the protocol error code, the message, and the Python
/// exception type that the Python sidecar would report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServeError {
    /// Error code of docs/protocol.md section 5.
    pub code: ErrorCode,
    /// Human-readable cause, identical to the Python sidecar's wording.
    pub message: String,
    /// Python exception type, for model errors only.
    pub exception: Option<String>,
}

impl ServeError {
    /// An error without an exception type.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ServeError {
        ServeError {
            code,
            message: message.into(),
            exception: None,
        }
    }

    /// A `BAD_REQUEST` error.
    pub fn bad_request(message: impl Into<String>) -> ServeError {
        ServeError::new(ErrorCode::BadRequest, message)
    }

    /// Converts the error into the response to request `id`.
    pub fn into_response(self, id: u64) -> Response {
        Response {
            error: Some(ErrorBody {
                code: self.code,
                message: self.message,
                exception: self.exception,
            }),
            ..Response::error(id, self.code, "")
        }
    }
}
