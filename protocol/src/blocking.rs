//! Frame I/O over blocking streams, with buffers that callers keep across
//! frames.
//!
//! The bytes on the wire are the same as the codec's ([`crate::frame`]).
//! These functions serve callers that talk to one peer at a time on their
//! own thread. A frame is written with one vectored write of the preamble
//! and header next to the caller's payload. It is read into a buffer that
//! keeps its capacity, so a steady stream of large frames allocates
//! nothing after the first.

use std::io::{ErrorKind, IoSlice, Read, Write};

use crate::frame::{outgoing_preamble, FrameError, Limits, Preamble, PREAMBLE_LEN};

/// Bytes asked of the stream per read while the frame size is unknown.
const FIRST_READ_BYTES: usize = 8 * 1024;

/// Writes one frame: the preamble and header from `scratch`, then `payload`.
///
/// `scratch` is cleared and refilled; keep it between calls to reuse its
/// allocation. The lengths are checked against `limits` before anything is
/// written.
pub fn write_frame<W: Write>(
    stream: &mut W,
    header: &[u8],
    payload: &[u8],
    limits: &Limits,
    scratch: &mut Vec<u8>,
) -> Result<(), FrameError> {
    let preamble = outgoing_preamble(header, payload, limits)?;
    scratch.clear();
    scratch.extend_from_slice(&preamble.to_bytes());
    scratch.extend_from_slice(header);
    write_all_vectored(stream, &mut [IoSlice::new(scratch), IoSlice::new(payload)])?;
    stream.flush()?;
    Ok(())
}

/// Writes every byte of `slices`, retrying short writes.
fn write_all_vectored<W: Write>(stream: &mut W, mut slices: &mut [IoSlice<'_>]) -> std::io::Result<()> {
    IoSlice::advance_slices(&mut slices, 0);
    while !slices.is_empty() {
        match stream.write_vectored(slices) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(written) => IoSlice::advance_slices(&mut slices, written),
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Reads frames from a blocking stream into one reusable buffer.
///
/// Bytes that arrive after a frame stay buffered for the next one; see
/// [`FrameReader::buffered`].
#[derive(Debug, Default)]
pub struct FrameReader {
    /// Received bytes; `start..end` are not consumed yet.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The header and payload of the last frame read, as ranges of `buf`.
    header: (usize, usize),
    payload: (usize, usize),
}

impl FrameReader {
    /// Creates an empty reader.
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Bytes received beyond the last frame read.
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Reads the next frame. Returns `Ok(false)` when the stream ends
    /// before its first byte; [`FrameReader::header`] and
    /// [`FrameReader::payload`] then hold nothing useful.
    ///
    /// The preamble is checked against `limits` as soon as it arrives, so a
    /// bad length fails without waiting for, or reserving room for, a body.
    pub fn read_frame<R: Read>(&mut self, stream: &mut R, limits: &Limits) -> Result<bool, FrameError> {
        // Step 1: move leftover bytes to the front so the frame starts at 0.
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }

        // Step 2: the preamble, checked before anything is reserved.
        if !self.fill(stream, PREAMBLE_LEN, FIRST_READ_BYTES)? {
            if self.end == 0 {
                return Ok(false);
            }
            return Err(FrameError::Truncated { buffered: self.end });
        }
        let mut head = [0u8; PREAMBLE_LEN];
        head.copy_from_slice(&self.buf[..PREAMBLE_LEN]);
        let preamble = Preamble::parse(&head, limits)?;

        // Step 3: the body; reserving is safe now that the lengths passed
        // the limits.
        let frame_len = preamble.frame_len();
        if !self.fill(stream, frame_len, frame_len)? {
            return Err(FrameError::Truncated { buffered: self.end });
        }
        let header_end = PREAMBLE_LEN + preamble.header_len as usize;
        self.header = (PREAMBLE_LEN, header_end);
        self.payload = (header_end, frame_len);
        self.start = frame_len;
        Ok(true)
    }

    /// Returns the header of the last frame read.
    pub fn header(&self) -> &[u8] {
        &self.buf[self.header.0..self.header.1]
    }

    /// Returns the payload of the last frame read.
    pub fn payload(&self) -> &[u8] {
        &self.buf[self.payload.0..self.payload.1]
    }

    /// Reads until at least `need` bytes are buffered, asking for up to
    /// `want` bytes. Returns false when the stream ends first.
    fn fill<R: Read>(&mut self, stream: &mut R, need: usize, want: usize) -> Result<bool, FrameError> {
        let want = want.max(need);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.end < need {
            match stream.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(read) => self.end += read,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) => return Err(FrameError::Io(err)),
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::encode_into;
    use bytes::BytesMut;

    /// A reader that hands out at most `chunk` bytes per read.
    struct Trickle<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.chunk.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn encoded(header: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        encode_into(header, payload, &Limits::default(), &mut out).expect("encode");
        out.to_vec()
    }

    #[test]
    fn written_bytes_match_the_codec() {
        let header = br#"{"op":"ping","id":1}"#;
        let payload = [1u8, 2, 3, 4, 5, 6, 7, 8];
        let mut wire = Vec::new();
        let mut scratch = Vec::new();
        write_frame(&mut wire, header, &payload, &Limits::default(), &mut scratch).expect("write");
        assert_eq!(wire, encoded(header, &payload));
    }

    #[test]
    fn reads_frames_split_anywhere_and_keeps_the_rest() {
        let mut wire = encoded(br#"{"id":1}"#, &[9u8; 40]);
        wire.extend(encoded(br#"{"id":2}"#, &[]));
        for chunk in [1, 3, 16, 17, 1000] {
            let mut reader = FrameReader::new();
            let mut stream = Trickle { data: &wire, chunk };
            assert!(reader.read_frame(&mut stream, &Limits::default()).expect("first"));
            assert_eq!(reader.header(), br#"{"id":1}"#);
            assert_eq!(reader.payload(), &[9u8; 40]);
            assert!(reader.read_frame(&mut stream, &Limits::default()).expect("second"));
            assert_eq!(reader.header(), br#"{"id":2}"#);
            assert!(reader.payload().is_empty());
            assert_eq!(reader.buffered(), 0);
            assert!(!reader.read_frame(&mut stream, &Limits::default()).expect("end"));
        }
    }

    #[test]
    fn truncated_and_oversized_frames_fail() {
        let wire = encoded(br#"{"id":1}"#, &[9u8; 40]);
        let mut reader = FrameReader::new();
        let mut stream = Trickle { data: &wire[..30], chunk: 7 };
        let err = reader.read_frame(&mut stream, &Limits::default()).unwrap_err();
        assert!(matches!(err, FrameError::Truncated { buffered: 30 }), "{err}");

        let limits = Limits {
            max_header_bytes: 4,
            max_payload_bytes: 64,
        };
        let mut reader = FrameReader::new();
        let mut stream = Trickle { data: &wire[..PREAMBLE_LEN], chunk: 16 };
        let err = reader.read_frame(&mut stream, &limits).unwrap_err();
        assert!(matches!(err, FrameError::HeaderTooLarge { len: 8, .. }), "{err}");
    }
}
