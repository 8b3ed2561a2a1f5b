//! `harness probe`: send one frame to a running sidecar and print the
//! decoded response.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use bytes::BytesMut;
use sidecar_protocol::payload::{decode_f32s, encode_f32s};
use sidecar_protocol::{Frame, FrameCodec};
use tokio_util::codec::Decoder;

use crate::duration::parse_go_duration;

/// Largest frame file read, in bytes of text.
const MAX_FRAME_FILE_BYTES: u64 = 256 << 20;

/// Arguments of `harness probe`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("request").required(true).args(["frame", "json"])))]
pub struct ProbeArgs {
    /// Unix socket of a running sidecar.
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,

    /// File with the frame's bytes as hex digits, in the format of
    /// cases/protocol/*.hex (`#` comments, whitespace ignored). The bytes
    /// are sent as they are, so invalid frames can be probed.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["json", "payload_f32"])]
    pub frame: Option<PathBuf>,

    /// Request header as JSON, for example '{"op":"ping","id":1}'.
    #[arg(long, value_name = "HEADER")]
    pub json: Option<String>,

    /// Payload values, comma-separated, each rounded to FP32.
    #[arg(long, value_name = "CSV", requires = "json")]
    pub payload_f32: Option<String>,

    /// Time to wait for the response, Go duration syntax.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_go_duration)]
    pub timeout: Duration,
}

/// Runs the subcommand: 0 when a whole frame came back, 1 when the
/// response was missing or invalid.
pub fn run(args: ProbeArgs) -> anyhow::Result<u8> {
    // Step 1: the bytes to send.
    let bytes = match (&args.frame, &args.json) {
        (Some(path), _) => read_hex_file(path)?,
        (None, Some(header)) => {
            serde_json::from_str::<serde_json::Value>(header)
                .with_context(|| format!("--json {} is not valid JSON", excerpt(header)))?;
            let values = match &args.payload_f32 {
                Some(csv) => parse_f32_list(csv)?,
                None => Vec::new(),
            };
            Frame::new(header.clone().into_bytes(), encode_f32s(&values))
                .to_bytes()
                .context("cannot encode the frame")?
        }
        (None, None) => bail!("pass --frame FILE or --json HEADER"),
    };

    // Step 2: send them and read one frame back.
    let mut stream = UnixStream::connect(&args.socket)
        .with_context(|| format!("cannot connect to {}", args.socket.display()))?;
    stream.set_read_timeout(Some(args.timeout))?;
    stream.set_write_timeout(Some(args.timeout))?;
    stream.write_all(&bytes).context("cannot send the frame")?;
    println!("sent {} bytes", bytes.len());

    let mut codec = FrameCodec::default();
    let mut buffer = BytesMut::new();
    let mut chunk = [0u8; 64 * 1024];
    let frame = loop {
        match codec.decode(&mut buffer) {
            Ok(Some(frame)) => break frame,
            Ok(None) => {}
            Err(err) => {
                println!("invalid response frame: {err}");
                return Ok(1);
            }
        }
        let read = match stream.read(&mut chunk) {
            Ok(read) => read,
            Err(err) if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                println!("no response within {}", crate::duration::format_go_duration(args.timeout));
                return Ok(1);
            }
            Err(err) => {
                println!("reading the response failed: {err}");
                return Ok(1);
            }
        };
        if read == 0 {
            println!("connection closed after {} bytes of response", buffer.len());
            return Ok(1);
        }
        buffer.extend_from_slice(&chunk[..read]);
    };

    // Step 3: print it.
    print_frame(&frame);
    Ok(0)
}

fn print_frame(frame: &Frame) {
    match serde_json::from_slice::<serde_json::Value>(&frame.header) {
        Ok(header) => {
            let pretty = serde_json::to_string_pretty(&header).unwrap_or_default();
            println!("header:\n{pretty}");
        }
        Err(err) => println!(
            "header (not valid JSON: {err}): {:?}",
            String::from_utf8_lossy(&frame.header)
        ),
    }
    let values = decode_f32s(&frame.payload).unwrap_or_default();
    println!("payload: {} bytes, {} FP32 values", frame.payload.len(), values.len());
    for (index, value) in values.iter().enumerate() {
        println!("  [{index}] {value}");
    }
}

/// Reads hex digits, ignoring whitespace and `#` comments.
pub fn read_hex_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("frame file {} not found", path.display()))?
        .len();
    if size > MAX_FRAME_FILE_BYTES {
        bail!("frame file {} is {size} bytes, over the limit of {MAX_FRAME_FILE_BYTES}", path.display());
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_hex(&text).with_context(|| format!("frame file {}", path.display()))
}

/// Parses hex text: whitespace is ignored and `#` starts a comment that
/// runs to the end of the line.
pub fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut digits = String::new();
    for (number, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or("");
        for ch in content.chars().filter(|ch| !ch.is_whitespace()) {
            if !ch.is_ascii_hexdigit() {
                bail!("line {}: {ch:?} is not a hex digit", number + 1);
            }
            digits.push(ch);
        }
    }
    if digits.len() % 2 != 0 {
        bail!("odd number of hex digits ({}); each byte needs two", digits.len());
    }
    hex::decode(&digits).context("invalid hex")
}

fn parse_f32_list(csv: &str) -> anyhow::Result<Vec<f32>> {
    csv.split(',')
        .filter(|cell| !cell.trim().is_empty())
        .map(|cell| {
            cell.trim()
                .parse::<f32>()
                .with_context(|| format!("--payload-f32: {:?} is not a number", cell.trim()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ignores_comments_and_spaces() {
        let bytes = parse_hex("54 4d # magic\n53\t50\n").unwrap();
        assert_eq!(bytes, b"TMSP");
    }

    #[test]
    fn hex_rejects_odd_digits() {
        let err = parse_hex("54 4").unwrap_err().to_string();
        assert!(err.contains("odd number"), "{err}");
    }

    #[test]
    fn hex_rejects_non_digit() {
        let err = parse_hex("5z").unwrap_err().to_string();
        assert!(err.contains("'z'"), "{err}");
    }
}

/// Returns the start of a long argument, quoted, for an error message.
fn excerpt(text: &str) -> String {
    const LIMIT: usize = 120;
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{:?}... ({} bytes)", &text[..cut], text.len()),
        None => format!("{text:?}"),
    }
}
