//! The batching client against the real fake-sidecar binary and the real
//! Python sidecar, over real Unix sockets.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use harness::sidecar::{ClientError, PredictRequest, SidecarCommand};
use sidecar_protocol::ErrorCode;

use support::*;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn predict(
    pool: &harness::sidecar::BlockingPool,
    model: &Path,
    inputs: &[String],
    rows: usize,
    values: &[f32],
) -> Result<harness::sidecar::PredictOutput, ClientError> {
    pool.predict(PredictRequest {
        model_path: model,
        input_names: inputs,
        output_names: None,
        rows,
        values,
        timeout: None,
    })
}

/// Fixture models with their input files.
const FIXTURES: [(&str, &str); 5] = [
    ("mlflow/churn", "inputs/churn.csv"),
    ("mlflow/churn_linear", "inputs/churn.csv"),
    ("mlflow/wide8", "inputs/wide8.csv"),
    ("mlflow/risk", "inputs/risk.csv"),
    ("mlflow/tensor_churn", "inputs/churn.csv"),
];

fn predict_fixtures(command: SidecarCommand) -> Vec<(String, Vec<String>, Vec<f32>)> {
    let mut pool = TestPool::new(command, |_| {});
    let mut results = Vec::new();
    for (model, inputs) in FIXTURES {
        let table = read_inputs(inputs);
        let output = predict(pool.pool(), &fixture(model), &table.columns, table.rows, &table.values)
            .unwrap_or_else(|err| panic!("{model}: {err}"));
        assert_eq!(output.rows, table.rows, "{model}");
        results.push((model.to_string(), output.output_names, output.values));
    }
    pool.close();
    results
}

#[test]
fn fake_and_python_agree_bit_for_bit() {
    let fake = predict_fixtures(fake_command());
    let python = predict_fixtures(python_command());

    for ((model, fake_names, fake_values), (_, python_names, python_values)) in fake.iter().zip(&python) {
        assert_eq!(fake_names, python_names, "{model}: output names");
        assert_same_bits(fake_values, python_values, &format!("{model}: fake vs python"));
    }

    // Both also equal the spec evaluated in Rust.
    for ((model, _, values), (_, inputs)) in fake.iter().zip(FIXTURES) {
        let table = read_inputs(inputs);
        let expected = spec_eval(model, &table.columns, table.rows, &table.values);
        assert_same_bits(values, &expected, &format!("{model}: fake vs spec"));
    }
}

#[test]
fn zero_one_and_many_rows() {
    let mut pool = TestPool::new(fake_command(), |c| c.max_batch_size = 1000);
    let model = fixture("mlflow/churn_linear");
    let inputs = names(&["tenure", "spend"]);

    let empty = predict(pool.pool(), &model, &inputs, 0, &[]).expect("0 rows");
    assert_eq!(empty.rows, 0);
    assert!(empty.values.is_empty());
    assert_eq!(pool.pool().stats().requests, 0, "0 rows must not reach a sidecar");

    let one = predict(pool.pool(), &model, &inputs, 1, &[10.0, 100.0]).expect("1 row");
    assert_same_bits(&one.values, &spec_eval("mlflow/churn_linear", &inputs, 1, &[10.0, 100.0]), "1 row");

    // 100,000 distinct rows, split into 100 batches over 2 workers; the
    // order of the outputs must follow the inputs.
    let rows = 100_000;
    let values: Vec<f32> = (0..rows).flat_map(|i| [i as f32, (i % 977) as f32 * 0.5]).collect();
    let before = pool.pool().stats().requests;
    let many = predict(pool.pool(), &model, &inputs, rows, &values).expect("100k rows");
    assert_eq!(many.rows, rows);
    assert_eq!(pool.pool().stats().requests - before, 100, "batches of 1000 rows");
    assert_same_bits(&many.values, &spec_eval("mlflow/churn_linear", &inputs, rows, &values), "100k rows");
    let pids = pool.pool().worker_pids();
    assert!(pids.iter().all(Option::is_some), "both workers used: {pids:?}");
    pool.close();
}

