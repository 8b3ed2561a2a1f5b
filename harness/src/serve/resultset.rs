//! Response messages: OK, ERR and EOF packets, and text-protocol result
//! sets (column count, column definitions, rows, terminator).

use tokio::io::{AsyncRead, AsyncWrite};

use super::error::ProtocolError;
use super::packet::PacketStream;
use super::wire::{put_lenenc_bytes, put_lenenc_int};
use crate::target::{Column, ColumnType, ResultSet, SqlError};

/// Column types of the protocol (`enum_field_types`).
mod field_type {
    pub const FLOAT: u8 = 0x04;
    pub const DOUBLE: u8 = 0x05;
    pub const NULL: u8 = 0x06;
    pub const LONGLONG: u8 = 0x08;
    pub const DATETIME: u8 = 0x0C;
    pub const JSON: u8 = 0xF5;
    pub const NEWDECIMAL: u8 = 0xF6;
    pub const VAR_STRING: u8 = 0xFD;
}

/// Column flags.
const BINARY_FLAG: u16 = 0x0080;

/// Character set id of binary (non-text) columns.
const CHARSET_BINARY: u16 = 63;

/// Character set id of text columns: utf8mb4_general_ci.
const CHARSET_UTF8MB4: u16 = 45;

/// `decimals` value meaning "not fixed", sent for FLOAT and DOUBLE.
const NOT_FIXED_DECIMALS: u8 = 31;

/// Largest `decimals` value MySQL sends for fixed-point columns.
const MAX_DECIMALS: u8 = 30;

/// Builds an OK packet with no last insert id and no warnings.
pub fn encode_ok(affected_rows: u64, status: u16, info: &str) -> Vec<u8> {
    encode_ok_with_header(0x00, affected_rows, status, info)
}

/// Builds the OK packet with header 0xFE that ends a result set when the
/// client set CLIENT_DEPRECATE_EOF.
pub fn encode_result_end_ok(status: u16) -> Vec<u8> {
    encode_ok_with_header(0xFE, 0, status, "")
}

fn encode_ok_with_header(header: u8, affected_rows: u64, status: u16, info: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + info.len());
    out.push(header);
    put_lenenc_int(&mut out, affected_rows);
    put_lenenc_int(&mut out, 0);
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    // The protocol documentation calls `info` a string<EOF>, but MySQL
    // servers send it length-encoded and libmariadb rejects anything else.
    if !info.is_empty() {
        put_lenenc_bytes(&mut out, info.as_bytes());
    }
    out
}

/// Builds an EOF packet (no warnings).
pub fn encode_eof(status: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    out.push(0xFE);
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
    out
}

/// Builds an ERR packet with the error's own code, SQLSTATE and message.
/// A SQLSTATE that is not five ASCII characters is sent as `HY000`.
pub fn encode_error(error: &SqlError) -> Vec<u8> {
    let sqlstate = if error.sqlstate.len() == 5 && error.sqlstate.is_ascii() {
        error.sqlstate.as_str()
    } else {
        "HY000"
    };
    let mut out = Vec::with_capacity(9 + error.message.len());
    out.push(0xFF);
    out.extend_from_slice(&error.code.to_le_bytes());
    out.push(b'#');
    out.extend_from_slice(sqlstate.as_bytes());
    out.extend_from_slice(error.message.as_bytes());
    out
}

/// Builds an ERR packet sent in place of the greeting. Before the
/// handshake the client cannot know that the server speaks the 4.1
/// protocol, so the packet has no SQLSTATE, as MySQL servers send it.
pub fn encode_error_before_handshake(error: &SqlError) -> Vec<u8> {
    let mut out = Vec::with_capacity(3 + error.message.len());
    out.push(0xFF);
    out.extend_from_slice(&error.code.to_le_bytes());
    out.extend_from_slice(error.message.as_bytes());
    out
}

