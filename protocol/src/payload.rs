//! FP32 payloads: IEEE 754 binary32 values, little-endian, row-major.

use bytes::Bytes;

/// Encodes values as little-endian FP32 bytes.
pub fn encode_f32s(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_f32s_into(values, &mut out);
    out
}

/// Encodes values into `out`, replacing its contents and keeping its
/// allocation when it is large enough.
pub fn encode_f32s_into(values: &[f32], out: &mut Vec<u8>) {
    // Every byte is overwritten below, so only growth is zero-filled: a
    // buffer reused for same-sized payloads is not cleared each time.
    out.truncate(values.len() * 4);
    out.resize(values.len() * 4, 0);
    for (bytes, value) in out.chunks_exact_mut(4).zip(values) {
        bytes.copy_from_slice(&value.to_le_bytes());
    }
}

/// Encodes values into a `Bytes` buffer.
pub fn encode_f32s_bytes(values: &[f32]) -> Bytes {
    Bytes::from(encode_f32s(values))
}

/// Decodes little-endian FP32 bytes.
///
/// Returns `None` when the length is not a multiple of 4; the frame decoder
/// already rejects such payloads, so this only guards direct callers.
pub fn decode_f32s(bytes: &[u8]) -> Option<Vec<f32>> {
    let mut out = Vec::new();
    decode_f32s_into(bytes, &mut out)?;
    Some(out)
}

/// Decodes little-endian FP32 bytes and appends the values to `out`.
///
/// Returns `None`, leaving `out` unchanged, when the length is not a
/// multiple of 4.
pub fn decode_f32s_into(bytes: &[u8], out: &mut Vec<f32>) -> Option<()> {
    if bytes.len() % 4 != 0 {
        return None;
    }
    let start = out.len();
    out.resize(start + bytes.len() / 4, 0.0);
    for (value, chunk) in out[start..].iter_mut().zip(bytes.chunks_exact(4)) {
        *value = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Some(())
}

/// The payload length in bytes of `rows × columns` FP32 values, or `None`
/// on overflow.
pub fn payload_len(rows: usize, columns: usize) -> Option<usize> {
    rows.checked_mul(columns)?.checked_mul(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_bits() {
        let values = [0.0f32, -0.0, 1.5, f32::NAN, f32::INFINITY, f32::MIN_POSITIVE / 2.0];
        let bytes = encode_f32s(&values);
        assert_eq!(&bytes[8..12], &1.5f32.to_le_bytes());
        let mut out = vec![7.0];
        decode_f32s_into(&bytes, &mut out).expect("multiple of 4");
        assert_eq!(out[0], 7.0);
        let bits: Vec<u32> = out[1..].iter().map(|v| v.to_bits()).collect();
        let expected: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, expected);
        assert!(decode_f32s_into(&bytes[..5], &mut out).is_none());
        assert_eq!(out.len(), values.len() + 1);
    }
}
