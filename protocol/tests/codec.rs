//! Property and edge tests of the frame codec and the typed messages.

use bytes::BytesMut;
use proptest::prelude::*;
use sidecar_protocol::payload::{decode_f32s, encode_f32s};
use sidecar_protocol::{
    CacheStats, ColumnSpec, ErrorBody, ErrorCode, Frame, FrameCodec, FrameError, Limits, Request,
    Response, MAX_ID,
};
use tokio_util::codec::{Decoder, Encoder};

// ===== strategies =====

fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,11}"
}

fn names() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::btree_set(name(), 1..5).prop_map(|set| set.into_iter().collect())
}

fn id() -> impl Strategy<Value = u64> {
    prop_oneof![Just(1u64), Just(MAX_ID), 1..=MAX_ID]
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        id().prop_map(|id| Request::Ping { id }),
        id().prop_map(|id| Request::Shutdown { id }),
        (id(), "/[ -~]{0,40}").prop_map(|(id, model_path)| Request::Load { id, model_path }),
        (
            id(),
            "/[^\u{0}]{0,40}",
            names(),
            proptest::option::of(names()),
            1u32..=(1 << 24)
        )
            .prop_map(|(id, model_path, input_names, output_names, batch_size)| {
                Request::Predict {
                    id,
                    model_path,
                    input_names,
                    output_names,
                    batch_size,
                }
            }),
    ]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    proptest::sample::select(ErrorCode::ALL.to_vec())
}

fn columns() -> impl Strategy<Value = Vec<ColumnSpec>> {
    proptest::collection::vec(
        (name(), "double|float|long|integer|float32")
            .prop_map(|(name, data_type)| ColumnSpec { name, data_type }),
        1..4,
    )
}

fn response() -> impl Strategy<Value = Response> {
    let ping = (0..=MAX_ID, any::<u32>(), any::<[u32; 5]>()).prop_map(|(id, pid, c)| Response {
        protocol: Some(1),
        implementation: Some("fake-sidecar/0.1.0".into()),
        pid: Some(pid),
        cache: Some(CacheStats {
            entries: c[0].into(),
            capacity: c[1].into(),
            loads: c[2].into(),
            hits: c[3].into(),
            evictions: c[4].into(),
        }),
        ..Response::ok(id)
    });
    let load =
        (id(), any::<bool>(), columns(), columns()).prop_map(|(id, cached, i, o)| Response {
            cached: Some(cached),
            inputs: Some(i),
            outputs: Some(o),
            ..Response::ok(id)
        });
    let predict = (id(), names(), 1u32..=(1 << 24))
        .prop_map(|(id, names, batch)| Response::predicted(id, names, batch));
    let error = (
        0..=MAX_ID,
        error_code(),
        ".{0,60}",
        proptest::option::of("[A-Za-z]{1,20}"),
    )
        .prop_map(|(id, code, message, exception)| Response {
            error: Some(ErrorBody {
                code,
                message,
                exception,
            }),
            ..Response::error(id, code, "")
        });
    prop_oneof![ping, load, predict, error, id().prop_map(Response::ok)]
}

// ===== helpers =====

fn encode(frame: &Frame) -> Vec<u8> {
    let mut out = BytesMut::new();
    FrameCodec::default()
        .encode(frame, &mut out)
        .expect("frame within limits");
    out.to_vec()
}

/// Feeds `bytes` to a fresh codec in the given chunk sizes, then signals
/// end of stream; returns every frame and the final error, if any.
fn feed(bytes: &[u8], chunks: &[usize]) -> (Vec<Frame>, Option<FrameError>) {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = bytes;

    for &size in chunks.iter().chain(std::iter::repeat(&usize::MAX)) {
        if rest.is_empty() {
            break;
        }
        let take = size.min(rest.len());
        buf.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(err) => return (frames, Some(err)),
            }
        }
    }

    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, None),
            Err(err) => return (frames, Some(err)),
        }
    }
}

fn preamble(version: u16, flags: u16, header_len: u32, payload_len: u32) -> Vec<u8> {
    let mut out = b"TMSP".to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&payload_len.to_le_bytes());
    out
}

