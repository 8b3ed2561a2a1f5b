//! Frame layout and the incremental frame codec.
//!
//! ```text
//! offset  size         field
//! 0       4            magic        "TMSP"
//! 4       2            version      u16 LE, 1
//! 6       2            flags        u16 LE, 0
//! 8       4            header_len   u32 LE
//! 12      4            payload_len  u32 LE
//! 16      header_len   header       UTF-8 JSON object
//! 16+h    payload_len  payload      FP32 LE values
//! ```
//!
//! The decoder reads the 16-byte preamble first and checks both lengths
//! against [`Limits`] before it reserves any memory for the body, so a
//! hostile length prefix cannot make it allocate.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::ErrorCode;

/// The four bytes every frame starts with.
pub const MAGIC: [u8; 4] = *b"TMSP";

/// The protocol version this crate speaks.
pub const VERSION: u16 = 1;

/// Size of the fixed preamble in bytes.
pub const PREAMBLE_LEN: usize = 16;

/// Default maximum header size in bytes (64 KiB).
pub const DEFAULT_MAX_HEADER_BYTES: u32 = 64 * 1024;

/// Default maximum payload size in bytes (64 MiB).
pub const DEFAULT_MAX_PAYLOAD_BYTES: u32 = 64 * 1024 * 1024;

/// Smallest valid header: the JSON text `{}`.
pub const MIN_HEADER_BYTES: u32 = 2;

/// Size limits a receiver enforces before allocating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted `header_len`, in bytes.
    pub max_header_bytes: u32,
    /// Largest accepted `payload_len`, in bytes.
    pub max_payload_bytes: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
        }
    }
}

/// One decoded frame: the raw JSON header and the raw payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header bytes. The encoder rejects non-UTF-8 headers; the decoder
    /// passes them on so that the request decoder can reject them without
    /// closing the connection.
    pub header: Bytes,
    /// The payload bytes, a multiple of 4 long.
    pub payload: Bytes,
}

impl Frame {
    /// Builds a frame from a header and payload.
    pub fn new(header: impl Into<Bytes>, payload: impl Into<Bytes>) -> Frame {
        Frame {
            header: header.into(),
            payload: payload.into(),
        }
    }

    /// Returns the header as text, or `""` when it is not valid UTF-8.
    pub fn header_str(&self) -> &str {
        std::str::from_utf8(&self.header).unwrap_or("")
    }

    /// Encodes the frame into one contiguous buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FrameError> {
        let mut out =
            BytesMut::with_capacity(PREAMBLE_LEN + self.header.len() + self.payload.len());
        encode_into(&self.header, &self.payload, &Limits::unbounded(), &mut out)?;
        Ok(out.to_vec())
    }
}

impl Limits {
    /// Limits that accept any length a u32 can carry; for encoding frames
    /// whose size the caller already checked.
    pub fn unbounded() -> Limits {
        Limits {
            max_header_bytes: u32::MAX,
            max_payload_bytes: u32::MAX - 3,
        }
    }
}

