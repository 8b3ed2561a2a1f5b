//! `harness checksum` and `harness inspect` as a user runs them.

use std::path::{Path, PathBuf};
use std::process::Command;

use assert_cmd::prelude::*;

fn harness() -> Command {
    Command::cargo_bin("harness").expect("harness binary is built")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("fixtures/invalid")
        .join(name)
}

fn shell_sha256(script: &str, path: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(path)
        .output()
        .expect("sh");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("ascii");
    format!("sha256:{}", text.split_whitespace().next().expect("digest"))
}

#[test]
fn checksum_prints_manifest_and_stream_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("sub")).expect("mkdir");
    std::fs::write(dir.path().join("MLmodel"), b"flavors: {}\n").expect("write");
    std::fs::write(dir.path().join("sub/w.bin"), b"\x00\x01").expect("write");

    let output = harness()
        .arg("checksum")
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(output.status.success());
    let manifest = String::from_utf8(output.stdout).expect("utf8");
    let expected = shell_sha256(
        r#"(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum"#,
        dir.path(),
    );
    assert_eq!(manifest.trim_end(), expected);

    let output = harness()
        .args(["checksum", "--variant", "stream"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(output.status.success());
    let stream = String::from_utf8(output.stdout).expect("utf8");
    assert!(stream.starts_with("sha256:"));
    assert_ne!(stream, manifest);
}

#[test]
fn checksum_of_file_is_its_sha256() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("m.onnx");
    std::fs::write(&file, b"bytes").expect("write");
    let output = harness().arg("checksum").arg(&file).output().expect("run");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).expect("utf8").trim_end(),
        shell_sha256(r#"sha256sum < "$1""#, &file)
    );
}

#[test]
fn checksum_of_missing_path_fails() {
    let output = harness()
        .args(["checksum", "/nonexistent/tidb-model-test"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/tidb-model-test"));
}

#[test]
fn inspect_mlflow_prints_io_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("MLmodel"),
        "flavors:\n  python_function:\n    loader_module: mlflow.sklearn\nsignature:\n  inputs: '[{\"type\": \"double\", \"name\": \"a\"}]'\n  outputs: '[{\"type\": \"float\", \"name\": \"y\"}]'\n",
    )
    .expect("write");
    let expected =
        r#"{"inputs":[{"name":"a","type":"double"}],"outputs":[{"name":"y","type":"float"}]}"#;

    let output = harness()
        .arg("inspect")
        .arg(dir.path())
        .args(["--engine", "mlflow"])
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).expect("utf8").trim_end(),
        expected
    );

    let output = harness()
        .arg("inspect")
        .arg(dir.path())
        .args(["--engine", "mlflow", "--inputs", "a", "--outputs", "y"])
        .output()
        .expect("run");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).expect("utf8").trim_end(),
        expected
    );
}

#[test]
fn inspect_mlflow_reports_validation_error_with_exit_1() {
    let dir = fixture("input-name-mismatch");
    let output = harness()
        .arg("inspect")
        .arg(&dir)
        .args([
            "--engine",
            "mlflow",
            "--inputs",
            "x1,x2",
            "--outputs",
            "score",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SQL INPUT column \"x2\""), "{stderr}");
    assert!(stderr.contains(&dir.display().to_string()), "{stderr}");
}

#[test]
fn inspect_onnx_prints_io() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/onnx/churn_linear.onnx");
    let output = harness()
        .args(["inspect", fixture, "--engine", "onnx", "--inputs", "spend,tenure", "--outputs", "score"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(json["inputs"][0]["name"], "tenure");
    assert_eq!(json["inputs"][1]["name"], "spend");
    assert_eq!(json["outputs"][0]["name"], "score");
}

#[test]
fn inspect_onnx_rejects_name_mismatch() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/onnx/churn_linear.onnx");
    let output = harness()
        .args(["inspect", fixture, "--engine", "onnx", "--inputs", "tenure,cost", "--outputs", "score"])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("do not match the model's inputs"), "{stderr}");
}

#[test]
fn inspect_onnx_rejects_int64_input() {
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/onnx/invalid_int64_input.onnx");
    let output = harness().args(["inspect", fixture, "--engine", "onnx"]).output().expect("run");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("int64"));
}
