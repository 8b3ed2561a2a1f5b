//! `--replay FILE`: answer each request with the response recorded in a
//! transcript, and stop with an `INTERNAL` error naming the frame when the
//! client sends something other than the recorded request.

use std::path::Path;

use serde_json::Value;
use sidecar_protocol::payload::decode_f32s;
use sidecar_protocol::trace::{parse_transcript, Direction};
use sidecar_protocol::Frame;

/// Largest transcript read, in bytes.
const MAX_TRANSCRIPT_BYTES: u64 = 1 << 30;

/// One recorded request and the responses that followed it.
#[derive(Debug)]
struct Exchange {
    /// 1-based line of the request in the transcript.
    line: usize,
    /// The recorded request.
    request: Frame,
    /// The recorded request header as JSON, `Null` when it was not JSON.
    header: Value,
    /// The responses, in order: none (the sidecar never answered), one, or
    /// more (a duplicated response).
    responses: Vec<Frame>,
}

/// The recorded conversation of one worker, consumed in order.
#[derive(Debug)]
pub struct Replay {
    exchanges: Vec<Exchange>,
    next: usize,
}

impl Replay {
    /// Reads the conversation of `worker` (default: the first worker in
    /// the file) from the transcript at `path`.
    pub fn load(path: &Path, worker: Option<u64>) -> Result<Replay, String> {
        let size = std::fs::metadata(path)
            .map_err(|err| format!("cannot read transcript {}: {err}", path.display()))?
            .len();
        if size > MAX_TRANSCRIPT_BYTES {
            return Err(format!(
                "transcript {} is {size} bytes, over the limit of {MAX_TRANSCRIPT_BYTES}",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read transcript {}: {err}", path.display()))?;
        let records = parse_transcript(&text).map_err(|err| format!("transcript {}: {err}", path.display()))?;
        let Some(first) = records.first() else {
            return Err(format!("transcript {} has no records", path.display()));
        };
        let worker = worker.unwrap_or(first.worker);

        // Line numbers count non-blank lines, as parse_transcript does.
        let mut exchanges: Vec<Exchange> = Vec::new();
        for (index, record) in records.iter().enumerate() {
            if record.worker != worker {
                continue;
            }
            let frame = record
                .to_frame()
                .map_err(|err| format!("transcript {} record {}: {err}", path.display(), index + 1))?;
            match record.direction {
                Direction::ToSidecar => exchanges.push(Exchange {
                    line: index + 1,
                    request: frame,
                    header: record.header.clone(),
                    responses: Vec::new(),
                }),
                Direction::FromSidecar => match exchanges.last_mut() {
                    Some(exchange) => exchange.responses.push(frame),
                    None => {
                        return Err(format!(
                            "transcript {} record {}: a response before any request of worker {worker}",
                            path.display(),
                            index + 1
                        ))
                    }
                },
            }
        }
        if exchanges.is_empty() {
            return Err(format!("transcript {} has no requests of worker {worker}", path.display()));
        }
        Ok(Replay { exchanges, next: 0 })
    }

    /// Returns the recorded responses to the next request, or a message
    /// naming the frame and the first difference when `request` differs
    /// from the recording.
    pub fn answer(&mut self, request: &Frame) -> Result<Vec<Frame>, String> {
        let number = self.next + 1;
        let Some(exchange) = self.exchanges.get(self.next) else {
            return Err(format!(
                "replay: request {number} is past the end of the recording ({} requests)",
                self.exchanges.len()
            ));
        };
        let prefix = format!("replay: request {number} (transcript record {})", exchange.line);

        if let Some(difference) = header_difference(&exchange.header, &exchange.request.header, &request.header) {
            return Err(format!("{prefix} differs: {difference}"));
        }
        if let Some(difference) = payload_difference(&exchange.request.payload, &request.payload) {
            return Err(format!("{prefix} differs: {difference}"));
        }
        self.next += 1;
        Ok(exchange.responses.clone())
    }

    /// Number of recorded requests not yet replayed.
    pub fn remaining(&self) -> usize {
        self.exchanges.len() - self.next
    }
}

fn header_difference(recorded: &Value, recorded_bytes: &[u8], received: &[u8]) -> Option<String> {
    let Ok(received) = serde_json::from_slice::<Value>(received) else {
        if recorded.is_null() && recorded_bytes == received {
            return None;
        }
        return Some(format!(
            "header {:?} is not valid JSON, recorded {}",
            String::from_utf8_lossy(received),
            String::from_utf8_lossy(recorded_bytes)
        ));
    };
    if &received == recorded {
        return None;
    }
    if let (Some(got), Some(want)) = (received.as_object(), recorded.as_object()) {
        for (key, value) in want {
            match got.get(key) {
                None => return Some(format!("header key {key:?} is missing, recorded {value}")),
                Some(other) if other != value => {
                    return Some(format!("header key {key:?} is {other}, recorded {value}"))
                }
                Some(_) => {}
            }
        }
        if let Some(key) = got.keys().find(|key| !want.contains_key(*key)) {
            return Some(format!("header key {key:?} was not recorded"));
        }
    }
    Some(format!("header is {received}, recorded {recorded}"))
}

fn payload_difference(recorded: &[u8], received: &[u8]) -> Option<String> {
    if recorded == received {
        return None;
    }
    if recorded.len() != received.len() {
        return Some(format!(
            "payload is {} bytes, recorded {} bytes",
            received.len(),
            recorded.len()
        ));
    }
    let (Some(got), Some(want)) = (decode_f32s(received), decode_f32s(recorded)) else {
        return Some("payload bytes differ".to_string());
    };
    let index = got
        .iter()
        .zip(&want)
        .position(|(a, b)| a.to_bits() != b.to_bits())
        .unwrap_or(0);
    Some(format!(
        "payload value {index} is {}, recorded {}",
        got[index], want[index]
    ))
}