#[test]
fn inputs_in_any_column_order() {
    let mut pool = TestPool::new(fake_command(), |_| {});
    let model = fixture("mlflow/churn");
    let forward = predict(pool.pool(), &model, &names(&["tenure", "spend"]), 2, &[3.0, 40.0, 7.0, 90.0]).unwrap();
    let backward = predict(pool.pool(), &model, &names(&["spend", "tenure"]), 2, &[40.0, 3.0, 90.0, 7.0]).unwrap();
    assert_same_bits(&forward.values, &backward.values, "column order");
    pool.close();
}

#[test]
fn concurrent_callers_get_their_own_results() {
    let mut pool = TestPool::new(fake_command(), |c| c.max_batch_size = 64);
    let model = fixture("mlflow/churn_linear");
    let inputs = names(&["tenure", "spend"]);

    std::thread::scope(|scope| {
        for caller in 0..8 {
            let pool = pool.pool();
            let model = &model;
            let inputs = &inputs;
            scope.spawn(move || {
                for round in 0..5 {
                    let rows = 100 + caller * 37 + round;
                    let values: Vec<f32> = (0..rows)
                        .flat_map(|i| [(caller * 1000 + i) as f32, round as f32])
                        .collect();
                    let out = predict(pool, model, inputs, rows, &values).expect("predict");
                    let expected = spec_eval("mlflow/churn_linear", inputs, rows, &values);
                    assert_same_bits(&out.values, &expected, &format!("caller {caller} round {round}"));
                }
            });
        }
    });
    pool.close();
}

#[test]
fn socket_is_private() {
    for command in [fake_command(), python_command()] {
        let mut pool = TestPool::new(command, |c| c.workers = 1);
        pool.pool().ping(0).expect("ping starts a worker");
        let dirs: Vec<_> = std::fs::read_dir(pool.sockets.path()).unwrap().flatten().collect();
        assert_eq!(dirs.len(), 1, "one worker, one socket directory");
        let dir = dirs[0].path();
        let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700, "socket directory mode");
        let socket = dir.join("sidecar.sock");
        let socket_mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
        assert_eq!(socket_mode, 0o600, "socket mode");
        pool.close();
    }
}

/// A delay past the timeout fails within the timeout plus a margin, the
/// worker is replaced, and the next call succeeds.
fn check_timeout_and_recovery(command: SidecarCommand, fault: &str) {
    let timeout = Duration::from_millis(700);
    let mut pool = TestPool::new(command, |c| {
        c.workers = 1;
        c.request_timeout = timeout;
    });
    let inputs = names(&["tenure", "spend"]);
    let good = fixture("mlflow/churn");
    predict(pool.pool(), &good, &inputs, 1, &[1.0, 2.0]).expect("warm-up");
    let first_pid = pool.pool().worker_pids()[0].expect("worker running");

    let started = Instant::now();
    let err = predict(pool.pool(), &fixture(fault), &inputs, 1, &[1.0, 2.0]).unwrap_err();
    let elapsed = started.elapsed();
    assert!(err.is_timeout(), "{fault}: expected a timeout, got {err}");
    let message = err.to_string();
    assert!(message.contains(&fixture(fault).display().to_string()), "{message}");
    assert!(message.contains("timed out after 700ms"), "{message}");
    assert!(elapsed < timeout + Duration::from_millis(500), "{fault}: took {elapsed:?}");
    assert!(!process_exists(first_pid), "timed-out worker {first_pid} must be killed and reaped");
    assert_eq!(pool.pool().worker_pids(), vec![None], "slot emptied");

    let next = predict(pool.pool(), &good, &inputs, 1, &[1.0, 2.0]).expect("next call works");
    assert_eq!(next.rows, 1);
    assert_eq!(pool.pool().stats().replacements, 1);
    pool.close();
}

#[test]
fn timeout_fake_slow() {
    check_timeout_and_recovery(fake_command(), "mlflow/faults/slow");
}

#[test]
fn timeout_fake_hang() {
    check_timeout_and_recovery(fake_command(), "mlflow/faults/hang");
}

#[test]
fn timeout_python_slow() {
    check_timeout_and_recovery(python_command(), "mlflow/faults/slow");
}