/// A violation of the frame layout.
///
/// Every variant except `Io` maps to an error code of docs/protocol.md
/// section 5 through [`FrameError::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The first four bytes are not `TMSP`.
    #[error("invalid frame: magic is {found:02x?}, expected \"TMSP\" (54 4d 53 50)")]
    BadMagic { found: [u8; 4] },

    /// The flags field is not zero.
    #[error("invalid frame: flags are {0:#06x}, expected 0")]
    BadFlags(u16),

    /// The version field is not 1.
    #[error("unsupported protocol version {0}, expected 1")]
    UnsupportedVersion(u16),

    /// `header_len` is below 2 or above the limit.
    #[error("header length {len} is outside the allowed range {min}..={max} bytes")]
    HeaderTooLarge { len: u32, min: u32, max: u32 },

    /// `payload_len` is above the limit.
    #[error("payload length {len} exceeds the limit of {max} bytes")]
    PayloadTooLarge { len: u32, max: u32 },

    /// `payload_len` is not a multiple of 4.
    #[error("invalid frame: payload length {0} is not a multiple of 4")]
    PayloadNotAligned(u32),

    /// The header bytes are not UTF-8. Only the encoder returns this: a
    /// decoded frame with such a header is a per-request `BAD_REQUEST`.
    #[error("invalid frame: header is not valid UTF-8")]
    HeaderNotUtf8,

    /// The stream ended inside a frame.
    #[error("connection closed inside a frame ({buffered} bytes of an incomplete frame buffered)")]
    Truncated { buffered: usize },

    /// Reading or writing the stream failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl FrameError {
    /// Returns the protocol error code a sidecar sends for this violation,
    /// or `None` for I/O failures, which have no answer.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            FrameError::BadMagic { .. }
            | FrameError::BadFlags(_)
            | FrameError::PayloadNotAligned(_)
            | FrameError::Truncated { .. } => Some(ErrorCode::BadFrame),
            FrameError::HeaderNotUtf8 => Some(ErrorCode::BadRequest),
            FrameError::UnsupportedVersion(_) => Some(ErrorCode::UnsupportedVersion),
            FrameError::HeaderTooLarge { .. } => Some(ErrorCode::HeaderTooLarge),
            FrameError::PayloadTooLarge { .. } => Some(ErrorCode::PayloadTooLarge),
            FrameError::Io(_) => None,
        }
    }
}

/// The parsed fixed-size preamble.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    /// Length of the JSON header in bytes.
    pub header_len: u32,
    /// Length of the payload in bytes.
    pub payload_len: u32,
}

impl Preamble {
    /// Parses and checks a preamble against `limits`.
    pub fn parse(bytes: &[u8; PREAMBLE_LEN], limits: &Limits) -> Result<Preamble, FrameError> {
        let magic = [bytes[0], bytes[1], bytes[2], bytes[3]];
        if magic != MAGIC {
            return Err(FrameError::BadMagic { found: magic });
        }

        let version = u16::from_le_bytes([bytes[4], bytes[5]]);
        if version != VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }

        let flags = u16::from_le_bytes([bytes[6], bytes[7]]);
        if flags != 0 {
            return Err(FrameError::BadFlags(flags));
        }

        let header_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let payload_len = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
        check_lengths(header_len, payload_len, limits)?;

        Ok(Preamble {
            header_len,
            payload_len,
        })
    }

    /// Writes the preamble for the given lengths.
    pub fn to_bytes(&self) -> [u8; PREAMBLE_LEN] {
        let mut out = [0u8; PREAMBLE_LEN];
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&VERSION.to_le_bytes());
        out[6..8].copy_from_slice(&0u16.to_le_bytes());
        out[8..12].copy_from_slice(&self.header_len.to_le_bytes());
        out[12..16].copy_from_slice(&self.payload_len.to_le_bytes());
        out
    }

    /// Total frame length, preamble included.
    pub fn frame_len(&self) -> usize {
        PREAMBLE_LEN + self.header_len as usize + self.payload_len as usize
    }
}

pub(crate) fn check_lengths(header_len: u32, payload_len: u32, limits: &Limits) -> Result<(), FrameError> {
    if header_len < MIN_HEADER_BYTES || header_len > limits.max_header_bytes {
        return Err(FrameError::HeaderTooLarge {
            len: header_len,
            min: MIN_HEADER_BYTES,
            max: limits.max_header_bytes,
        });
    }
    if payload_len > limits.max_payload_bytes {
        return Err(FrameError::PayloadTooLarge {
            len: payload_len,
            max: limits.max_payload_bytes,
        });
    }
    if payload_len % 4 != 0 {
        return Err(FrameError::PayloadNotAligned(payload_len));
    }
    Ok(())
}