// ===== properties =====

proptest! {
    #[test]
    fn request_header_round_trips(request in request()) {
        let header = request.to_header();
        prop_assert_eq!(Request::from_header(&header), Ok(request));
    }

    #[test]
    fn response_header_round_trips(response in response()) {
        let header = response.to_header();
        let decoded = Response::from_header(&header).expect("canonical header decodes");
        prop_assert_eq!(decoded, response);
    }

    #[test]
    fn frame_round_trips(request in request(), values in proptest::collection::vec(any::<f32>(), 0..64)) {
        let frame = Frame::new(request.to_header(), encode_f32s(&values));
        let bytes = encode(&frame);
        let (frames, err) = feed(&bytes, &[]);
        prop_assert!(err.is_none(), "error {:?}", err);
        prop_assert_eq!(frames.len(), 1);
        prop_assert_eq!(&frames[0], &frame);
        let decoded = decode_f32s(&frames[0].payload).expect("aligned payload");
        let bits: Vec<u32> = decoded.iter().map(|v| v.to_bits()).collect();
        let expected: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(bits, expected);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        chunks in proptest::collection::vec(1usize..32, 0..16),
    ) {
        // Any outcome is fine except a panic or an unbounded allocation.
        let _ = feed(&bytes, &chunks);
    }

    #[test]
    fn valid_preamble_then_noise_never_panics(
        header_len in 0u32..200,
        payload_len in 0u32..200,
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = preamble(1, 0, header_len, payload_len);
        bytes.extend_from_slice(&body);
        let _ = feed(&bytes, &[7, 3]);
    }

    #[test]
    fn frames_in_random_chunks_decode(
        requests in proptest::collection::vec(request(), 1..4),
        chunks in proptest::collection::vec(1usize..40, 0..30),
    ) {
        let frames: Vec<Frame> = requests
            .iter()
            .map(|r| Frame::new(r.to_header(), encode_f32s(&[1.5, -2.0])))
            .collect();
        let bytes: Vec<u8> = frames.iter().flat_map(encode).collect();
        let (decoded, err) = feed(&bytes, &chunks);
        prop_assert!(err.is_none(), "error {:?}", err);
        prop_assert_eq!(decoded, frames);
    }
}

// ===== splits, limits and truncation =====

#[test]
fn frame_split_at_every_boundary() {
    let request = Request::Predict {
        id: 7,
        model_path: "/models/churn".into(),
        input_names: vec!["tenure".into(), "spend".into()],
        output_names: Some(vec!["score".into()]),
        batch_size: 2,
    };
    let frame = Frame::new(request.to_header(), encode_f32s(&[1.0, 2.0, 3.0, 4.0]));
    let bytes = encode(&frame);

    for split in 0..=bytes.len() {
        let (frames, err) = feed(&bytes, &[split]);
        assert!(err.is_none(), "split at {split}: {err:?}");
        assert_eq!(frames, vec![frame.clone()], "split at {split}");
    }

    // One byte at a time, with two frames back to back.
    let mut two = bytes.clone();
    two.extend_from_slice(&bytes);
    let (frames, err) = feed(&two, &vec![1; two.len()]);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames, vec![frame.clone(), frame]);
}

#[test]
fn oversize_header_rejected_before_allocation() {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::from(&preamble(1, 0, 65_537, 0)[..]);
    let capacity = buf.capacity();

    let err = codec
        .decode(&mut buf)
        .expect_err("header_len above the limit");
    assert_eq!(err.code(), Some(ErrorCode::HeaderTooLarge));
    assert_eq!(buf.capacity(), capacity, "buffer grew for a rejected frame");
}

#[test]
fn oversize_payload_rejected_before_allocation() {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::from(&preamble(1, 0, 20, u32::MAX - 3)[..]);
    let capacity = buf.capacity();

    let err = codec
        .decode(&mut buf)
        .expect_err("payload_len above the limit");
    assert_eq!(err.code(), Some(ErrorCode::PayloadTooLarge));
    assert_eq!(buf.capacity(), capacity, "buffer grew for a rejected frame");
}

