//! Tests of the tract ONNX backend against the committed fixtures in
//! fixtures/onnx, which fixtures/onnx/generate.py writes.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use harness::backend::onnx::{inspect_file, OnnxBackend, OnnxConfig};
use harness::backend::{BackendError, Batch, ModelBackend, ModelRef};
use model_spec::ModelSpec;

const CHURN_SPEC: &str = r#"{"format":"tidb-model-spec/1","kind":"linear","inputs":["tenure","spend"],
    "outputs":[{"name":"score","weights":[0.03125,0.0078125],"bias":-2.0,"activation":"identity"}]}"#;

const RISK2_SPEC: &str = r#"{"format":"tidb-model-spec/1","kind":"linear","inputs":["income","debt"],
    "outputs":[{"name":"risk","weights":[0.25,-0.5],"bias":0.5,"activation":"relu"},
               {"name":"margin","weights":[1.0,-1.0],"bias":0.0,"activation":"identity"}]}"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    repo_root().join("fixtures/onnx").join(name)
}

fn model_ref(file: &str, checksum: &str, inputs: &[&str], outputs: &[&str]) -> ModelRef {
    ModelRef {
        name: file.trim_end_matches(".onnx").to_string(),
        version: 3,
        path: fixture(file),
        checksum: checksum.to_string(),
        inputs: inputs.iter().map(|s| s.to_string()).collect(),
        outputs: outputs.iter().map(|s| s.to_string()).collect(),
        timeout: None,
    }
}

fn churn_ref() -> ModelRef {
    model_ref(
        "churn_linear.onnx",
        "sha256:churn",
        &["tenure", "spend"],
        &["score"],
    )
}

fn batch(columns: &[&str], rows: usize, values: Vec<f32>) -> Batch {
    Batch {
        columns: columns.iter().map(|s| s.to_string()).collect(),
        rows,
        values,
    }
}

/// Deterministic pseudo-random FP32 values: a 64-bit LCG (Knuth's MMIX
/// constants) mapped to a mix of magnitudes, with and without fractions.
fn test_values(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    let mut values = Vec::with_capacity(count);
    for _ in 0..count {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let bits = (state >> 32) as u32;
        let unit = f64::from(bits) / f64::from(u32::MAX);
        let value = match state % 5 {
            0 => (unit * 200.0 - 100.0).round(),
            1 => unit * 2000.0 - 1000.0,
            2 => (unit - 0.5) * 1e30,
            3 => (unit - 0.5) * 3e-3,
            _ => f32::from_bits(bits) as f64,
        };
        let value = value as f32;
        values.push(if value.is_finite() { value } else { 1.5 });
    }
    values
}

/// Hand-picked inputs: exact, fractional, rounding-sensitive, huge, tiny,
/// subnormal and signed zeros.
const EDGE_VALUES: [f32; 16] = [
    0.0,
    -0.0,
    1.0,
    32.0,
    128.0,
    0.1,
    -7.3,
    16_777_217.0,
    3.0e38,
    -3.0e38,
    1.0e-40,
    -1.0e-45,
    123_456.79,
    0.333_333_34,
    64.0,
    -256.5,
];

fn assert_bits_equal(actual: &[f32], expected: &[f32], inputs: &[f32]) {
    assert_eq!(actual.len(), expected.len(), "value count");
    for (index, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(
            a.to_bits(),
            e.to_bits(),
            "value {index}: tract gave {a:e} ({:#010x}), the spec gives {e:e} ({:#010x}); inputs {:?}",
            a.to_bits(),
            e.to_bits(),
            &inputs[index * 2..index * 2 + 2]
        );
    }
}

fn invalid_message(result: Result<harness::backend::ModelIo, BackendError>) -> String {
    match result {
        Err(BackendError::Invalid(message)) => message,
        Err(other) => panic!("expected an Invalid error, got {other:?}"),
        Ok(io) => panic!("expected a rejection, got {io:?}"),
    }
}

