//! FP32 payloads: IEEE 754 binary32 values, little-endian, row-major.

use bytes::Bytes;

/// Encodes values as little-endian FP32 bytes.
pub fn encode_f32s(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 4);
    for value in values {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out
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
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
            .collect(),
    )
}

/// The payload length in bytes of `rows × columns` FP32 values, or `None`
/// on overflow.
pub fn payload_len(rows: usize, columns: usize) -> Option<usize> {
    rows.checked_mul(columns)?.checked_mul(4)
}