/// Type, character set, display length, flags and decimals of a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnMetadata {
    /// Protocol column type.
    pub field_type: u8,
    /// Character set id.
    pub charset: u16,
    /// Maximum display length in bytes.
    pub length: u32,
    /// Column flags.
    pub flags: u16,
    /// Digits after the point.
    pub decimals: u8,
}

/// Derives the metadata of column `index` from its type and the cells
/// the engine rendered. The engine reports no declared length or scale,
/// so lengths and DECIMAL/DATETIME decimals come from the widest cell.
pub fn column_metadata(column: &Column, result: &ResultSet, index: usize) -> ColumnMetadata {
    let cells = || result.rows.iter().filter_map(|row| row.get(index).and_then(|cell| cell.as_deref()));
    let widest = cells().map(str::len).max().unwrap_or(0);
    let fraction_digits = || {
        cells()
            .map(|cell| cell.split_once('.').map(|(_, fraction)| fraction.len()).unwrap_or(0))
            .max()
            .unwrap_or(0)
            .min(usize::from(MAX_DECIMALS)) as u8
    };
    let numeric = |field_type, length: u32, decimals| ColumnMetadata {
        field_type,
        charset: CHARSET_BINARY,
        length: length.max(widest as u32),
        flags: BINARY_FLAG,
        decimals,
    };
    match column.column_type {
        ColumnType::Int => numeric(field_type::LONGLONG, 20, 0),
        ColumnType::Float => numeric(field_type::FLOAT, 12, NOT_FIXED_DECIMALS),
        ColumnType::Double => numeric(field_type::DOUBLE, 22, NOT_FIXED_DECIMALS),
        ColumnType::Decimal => numeric(field_type::NEWDECIMAL, 1, fraction_digits()),
        ColumnType::DateTime => {
            let decimals = fraction_digits();
            let length = 19 + if decimals > 0 { u32::from(decimals) + 1 } else { 0 };
            numeric(field_type::DATETIME, length, decimals)
        }
        ColumnType::Json => ColumnMetadata {
            field_type: field_type::JSON,
            charset: CHARSET_BINARY,
            length: u32::MAX,
            flags: BINARY_FLAG,
            decimals: 0,
        },
        ColumnType::Text => {
            let widest_chars = cells().map(|cell| cell.chars().count()).max().unwrap_or(0);
            ColumnMetadata {
                field_type: field_type::VAR_STRING,
                charset: CHARSET_UTF8MB4,
                // utf8mb4 lengths count 4 bytes per character.
                length: (widest_chars.max(1) as u32).saturating_mul(4),
                flags: 0,
                decimals: 0,
            }
        }
        ColumnType::Null => ColumnMetadata {
            field_type: field_type::NULL,
            charset: CHARSET_BINARY,
            length: 0,
            flags: BINARY_FLAG,
            decimals: 0,
        },
    }
}

/// Builds a ColumnDefinition41 for a computed column (no schema or table).
pub fn encode_column_definition(name: &str, metadata: &ColumnMetadata) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + 2 * name.len());
    put_lenenc_bytes(&mut out, b"def");
    put_lenenc_bytes(&mut out, b"");
    put_lenenc_bytes(&mut out, b"");
    put_lenenc_bytes(&mut out, b"");
    put_lenenc_bytes(&mut out, name.as_bytes());
    put_lenenc_bytes(&mut out, name.as_bytes());
    put_lenenc_int(&mut out, 0x0C);
    out.extend_from_slice(&metadata.charset.to_le_bytes());
    out.extend_from_slice(&metadata.length.to_le_bytes());
    out.push(metadata.field_type);
    out.extend_from_slice(&metadata.flags.to_le_bytes());
    out.push(metadata.decimals);
    out.extend_from_slice(&[0, 0]);
    out
}

/// Builds a text-protocol row: each cell a length-encoded string, NULL as
/// 0xFB. Missing trailing cells are sent as NULL.
pub fn encode_text_row(row: &[Option<String>], width: usize, out: &mut Vec<u8>) {
    out.clear();
    for index in 0..width {
        match row.get(index).and_then(|cell| cell.as_deref()) {
            Some(text) => put_lenenc_bytes(out, text.as_bytes()),
            None => out.push(0xFB),
        }
    }
}