#[test]
fn directory_is_not_onnx_model() {
    let dir = repo_root().join("fixtures/mlflow/churn");
    let message = invalid_message(inspect_file(&dir));
    assert!(message.contains("the location is a directory"), "{message}");
    assert!(message.contains("USING MLFLOW"), "{message}");
}

#[test]
fn inspect_churn_linear() {
    let io = inspect_file(&fixture("churn_linear.onnx")).unwrap();
    let inputs: Vec<(&str, &str)> = io
        .inputs
        .iter()
        .map(|c| (c.name.as_str(), c.data_type.as_str()))
        .collect();
    let outputs: Vec<(&str, &str)> = io
        .outputs
        .iter()
        .map(|c| (c.name.as_str(), c.data_type.as_str()))
        .collect();
    assert_eq!(inputs, vec![("tenure", "float32"), ("spend", "float32")]);
    assert_eq!(outputs, vec![("score", "float32")]);

    let backend = OnnxBackend::default();
    assert_eq!(
        backend.inspect_io(&fixture("churn_linear.onnx")).unwrap(),
        io
    );
}

#[test]
fn inspect_risk2() {
    let io = inspect_file(&fixture("risk2.onnx")).unwrap();
    let inputs: Vec<&str> = io.inputs.iter().map(|c| c.name.as_str()).collect();
    let outputs: Vec<&str> = io.outputs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(inputs, vec!["income", "debt"]);
    assert_eq!(outputs, vec!["risk", "margin"]);
    assert!(io
        .inputs
        .iter()
        .chain(&io.outputs)
        .all(|c| c.data_type == "float32"));

    let backend = OnnxBackend::default();
    assert_eq!(backend.inspect_io(&fixture("risk2.onnx")).unwrap(), io);
}

#[test]
fn invalid_fixtures_rejected() {
    let cases: [(&str, &[&str]); 8] = [
        (
            "invalid_int64_input.onnx",
            &["input 'tenure' has element type INT64", "must be FP32"],
        ),
        (
            "invalid_double_output.onnx",
            &["output 'score' has element type DOUBLE", "must be FP32"],
        ),
        (
            "invalid_fixed_batch.onnx",
            &["input 'tenure' has shape [4]", "fixed batch dimension 4"],
        ),
        (
            "invalid_wide_input.onnx",
            &["input 'features' has shape [N, 2]", "[N] or [N, 1]"],
        ),
        (
            "invalid_random_normal.onnx",
            &[
                "node 'noise' uses the operator RandomNormal,",
                "tidb_model_allow_nondeterministic is ON",
            ],
        ),
        (
            "invalid_random_in_subgraph.onnx",
            &[
                "node 'branch_noise' uses the operator RandomUniform",
                "tidb_model_allow_nondeterministic",
            ],
        ),
        ("invalid_truncated.onnx", &["not a valid ONNX protobuf"]),
        ("invalid_garbage.onnx", &["not a valid ONNX protobuf"]),
    ];
    let backend = OnnxBackend::default();
    for (file, expected) in cases {
        let path = fixture(file);
        for (via, message) in [
            ("inspect_file", invalid_message(inspect_file(&path))),
            ("inspect_io", invalid_message(backend.inspect_io(&path))),
        ] {
            assert!(
                message.contains(&path.display().to_string()),
                "{via} {file}: no path in {message:?}"
            );
            for part in expected {
                assert!(
                    message.contains(part),
                    "{via} {file}: {message:?} lacks {part:?}"
                );
            }
        }
    }
}

#[test]
fn missing_and_empty_files_rejected() {
    let missing = invalid_message(inspect_file(&fixture("no_such_model.onnx")));
    assert!(missing.contains("cannot open the file"), "{missing}");

    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let message = invalid_message(inspect_file(&empty));
    assert!(message.contains("the file is empty"), "{message}");
}

