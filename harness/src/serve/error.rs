//! Errors of the MySQL protocol server.

/// A failure to read or decode what a client sent. Each one ends the
/// connection, because the stream cannot be resynchronized after it.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The client closed the connection between two packets.
    #[error("the client closed the connection")]
    Closed,
    /// Reading or writing the socket failed.
    #[error("socket i/o failed: {0}")]
    Io(#[from] std::io::Error),
    /// The stream ended inside a packet.
    #[error("the stream ended inside a packet: expected {expected} bytes, got {received}")]
    Truncated {
        /// Bytes the header or packet announced.
        expected: usize,
        /// Bytes that arrived before the end of the stream.
        received: usize,
    },
    /// A packet carried an unexpected sequence id.
    #[error("packet sequence id {received} is out of order (expected {expected})")]
    OutOfOrder {
        /// Sequence id the server expected.
        expected: u8,
        /// Sequence id in the packet header.
        received: u8,
    },
    /// A payload is larger than the server accepts.
    #[error("payload of at least {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Payload size read so far, in bytes.
        size: usize,
        /// Maximum payload size, in bytes.
        limit: usize,
    },
    /// A payload does not have the layout of the expected message.
    #[error("malformed {message}: {detail}")]
    Malformed {
        /// The message being decoded, such as `handshake response`.
        message: &'static str,
        /// Description of the defect.
        detail: String,
    },
}

impl ProtocolError {
    /// Builds a [`ProtocolError::Malformed`].
    pub fn malformed(message: &'static str, detail: impl Into<String>) -> ProtocolError {
        ProtocolError::Malformed {
            message,
            detail: detail.into(),
        }
    }
}
