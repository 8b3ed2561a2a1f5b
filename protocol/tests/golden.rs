//! Checks the codec against the golden frames in `cases/protocol/`.
//!
//! Each case is a pair `NAME.hex` (the frame bytes) and `NAME.json` (what
//! they mean); cases/protocol/README.md describes the format. A valid frame
//! must decode to the listed header and payload, decode as a typed request
//! or response, and encode back from the typed message to the same bytes.
//! An invalid frame must fail with the listed error code.

use std::path::{Path, PathBuf};

use bytes::BytesMut;
use serde_json::Value;
use sidecar_protocol::payload::{decode_f32s, encode_f32s};
use sidecar_protocol::{Frame, FrameCodec, Request, Response};
use tokio_util::codec::{Decoder, Encoder};

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cases/protocol")
}

/// Parses the hex text of a case: whitespace is ignored and `#` starts a
/// comment that runs to the end of the line.
fn parse_hex(text: &str, name: &str) -> Vec<u8> {
    let mut digits = String::new();
    for line in text.lines() {
        let data = line.split('#').next().unwrap_or("");
        digits.extend(data.chars().filter(|c| !c.is_whitespace()));
    }
    assert!(
        digits.len() % 2 == 0,
        "{name}.hex has an odd number of hex digits"
    );
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .unwrap_or_else(|_| panic!("{name}.hex: {:?} is not a hex byte", &digits[i..i + 2]))
        })
        .collect()
}

/// Loads every case in the directory, sorted by name.
fn load_cases() -> Vec<(String, Vec<u8>, Value)> {
    let mut names: Vec<String> = std::fs::read_dir(cases_dir())
        .expect("cases/protocol exists")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "hex").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();

    names
        .into_iter()
        .map(|name| {
            let dir = cases_dir();
            let hex = std::fs::read_to_string(dir.join(format!("{name}.hex"))).unwrap();
            let json = std::fs::read_to_string(dir.join(format!("{name}.json")))
                .unwrap_or_else(|err| panic!("{name}.json: {err}"));
            let expected: Value =
                serde_json::from_str(&json).unwrap_or_else(|err| panic!("{name}.json: {err}"));
            let bytes = parse_hex(&hex, &name);
            (name, bytes, expected)
        })
        .collect()
}

/// Decodes one frame from the whole input, as a reader at end of stream.
fn decode_all(bytes: &[u8]) -> Result<Frame, sidecar_protocol::FrameError> {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::from(bytes);
    let frame = match codec.decode(&mut buf)? {
        Some(frame) => frame,
        None => codec
            .decode_eof(&mut buf)?
            .expect("decode_eof returns a frame or an error"),
    };
    assert!(buf.is_empty(), "{} bytes left after the frame", buf.len());
    Ok(frame)
}

fn check_valid(name: &str, bytes: &[u8], expected: &Value) {
    let frame = decode_all(bytes).unwrap_or_else(|err| panic!("{name}: decoding failed: {err}"));

    // The header as a JSON value.
    let header: Value = serde_json::from_slice(&frame.header)
        .unwrap_or_else(|err| panic!("{name}: header is not JSON: {err}"));
    assert_eq!(header, expected["header"], "{name}: header");

    // The payload, compared bit for bit so that -0 and subnormals count.
    let expected_payload: Vec<f32> = expected["payload_f32"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}.json: payload_f32 is not an array"))
        .iter()
        .map(|v| v.as_f64().expect("payload_f32 holds numbers") as f32)
        .collect();
    let payload = decode_f32s(&frame.payload).expect("payload is a multiple of 4");
    let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&payload), bits(&expected_payload), "{name}: payload");

    // The typed message, encoded back to the same bytes.
    let typed_header = if header.get("op").is_some() {
        let request = Request::from_header(&frame.header)
            .unwrap_or_else(|err| panic!("{name}: not a valid request: {err}"));
        request.to_header()
    } else {
        let response = Response::from_header(&frame.header)
            .unwrap_or_else(|err| panic!("{name}: not a valid response: {err}"));
        response.to_header()
    };
    let mut encoded = BytesMut::new();
    FrameCodec::default()
        .encode(
            Frame::new(typed_header, encode_f32s(&expected_payload)),
            &mut encoded,
        )
        .unwrap_or_else(|err| panic!("{name}: encoding failed: {err}"));
    assert_eq!(&encoded[..], bytes, "{name}: re-encoded bytes differ");
}

fn check_invalid(name: &str, bytes: &[u8], code: &str) {
    match decode_all(bytes) {
        Ok(frame) => panic!("{name}: decoded {frame:?}, expected error {code}"),
        Err(err) => {
            let found = err.code().map(|c| c.as_str()).unwrap_or("none");
            assert_eq!(found, code, "{name}: error {err}");
        }
    }
}

#[test]
fn golden_frames() {
    let cases = load_cases();
    assert!(cases.len() >= 20, "only {} cases found", cases.len());

    for (name, bytes, expected) in &cases {
        match expected.get("error") {
            Some(code) => check_invalid(name, bytes, code.as_str().expect("error is a string")),
            None => check_valid(name, bytes, expected),
        }
    }
}

#[test]
fn golden_cases_cover_every_kind() {
    let names: Vec<String> = load_cases().into_iter().map(|(name, ..)| name).collect();
    for required in [
        "request_ping",
        "request_load",
        "request_predict",
        "request_predict_output_names",
        "request_shutdown",
        "response_ping",
        "response_load",
        "response_predict",
        "response_shutdown",
        "response_error",
        "response_error_exception",
        "response_error_id0",
        "invalid_bad_magic",
        "invalid_version_2",
        "invalid_nonzero_flags",
        "invalid_header_len_over_limit",
        "invalid_payload_len_over_limit",
        "invalid_payload_len_unaligned",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "missing case {required}"
        );
    }
}