#[test]
fn nondeterministic_allowed_when_enabled() {
    let backend = OnnxBackend::new(OnnxConfig {
        allow_nondeterministic: true,
        ..OnnxConfig::default()
    });
    let path = fixture("invalid_random_normal.onnx");
    let io = backend.inspect_io(&path).unwrap();
    assert_eq!(io.inputs[0].name, "x");

    let model = model_ref(
        "invalid_random_normal.onnx",
        "sha256:random",
        &["x"],
        &["score"],
    );
    let inputs = vec![1.0f32; 64];
    let out = backend
        .infer_batch(&model, &batch(&["x"], 64, inputs))
        .unwrap();
    assert_eq!(out.rows, 64);
    assert!(out.values.iter().all(|v| v.is_finite()));
    // The noise is one N(0, 1) draw added to every row, and it is exactly 0
    // only with negligible probability.
    assert!(
        out.values.iter().any(|v| *v != 1.0),
        "no noise added: {:?}",
        out.values
    );

    // Switching the setting off rejects the cached model on its next use.
    backend.set_allow_nondeterministic(false);
    let err = backend
        .infer_batch(&model, &batch(&["x"], 1, vec![1.0]))
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("model 'invalid_random_normal' version 3: "),
        "{message}"
    );
    assert!(message.contains("RandomNormal"), "{message}");
}

#[test]
fn churn_infer_row_counts() {
    let backend = OnnxBackend::default();
    let spec = ModelSpec::from_json(CHURN_SPEC).unwrap();
    for rows in [0usize, 1, 7, 100_000] {
        let inputs = test_values(rows * 2, rows as u64 + 1);
        let out = backend
            .infer_batch(
                &churn_ref(),
                &batch(&["tenure", "spend"], rows, inputs.clone()),
            )
            .unwrap();
        assert_eq!(out.rows, rows);
        assert_eq!(out.columns, vec!["score".to_string()]);
        assert_bits_equal(&out.values, &spec.eval_batch(rows, &inputs), &inputs);
    }
}

#[test]
fn churn_bit_identical_to_spec() {
    let backend = OnnxBackend::default();
    let spec = ModelSpec::from_json(CHURN_SPEC).unwrap();

    let mut inputs = Vec::new();
    for tenure in EDGE_VALUES {
        for spend in EDGE_VALUES {
            inputs.push(tenure);
            inputs.push(spend);
        }
    }
    inputs.extend(test_values(20_000, 42));
    let rows = inputs.len() / 2;

    // Both weights are powers of two, so the products are exact and only
    // the order of the additions can change a result. The inputs must
    // include rows where another order gives different bits, or the
    // comparison below could not catch a reordering.
    let reordered = inputs
        .chunks_exact(2)
        .filter(|x| {
            let (a, b) = (0.03125f32 * x[0], 0.0078125f32 * x[1]);
            ((-2.0f32 + a) + b).to_bits() != (-2.0f32 + (a + b)).to_bits()
        })
        .count();
    assert!(
        reordered > 100,
        "only {reordered} rows distinguish the addition order"
    );

    let out = backend
        .infer_batch(
            &churn_ref(),
            &batch(&["tenure", "spend"], rows, inputs.clone()),
        )
        .unwrap();
    assert_bits_equal(&out.values, &spec.eval_batch(rows, &inputs), &inputs);

    // -2 + 0.03125*32 + 0.0078125*128 = 0 exactly.
    let zero = backend
        .infer_batch(
            &churn_ref(),
            &batch(&["tenure", "spend"], 1, vec![32.0, 128.0]),
        )
        .unwrap();
    assert_eq!(zero.values, vec![0.0]);
}