/// Builds the preamble of a frame to send, after checking that the header
/// is UTF-8 and that both lengths are within `limits`.
pub(crate) fn outgoing_preamble(
    header: &[u8],
    payload: &[u8],
    limits: &Limits,
) -> Result<Preamble, FrameError> {
    if std::str::from_utf8(header).is_err() {
        return Err(FrameError::HeaderNotUtf8);
    }
    let header_len = u32::try_from(header.len()).unwrap_or(u32::MAX);
    let payload_len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    check_lengths(header_len, payload_len, limits)?;
    Ok(Preamble {
        header_len,
        payload_len,
    })
}

/// Appends one encoded frame to `out`, checking the lengths first.
pub fn encode_into(
    header: &[u8],
    payload: &[u8],
    limits: &Limits,
    out: &mut BytesMut,
) -> Result<(), FrameError> {
    let preamble = outgoing_preamble(header, payload, limits)?;
    out.reserve(preamble.frame_len());
    out.put_slice(&preamble.to_bytes());
    out.put_slice(header);
    out.put_slice(payload);
    Ok(())
}

/// Incremental decoder state: waiting for a preamble, or for the body of a
/// frame whose preamble was already checked.
#[derive(Debug, Clone, Copy)]
enum DecodeState {
    Head,
    Body(Preamble),
}

/// A `tokio_util` codec for protocol frames.
///
/// Decoding is incremental: bytes may arrive split at any point, and
/// [`Decoder::decode`] returns `Ok(None)` until a whole frame is buffered.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    limits: Limits,
    state: DecodeState,
}

impl FrameCodec {
    /// A codec that enforces `limits` on both decoding and encoding.
    pub fn new(limits: Limits) -> FrameCodec {
        FrameCodec {
            limits,
            state: DecodeState::Head,
        }
    }

    /// The limits this codec enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

impl Default for FrameCodec {
    fn default() -> Self {
        FrameCodec::new(Limits::default())
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        // Step 1: the preamble, checked before anything is reserved.
        let preamble = match self.state {
            DecodeState::Body(preamble) => preamble,
            DecodeState::Head => {
                if src.len() < PREAMBLE_LEN {
                    return Ok(None);
                }
                let mut head = [0u8; PREAMBLE_LEN];
                head.copy_from_slice(&src[..PREAMBLE_LEN]);
                let preamble = Preamble::parse(&head, &self.limits)?;
                src.advance(PREAMBLE_LEN);
                self.state = DecodeState::Body(preamble);
                preamble
            }
        };

        // Step 2: wait for the body; reserving is safe now that the lengths
        // passed the limits.
        let body_len = preamble.header_len as usize + preamble.payload_len as usize;
        if src.len() < body_len {
            src.reserve(body_len - src.len());
            return Ok(None);
        }

        // Step 3: split the body into header and payload. A header that is
        // not UTF-8 still has a known frame boundary, so it is returned here
        // and rejected by `Request::from_header` as BAD_REQUEST, which keeps
        // the connection usable (docs/protocol.md section 5).
        self.state = DecodeState::Head;
        let header = src.split_to(preamble.header_len as usize).freeze();
        let payload = src.split_to(preamble.payload_len as usize).freeze();
        Ok(Some(Frame { header, payload }))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                let in_body = matches!(self.state, DecodeState::Body(_));
                if src.is_empty() && !in_body {
                    Ok(None)
                } else {
                    let buffered = src.len() + if in_body { PREAMBLE_LEN } else { 0 };
                    Err(FrameError::Truncated { buffered })
                }
            }
        }
    }
}

impl Encoder<Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_into(&frame.header, &frame.payload, &self.limits, dst)
    }
}

impl Encoder<&Frame> for FrameCodec {
    type Error = FrameError;

    fn encode(&mut self, frame: &Frame, dst: &mut BytesMut) -> Result<(), FrameError> {
        encode_into(&frame.header, &frame.payload, &self.limits, dst)
    }
}