/// `crash2` exits on its second predict in a process; the pool reports
/// the death with the exit status and starts a new worker.
fn check_crash_and_recovery(command: SidecarCommand) {
    let mut pool = TestPool::new(command, |c| c.workers = 1);
    let inputs = names(&["tenure", "spend"]);
    let model = fixture("mlflow/faults/crash2");

    predict(pool.pool(), &model, &inputs, 1, &[1.0, 2.0]).expect("first predict");
    let pid = pool.pool().worker_pids()[0].expect("running");
    let err = predict(pool.pool(), &model, &inputs, 1, &[1.0, 2.0]).unwrap_err();
    assert!(matches!(err, ClientError::Died { .. }), "expected Died, got {err}");
    assert!(err.to_string().contains("exited with status 70"), "{err}");
    assert!(!process_exists(pid), "crashed worker reaped");

    // A new process counts from zero again, so its first predict works.
    predict(pool.pool(), &model, &inputs, 1, &[1.0, 2.0]).expect("pool recovered");
    assert_eq!(pool.pool().stats().launches, 2);
    pool.close();
}

#[test]
fn crash_fake() {
    check_crash_and_recovery(fake_command());
}

#[test]
fn crash_python() {
    check_crash_and_recovery(python_command());
}

#[test]
fn remote_errors_keep_the_worker() {
    let mut pool = TestPool::new(fake_command(), |c| c.workers = 1);
    let model = fixture("mlflow/churn");

    let err = predict(pool.pool(), &model, &names(&["tenure", "cost"]), 1, &[1.0, 2.0]).unwrap_err();
    match &err {
        ClientError::Remote { code, message, .. } => {
            assert_eq!(*code, ErrorCode::BadRequest);
            assert_eq!(
                message,
                r#"input_names ["tenure","cost"] do not match the signature inputs ["tenure","spend"]"#
            );
        }
        other => panic!("expected a remote error, got {other}"),
    }
    let pid = pool.pool().worker_pids()[0];

    let err = predict(pool.pool(), &fixture("mlflow/faults/error"), &names(&["tenure", "spend"]), 1, &[1.0, 2.0])
        .unwrap_err();
    assert_eq!(err.to_string(), "sidecar PREDICT_FAILED: RuntimeError: injected failure");

    let err = predict(pool.pool(), &fixture("mlflow/faults/wrong_count"), &names(&["tenure", "spend"]), 2, &[1.0, 2.0, 3.0, 4.0])
        .unwrap_err();
    assert_eq!(err.to_string(), "sidecar BAD_OUTPUT: model returned 3 rows for a batch of 2");

    assert_eq!(pool.pool().worker_pids()[0], pid, "the same worker still serves");
    assert_eq!(pool.pool().stats().replacements, 0);
    pool.close();
}

#[test]
fn nan_outputs_pass_through() {
    let mut pool = TestPool::new(fake_command(), |_| {});
    let out = predict(pool.pool(), &fixture("mlflow/faults/nan"), &names(&["tenure", "spend"]), 2, &[1.0, 2.0, 3.0, 4.0])
        .expect("predict");
    assert!(out.values.iter().all(|v| v.is_nan()), "{:?}", out.values);
    pool.close();
}

#[test]
fn start_failures_are_reported_and_reaped() {
    // A program that exits at once.
    let mut pool = TestPool::new(SidecarCommand::fake("/bin/false"), |c| c.workers = 1);
    let err = pool.pool().ping(0).unwrap_err();
    assert!(matches!(err, ClientError::Start { .. }), "{err}");
    assert!(err.to_string().contains("exited before the readiness line (exited with status 1)"), "{err}");
    pool.close();

    // A program that does not exist.
    let mut pool = TestPool::new(SidecarCommand::fake("/nonexistent/sidecar"), |c| c.workers = 1);
    let err = pool.pool().ping(0).unwrap_err();
    assert!(err.to_string().contains("cannot run the program"), "{err}");
    pool.close();

    // A program that never prints the readiness line: `sleep` ignores no
    // arguments, so run it through sh with the protocol's flags swallowed.
    let command = SidecarCommand {
        program: "/bin/sh".into(),
        args: vec!["-c".into(), "echo starting >&2; exec sleep 30".into(), "sh".into()],
    };
    let mut pool = TestPool::new(command, |c| {
        c.workers = 1;
        c.start_timeout = Duration::from_millis(300);
    });
    let started = Instant::now();
    let err = pool.pool().ping(0).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2), "start timeout honoured");
    let message = err.to_string();
    assert!(message.contains("no readiness line within 300ms"), "{message}");
    assert!(message.contains("sidecar stderr: starting"), "{message}");
    pool.close();
}