#[test]
fn risk2_selects_and_orders_outputs() {
    let backend = OnnxBackend::default();
    let spec = ModelSpec::from_json(RISK2_SPEC).unwrap();
    let rows = 500;
    let inputs = test_values(rows * 2, 7);
    let expected = spec.eval_batch(rows, &inputs);

    // The batch lists the columns in the other order; the backend matches by name.
    let swapped: Vec<f32> = inputs
        .chunks_exact(2)
        .flat_map(|pair| [pair[1], pair[0]])
        .collect();
    let reordered = batch(&["debt", "income"], rows, swapped);

    let both = model_ref(
        "risk2.onnx",
        "sha256:risk2",
        &["debt", "income"],
        &["margin", "risk"],
    );
    let out = backend.infer_batch(&both, &reordered).unwrap();
    assert_eq!(out.columns, vec!["margin".to_string(), "risk".to_string()]);
    let expected_swapped: Vec<f32> = expected
        .chunks_exact(2)
        .flat_map(|pair| [pair[1], pair[0]])
        .collect();
    assert_bits_equal(&out.values, &expected_swapped, &inputs);

    let margin_only = model_ref(
        "risk2.onnx",
        "sha256:risk2",
        &["debt", "income"],
        &["margin"],
    );
    let out = backend.infer_batch(&margin_only, &reordered).unwrap();
    let expected_margin: Vec<f32> = expected.chunks_exact(2).map(|pair| pair[1]).collect();
    assert_eq!(out.columns, vec!["margin".to_string()]);
    assert_bits_equal(&out.values, &expected_margin, &inputs);
    assert!(
        out.values.iter().any(|v| *v < 0.0),
        "margin should take negative values"
    );
}

#[test]
fn infer_errors_name_model_and_version() {
    let backend = OnnxBackend::default();

    let unknown_output = model_ref("risk2.onnx", "sha256:risk2", &["income", "debt"], &["nope"]);
    let err = backend
        .infer_batch(
            &unknown_output,
            &batch(&["income", "debt"], 1, vec![1.0, 2.0]),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "model 'risk2' version 3: output 'nope' is not an output of the ONNX model, \
         whose outputs are [\"risk\", \"margin\"]"
    );

    let err = backend
        .infer_batch(
            &churn_ref(),
            &batch(&["tenure", "balance"], 1, vec![1.0, 2.0]),
        )
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("model 'churn_linear' version 3: "), "{err}");
    assert!(err.contains("input 'spend' has no batch column"), "{err}");

    let err = backend
        .infer_batch(
            &churn_ref(),
            &batch(&["tenure", "spend"], 2, vec![1.0, 2.0, 3.0]),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the batch has 3 values for 2 rows of 2 columns"),
        "{err}"
    );

    let broken = model_ref("invalid_garbage.onnx", "sha256:garbage", &["x"], &["score"]);
    let err = backend
        .infer_batch(&broken, &batch(&["x"], 1, vec![1.0]))
        .unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("model 'invalid_garbage' version 3: invalid ONNX model"),
        "{err}"
    );
}

#[test]
fn cache_counts_loads_hits_evictions() {
    let backend = OnnxBackend::new(OnnxConfig {
        cache_capacity: NonZeroUsize::new(1).unwrap(),
        ..OnnxConfig::default()
    });
    let churn_batch = batch(&["tenure", "spend"], 1, vec![1.0, 2.0]);
    let risk = model_ref("risk2.onnx", "sha256:risk2", &["income", "debt"], &["risk"]);
    let risk_batch = batch(&["income", "debt"], 1, vec![1.0, 2.0]);

    backend.infer_batch(&churn_ref(), &churn_batch).unwrap();
    backend.infer_batch(&churn_ref(), &churn_batch).unwrap();
    let stats = backend.cache_stats();
    assert_eq!((stats.loads, stats.hits, stats.evictions), (1, 1, 0));

    backend.infer_batch(&risk, &risk_batch).unwrap();
    assert_eq!(backend.cached_checksums(), vec!["sha256:risk2".to_string()]);
    backend.infer_batch(&churn_ref(), &churn_batch).unwrap();
    let stats = backend.cache_stats();
    assert_eq!((stats.loads, stats.hits, stats.evictions), (3, 1, 2));
    assert_eq!((stats.entries, stats.capacity), (1, 1));

    backend.set_cache_capacity(4);
    backend.infer_batch(&risk, &risk_batch).unwrap();
    backend.infer_batch(&churn_ref(), &churn_batch).unwrap();
    let stats = backend.cache_stats();
    assert_eq!((stats.loads, stats.hits, stats.evictions), (4, 2, 2));
    assert_eq!(stats.entries, 2);
}

