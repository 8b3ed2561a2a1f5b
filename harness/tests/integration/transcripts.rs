//! Transcripts: recorded from the real Python sidecar, replayed by the
//! fake sidecar (`--replay`) and re-sent by `harness replay`.

use crate::support;

use std::path::Path;
use std::process::Command;

use harness::sidecar::{PredictOutput, PredictRequest, SidecarCommand};

use support::*;

fn predict_churn(command: SidecarCommand, trace: Option<&Path>, scale: f32) -> Result<PredictOutput, String> {
    let mut pool = TestPool::new(command, |config| {
        config.workers = 1;
        config.trace = trace.map(Path::to_path_buf);
    });
    let table = read_inputs("inputs/churn.csv");
    let values: Vec<f32> = table.values.iter().map(|value| value * scale).collect();
    let result = pool
        .pool()
        .predict(PredictRequest {
            model_path: &fixture("mlflow/churn"),
            input_names: &table.columns,
            output_names: None,
            rows: table.rows,
            values: &values,
            timeout: None,
        })
        .map_err(|err| err.to_string());
    pool.close();
    result
}

fn replay_command(transcript: &Path) -> SidecarCommand {
    let mut command = fake_command();
    command.args = vec!["--replay".into(), transcript.display().to_string()];
    command
}

#[test]
fn python_transcript_replays_on_fake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let transcript = dir.path().join("churn.jsonl");

    // Record from the Python sidecar: the predict and the shutdown.
    let recorded = predict_churn(python_command(), Some(&transcript), 1.0).expect("python predict");
    let text = std::fs::read_to_string(&transcript).expect("transcript written");
    let records = sidecar_protocol::trace::parse_transcript(&text).expect("valid transcript");
    assert_eq!(records.len(), 4, "predict and shutdown, both ways:\n{text}");
    assert_eq!(records[0].summary["op"], "predict");
    assert_eq!(records[1].summary["rows"], recorded.rows);

    // The fake sidecar answers from the recording: identical results.
    let replayed = predict_churn(replay_command(&transcript), None, 1.0).expect("replayed predict");
    assert_eq!(replayed.output_names, recorded.output_names);
    assert_eq!(replayed.rows, recorded.rows);
    assert_same_bits(&replayed.values, &recorded.values, "replayed vs recorded");

    // A client that sends other values is told which frame differs.
    let err = predict_churn(replay_command(&transcript), None, 2.0).expect_err("deviation detected");
    assert!(err.contains("sidecar INTERNAL: replay: request 1"), "{err}");
    assert!(err.contains("payload value"), "{err}");

    // `harness replay` against the fake finds no difference.
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["replay", "--sidecar", "fake"])
        .arg(&transcript)
        .output()
        .expect("harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("no differences"), "{stdout}");

    // A tampered recording is reported and fails the command.
    let tampered_path = dir.path().join("tampered.jsonl");
    let mut lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("json line"))
        .collect();
    let payload = sidecar_protocol::payload::encode_f32s(&vec![0.25; recorded.values.len()]);
    use base64::Engine;
    lines[1]["payload_b64"] = base64::engine::general_purpose::STANDARD.encode(payload).into();
    let tampered: Vec<String> = lines.iter().map(|line| line.to_string()).collect();
    std::fs::write(&tampered_path, tampered.join("\n")).expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["replay", "--sidecar", "fake"])
        .arg(&tampered_path)
        .output()
        .expect("harness runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("payload value 0 is"), "{stdout}");
}
