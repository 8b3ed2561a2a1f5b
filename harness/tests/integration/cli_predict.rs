//! `harness predict` end to end: the binary, a real sidecar, CSV in and out.

use crate::support;

use assert_cmd::Command;

use support::{fixture, python, repo_root};

fn harness() -> Command {
    let mut command = Command::cargo_bin("harness").expect("harness binary");
    command.current_dir(repo_root());
    command
}

fn predict_csv(sidecar: &str, model: &str, input: &str) -> String {
    let python = python();
    let output = harness()
        .args(["predict", "--model"])
        .arg(fixture(model))
        .args(["--input"])
        .arg(fixture(input))
        .args(["--sidecar", sidecar, "--python"])
        .arg(&python)
        .output()
        .expect("run harness");
    assert!(
        output.status.success(),
        "harness predict --sidecar {sidecar} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn fake_and_python_print_the_same_csv() {
    for (model, input) in [("mlflow/churn", "inputs/churn.csv"), ("mlflow/risk", "inputs/risk.csv")] {
        let fake = predict_csv("fake", model, input);
        let python = predict_csv("python", model, input);
        assert_eq!(fake, python, "{model}");

        let rows = std::fs::read_to_string(fixture(input)).unwrap().lines().filter(|l| !l.trim().is_empty()).count();
        assert_eq!(fake.lines().count(), rows, "{model}: header plus one line per input row");
    }
    let churn = predict_csv("fake", "mlflow/churn", "inputs/churn.csv");
    assert_eq!(churn.lines().next(), Some("score"));
    // tenure 0, spend 0: sigmoid(-2) rounded to FP32, shortest form.
    assert_eq!(churn.lines().nth(1), Some("0.11920292"));
}

#[test]
fn reads_stdin() {
    let output = harness()
        .args(["predict", "--model"])
        .arg(fixture("mlflow/churn_linear"))
        .args(["--input", "-", "--sidecar", "fake"])
        .write_stdin("spend,tenure\n128,32\n")
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // -2 + 0.03125*32 + 0.0078125*128 = 0
    assert_eq!(String::from_utf8_lossy(&output.stdout), "score\n0\n");
}

/// A header with no rows prints the output header after checking the
/// input names against the model, with either sidecar.
#[test]
fn header_only_input() {
    let python = python();
    for sidecar in ["fake", "python"] {
        let output = harness()
            .args(["predict", "--model"])
            .arg(fixture("mlflow/churn"))
            .args(["--input", "-", "--sidecar", sidecar, "--python"])
            .arg(&python)
            .write_stdin("spend,tenure\n")
            .output()
            .expect("run");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(String::from_utf8_lossy(&output.stdout), "score\n", "{sidecar}");

        let output = harness()
            .args(["predict", "--model"])
            .arg(fixture("mlflow/churn"))
            .args(["--input", "-", "--sidecar", sidecar, "--python"])
            .arg(&python)
            .write_stdin("nope,x\n")
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{sidecar}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("the input header nope,x does not match"), "{stderr}");
    }
}

#[test]
fn bad_input_is_named() {
    let output = harness()
        .args(["predict", "--model"])
        .arg(fixture("mlflow/churn"))
        .args(["--input", "-", "--sidecar", "fake"])
        .write_stdin("tenure,spend\n1,abc\n")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("<stdin> line 2, column spend: \"abc\" is not a number"), "{stderr}");
}

#[test]
fn missing_model_is_named() {
    let output = harness()
        .args(["predict", "--model", "/nonexistent/model", "--input", "-", "--sidecar", "fake"])
        .write_stdin("a\n1\n")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("model directory /nonexistent/model not found"));
}

#[test]
fn remote_error_reaches_the_user() {
    let output = harness()
        .args(["predict", "--model"])
        .arg(fixture("mlflow/churn"))
        .args(["--input", "-", "--sidecar", "fake"])
        .write_stdin("tenure,cost\n1,2\n")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("BAD_REQUEST: input_names"), "{stderr}");
}