#[test]
fn concurrent_threads_share_backend() {
    let backend = Arc::new(OnnxBackend::default());
    let spec = ModelSpec::from_json(CHURN_SPEC).unwrap();
    let handles: Vec<_> = (0..4u64)
        .map(|thread| {
            let backend = Arc::clone(&backend);
            std::thread::spawn(move || {
                let mut results = Vec::new();
                for round in 0..10u64 {
                    let rows = 50 + (thread * 10 + round) as usize;
                    let inputs = test_values(rows * 2, thread * 100 + round);
                    let out = backend
                        .infer_batch(
                            &churn_ref(),
                            &batch(&["tenure", "spend"], rows, inputs.clone()),
                        )
                        .unwrap();
                    results.push((inputs, out.values));
                }
                results
            })
        })
        .collect();
    for handle in handles {
        for (inputs, values) in handle.join().unwrap() {
            assert_bits_equal(
                &values,
                &spec.eval_batch(inputs.len() / 2, &inputs),
                &inputs,
            );
        }
    }
}

#[test]
fn generator_reproduces_committed_files() {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing; run `bash scripts/setup.sh` in the repository root to create the venv with onnx",
        python.display()
    );

    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(&python)
        .arg(root.join("fixtures/onnx/generate.py"))
        .arg("--out")
        .arg(out.path())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "generate.py failed with {status}");

    let mut committed: Vec<String> = std::fs::read_dir(root.join("fixtures/onnx"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".onnx"))
        .collect();
    committed.sort();
    let mut generated: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    generated.sort();
    assert_eq!(
        committed, generated,
        "committed and generated file lists differ"
    );

    for name in &committed {
        let want = std::fs::read(root.join("fixtures/onnx").join(name)).unwrap();
        let got = std::fs::read(out.path().join(name)).unwrap();
        assert!(
            want == got,
            "{name}: generate.py writes {} bytes that differ from the committed {} bytes; \
             rerun it and commit the result if the change is intended",
            got.len(),
            want.len()
        );
    }
}

/// Prints load and inference times; run with `--ignored --nocapture`.
#[test]
#[ignore]
fn measure_load_and_infer_times() {
    for (file, columns, outputs) in [
        ("churn_linear.onnx", ["tenure", "spend"], vec!["score"]),
        ("risk2.onnx", ["income", "debt"], vec!["risk", "margin"]),
    ] {
        let backend = OnnxBackend::default();
        let model = model_ref(file, file, &columns, &outputs);

        let started = Instant::now();
        backend.inspect_io(&model.path).unwrap();
        let inspect = started.elapsed();

        let started = Instant::now();
        backend
            .infer_batch(&model, &batch(&columns, 1, vec![1.0, 2.0]))
            .unwrap();
        let first = started.elapsed();

        for rows in [1usize, 1_000, 100_000] {
            let inputs = test_values(rows * 2, 9);
            let rounds = 20;
            let started = Instant::now();
            for _ in 0..rounds {
                backend
                    .infer_batch(&model, &batch(&columns, rows, inputs.clone()))
                    .unwrap();
            }
            let per_call = started.elapsed() / rounds;
            println!("{file}: {rows} rows: {per_call:?} per cached infer_batch");
        }
        println!("{file}: inspect_io (read, check, compile) {inspect:?}; first infer_batch (load + run) {first:?}");
    }
}
