//! Frame-level behaviour of the real binary: broken frames, invalid
//! headers, pipelining and concurrent connections.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

fn preamble(
    magic: &[u8; 4],
    version: u16,
    flags: u16,
    header_len: u32,
    payload_len: u32,
) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&payload_len.to_le_bytes());
    out
}

#[test]
fn broken_frames_get_id_0_error_then_eof() {
    let sidecar = Sidecar::start(&[]);
    let ping_header = br#"{"op":"ping","id":1}"#;
    let with_header = |mut preamble: Vec<u8>| {
        preamble.extend_from_slice(ping_header);
        preamble
    };
    let cases: [(&str, Vec<u8>, &str); 6] = [
        (
            "bad magic",
            with_header(preamble(b"TMSQ", 1, 0, 20, 0)),
            "BAD_FRAME",
        ),
        (
            "version 2",
            with_header(preamble(b"TMSP", 2, 0, 20, 0)),
            "UNSUPPORTED_VERSION",
        ),
        (
            "flags",
            with_header(preamble(b"TMSP", 1, 1, 20, 0)),
            "BAD_FRAME",
        ),
        (
            "header over limit",
            preamble(b"TMSP", 1, 0, 65_537, 0),
            "HEADER_TOO_LARGE",
        ),
        (
            "payload over limit",
            preamble(b"TMSP", 1, 0, 20, 67_108_868),
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "payload unaligned",
            with_header(preamble(b"TMSP", 1, 0, 20, 6)),
            "BAD_FRAME",
        ),
    ];

    for (name, bytes, code) in cases {
        let mut client = sidecar.connect();
        // A good request first: the error follows its response.
        client.call(&ping(7), &[]);

        client.send_raw(&bytes);
        let (response, payload) = client.recv();
        assert_eq!(response.id, 0, "{name}");
        assert!(!response.ok, "{name}");
        assert!(payload.is_empty(), "{name}");
        assert_eq!(response.error.expect("error").code.as_str(), code, "{name}");
        client.expect_eof();
    }

    // The sidecar itself is unaffected.
    assert!(sidecar.connect().call(&ping(1), &[]).0.ok);
    sidecar.stop();
}

#[test]
fn invalid_headers_keep_the_connection() {
    let sidecar = Sidecar::start(&[]);
    let mut client = sidecar.connect();
    let cases: [(&[u8], u64, &str); 6] = [
        (b"{not json", 0, "not valid JSON"),
        (b"[1,2]", 0, "not a JSON object"),
        (b"{\"op\":\"ping\"}", 0, "missing key `id`"),
        (b"{\"op\":\"jump\",\"id\":5}", 5, "unknown op `jump`"),
        (
            b"{\"op\":\"load\",\"id\":6,\"model_path\":7}",
            6,
            "model_path",
        ),
        (b"{\xff\xfe}", 0, "UTF-8"),
    ];

    for (header, id, needle) in cases {
        client.send_frame(header, &[]);
        let (response, _) = client.recv();
        let error = response.error.expect("error body");
        assert_eq!(response.id, id, "{}", String::from_utf8_lossy(header));
        assert_eq!(error.code.as_str(), "BAD_REQUEST");
        assert!(error.message.contains(needle), "{}", error.message);
    }

    // Still open and in sync.
    let (response, _) = client.call(&ping(99), &[]);
    assert!(response.ok);
    sidecar.stop();
}

#[test]
fn pipelined_requests_answered_in_order() {
    let sidecar = Sidecar::start(&[]);
    let slow = ModelFixture::linear()
        .with_faults(json!({"delay_ms": 200}))
        .write(sidecar.dir.path(), "slow");
    let fast = ModelFixture::linear().write(sidecar.dir.path(), "fast");
    let mut client = sidecar.connect();

    // One write holding five requests; the slow one must not be overtaken.
    let requests = [
        (
            predict(1, &slow, &["tenure", "spend"], None, 1),
            vec![1.0, 2.0],
        ),
        (ping(2), vec![]),
        (
            predict(3, &fast, &["tenure", "spend"], None, 2),
            vec![1.0, 2.0, 3.0, 4.0],
        ),
        (load(4, &fast), vec![]),
        (predict(5, &fast, &["tenure", "spend"], None, 1), vec![1.0]),
    ];
    let mut bytes = Vec::new();
    for (request, payload) in &requests {
        let mut out = bytes::BytesMut::new();
        tokio_util::codec::Encoder::encode(
            &mut sidecar_protocol::FrameCodec::default(),
            sidecar_protocol::Frame::new(
                request.to_header(),
                sidecar_protocol::payload::encode_f32s(payload),
            ),
            &mut out,
        )
        .expect("encode");
        bytes.extend_from_slice(&out);
    }
    client.send_raw(&bytes);

    let ids: Vec<u64> = (0..requests.len()).map(|_| client.recv().0.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    sidecar.stop();
}

#[test]
fn connections_served_concurrently() {
    let sidecar = Sidecar::start(&[]);
    let slow = ModelFixture::linear()
        .with_faults(json!({"delay_ms": 1500}))
        .write(sidecar.dir.path(), "slow");
    let mut first = sidecar.connect();
    let mut second = sidecar.connect();
    first.call(&load(1, &slow), &[]);

    let start = Instant::now();
    first.send(
        &predict(2, &slow, &["tenure", "spend"], None, 1),
        &[1.0, 2.0],
    );
    let (response, _) = second.call(&ping(3), &[]);
    assert!(response.ok);
    assert!(
        start.elapsed() < Duration::from_millis(1000),
        "ping waited {:?} behind another connection",
        start.elapsed()
    );

    let (response, _) = first.recv();
    assert_eq!(response.id, 2);
    assert!(response.ok);
    sidecar.stop();
}
