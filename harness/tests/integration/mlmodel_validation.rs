//! MLmodel validation: one malformed model per rule under
//! `fixtures/invalid/`, each with its own message, and accepted models.

use std::path::{Path, PathBuf};

use harness::backend::IoColumn;
use harness::mlmodel::{inspect_mlmodel, validate_mlmodel, MlmodelRule};

fn invalid_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("fixtures/invalid")
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Every fixture, the rule it breaks and fragments its message must hold.
/// All are validated against `INPUT (x1, x2) OUTPUT (score)`.
const CASES: &[(&str, MlmodelRule, &[&str])] = &[
    (
        "missing-mlmodel",
        MlmodelRule::MissingMlmodel,
        &["MLmodel: the file is missing"],
    ),
    (
        "yaml-syntax",
        MlmodelRule::YamlSyntax,
        &["MLmodel: invalid YAML", "line"],
    ),
    (
        "no-pyfunc-flavor",
        MlmodelRule::NoPyfuncFlavor,
        &["flavors.python_function:", "flavor is missing"],
    ),
    (
        "no-loader-module",
        MlmodelRule::NoLoaderModule,
        &["flavors.python_function.loader_module:", "missing or empty"],
    ),
    (
        "no-signature",
        MlmodelRule::NoSignature,
        &["signature:", "has no signature"],
    ),
    (
        "unnamed-signature",
        MlmodelRule::UnnamedSignature,
        &["signature.inputs[0].name:", "has no name"],
    ),
    (
        "input-count-mismatch",
        MlmodelRule::CountMismatch,
        &[
            "signature.inputs:",
            "3 inputs (x1, x2, x3)",
            "SQL INPUT list has 2 (x1, x2)",
        ],
    ),
    (
        "input-name-mismatch",
        MlmodelRule::NameMismatch,
        &[
            "signature.inputs:",
            "SQL INPUT column \"x2\" is not in the model inputs (x1, y2)",
        ],
    ),
    (
        "output-name-mismatch",
        MlmodelRule::NameMismatch,
        &[
            "signature.outputs:",
            "SQL OUTPUT column \"score\" is not in the model outputs (prediction)",
        ],
    ),
    (
        "input-type-string",
        MlmodelRule::UnsupportedType,
        &[
            "signature.inputs[1].type:",
            "\"x2\" has type \"string\", which is not numeric",
        ],
    ),
    (
        "output-type-boolean",
        MlmodelRule::UnsupportedType,
        &[
            "signature.outputs[0].type:",
            "\"score\" has type \"boolean\"",
        ],
    ),
    (
        "tensor-dtype-unsupported",
        MlmodelRule::UnsupportedType,
        &[
            "signature.inputs[1].tensor-spec.dtype:",
            "dtype \"complex64\"",
        ],
    ),
    (
        "tensor-shape-unsupported",
        MlmodelRule::UnsupportedShape,
        &["signature.inputs[0].tensor-spec.shape:", "[-1,4]"],
    ),
    (
        "mixed-spec",
        MlmodelRule::MixedSpec,
        &["signature.inputs:", "mixes column specs and tensor specs"],
    ),
];

#[test]
fn invalid_fixtures_give_their_own_errors() {
    let root = invalid_fixtures();
    for (name, rule, fragments) in CASES {
        let dir = root.join(name);
        let err =
            validate_mlmodel(&dir, &names(&["x1", "x2"]), &names(&["score"])).expect_err(name);
        let message = err.to_string();
        assert_eq!(err.rule, *rule, "{name}: {message}");
        assert!(
            message.contains(&dir.display().to_string()),
            "{name}: message does not name the directory: {message}"
        );
        for fragment in *fragments {
            assert!(
                message.contains(fragment),
                "{name}: expected {fragment:?} in: {message}"
            );
        }
    }
}

