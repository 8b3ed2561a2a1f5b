//! Transcript records: every frame a client sent or received, one JSON
//! object per line (docs/debugging.md). The batching client writes them;
//! `fake-sidecar --replay` and `harness replay` read them.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::frame::Frame;
use crate::payload::decode_f32s;

/// Values shown in a record's summary.
const SUMMARY_VALUES: usize = 4;

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A request, client to sidecar.
    ToSidecar,
    /// A response, sidecar to client.
    FromSidecar,
}

/// One transcript line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceRecord {
    /// Which way the frame went.
    pub direction: Direction,
    /// Launch number of the worker in its pool, from 1.
    pub worker: u64,
    /// Pool slot of the worker, from 0.
    pub slot: usize,
    /// Process id of the sidecar.
    pub pid: u32,
    /// Milliseconds since the transcript was opened.
    pub t_ms: f64,
    /// The header as JSON; `null` when it is not valid JSON.
    pub header: Value,
    /// The header text, only when it is not valid JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_text: Option<String>,
    /// The payload, standard base64 with padding.
    pub payload_b64: String,
    /// A decoded summary for people reading the file; ignored on replay.
    #[serde(default)]
    pub summary: Value,
}

impl TraceRecord {
    /// Builds the record of `frame`.
    pub fn new(direction: Direction, worker: u64, slot: usize, pid: u32, t_ms: f64, frame: &Frame) -> TraceRecord {
        let (header, header_text) = match serde_json::from_slice::<Value>(&frame.header) {
            Ok(value) => (value, None),
            Err(_) => (Value::Null, Some(String::from_utf8_lossy(&frame.header).into_owned())),
        };
        let summary = summarize(&header, &frame.payload);
        TraceRecord {
            direction,
            worker,
            slot,
            pid,
            t_ms,
            header,
            header_text,
            payload_b64: base64::engine::general_purpose::STANDARD.encode(&frame.payload),
            summary,
        }
    }

    /// Rebuilds the frame: the header re-encoded as compact JSON (or the
    /// recorded text), the payload decoded from base64.
    pub fn to_frame(&self) -> Result<Frame, String> {
        let header = match &self.header_text {
            Some(text) => text.clone().into_bytes(),
            None => serde_json::to_vec(&self.header).map_err(|err| format!("header: {err}"))?,
        };
        let payload = base64::engine::general_purpose::STANDARD
            .decode(&self.payload_b64)
            .map_err(|err| format!("payload_b64 is not valid base64: {err}"))?;
        Ok(Frame::new(header, payload))
    }
}

/// Parses a transcript: one record per non-blank line. Errors name the
/// line number.
pub fn parse_transcript(text: &str) -> Result<Vec<TraceRecord>, String> {
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record: TraceRecord = serde_json::from_str(line)
            .map_err(|err| format!("line {}: not a transcript record: {err}", index + 1))?;
        records.push(record);
    }
    Ok(records)
}

/// The op (or ok/error code), id, rows and first values of a frame.
fn summarize(header: &Value, payload: &[u8]) -> Value {
    let mut summary = serde_json::Map::new();
    for key in ["op", "id", "ok"] {
        if let Some(value) = header.get(key) {
            summary.insert(key.to_owned(), value.clone());
        }
    }
    if let Some(code) = header.pointer("/error/code") {
        summary.insert("error".to_owned(), code.clone());
    }
    if let Some(rows) = header.get("batch_size") {
        summary.insert("rows".to_owned(), rows.clone());
    }
    summary.insert("payload_bytes".to_owned(), Value::from(payload.len()));
    if let Some(values) = decode_f32s(payload) {
        let first: Vec<Value> = values
            .iter()
            .take(SUMMARY_VALUES)
            .map(|value| f32_json(*value))
            .collect();
        if !first.is_empty() {
            summary.insert("first_values".to_owned(), Value::Array(first));
        }
    }
    Value::Object(summary)
}

/// An FP32 as a JSON number, or as a string for NaN and infinities, which
/// JSON cannot carry.
fn f32_json(value: f32) -> Value {
    match serde_json::Number::from_f64(f64::from(value)) {
        Some(number) => Value::Number(number),
        None => Value::String(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_frame() {
        let frame = Frame::new(
            &br#"{"id":2,"ok":true,"output_names":["score"],"batch_size":2}"#[..],
            crate::payload::encode_f32s(&[0.5, f32::NAN]),
        );
        let record = TraceRecord::new(Direction::FromSidecar, 1, 0, 42, 1.5, &frame);
        let line = serde_json::to_string(&record).unwrap();
        let parsed = parse_transcript(&line).unwrap();
        let back = parsed[0].to_frame().unwrap();
        assert_eq!(back.payload, frame.payload);
        let header: Value = serde_json::from_slice(&back.header).unwrap();
        assert_eq!(header, record.header);
        assert_eq!(parsed[0].summary["rows"], 2);
        assert_eq!(parsed[0].summary["first_values"][1], "NaN");
    }

    #[test]
    fn invalid_header_kept_as_text() {
        let frame = Frame::new(&b"{not json"[..], Vec::new());
        let record = TraceRecord::new(Direction::ToSidecar, 1, 0, 42, 0.0, &frame);
        assert_eq!(record.header, Value::Null);
        assert_eq!(record.to_frame().unwrap().header, frame.header);
    }

    #[test]
    fn bad_line_named() {
        let err = parse_transcript("\n{}\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
    }
}
