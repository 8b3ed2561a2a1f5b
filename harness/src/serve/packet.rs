//! Packet framing: a 3-byte little-endian payload length and a 1-byte
//! sequence id before each payload. A payload of 16 MiB - 1 bytes or more
//! is split into full packets followed by a shorter one (possibly empty).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

use super::error::ProtocolError;

/// Largest payload one packet carries: 16 MiB - 1 bytes.
pub const MAX_PACKET_PAYLOAD: usize = 0xFF_FFFF;

/// Default limit on one client message, summed over its packets: 64 MiB,
/// TiDB's default `max_allowed_packet`.
pub const DEFAULT_MAX_PAYLOAD: usize = 64 << 20;

/// Reads one message of one or more packets. `seq` is the sequence id the
/// first packet must carry; on return it is the id the next packet takes.
///
/// The limit is checked before any byte of a payload is buffered, and the
/// buffer grows only as bytes arrive, so a header that lies about its
/// length allocates nothing.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut R,
    seq: &mut u8,
    limit: usize,
) -> Result<Vec<u8>, ProtocolError> {
    let mut payload = Vec::new();
    loop {
        let at_start = payload.is_empty();
        let (length, packet_seq) = read_header(reader, at_start).await?;
        if packet_seq != *seq {
            return Err(ProtocolError::OutOfOrder {
                expected: *seq,
                received: packet_seq,
            });
        }
        *seq = seq.wrapping_add(1);

        let size = payload.len().saturating_add(length);
        if size > limit {
            return Err(ProtocolError::TooLarge { size, limit });
        }

        let received = (&mut *reader).take(length as u64).read_to_end(&mut payload).await?;
        if received < length {
            return Err(ProtocolError::Truncated {
                expected: length,
                received,
            });
        }
        if length < MAX_PACKET_PAYLOAD {
            return Ok(payload);
        }
    }
}

/// Reads a 4-byte header. End of stream before its first byte is
/// [`ProtocolError::Closed`] when `at_boundary` (between messages), and a
/// truncation otherwise.
async fn read_header<R: AsyncRead + Unpin>(
    reader: &mut R,
    at_boundary: bool,
) -> Result<(usize, u8), ProtocolError> {
    let mut header = [0u8; 4];
    let mut filled = 0;
    while filled < header.len() {
        let count = reader.read(&mut header[filled..]).await?;
        if count == 0 {
            if filled == 0 && at_boundary {
                return Err(ProtocolError::Closed);
            }
            return Err(ProtocolError::Truncated {
                expected: header.len(),
                received: filled,
            });
        }
        filled += count;
    }
    let length = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    Ok((length, header[3]))
}

/// Appends `payload` to `out` as packets numbered from `*seq`, splitting it
/// at [`MAX_PACKET_PAYLOAD`]. A payload that is a multiple of the maximum
/// gets an empty packet at the end, so the reader knows it is complete.
pub fn frame_message(out: &mut Vec<u8>, seq: &mut u8, payload: &[u8]) {
    let mut rest = payload;
    loop {
        let length = rest.len().min(MAX_PACKET_PAYLOAD);
        out.extend_from_slice(&(length as u32).to_le_bytes()[..3]);
        out.push(*seq);
        *seq = seq.wrapping_add(1);
        out.extend_from_slice(&rest[..length]);
        rest = &rest[length..];
        if length < MAX_PACKET_PAYLOAD {
            return;
        }
    }
}