#[test]
fn every_invalid_fixture_is_in_the_table() {
    let mut on_disk: Vec<String> = std::fs::read_dir(invalid_fixtures())
        .expect("fixtures/invalid exists")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = CASES.iter().map(|(name, _, _)| name.to_string()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn missing_directory_is_reported() {
    let err = inspect_mlmodel(Path::new("/nonexistent/tidb-model-test")).expect_err("missing dir");
    assert_eq!(err.rule, MlmodelRule::MissingMlmodel);
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn file_path_is_not_model_directory() {
    let onnx = crate::support::repo_root().join("fixtures/onnx/churn_linear.onnx");
    let err = inspect_mlmodel(&onnx).expect_err("a file is not a directory");
    assert_eq!(err.rule, MlmodelRule::MissingMlmodel);
    assert!(err.to_string().contains("the location is a file"), "{err}");
    assert!(err.to_string().contains("USING ONNX"), "{err}");
}

fn write_mlmodel(signature: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "flavors:\n  python_function:\n    loader_module: mlflow.pyfunc.model\n    python_model: python_model.pkl\n{signature}"
    );
    std::fs::write(dir.path().join("MLmodel"), text).expect("write");
    dir
}

fn column(name: &str, data_type: &str) -> IoColumn {
    IoColumn {
        name: name.to_string(),
        data_type: data_type.to_string(),
    }
}

#[test]
fn column_signature_is_accepted_in_any_order() {
    let dir = write_mlmodel(
        "signature:\n  inputs: '[{\"type\": \"long\", \"name\": \"b\", \"required\": true}, {\"type\": \"float\", \"name\": \"a\", \"required\": true}, {\"type\": \"integer\", \"name\": \"c\", \"required\": false}]'\n  outputs: '[{\"type\": \"double\", \"name\": \"score\", \"required\": true}]'\n  params: null\n",
    );
    let io =
        validate_mlmodel(dir.path(), &names(&["a", "b", "c"]), &names(&["score"])).expect("valid");
    assert_eq!(
        io.inputs,
        vec![
            column("b", "long"),
            column("a", "float"),
            column("c", "integer")
        ]
    );
    assert_eq!(io.outputs, vec![column("score", "double")]);
    assert_eq!(
        serde_json::to_string(&io).expect("json"),
        r#"{"inputs":[{"name":"b","type":"long"},{"name":"a","type":"float"},{"name":"c","type":"integer"}],"outputs":[{"name":"score","type":"double"}]}"#
    );
}

#[test]
fn tensor_signature_is_accepted() {
    let dir = write_mlmodel(
        "signature:\n  inputs: '[{\"type\": \"tensor\", \"name\": \"x\", \"tensor-spec\": {\"dtype\": \"float32\", \"shape\": [-1]}}, {\"type\": \"tensor\", \"name\": \"y\", \"tensor-spec\": {\"dtype\": \"int64\", \"shape\": [-1, 1]}}]'\n  outputs: '[{\"type\": \"tensor\", \"name\": \"p\", \"tensor-spec\": {\"dtype\": \"float64\", \"shape\": [-1]}}]'\n",
    );
    let io = validate_mlmodel(dir.path(), &names(&["x", "y"]), &names(&["p"])).expect("valid");
    assert_eq!(
        io.inputs,
        vec![column("x", "float32"), column("y", "int64")]
    );
    assert_eq!(io.outputs, vec![column("p", "float64")]);
}

#[test]
fn case_only_difference_gets_a_hint() {
    let dir = write_mlmodel(
        "signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"X1\"}]'\n  outputs: '[{\"type\": \"double\", \"name\": \"score\"}]'\n",
    );
    let err = validate_mlmodel(dir.path(), &names(&["x1"]), &names(&["score"])).expect_err("case");
    assert_eq!(err.rule, MlmodelRule::NameMismatch);
    assert!(err.to_string().contains("differs only in case"), "{err}");
}

#[test]
fn duplicate_sql_name_cannot_hide_a_model_name() {
    let dir = write_mlmodel(
        "signature:\n  inputs: '[{\"type\": \"double\", \"name\": \"a\"}, {\"type\": \"double\", \"name\": \"b\"}]'\n  outputs: '[{\"type\": \"double\", \"name\": \"score\"}]'\n",
    );
    let err =
        validate_mlmodel(dir.path(), &names(&["a", "a"]), &names(&["score"])).expect_err("dup");
    assert_eq!(err.rule, MlmodelRule::NameMismatch);
    assert!(
        err.to_string()
            .contains("include \"b\", which is not in the SQL INPUT list"),
        "{err}"
    );
}

/// Saves models with MLflow from the repository's `.venv` into `dir`:
/// `columns/` with a ColSpec signature and `tensors/` with named TensorSpecs.
fn save_models_with_mlflow(dir: &Path) {
    let python = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `bash scripts/setup.sh` in the repository root to create .venv with mlflow",
        python.display()
    );
    let script = r#"
import sys
import numpy as np
import mlflow.pyfunc
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema, TensorSpec

class Sum(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input

root = sys.argv[1]
columns = ModelSignature(
    inputs=Schema([ColSpec("double", "x1"), ColSpec("long", "x2")]),
    outputs=Schema([ColSpec("float", "score")]),
)
mlflow.pyfunc.save_model(root + "/columns", python_model=Sum(), signature=columns)
tensors = ModelSignature(
    inputs=Schema([TensorSpec(np.dtype("float32"), (-1,), "x1"), TensorSpec(np.dtype("int64"), (-1, 1), "x2")]),
    outputs=Schema([TensorSpec(np.dtype("float64"), (-1,), "score")]),
)
mlflow.pyfunc.save_model(root + "/tensors", python_model=Sum(), signature=tensors)
"#;
    let output = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(dir)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "saving models failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn models_saved_by_mlflow_are_accepted() {
    let dir = tempfile::tempdir().expect("tempdir");
    save_models_with_mlflow(dir.path());
    let inputs = names(&["x1", "x2"]);
    let outputs = names(&["score"]);

    let io =
        validate_mlmodel(&dir.path().join("columns"), &inputs, &outputs).expect("column model");
    assert_eq!(
        io.inputs,
        vec![column("x1", "double"), column("x2", "long")]
    );
    assert_eq!(io.outputs, vec![column("score", "float")]);

    let io =
        validate_mlmodel(&dir.path().join("tensors"), &inputs, &outputs).expect("tensor model");
    assert_eq!(
        io.inputs,
        vec![column("x1", "float32"), column("x2", "int64")]
    );
    assert_eq!(io.outputs, vec![column("score", "float64")]);
}
