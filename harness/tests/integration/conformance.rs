//! The conformance suites (`integrationtest/` and `cases/`) run through
//! `harness run` against the reference engine, once with the fake sidecar
//! and once with the Python sidecar, and must pass. A self-test checks that
//! the suite can fail: a changed expected value in a copy of
//! `integrationtest/r/model_mlflow.result` is reported with its file and
//! line.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// Repository root: the parent of the `harness` crate.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness crate sits in the repository root")
        .to_path_buf()
}

/// Counts the case files under `dir` whose header requires `name`.
fn cases_requiring(dir: &Path, name: &str) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            count += cases_requiring(&path, name);
            continue;
        }
        let is_case = matches!(
            path.extension().and_then(|ext| ext.to_str()),
            Some("test") | Some("slt")
        );
        if !is_case {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let header = text
            .lines()
            .map(str::trim)
            .take_while(|line| line.is_empty() || line.starts_with('#'));
        let requires = header
            .filter_map(|line| line.trim_start_matches('#').trim_start().strip_prefix("requires:"))
            .any(|list| list.split([',', ' ']).any(|item| item.trim() == name));
        if requires {
            count += 1;
        }
    }
    count
}

/// The counts of the final `N passed, N failed, N skipped` line.
fn final_counts(stdout: &str) -> (usize, usize, usize) {
    let last = stdout.lines().last().unwrap_or_default();
    let numbers: Vec<usize> = last
        .split(", ")
        .filter_map(|part| part.split(' ').next()?.parse().ok())
        .collect();
    assert!(
        numbers.len() == 3 && last.contains("passed") && last.ends_with("skipped"),
        "the last line is not `N passed, N failed, N skipped`: {last:?}\n{stdout}"
    );
    (numbers[0], numbers[1], numbers[2])
}

/// Runs `harness run` with `args` from `dir` and returns (status, stdout).
fn harness_run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::cargo_bin("harness")
        .unwrap()
        .current_dir(dir)
        .arg("run")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn total_cases(root: &Path) -> usize {
    count_files(&root.join("integrationtest/t"), "test")
        + count_files(&root.join("cases"), "slt")
        + count_files(&root.join("cases/faults"), "toml")
}

fn count_files(dir: &Path, ext: &str) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            count += count_files(&path, ext);
        } else if path.extension().and_then(|e| e.to_str()) == Some(ext) {
            count += 1;
        }
    }
    count
}

#[test]
fn suites_pass_with_fake_sidecar() {
    let root = repo_root();
    let (status, stdout, stderr) =
        harness_run(&root, &["--sidecar", "fake", "integrationtest", "cases"]);

    assert_eq!(status, Some(0), "harness run failed:\n{stdout}\n{stderr}");
    let (passed, failed, skipped) = final_counts(&stdout);
    let python_only = cases_requiring(&root.join("integrationtest"), "python")
        + cases_requiring(&root.join("cases"), "python");
    assert!(passed > 0, "no case ran:\n{stdout}");
    assert_eq!(failed, 0, "{stdout}");
    assert_eq!(
        skipped, python_only,
        "only the cases that require python may be skipped with the fake sidecar:\n{stdout}"
    );
    assert_eq!(passed + skipped, total_cases(&root), "{stdout}");
}

#[test]
fn suites_pass_with_python_sidecar() {
    let root = repo_root();
    let python = root.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "{} is missing: run `bash scripts/setup.sh` in {} to create the venv with mlflow",
        python.display(),
        root.display()
    );
    let python = python.display().to_string();
    let (status, stdout, stderr) = harness_run(
        &root,
        &["--sidecar", "python", "--python", &python, "integrationtest", "cases"],
    );

    assert_eq!(status, Some(0), "harness run failed:\n{stdout}\n{stderr}");
    let (passed, failed, skipped) = final_counts(&stdout);
    assert!(passed > 0, "no case ran:\n{stdout}");
    assert_eq!(failed, 0, "{stdout}");
    assert_eq!(skipped, 0, "nothing may be skipped with the Python sidecar:\n{stdout}");
    assert_eq!(passed, total_cases(&root), "{stdout}");
}

/// Copies `from` into `to` recursively (regular files and directories).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn changed_result_value_fails_with_location() {
    let root = repo_root();
    let temp = tempfile::tempdir().unwrap();
    copy_tree(&root.join("integrationtest"), &temp.path().join("integrationtest"));

    // Change the first score row after the first `id<TAB>score` header.
    let result = temp.path().join("integrationtest/r/model_mlflow.result");
    let text = std::fs::read_to_string(&result).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|line| *line == "id\tscore")
        .expect("model_mlflow.result has an `id<TAB>score` result");
    let changed_index = header + 1;
    let original = lines[changed_index].to_string();
    let (id, _) = original.split_once('\t').expect("a two-column row");
    let replacement = format!("{id}\t0.987654");
    let mut changed: Vec<String> = lines.iter().map(|line| line.to_string()).collect();
    changed[changed_index] = replacement.clone();
    std::fs::write(&result, changed.join("\n") + "\n").unwrap();

    let fixtures = root.join("fixtures").display().to_string();
    let (status, stdout, stderr) = harness_run(
        temp.path(),
        &[
            "--sidecar",
            "fake",
            "--local-fixtures-dir",
            &fixtures,
            "integrationtest/t/model_mlflow.test",
        ],
    );

    assert_eq!(status, Some(1), "the changed result must fail:\n{stdout}\n{stderr}");
    assert_eq!(final_counts(&stdout), (0, 1, 0), "{stdout}");
    let line_number = changed_index + 1;
    let location = format!("integrationtest/r/model_mlflow.result:{line_number}");
    assert!(stdout.contains("FAIL integrationtest/t/model_mlflow.test"), "{stdout}");
    assert!(stdout.contains(&location), "the report must name {location}:\n{stdout}");
    assert!(stdout.contains(&format!("\n-{replacement}\n")), "{stdout}");
    assert!(stdout.contains(&format!("\n+{original}\n")), "{stdout}");
}
