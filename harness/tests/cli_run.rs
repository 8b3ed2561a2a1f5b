//! `harness run` on the command line.

use assert_cmd::Command;

#[test]
fn run_without_reference_target_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.slt"), "statement ok\nselect 1\n").unwrap();

    let output = Command::cargo_bin("harness")
        .unwrap()
        .args(["run", "--sidecar", "fake"])
        .arg(dir.path().join("a.slt"))
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("reference target not available in this build"),
        "{stderr}"
    );
}

#[test]
fn run_with_missing_path_names_it() {
    let output = Command::cargo_bin("harness")
        .unwrap()
        .args(["run", "/nonexistent/cases"])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/cases"), "{stderr}");
}

#[test]
fn run_rejects_unknown_sidecar() {
    let output = Command::cargo_bin("harness")
        .unwrap()
        .args(["run", "--sidecar", "java", "x.slt"])
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("java"), "{stderr}");
}