/// A client connection as a stream of messages, with the sequence id
/// shared by both directions.
pub struct PacketStream<R, W> {
    reader: BufReader<R>,
    writer: BufWriter<W>,
    seq: u8,
    max_payload: usize,
    frame: Vec<u8>,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> PacketStream<R, W> {
    /// Wraps the two halves of a connection; client messages over
    /// `max_payload` bytes are rejected.
    pub fn new(reader: R, writer: W, max_payload: usize) -> PacketStream<R, W> {
        PacketStream {
            reader: BufReader::new(reader),
            writer: BufWriter::new(writer),
            seq: 0,
            max_payload,
            frame: Vec::new(),
        }
    }

    /// Limit on one client message, in bytes.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// Reads a command: a new exchange, so its first packet has sequence
    /// id 0.
    pub async fn read_command(&mut self) -> Result<Vec<u8>, ProtocolError> {
        self.seq = 0;
        self.read_reply().await
    }

    /// Reads a message within the current exchange (during the handshake).
    pub async fn read_reply(&mut self) -> Result<Vec<u8>, ProtocolError> {
        read_message(&mut self.reader, &mut self.seq, self.max_payload).await
    }

    /// Reads a message within the current exchange with a lower limit than
    /// the connection's.
    pub async fn read_reply_limited(&mut self, limit: usize) -> Result<Vec<u8>, ProtocolError> {
        read_message(&mut self.reader, &mut self.seq, limit.min(self.max_payload)).await
    }

    /// Queues one message with the next sequence id. Nothing reaches the
    /// client before [`PacketStream::flush`].
    pub async fn write_message(&mut self, payload: &[u8]) -> Result<(), ProtocolError> {
        self.frame.clear();
        frame_message(&mut self.frame, &mut self.seq, payload);
        self.writer.write_all(&self.frame).await?;
        Ok(())
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> Result<(), ProtocolError> {
        self.writer.flush().await?;
        Ok(())
    }

    /// Flushes and closes the write side.
    pub async fn shutdown(&mut self) -> Result<(), ProtocolError> {
        self.writer.shutdown().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(bytes: &[u8], limit: usize) -> Vec<Result<Vec<u8>, ProtocolError>> {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let mut reader = bytes;
            let mut results = Vec::new();
            loop {
                let mut seq = 0;
                let result = read_message(&mut reader, &mut seq, limit).await;
                let stop = result.is_err();
                results.push(result);
                if stop {
                    return results;
                }
            }
        })
    }

    #[test]
    fn message_round_trips_through_framing() {
        let mut framed = Vec::new();
        let mut seq = 0;
        frame_message(&mut framed, &mut seq, b"\x03select 1");
        assert_eq!(&framed[..4], &[9, 0, 0, 0]);
        assert_eq!(seq, 1);

        let results = read_all(&framed, 1024);
        assert_eq!(results[0].as_ref().unwrap(), b"\x03select 1");
        assert!(matches!(results[1], Err(ProtocolError::Closed)));
    }

    #[test]
    fn payload_of_exactly_max_gets_empty_trailer() {
        let payload = vec![7u8; MAX_PACKET_PAYLOAD];
        let mut framed = Vec::new();
        let mut seq = 0;
        frame_message(&mut framed, &mut seq, &payload);
        assert_eq!(seq, 2);
        assert_eq!(framed.len(), MAX_PACKET_PAYLOAD + 8);
        assert_eq!(&framed[framed.len() - 4..], &[0, 0, 0, 1]);

        let results = read_all(&framed, DEFAULT_MAX_PAYLOAD);
        assert_eq!(results[0].as_ref().unwrap().len(), MAX_PACKET_PAYLOAD);
    }

    #[test]
    fn multi_packet_message_over_limit_is_rejected() {
        let payload = vec![1u8; MAX_PACKET_PAYLOAD + 10];
        let mut framed = Vec::new();
        let mut seq = 0;
        frame_message(&mut framed, &mut seq, &payload);

        let results = read_all(&framed, MAX_PACKET_PAYLOAD + 9);
        assert!(
            matches!(results[0], Err(ProtocolError::TooLarge { size, .. }) if size == MAX_PACKET_PAYLOAD + 10),
            "{:?}",
            results[0].as_ref().err()
        );
    }

    #[test]
    fn header_over_limit_is_rejected_before_reading() {
        let results = read_all(&[0xFF, 0xFF, 0xFF, 0x00], 1024);
        assert!(matches!(results[0], Err(ProtocolError::TooLarge { .. })));
    }

    #[test]
    fn wrong_sequence_id_is_out_of_order() {
        let results = read_all(&[1, 0, 0, 5, 0x0E], 1024);
        assert!(matches!(
            results[0],
            Err(ProtocolError::OutOfOrder { expected: 0, received: 5 })
        ));
    }

    #[test]
    fn short_payload_is_truncated() {
        let results = read_all(&[10, 0, 0, 0, b'a', b'b'], 1024);
        assert!(matches!(
            results[0],
            Err(ProtocolError::Truncated { expected: 10, received: 2 })
        ));
    }

    #[test]
    fn partial_header_is_truncated() {
        let results = read_all(&[10, 0], 1024);
        assert!(matches!(
            results[0],
            Err(ProtocolError::Truncated { expected: 4, received: 2 })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), limit in 0usize..300) {
            let results = read_all(&bytes, limit);
            prop_assert!(results.last().map(|r| r.is_err()).unwrap_or(false));
            for message in results.iter().flatten() {
                prop_assert!(message.len() <= limit);
            }
        }

        #[test]
        fn framed_messages_read_back(messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 1..8)) {
            let mut framed = Vec::new();
            for message in &messages {
                let mut seq = 0;
                frame_message(&mut framed, &mut seq, message);
            }
            let results = read_all(&framed, 1024);
            prop_assert_eq!(results.len(), messages.len() + 1);
            for (result, message) in results.iter().zip(&messages) {
                prop_assert_eq!(result.as_ref().unwrap(), message);
            }
        }
    }
}