/// Sends a result set. The caller flushes.
pub async fn write_result_set<R, W>(
    stream: &mut PacketStream<R, W>,
    result: &ResultSet,
    status: u16,
    deprecate_eof: bool,
) -> Result<(), ProtocolError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let width = result.columns.len();
    let mut buf = Vec::new();
    put_lenenc_int(&mut buf, width as u64);
    stream.write_message(&buf).await?;

    for (index, column) in result.columns.iter().enumerate() {
        let metadata = column_metadata(column, result, index);
        stream
            .write_message(&encode_column_definition(&column.name, &metadata))
            .await?;
    }
    if !deprecate_eof {
        stream.write_message(&encode_eof(status)).await?;
    }

    for row in &result.rows {
        encode_text_row(row, width, &mut buf);
        stream.write_message(&buf).await?;
    }

    if deprecate_eof {
        stream.write_message(&encode_result_end_ok(status)).await?;
    } else {
        stream.write_message(&encode_eof(status)).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(column_type: ColumnType, cells: &[Option<&str>]) -> ResultSet {
        ResultSet {
            columns: vec![Column {
                name: "c".into(),
                column_type,
            }],
            rows: cells.iter().map(|cell| vec![cell.map(str::to_string)]).collect(),
        }
    }

    #[test]
    fn error_packet_carries_engine_code_and_state() {
        let packet = encode_error(&SqlError::new(8135, "HY000", "invalid as of timestamp"));
        assert_eq!(&packet[..3], &[0xFF, 0xC7, 0x1F]);
        assert_eq!(&packet[3..9], b"#HY000");
        assert_eq!(&packet[9..], b"invalid as of timestamp");
    }

    #[test]
    fn error_packet_replaces_bad_sqlstate() {
        let packet = encode_error(&SqlError::new(1105, "X", "m"));
        assert_eq!(&packet[3..9], b"#HY000");
    }

    #[test]
    fn ok_packet_layout() {
        let packet = encode_ok(300, 0x0002, "Rows matched: 1");
        assert_eq!(&packet[..4], &[0x00, 0xFC, 0x2C, 0x01]);
        assert_eq!(&packet[4..9], &[0x00, 0x02, 0x00, 0x00, 0x00]);
        assert_eq!(packet[9], 15);
        assert_eq!(&packet[10..], b"Rows matched: 1");
        assert_eq!(encode_ok(0, 0, "").len(), 7);
    }

    #[test]
    fn metadata_per_type() {
        let float = column_metadata(&result(ColumnType::Float, &[]).columns[0], &result(ColumnType::Float, &[]), 0);
        assert_eq!((float.field_type, float.decimals), (field_type::FLOAT, NOT_FIXED_DECIMALS));

        let decimals = result(ColumnType::Decimal, &[Some("1.50"), Some("-12.125"), None]);
        let metadata = column_metadata(&decimals.columns[0], &decimals, 0);
        assert_eq!((metadata.field_type, metadata.decimals), (field_type::NEWDECIMAL, 3));

        let times = result(ColumnType::DateTime, &[Some("2024-01-01 00:00:00.123")]);
        let metadata = column_metadata(&times.columns[0], &times, 0);
        assert_eq!((metadata.field_type, metadata.decimals, metadata.length), (field_type::DATETIME, 3, 23));

        let text = result(ColumnType::Text, &[Some("héllo")]);
        let metadata = column_metadata(&text.columns[0], &text, 0);
        assert_eq!((metadata.field_type, metadata.charset, metadata.length), (field_type::VAR_STRING, 45, 20));
    }

    #[test]
    fn row_encodes_null_as_fb() {
        let mut out = Vec::new();
        encode_text_row(&[Some("ab".into()), None], 2, &mut out);
        assert_eq!(out, vec![2, b'a', b'b', 0xFB]);
    }
}
