//! The fake and the Python sidecar answer the same requests with the same
//! responses: same codes and, where the protocol docs fix them, the same
//! messages. Conformance results depend on this, because statement errors
//! carry the sidecar's message.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use harness::sidecar::worker::{Worker, WorkerOptions};
use harness::sidecar::{ClientError, SidecarCommand};
use sidecar_protocol::{payload, Request, Response};

use support::*;

/// One request and how strictly the two answers must agree.
struct Case {
    name: &'static str,
    request: Request,
    payload: Vec<f32>,
    /// Compare messages too, not only codes.
    same_message: bool,
}

fn predict(model: &Path, inputs: &[&str], outputs: Option<&[&str]>, rows: u32) -> Request {
    Request::Predict {
        id: 0,
        model_path: model.display().to_string(),
        input_names: inputs.iter().map(|s| s.to_string()).collect(),
        output_names: outputs.map(|o| o.iter().map(|s| s.to_string()).collect()),
        batch_size: rows,
    }
}

fn load(model: &Path) -> Request {
    Request::Load {
        id: 0,
        model_path: model.display().to_string(),
    }
}

fn with_id(request: &Request, id: u64) -> Request {
    let mut request = request.clone();
    match &mut request {
        Request::Ping { id: slot }
        | Request::Load { id: slot, .. }
        | Request::Predict { id: slot, .. }
        | Request::Shutdown { id: slot } => *slot = id,
    }
    request
}

/// A temporary model whose only difference from churn is one signature
/// column type.
fn model_with_input_type(dir: &Path, data_type: &str) -> PathBuf {
    let model = dir.join(format!("typed-{data_type}"));
    std::fs::create_dir_all(model.join("data")).unwrap();
    let churn = fixture("mlflow/churn");
    let mlmodel = std::fs::read_to_string(churn.join("MLmodel"))
        .unwrap()
        .replacen(r#""type": "double", "name": "tenure""#, &format!(r#""type": "{data_type}", "name": "tenure""#), 1);
    std::fs::write(model.join("MLmodel"), mlmodel).unwrap();
    std::fs::copy(churn.join("data/model.json"), model.join("data/model.json")).unwrap();
    model
}

fn cases(scratch: &Path) -> Vec<Case> {
    let churn = fixture("mlflow/churn");
    let risk = fixture("mlflow/risk");
    let empty_dir = scratch.join("empty");
    std::fs::create_dir_all(&empty_dir).unwrap();
    let boolean_model = model_with_input_type(scratch, "boolean");
    let string_model = model_with_input_type(scratch, "string");
    let long_model = model_with_input_type(scratch, "long");

    let mut cases = vec![
        Case { name: "load churn", request: load(&churn), payload: vec![], same_message: true },
        Case { name: "load tensor signature", request: load(&fixture("mlflow/tensor_churn")), payload: vec![], same_message: true },
        Case { name: "load risk", request: load(&risk), payload: vec![], same_message: true },
        Case {
            name: "predict churn",
            request: predict(&churn, &["tenure", "spend"], None, 2),
            payload: vec![1.0, 2.0, 30.5, 400.25],
            same_message: true,
        },
        Case {
            name: "predict risk, outputs reordered",
            request: predict(&risk, &["income", "age"], Some(&["band", "score"]), 1),
            payload: vec![50_000.0, 40.0],
            same_message: true,
        },
        Case {
            name: "payload length",
            request: predict(&churn, &["tenure", "spend"], None, 2),
            payload: vec![1.0, 2.0, 3.0],
            same_message: true,
        },
        Case {
            name: "input names",
            request: predict(&churn, &["tenure", "cost"], None, 1),
            payload: vec![1.0, 2.0],
            same_message: true,
        },
        Case {
            name: "output names",
            request: predict(&churn, &["tenure", "spend"], Some(&["probability"]), 1),
            payload: vec![1.0, 2.0],
            same_message: true,
        },
        Case {
            name: "fractional value for a long column",
            request: predict(&risk, &["age", "income"], None, 2),
            payload: vec![30.0, 1.0, 2.5, 1.0],
            same_message: true,
        },
        Case {
            name: "value out of range for a long column",
            request: predict(&risk, &["age", "income"], None, 1),
            payload: vec![1e20, 1.0],
            same_message: true,
        },
        Case {
            name: "integral value for a long column",
            request: predict(&long_model, &["tenure", "spend"], None, 1),
            payload: vec![12.0, 1.5],
            same_message: true,
        },
        Case { name: "payload on ping", request: Request::Ping { id: 0 }, payload: vec![1.0], same_message: true },
        Case { name: "payload on load", request: load(&churn), payload: vec![1.0, 2.0], same_message: true },
        Case { name: "relative model path", request: load(Path::new("fixtures/mlflow/churn")), payload: vec![], same_message: true },
        Case { name: "missing directory", request: load(&scratch.join("absent")), payload: vec![], same_message: true },
        Case { name: "directory without MLmodel", request: load(&empty_dir), payload: vec![], same_message: true },
        Case { name: "boolean input", request: load(&boolean_model), payload: vec![], same_message: true },
        Case { name: "string input", request: load(&string_model), payload: vec![], same_message: true },
        Case {
            name: "error fault",
            request: predict(&fixture("mlflow/faults/error"), &["tenure", "spend"], None, 1),
            payload: vec![1.0, 2.0],
            same_message: true,
        },
        Case {
            name: "wrong output count",
            request: predict(&fixture("mlflow/faults/wrong_count"), &["tenure", "spend"], None, 1),
            payload: vec![1.0, 2.0],
            same_message: true,
        },
    ];

    // Every malformed model gets the same code from both. Messages must
    // match too, except where they quote a parser (YAML, MLflow's schema
    // classes) or where the fake cannot simulate a model that the Python
    // sidecar then fails to load (the SQL-name mismatch fixtures are valid
    // MLmodels without a spec).
    let code_only = [
        "yaml-syntax",
        "mixed-spec",
        "input-count-mismatch",
        "input-name-mismatch",
        "output-name-mismatch",
    ];
    let mut invalid: Vec<PathBuf> = std::fs::read_dir(fixture("invalid"))
        .unwrap()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    invalid.sort();
    for dir in invalid {
        let name = Box::leak(format!("invalid/{}", dir.file_name().unwrap().to_string_lossy()).into_boxed_str());
        let same_message = !code_only.iter().any(|rule| name.ends_with(rule));
        cases.push(Case { name, request: load(&dir), payload: vec![], same_message });
    }
    cases
}

/// What a response is compared on: everything but process identity.
fn comparable(result: &Result<(Response, Bytes), ClientError>) -> String {
    match result {
        Ok((response, payload)) => {
            let mut response = response.clone();
            response.id = 0;
            response.pid = None;
            response.implementation = None;
            let values = payload::decode_f32s(payload).unwrap_or_default();
            let bits: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
            format!("ok {} payload bits {bits:?}", String::from_utf8_lossy(&response.to_header()))
        }
        Err(ClientError::Remote { code, message, exception }) => {
            format!("error {code}: {message} (exception {exception:?})")
        }
        Err(other) => format!("client error: {other}"),
    }
}

fn code_of(result: &Result<(Response, Bytes), ClientError>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(ClientError::Remote { code, .. }) => code.to_string(),
        Err(other) => format!("client error: {other}"),
    }
}