#[test]
fn custom_limits_enforced() {
    let limits = Limits {
        max_header_bytes: 32,
        max_payload_bytes: 8,
    };
    let mut codec = FrameCodec::new(limits);

    let mut buf = BytesMut::from(&preamble(1, 0, 33, 0)[..]);
    let err = codec.decode(&mut buf).expect_err("header above 32");
    assert_eq!(err.code(), Some(ErrorCode::HeaderTooLarge));

    let mut codec = FrameCodec::new(limits);
    let mut buf = BytesMut::from(&preamble(1, 0, 20, 12)[..]);
    let err = codec.decode(&mut buf).expect_err("payload above 8");
    assert_eq!(err.code(), Some(ErrorCode::PayloadTooLarge));

    // The encoder enforces the same limits.
    let frame = Frame::new(&b"{\"op\":\"ping\",\"id\":1}"[..], encode_f32s(&[0.0; 3]));
    let err = FrameCodec::new(limits)
        .encode(frame, &mut BytesMut::new())
        .expect_err("payload above 8");
    assert_eq!(err.code(), Some(ErrorCode::PayloadTooLarge));
}

#[test]
fn truncation_at_eof_reported() {
    let frame = Frame::new(Request::Ping { id: 1 }.to_header(), encode_f32s(&[1.0]));
    let bytes = encode(&frame);

    for cut in 1..bytes.len() {
        let (frames, err) = feed(&bytes[..cut], &[]);
        assert!(frames.is_empty(), "cut at {cut}");
        match err {
            Some(FrameError::Truncated { buffered }) => assert_eq!(buffered, cut, "cut at {cut}"),
            other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
        }
    }

    // A clean end of stream between frames is not an error.
    let (frames, err) = feed(&bytes, &[]);
    assert_eq!(frames.len(), 1);
    assert!(err.is_none(), "{err:?}");
}

#[test]
fn non_utf8_header_is_a_bad_request_not_a_frame_error() {
    let frame_bytes = {
        let mut out = preamble(1, 0, 4, 0);
        out.extend_from_slice(&[b'{', 0xff, 0xfe, b'}']);
        out
    };
    let (frames, err) = feed(&frame_bytes, &[]);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 1);

    let err = Request::from_header(&frames[0].header).expect_err("not UTF-8");
    assert_eq!(err.id, 0);
    assert!(err.message.contains("UTF-8"), "{}", err.message);
}

#[test]
fn request_keys_in_any_order_and_unknown_keys_ignored() {
    let header = br#" { "batch_size" : 3, "extra": [1, {"x": null}], "input_names": ["a"],
        "model_path": "/m", "id": 5, "op": "predict" } "#;
    assert_eq!(
        Request::from_header(header),
        Ok(Request::Predict {
            id: 5,
            model_path: "/m".into(),
            input_names: vec!["a".into()],
            output_names: None,
            batch_size: 3,
        })
    );
}

#[test]
fn request_errors_carry_the_id_when_known() {
    let cases: [(&[u8], u64, &str); 7] = [
        (b"[1]", 0, "not a JSON object"),
        (b"{\"op\":\"ping\"}", 0, "missing key `id`"),
        (b"{\"op\":\"ping\",\"id\":0}", 0, "key `id`"),
        (b"{\"op\":\"fly\",\"id\":4}", 4, "unknown op `fly`"),
        (b"{\"op\":\"load\",\"id\":4}", 4, "missing key `model_path`"),
        (
            b"{\"op\":\"predict\",\"id\":6,\"model_path\":\"/m\",\"input_names\":[\"a\",\"a\"],\"batch_size\":1}",
            6,
            "twice",
        ),
        (
            b"{\"op\":\"predict\",\"id\":6,\"model_path\":\"/m\",\"input_names\":[\"a\"],\"batch_size\":0}",
            6,
            "batch_size",
        ),
    ];
    for (header, id, needle) in cases {
        let err = Request::from_header(header).expect_err("invalid header");
        assert_eq!(err.id, id, "{}", String::from_utf8_lossy(header));
        assert!(
            err.message.contains(needle),
            "{} -> {}",
            String::from_utf8_lossy(header),
            err.message
        );
    }
}