#[test]
fn python_sidecar_runs_a_scikit_learn_model() {
    // Pickles are bound to the Python version, so the model is built here.
    let dir = tempfile::tempdir().expect("tempdir");
    let model_dir = dir.path().join("linreg");
    let script = format!(
        r#"
import numpy as np, pandas as pd, mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.linear_model import LinearRegression
X = pd.DataFrame({{"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]}})
y = 2.0 * X["a"] + 0.5 * X["b"] + 1.0
model = LinearRegression().fit(X, y)
sig = infer_signature(X, pd.Series(model.predict(X), name="y"))
mlflow.sklearn.save_model(model, {path:?}, signature=sig, serialization_format="cloudpickle")
"#,
        path = model_dir.display().to_string()
    );
    let status = std::process::Command::new(python())
        .args(["-c", &script])
        .status()
        .expect("run python");
    assert!(status.success(), "saving the scikit-learn model failed");

    let mut pool = TestPool::new(python_command(), |c| c.workers = 1);
    let out = predict(pool.pool(), &model_dir, &names(&["a", "b"]), 2, &[4.0, 1.0, 10.0, 0.0]).expect("predict");
    assert_eq!(out.rows, 2);
    assert!((out.values[0] - 9.5).abs() < 1e-4, "{:?}", out.values);
    assert!((out.values[1] - 21.0).abs() < 1e-4, "{:?}", out.values);
    pool.close();

    // The fake cannot simulate it and says so.
    let mut pool = TestPool::new(fake_command(), |c| c.workers = 1);
    let err = predict(pool.pool(), &model_dir, &names(&["a", "b"]), 1, &[1.0, 1.0]).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("LOAD_FAILED") && message.contains("cannot simulate"), "{message}");
    pool.close();
}

#[test]
fn shutdown_pool_rejects_calls() {
    let pool = TestPool::new(fake_command(), |_| {});
    pool.pool().ping(0).expect("ping");
    pool.pool().shutdown();
    let err = pool.pool().ping(0).unwrap_err();
    assert!(matches!(err, ClientError::ShutDown), "{err}");
}

#[test]
fn long_socket_parent_fails_naming_the_limit() {
    let deep = tempfile::tempdir().expect("tempdir");
    let mut parent = deep.path().to_path_buf();
    while parent.as_os_str().len() < 120 {
        parent = parent.join("nested-directory-name");
    }
    std::fs::create_dir_all(&parent).expect("mkdir");
    let config = harness::sidecar::PoolConfig {
        socket_parent: parent.clone(),
        ..pool_config(fake_command(), &parent)
    };
    let pool = harness::sidecar::BlockingPool::new(config).expect("pool");
    let message = pool.ping(0).unwrap_err().to_string();
    assert!(message.contains("over the limit of 107 bytes"), "{message}");
    let left: Vec<_> = std::fs::read_dir(&parent).unwrap().flatten().collect();
    assert!(left.is_empty(), "no directory left: {left:?}");
}

#[test]
fn request_timeout_is_capped_per_call() {
    let mut pool = TestPool::new(fake_command(), |c| {
        c.workers = 1;
        c.request_timeout = Duration::from_secs(10);
    });
    let inputs = names(&["tenure", "spend"]);
    let started = Instant::now();
    let err = pool
        .pool()
        .predict(PredictRequest {
            model_path: &fixture("mlflow/faults/slow"),
            input_names: &inputs,
            output_names: None,
            rows: 1,
            values: &[1.0, 2.0],
            timeout: Some(Duration::from_millis(300)),
        })
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains("timed out after 300ms"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2), "the shorter limit applies");
    pool.close();
}
