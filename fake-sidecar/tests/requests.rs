//! Requests against the real binary: cache counters, loading, predictions,
//! faults and error messages.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use sidecar_protocol::{CacheStats, ColumnSpec, Request};

fn cache_stats(client: &mut Client, id: u64) -> CacheStats {
    let (response, _) = client.call(&ping(id), &[]);
    assert!(response.ok);
    response.cache.expect("ping has cache counters")
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

// ===== ping and the cache =====

#[test]
fn ping_reports_identity() {
    let sidecar = Sidecar::start(&[]);
    let mut client = sidecar.connect();

    let (response, payload) = client.call(&ping(1), &[]);

    assert!(response.ok);
    assert!(payload.is_empty());
    assert_eq!(response.protocol, Some(1));
    assert_eq!(
        response.implementation.as_deref(),
        Some("fake-sidecar/0.1.0")
    );
    assert_eq!(response.pid, Some(sidecar.pid().as_raw() as u32));
    assert_eq!(
        response.cache,
        Some(CacheStats {
            entries: 0,
            capacity: 64,
            loads: 0,
            hits: 0,
            evictions: 0
        })
    );
    sidecar.stop();
}

#[test]
fn cache_counts_load_hit_evict() {
    let sidecar = Sidecar::start(&["--cache-entries", "1"]);
    let a = ModelFixture::linear().write(sidecar.dir.path(), "a");
    let b = ModelFixture::linear().write(sidecar.dir.path(), "b");
    let mut client = sidecar.connect();

    let (first, _) = client.call(&load(1, &a), &[]);
    assert_eq!(first.cached, Some(false));
    assert_eq!(
        cache_stats(&mut client, 2),
        CacheStats {
            entries: 1,
            capacity: 1,
            loads: 1,
            hits: 0,
            evictions: 0
        }
    );

    let (second, _) = client.call(&load(3, &a), &[]);
    assert_eq!(second.cached, Some(true));
    assert_eq!(
        cache_stats(&mut client, 4),
        CacheStats {
            entries: 1,
            capacity: 1,
            loads: 1,
            hits: 1,
            evictions: 0
        }
    );

    // A predict for a cached model is a hit too.
    let (predicted, _) = client.call(&predict(5, &a, &["tenure", "spend"], None, 1), &[1.0, 2.0]);
    assert!(predicted.ok);
    assert_eq!(cache_stats(&mut client, 6).hits, 2);

    // Loading b evicts a; loading a again is a load, not a hit.
    client.call(&load(7, &b), &[]);
    assert_eq!(
        cache_stats(&mut client, 8),
        CacheStats {
            entries: 1,
            capacity: 1,
            loads: 2,
            hits: 2,
            evictions: 1
        }
    );
    let (again, _) = client.call(&load(9, &a), &[]);
    assert_eq!(again.cached, Some(false));
    assert_eq!(
        cache_stats(&mut client, 10),
        CacheStats {
            entries: 1,
            capacity: 1,
            loads: 3,
            hits: 2,
            evictions: 2
        }
    );
    sidecar.stop();
}

#[test]
fn load_reports_signature() {
    let sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear().write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();

    let (response, _) = client.call(&load(1, &model), &[]);

    assert!(response.ok, "{response:?}");
    let column = |name: &str, ty: &str| ColumnSpec {
        name: name.into(),
        data_type: ty.into(),
    };
    assert_eq!(
        response.inputs,
        Some(vec![column("tenure", "double"), column("spend", "double")])
    );
    assert_eq!(
        response.outputs,
        Some(vec![column("score", "float"), column("margin", "float")])
    );
    sidecar.stop();
}

#[test]
fn load_reports_tensor_dtypes() {
    let sidecar = Sidecar::start(&[]);
    let mut fixture = ModelFixture::linear();
    fixture.tensor = true;
    fixture.inputs = vec![
        ("tenure".into(), "float32".into()),
        ("spend".into(), "int64".into()),
    ];
    fixture.outputs = vec![
        ("score".into(), "float32".into()),
        ("margin".into(), "float64".into()),
    ];
    let model = fixture.write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();

    let (response, _) = client.call(&load(1, &model), &[]);
    let types: Vec<String> = response
        .inputs
        .expect("inputs")
        .into_iter()
        .map(|c| c.data_type)
        .collect();
    assert_eq!(types, ["float32", "int64"]);

    // int64 tensors take integral values only.
    let (code, message, _) = client.call_err(
        &predict(2, &model, &["tenure", "spend"], None, 2),
        &[1.5, 2.0, 1.5, 2.5],
    );
    assert_eq!(code, "BAD_REQUEST");
    assert_eq!(
        message,
        r#"cannot convert input "spend" at batch row 1 (0-based) to int64: not an integral value in range"#
    );
    sidecar.stop();
}

// ===== predict =====

#[test]
fn predict_matches_spec_evaluation() {
    let sidecar = Sidecar::start(&[]);
    let fixture = ModelFixture::linear();
    let model = fixture.write(sidecar.dir.path(), "m");
    let spec = fixture.model_spec();
    let mut client = sidecar.connect();

    let rows: Vec<f32> = vec![32.0, 128.0, 0.0, 0.0, -7.25, 3.5, 1e6, -1e-3];
    let (response, values) = client.call(&predict(1, &model, &["tenure", "spend"], None, 4), &rows);

    assert!(response.ok, "{response:?}");
    assert_eq!(
        response.output_names,
        Some(vec!["score".into(), "margin".into()])
    );
    assert_eq!(response.batch_size, Some(4));
    assert_eq!(bits(&values), bits(&spec.eval_batch(4, &rows)));
    assert_eq!(values[0], 0.5, "sigmoid(0)");
    sidecar.stop();
}

#[test]
fn predict_maps_columns_by_name() {
    let sidecar = Sidecar::start(&[]);
    let fixture = ModelFixture::linear();
    let model = fixture.write(sidecar.dir.path(), "m");
    let spec = fixture.model_spec();
    let mut client = sidecar.connect();

    // Payload columns in the order spend, tenure; outputs margin, score.
    let swapped = [128.0, 32.0, 3.5, -7.25];
    let (response, values) = client.call(
        &predict(
            1,
            &model,
            &["spend", "tenure"],
            Some(&["margin", "score"]),
            2,
        ),
        &swapped,
    );

    assert!(response.ok, "{response:?}");
    assert_eq!(
        response.output_names,
        Some(vec!["margin".into(), "score".into()])
    );
    let expected = spec.eval_batch(2, &[32.0, 128.0, -7.25, 3.5]);
    let reordered = [expected[1], expected[0], expected[3], expected[2]];
    assert_eq!(bits(&values), bits(&reordered));
    sidecar.stop();
}

#[test]
fn predict_accepts_integral_long_values() {
    let sidecar = Sidecar::start(&[]);
    let mut fixture = ModelFixture::linear();
    fixture.inputs[0].1 = "long".into();
    fixture.inputs[1].1 = "integer".into();
    let model = fixture.write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();

    let rows = [-3.0, 2147483520.0, 1e18, -2147483648.0];
    let (response, values) = client.call(&predict(1, &model, &["tenure", "spend"], None, 2), &rows);

    assert!(response.ok, "{response:?}");
    assert_eq!(
        bits(&values),
        bits(&fixture.model_spec().eval_batch(2, &rows))
    );
    sidecar.stop();
}

#[test]
fn conversion_errors_name_column_and_row() {
    let sidecar = Sidecar::start(&[]);
    let mut fixture = ModelFixture::linear();
    fixture.inputs[0].1 = "long".into();
    fixture.inputs[1].1 = "integer".into();
    let model = fixture.write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();
    let request = predict(1, &model, &["tenure", "spend"], None, 3);

    let cases: [([f32; 6], &str); 5] = [
        (
            [1.0, 2.0, 1.5, 2.0, 0.0, 0.0],
            r#"input "tenure" at batch row 1 (0-based) to long"#,
        ),
        (
            [1.0, 2.0, 1.0, 2.0, 0.0, 2147483648.0],
            r#"input "spend" at batch row 2 (0-based) to integer"#,
        ),
        (
            [f32::NAN, 2.0, 1.0, 2.0, 0.0, 0.0],
            r#"input "tenure" at batch row 0 (0-based) to long"#,
        ),
        (
            [1.0, 2.0, 1.0, 2.0, 9.3e18, 0.0],
            r#"input "tenure" at batch row 2 (0-based) to long"#,
        ),
        (
            [1.0, f32::NEG_INFINITY, 1.0, 2.0, 0.0, 0.0],
            r#"input "spend" at batch row 0 (0-based) to integer"#,
        ),
    ];
    for (rows, needle) in cases {
        let (code, message, _) = client.call_err(&request, &rows);
        assert_eq!(code, "BAD_REQUEST", "{rows:?}");
        assert_eq!(
            message,
            format!("cannot convert {needle}: not an integral value in range"),
            "{rows:?}"
        );
    }
    sidecar.stop();
}

#[test]
fn name_mismatches_rejected() {
    let sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear().write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();

    let (code, message, _) =
        client.call_err(&predict(1, &model, &["spend", "age"], None, 1), &[1.0, 2.0]);
    assert_eq!(code, "BAD_REQUEST");
    assert_eq!(
        message,
        r#"input_names ["spend","age"] do not match the signature inputs ["tenure","spend"]"#
    );

    let (code, message, _) = client.call_err(&predict(2, &model, &["tenure"], None, 1), &[1.0]);
    assert_eq!(code, "BAD_REQUEST");
    assert_eq!(
        message,
        r#"input_names ["tenure"] do not match the signature inputs ["tenure","spend"]"#
    );

    let (code, message, _) = client.call_err(
        &predict(3, &model, &["tenure", "spend"], Some(&["score"]), 1),
        &[1.0, 2.0],
    );
    assert_eq!(code, "BAD_REQUEST");
    assert_eq!(
        message,
        r#"output_names ["score"] do not match the signature outputs ["score","margin"]"#
    );
    sidecar.stop();
}

#[test]
fn payload_size_mismatch_rejected() {
    let sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear().write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();

    let (code, message, _) = client.call_err(
        &predict(1, &model, &["tenure", "spend"], None, 3),
        &[1.0, 2.0, 3.0],
    );

    assert_eq!(code, "BAD_REQUEST");
    assert_eq!(
        message,
        "payload has 12 bytes, expected 24 (batch_size 3 x 2 inputs x 4)"
    );

    let (code, message, _) = client.call_err(&ping(2), &[1.0]);
    assert_eq!(code, "BAD_REQUEST");
    assert_eq!(
        message,
        "payload has 4 bytes, expected 0 for a ping request"
    );
    sidecar.stop();
}

// ===== model errors =====

#[test]
fn model_path_errors() {
    let sidecar = Sidecar::start(&[]);
    let dir = sidecar.dir.path();
    let mut client = sidecar.connect();
    let call = |client: &mut Client, path: &str| {
        client.call_err(
            &Request::Load {
                id: 1,
                model_path: path.into(),
            },
            &[],
        )
    };

    let (code, message, _) = call(&mut client, "models/churn");
    assert_eq!(
        (code.as_str(), message.as_str()),
        (
            "MODEL_NOT_FOUND",
            r#"model path "models/churn" is not absolute"#
        )
    );

    let missing = dir.join("missing");
    let missing = missing.to_str().expect("UTF-8");
    let (code, message, _) = call(&mut client, missing);
    assert_eq!(code, "MODEL_NOT_FOUND");
    assert_eq!(message, format!(r#"no MLmodel file in "{missing}""#));

    // The predict path reports the same errors.
    let (code, message, _) = client.call_err(
        &predict(2, std::path::Path::new(missing), &["x"], None, 1),
        &[1.0],
    );
    assert_eq!(code, "MODEL_NOT_FOUND");
    assert_eq!(message, format!(r#"no MLmodel file in "{missing}""#));
    sidecar.stop();
}

#[test]
fn invalid_mlmodel_errors() {
    let sidecar = Sidecar::start(&[]);
    let root = sidecar.dir.path();
    let mut client = sidecar.connect();
    let model = ModelFixture::linear().write(root, "m");
    let path = model.to_str().expect("UTF-8").to_owned();
    let mlmodel = model.join("MLmodel");
    let original = std::fs::read_to_string(&mlmodel).expect("MLmodel");

    let cases: Vec<(String, String)> = vec![
        (
            original.replace("python_function:", "sklearn:"),
            format!(r#"MLmodel in "{path}" has no python_function flavor"#),
        ),
        (
            original[..original.find("signature:").expect("signature")].to_owned(),
            format!(r#"MLmodel in "{path}" has no signature"#),
        ),
    ];

    for (id, (text, expected)) in cases.into_iter().enumerate() {
        assert_ne!(text, original, "case {id} did not change MLmodel");
        std::fs::write(&mlmodel, &text).expect("write MLmodel");
        let (code, message, _) = client.call_err(&load(id as u64 + 1, &model), &[]);
        assert_eq!(code, "MODEL_INVALID", "case {id}");
        assert_eq!(message, expected, "case {id}");
    }

    // Non-numeric signature types, on either side.
    let mut fixture = ModelFixture::linear();
    fixture.inputs[1].1 = "string".into();
    fixture.write(root, "m");
    let (code, message, _) = client.call_err(&load(10, &model), &[]);
    assert_eq!(code, "MODEL_INVALID");
    assert_eq!(
        message,
        format!(r#"MLmodel in "{path}": input "spend" has type string, which is not numeric"#)
    );

    let mut fixture = ModelFixture::linear();
    fixture.outputs[1].1 = "boolean".into();
    fixture.write(root, "m");
    let (code, message, _) = client.call_err(&load(11, &model), &[]);
    assert_eq!(code, "MODEL_INVALID");
    assert_eq!(
        message,
        format!(r#"MLmodel in "{path}": output "margin" has type boolean, which is not numeric"#)
    );
    sidecar.stop();
}

#[test]
fn model_without_spec_cannot_be_simulated() {
    let sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear().write(sidecar.dir.path(), "m");
    let path = model.to_str().expect("UTF-8").to_owned();
    let mut client = sidecar.connect();
    let prefix = format!(r#"fake-sidecar cannot simulate the model in "{path}": "#);

    // A pickled model instead of a spec.
    std::fs::write(model.join("data/model.json"), b"\x80\x04\x95 pickle").expect("write");
    let (code, message, _) = client.call_err(&load(1, &model), &[]);
    assert_eq!(code, "LOAD_FAILED");
    assert!(message.starts_with(&prefix), "{message}");

    // A JSON file in another format.
    std::fs::write(
        model.join("data/model.json"),
        json!({"format": "other/2", "kind": "linear", "inputs": ["tenure", "spend"], "outputs": []}).to_string(),
    )
    .expect("write");
    let (code, message, _) = client.call_err(&load(2, &model), &[]);
    assert_eq!(code, "LOAD_FAILED");
    assert!(message.starts_with(&prefix), "{message}");
    assert!(message.contains("tidb-model-spec/1"), "{message}");

    // No data file at all.
    std::fs::remove_file(model.join("data/model.json")).expect("remove");
    let (code, message, _) = client.call_err(&load(3, &model), &[]);
    assert_eq!(code, "LOAD_FAILED");
    assert!(message.starts_with(&prefix), "{message}");

    // Failed loads are not counted or cached.
    assert_eq!(cache_stats(&mut client, 4).loads, 0);
    sidecar.stop();
}

// ===== faults =====

#[test]
fn error_fault() {
    let sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear()
        .with_faults(json!({"error": "model exploded"}))
        .write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();

    let (code, message, exception) = client.call_err(
        &predict(1, &model, &["tenure", "spend"], None, 1),
        &[1.0, 2.0],
    );

    assert_eq!(code, "PREDICT_FAILED");
    assert_eq!(message, "RuntimeError: model exploded");
    assert_eq!(exception.as_deref(), Some("RuntimeError"));
    sidecar.stop();
}

#[test]
fn wrong_output_count_fault() {
    let sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear()
        .with_faults(json!({"wrong_output_count": true}))
        .write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();

    let (code, message, exception) = client.call_err(
        &predict(1, &model, &["tenure", "spend"], None, 3),
        &[0.0; 6],
    );

    assert_eq!(code, "BAD_OUTPUT");
    assert_eq!(message, "model returned 4 rows for a batch of 3");
    assert_eq!(exception, None);
    sidecar.stop();
}

#[test]
fn nan_fault() {
    let sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear()
        .with_faults(json!({"nan": true}))
        .write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();

    let (response, values) = client.call(
        &predict(1, &model, &["tenure", "spend"], None, 2),
        &[1.0, 2.0, 3.0, 4.0],
    );

    assert!(response.ok, "{response:?}");
    assert_eq!(values.len(), 4);
    assert!(values.iter().all(|v| v.is_nan()), "{values:?}");
    sidecar.stop();
}

#[test]
fn delay_fault() {
    let sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear()
        .with_faults(json!({"delay_ms": 300}))
        .write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();
    client.call(&load(1, &model), &[]);

    let start = Instant::now();
    let (response, _) = client.call(
        &predict(2, &model, &["tenure", "spend"], None, 1),
        &[1.0, 2.0],
    );

    assert!(response.ok);
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    sidecar.stop();
}

#[test]
fn delay_then_error_fault_order() {
    let sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear()
        .with_faults(json!({"delay_ms": 200, "error": "late", "wrong_output_count": true}))
        .write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();
    client.call(&load(1, &model), &[]);

    let start = Instant::now();
    let (code, message, _) = client.call_err(
        &predict(2, &model, &["tenure", "spend"], None, 1),
        &[1.0, 2.0],
    );

    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("PREDICT_FAILED", "RuntimeError: late")
    );
    sidecar.stop();
}

#[test]
fn hang_fault_never_answers_but_sigterm_stops() {
    let sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear()
        .with_faults(json!({"hang": true}))
        .write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();

    client.send(
        &predict(1, &model, &["tenure", "spend"], None, 1),
        &[1.0, 2.0],
    );
    match client.read_within(Duration::from_millis(700)) {
        Next::TimedOut => {}
        other => panic!("hanging predict answered: {other:?}"),
    }

    // Another connection is still served.
    let mut other = sidecar.connect();
    assert!(other.call(&ping(1), &[]).0.ok);

    sidecar.stop();
    client.expect_eof();
}

#[test]
fn crash_fault_exits_70_on_nth_predict() {
    let mut sidecar = Sidecar::start(&[]);
    let model = ModelFixture::linear()
        .with_faults(json!({"crash_on_request": 3}))
        .write(sidecar.dir.path(), "m");
    let mut client = sidecar.connect();
    let request = predict(1, &model, &["tenure", "spend"], None, 1);

    // Rejected requests never reach the model, so they do not count.
    let (code, _, _) = client.call_err(&predict(2, &model, &["tenure", "spend"], None, 2), &[1.0]);
    assert_eq!(code, "BAD_REQUEST");
    assert!(client.call(&request, &[1.0, 2.0]).0.ok);
    assert!(client.call(&request, &[1.0, 2.0]).0.ok);

    client.send(&request, &[1.0, 2.0]);
    client.expect_eof();
    assert_eq!(
        sidecar.wait_exit().code(),
        Some(70),
        "stderr:\n{}",
        sidecar.stderr()
    );

    // A crashed sidecar leaves its socket; the client that started it removes it.
    assert!(sidecar.socket.exists());
    std::fs::remove_file(&sidecar.socket).expect("remove socket");
    sidecar.assert_clean_exit();
}