async fn run_all(command: SidecarCommand, cases: &[Case], sockets: &Path) -> Vec<Result<(Response, Bytes), ClientError>> {
    let options = WorkerOptions {
        command,
        cache_entries: 4,
        start_timeout: Duration::from_secs(30),
        socket_parent: sockets.to_path_buf(),
    };
    let mut worker = Worker::launch(&options).await.expect("sidecar starts");
    let mut results = Vec::new();
    for case in cases {
        let id = worker.next_id();
        let request = with_id(&case.request, id);
        let payload = Bytes::from(payload::encode_f32s(&case.payload));
        let result = worker.call(&request, payload, Duration::from_secs(10), "-").await;
        results.push(result);
    }
    worker.shutdown().await;
    results
}

#[test]
fn fake_and_python_answer_alike() {
    let scratch = tempfile::tempdir().unwrap();
    let sockets = tempfile::Builder::new().prefix("hp-").tempdir_in("/tmp").unwrap();
    let cases = cases(scratch.path());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(run_all(fake_command(), &cases, sockets.path()));
    let python = runtime.block_on(run_all(python_command(), &cases, sockets.path()));

    let mut differences = Vec::new();
    for ((case, fake), python) in cases.iter().zip(&fake).zip(&python) {
        let (left, right) = if case.same_message {
            (comparable(fake), comparable(python))
        } else {
            (code_of(fake), code_of(python))
        };
        if left != right {
            differences.push(format!("{}:\n  fake:   {left}\n  python: {right}", case.name));
        }
    }
    assert!(differences.is_empty(), "the sidecars disagree:\n{}", differences.join("\n"));

    let left: Vec<_> = std::fs::read_dir(sockets.path()).unwrap().flatten().collect();
    assert!(left.is_empty(), "socket directories left: {left:?}");
}
