//! The model sidecar wire protocol, version 1.
//!
//! docs/protocol.md is the normative description; this crate is the one
//! implementation of it that the batching client and the fake sidecar
//! share, so the two cannot drift apart.
//!
//! # Layout
//!
//! - [`frame`]: the 16-byte preamble and the incremental frame codec.
//! - [`blocking`]: frame I/O over blocking streams with reused buffers.
//! - [`message`]: typed request and response headers.
//! - [`payload`]: FP32 little-endian payload conversion.
//! - [`trace`]: transcript records, one frame per JSON line.
//! - [`ErrorCode`]: the stable error codes.

pub mod blocking;
pub mod frame;
pub mod message;
pub mod payload;
pub mod trace;

pub use frame::{Frame, FrameCodec, FrameError, Limits, Preamble, MAGIC, PREAMBLE_LEN, VERSION};
pub use message::{
    CacheStats, ColumnSpec, ErrorBody, ReadyLine, Request, RequestError, Response, MAX_BATCH_SIZE,
    MAX_ID,
};

use serde::{Deserialize, Serialize};

/// Stable error codes of docs/protocol.md section 5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Wrong magic, nonzero flags, or a payload length not a multiple of 4.
    BadFrame,
    /// The version field is not 1.
    UnsupportedVersion,
    /// The header length is outside 2 to the limit.
    HeaderTooLarge,
    /// The payload length is above the limit.
    PayloadTooLarge,
    /// The header is invalid or does not match the payload or the model.
    BadRequest,
    /// The model path does not lead to a directory holding `MLmodel`.
    ModelNotFound,
    /// `MLmodel` is unreadable or lacks the flavor, signature or numeric types.
    ModelInvalid,
    /// Loading the model raised an error.
    LoadFailed,
    /// The model's predict raised an error.
    PredictFailed,
    /// The model's result has the wrong shape or non-numeric values.
    BadOutput,
    /// The request arrived after `shutdown`.
    ShuttingDown,
    /// Any other failure in the sidecar.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of the specification.
    pub const ALL: [ErrorCode; 12] = [
        ErrorCode::BadFrame,
        ErrorCode::UnsupportedVersion,
        ErrorCode::HeaderTooLarge,
        ErrorCode::PayloadTooLarge,
        ErrorCode::BadRequest,
        ErrorCode::ModelNotFound,
        ErrorCode::ModelInvalid,
        ErrorCode::LoadFailed,
        ErrorCode::PredictFailed,
        ErrorCode::BadOutput,
        ErrorCode::ShuttingDown,
        ErrorCode::Internal,
    ];

    /// The code as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "BAD_FRAME",
            ErrorCode::UnsupportedVersion => "UNSUPPORTED_VERSION",
            ErrorCode::HeaderTooLarge => "HEADER_TOO_LARGE",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::BadRequest => "BAD_REQUEST",
            ErrorCode::ModelNotFound => "MODEL_NOT_FOUND",
            ErrorCode::ModelInvalid => "MODEL_INVALID",
            ErrorCode::LoadFailed => "LOAD_FAILED",
            ErrorCode::PredictFailed => "PREDICT_FAILED",
            ErrorCode::BadOutput => "BAD_OUTPUT",
            ErrorCode::ShuttingDown => "SHUTTING_DOWN",
            ErrorCode::Internal => "INTERNAL",
        }
    }

    /// Whether the sidecar closes the connection after sending this code.
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            ErrorCode::BadFrame
                | ErrorCode::UnsupportedVersion
                | ErrorCode::HeaderTooLarge
                | ErrorCode::PayloadTooLarge
                | ErrorCode::ShuttingDown
        )
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
