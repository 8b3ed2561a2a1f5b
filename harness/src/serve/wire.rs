//! Integer and string encodings of the MySQL client/server protocol:
//! fixed-length little-endian integers, length-encoded integers and
//! strings, and NUL-terminated strings.

use super::error::ProtocolError;

/// Appends a length-encoded integer: one byte below 251, else a 0xFC,
/// 0xFD or 0xFE prefix and 2, 3 or 8 little-endian bytes.
pub fn put_lenenc_int(buf: &mut Vec<u8>, value: u64) {
    if value < 251 {
        buf.push(value as u8);
    } else if value < 1 << 16 {
        buf.push(0xFC);
        buf.extend_from_slice(&(value as u16).to_le_bytes());
    } else if value < 1 << 24 {
        buf.push(0xFD);
        buf.extend_from_slice(&(value as u32).to_le_bytes()[..3]);
    } else {
        buf.push(0xFE);
        buf.extend_from_slice(&value.to_le_bytes());
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(buf: &mut Vec<u8>, bytes: &[u8]) {
    put_lenenc_int(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

/// Appends a NUL-terminated string. The caller makes sure `bytes` contains
/// no NUL.
pub fn put_nul_terminated(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.extend_from_slice(bytes);
    buf.push(0);
}

/// A bounds-checked reader over one payload. Every read past the end is a
/// [`ProtocolError::Malformed`] naming `message`.
#[derive(Debug)]
pub struct PayloadReader<'a> {
    data: &'a [u8],
    position: usize,
    message: &'static str,
}

impl<'a> PayloadReader<'a> {
    /// Starts reading `data`, a payload of the kind `message` names.
    pub fn new(data: &'a [u8], message: &'static str) -> PayloadReader<'a> {
        PayloadReader {
            data,
            position: 0,
            message,
        }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.position
    }

    /// Reads `count` bytes.
    pub fn bytes(&mut self, count: usize, field: &str) -> Result<&'a [u8], ProtocolError> {
        if count > self.remaining() {
            return Err(ProtocolError::malformed(
                self.message,
                format!(
                    "{field} needs {count} bytes at offset {}, but only {} remain",
                    self.position,
                    self.remaining()
                ),
            ));
        }
        let slice = &self.data[self.position..self.position + count];
        self.position += count;
        Ok(slice)
    }

    /// Reads one byte.
    pub fn u8(&mut self, field: &str) -> Result<u8, ProtocolError> {
        Ok(self.bytes(1, field)?[0])
    }

    /// Reads a 2-byte little-endian integer.
    pub fn u16(&mut self, field: &str) -> Result<u16, ProtocolError> {
        let bytes = self.bytes(2, field)?;
        Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    /// Reads a 4-byte little-endian integer.
    pub fn u32(&mut self, field: &str) -> Result<u32, ProtocolError> {
        let bytes = self.bytes(4, field)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Reads a length-encoded integer. The 0xFB (NULL) and 0xFF prefixes
    /// are invalid here.
    pub fn lenenc_int(&mut self, field: &str) -> Result<u64, ProtocolError> {
        let first = self.u8(field)?;
        match first {
            0..=250 => Ok(u64::from(first)),
            0xFC => Ok(u64::from(self.u16(field)?)),
            0xFD => {
                let bytes = self.bytes(3, field)?;
                Ok(u64::from(bytes[0]) | u64::from(bytes[1]) << 8 | u64::from(bytes[2]) << 16)
            }
            0xFE => {
                let bytes = self.bytes(8, field)?;
                let mut array = [0u8; 8];
                array.copy_from_slice(bytes);
                Ok(u64::from_le_bytes(array))
            }
            other => Err(ProtocolError::malformed(
                self.message,
                format!("{field} starts with the invalid length prefix 0x{other:02X}"),
            )),
        }
    }

    /// Reads a length-encoded string, checking its length against the
    /// bytes left before taking it.
    pub fn lenenc_bytes(&mut self, field: &str) -> Result<&'a [u8], ProtocolError> {
        let length = self.lenenc_int(field)?;
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        self.bytes(length, field)
    }

    /// Reads a NUL-terminated string without its NUL. A string that runs
    /// to the end of the payload without a NUL is accepted, as MySQL
    /// servers accept it.
    pub fn nul_terminated(&mut self, field: &str) -> Result<&'a [u8], ProtocolError> {
        let rest = &self.data[self.position..];
        if rest.is_empty() {
            return Err(ProtocolError::malformed(
                self.message,
                format!("{field} is missing at offset {}", self.position),
            ));
        }
        match rest.iter().position(|&byte| byte == 0) {
            Some(end) => {
                self.position += end + 1;
                Ok(&rest[..end])
            }
            None => {
                self.position = self.data.len();
                Ok(rest)
            }
        }
    }

    /// Reads everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = &self.data[self.position..];
        self.position = self.data.len();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_int_round_trips_each_width() {
        for value in [0, 250, 251, 65_535, 65_536, 16_777_215, 16_777_216, u64::MAX] {
            let mut buf = Vec::new();
            put_lenenc_int(&mut buf, value);
            let mut reader = PayloadReader::new(&buf, "test");
            assert_eq!(reader.lenenc_int("value").unwrap(), value);
            assert_eq!(reader.remaining(), 0, "value {value}");
        }
    }

    #[test]
    fn lenenc_bytes_longer_than_payload_is_malformed() {
        let mut reader = PayloadReader::new(&[0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "test");
        let err = reader.lenenc_bytes("name").unwrap_err();
        assert!(err.to_string().contains("name needs"), "{err}");
    }

    #[test]
    fn nul_prefix_is_rejected_as_length() {
        let mut reader = PayloadReader::new(&[0xFB], "test");
        assert!(reader.lenenc_int("count").is_err());
    }

    #[test]
    fn nul_terminated_without_nul_takes_rest() {
        let mut reader = PayloadReader::new(b"root", "test");
        assert_eq!(reader.nul_terminated("user").unwrap(), b"root");
        assert_eq!(reader.remaining(), 0);
        assert!(reader.nul_terminated("user").is_err());
    }
}
