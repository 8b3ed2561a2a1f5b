//! `harness bench --quick --json` on a tiny configuration: every path,
//! figure and ratio is present in the JSON. It runs the real sidecars,
//! `mlflow models serve` and bench/inprocess.py, so it needs the venv.

use crate::support;

use support::*;

#[test]
fn bench_quick_json_has_every_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json_path = dir.path().join("bench.json");
    let output = assert_cmd::Command::cargo_bin("harness")
        .expect("harness binary")
        .current_dir(repo_root())
        .args(["bench", "--quick", "--sizes", "1,64", "--python"])
        .arg(python())
        .arg("--json")
        .arg(&json_path)
        .timeout(std::time::Duration::from_secs(600))
        .output()
        .expect("run harness bench");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "harness bench failed: {stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| path | rows | median ms"), "{stdout}");

    let text = std::fs::read_to_string(&json_path).expect("JSON written");
    let report: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    for path in ["inprocess", "python", "fake", "rest", "echo"] {
        for rows in ["1", "64"] {
            let figures = &report["paths"][path][rows];
            assert!(
                figures["latency"]["median_s"]
                    .as_f64()
                    .is_some_and(|v| v > 0.0),
                "{path} {rows}: {figures}"
            );
            assert!(
                figures["rows_per_s"].as_f64().is_some_and(|v| v > 0.0),
                "{path} {rows}: {figures}"
            );
        }
    }
    for key in [
        "import_mlflow_pyfunc",
        "cold_start_python",
        "cold_start_fake",
        "replacement_python",
        "replacement_fake",
    ] {
        assert!(
            report[key]["median_s"].as_f64().is_some(),
            "{key}: {}",
            report[key]
        );
    }
    for key in ["suite_fake", "suite_python"] {
        assert!(
            report[key]["command"].as_str().is_some(),
            "{key}: {}",
            report[key]
        );
    }
    assert!(report["machine"]["cores"]
        .as_u64()
        .is_some_and(|cores| cores >= 1));
    assert!(report["machine"]["cpu_model"].as_str().is_some());

    let ratios = report["ratios"].as_array().expect("ratios");
    let names: Vec<&str> = ratios
        .iter()
        .filter_map(|ratio| ratio["name"].as_str())
        .collect();
    for expected in [
        "python_vs_inprocess_rows_per_s_at_64",
        "python_vs_rest_rows_per_s_at_64",
        "python_vs_rest_latency_at_1",
        "fake_vs_echo_latency_at_1",
        "fake_vs_echo_bytes_per_s_at_64",
        "cold_start_minus_import_ms",
        "replacement_after_timeout_ms",
        "suite_fake_s",
        "suite_python_s",
    ] {
        assert!(
            names.contains(&expected),
            "ratio {expected} missing from {names:?}"
        );
    }
    for ratio in ratios {
        let name = ratio["name"].as_str().unwrap_or("?");
        if name.starts_with("suite_") {
            continue;
        }
        assert!(
            ratio["value"].as_f64().is_some(),
            "ratio {name} has no value: {ratio}"
        );
        assert!(
            ratio["met"].as_bool().is_some(),
            "ratio {name} has no verdict: {ratio}"
        );
    }
}

/// The echo baseline runs in a `harness bench-echo` child process, which
/// echoes frames byte for byte and exits when its client closes.
#[test]
fn echo_process_round_trips_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let harness = assert_cmd::cargo::cargo_bin("harness");
    let mut echo =
        harness::bench::echo::Echo::start(&harness, &["bench-echo"], dir.path()).expect("start");
    let mut frame = bytes::BytesMut::new();
    sidecar_protocol::frame::encode_into(
        br#"{"op":"ping","id":1}"#,
        &[9u8; 65536],
        &Default::default(),
        &mut frame,
    )
    .expect("encode");
    for _ in 0..3 {
        echo.round_trip(&frame).expect("round trip");
    }
    echo.stop().expect("the echo server exits cleanly");
    drop(echo);
    let leftover: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").collect();
    assert!(
        leftover.is_empty(),
        "socket directory left behind: {leftover:?}"
    );
}

/// A server that exits before it listens fails the start with its exit
/// status instead of leaving the client waiting.
#[test]
fn echo_server_exiting_early_fails_the_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let harness = assert_cmd::cargo::cargo_bin("harness");
    let started = std::time::Instant::now();
    let result = harness::bench::echo::Echo::start(&harness, &["no-such-command"], dir.path());
    let err = result.err().expect("start fails");
    assert!(err.to_string().contains("exited"), "{err}");
    assert!(err.to_string().contains("no-such-command"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
