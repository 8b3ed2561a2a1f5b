//! `harness run` on the command line.

use assert_cmd::Command;

#[test]
fn run_on_reference_target_passes_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.slt"), "query I\nselect 1 + 1\n----\n2\n").unwrap();
    std::fs::write(dir.path().join("b.slt"), "query I\nselect 1 + 1\n----\n3\n").unwrap();

    let output = Command::cargo_bin("harness")
        .unwrap()
        .args(["run", "--sidecar", "fake"])
        .arg(dir.path())
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.ends_with("1 passed, 1 failed, 0 skipped\n"), "{stdout}");
    assert!(stdout.contains("b.slt"), "{stdout}");
}

#[test]
fn run_with_unknown_target_names_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.slt"), "statement ok\nselect 1\n").unwrap();
    let output = Command::cargo_bin("harness")
        .unwrap()
        .args(["run", "--sidecar", "fake", "--target", "oracle"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown target \"oracle\""), "{stderr}");
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
