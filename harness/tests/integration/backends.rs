//! Both backends through the `ModelBackend` trait: the ONNX and MLflow
//! twins of churn_linear agree bit for bit, and errors carry the model and
//! version.

use crate::support;

use std::time::Duration;

use harness::backend::mlflow::MlflowBackend;
use harness::backend::onnx::OnnxBackend;
use harness::backend::{Batch, BackendError, ModelBackend, ModelRef};

use support::*;

fn model_ref(name: &str, version: u64, path: std::path::PathBuf) -> ModelRef {
    ModelRef {
        name: name.to_string(),
        version,
        path,
        checksum: format!("sha256:{:064x}", version),
        inputs: vec!["tenure".into(), "spend".into()],
        outputs: vec!["score".into()],
        timeout: None,
    }
}

fn churn_batch() -> Batch {
    let table = read_inputs("inputs/churn.csv");
    Batch {
        columns: table.columns,
        rows: table.rows,
        values: table.values,
    }
}

#[test]
fn onnx_and_mlflow_twins_agree() {
    let sockets = tempfile::Builder::new().prefix("hb-").tempdir_in("/tmp").unwrap();
    let batch = churn_batch();
    let onnx = OnnxBackend::default();
    let onnx_out = onnx
        .infer_batch(&model_ref("churn_onnx", 1, fixture("onnx/churn_linear.onnx")), &batch)
        .expect("onnx");

    for command in [fake_command(), python_command()] {
        let mlflow = MlflowBackend::new(pool_config(command, sockets.path())).expect("backend");
        let mlflow_out = mlflow
            .infer_batch(&model_ref("churn_mlflow", 1, fixture("mlflow/churn_linear")), &batch)
            .expect("mlflow");
        assert_eq!(mlflow_out.columns, vec!["score"]);
        assert_eq!(mlflow_out.rows, batch.rows);
        assert_same_bits(&onnx_out.values, &mlflow_out.values, "onnx vs mlflow");
    }
}

#[test]
fn mlflow_errors_name_model_and_version() {
    let sockets = tempfile::Builder::new().prefix("hb-").tempdir_in("/tmp").unwrap();
    let mut config = pool_config(fake_command(), sockets.path());
    config.request_timeout = Duration::from_millis(300);
    let mlflow = MlflowBackend::new(config).expect("backend");
    let batch = Batch {
        columns: vec!["tenure".into(), "spend".into()],
        rows: 1,
        values: vec![1.0, 2.0],
    };

    let err = mlflow
        .infer_batch(&model_ref("churn", 7, fixture("mlflow/faults/error")), &batch)
        .unwrap_err();
    assert!(matches!(err, BackendError::Inference(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "model 'churn' version 7: sidecar PREDICT_FAILED: RuntimeError: injected failure"
    );

    let err = mlflow
        .infer_batch(&model_ref("slow", 2, fixture("mlflow/faults/slow")), &batch)
        .unwrap_err();
    assert!(matches!(err, BackendError::Timeout(_)), "{err}");
    assert!(err.to_string().starts_with("model 'slow' version 2: request to sidecar"), "{err}");
}

#[test]
fn mlflow_inspect_reads_mlmodel_without_a_sidecar() {
    let sockets = tempfile::Builder::new().prefix("hb-").tempdir_in("/tmp").unwrap();
    let mlflow = MlflowBackend::new(pool_config(fake_command(), sockets.path())).expect("backend");
    let io = mlflow.inspect_io(&fixture("mlflow/risk")).expect("inspect");
    let inputs: Vec<_> = io.inputs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(inputs, vec!["age", "income"]);
    assert_eq!(mlflow.pool_stats().launches, 0, "inspection starts no sidecar");

    let err = mlflow.inspect_io(&fixture("invalid/no-signature")).unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err}");
}
