//! Runs every case under cases/faults/ against the real fake-sidecar
//! binary through the real batching client, one test per case file.

use crate::support;

use std::path::PathBuf;

use harness::faults::{run_fault_case, FaultRunOptions};

use support::{fake_command, repo_root};

fn case_dir() -> PathBuf {
    repo_root().join("cases/faults")
}

fn run_case(name: &str) {
    let options = FaultRunOptions {
        fake_sidecar: fake_command().program,
        fixtures: Some(repo_root().join("fixtures")),
        temp_parent: PathBuf::from("/tmp"),
    };
    let path = case_dir().join(format!("{name}.toml"));
    let outcome = run_fault_case(&path, &options).unwrap_or_else(|err| panic!("{err}"));
    assert!(outcome.passed(), "{}", outcome.message());
}

/// Declares one test per case file; `every_case_has_a_test` keeps the list
/// in step with the directory.
macro_rules! fault_cases {
    ($($name:ident),* $(,)?) => {
        const CASES: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                run_case(stringify!($name));
            }
        )*
    };
}

fault_cases!(
    bad_magic,
    close,
    delay,
    delay_over_timeout,
    duplicate,
    exit_before_ready,
    exit_on_request,
    hang,
    header_too_large,
    missing_ready,
    payload_too_large,
    preamble_only,
    ready_then_exit,
    slow_ready,
    slow_ready_over_timeout,
    truncated_payload,
    unsupported_version,
    wrong_id,
);

#[test]
fn every_case_has_a_test() {
    let mut files: Vec<String> = std::fs::read_dir(case_dir())
        .expect("cases/faults exists")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .filter_map(|path| Some(path.file_stem()?.to_string_lossy().into_owned()))
        .collect();
    files.sort();
    let mut listed: Vec<String> = CASES.iter().map(|name| name.to_string()).collect();
    listed.sort();
    assert_eq!(files, listed, "cases/faults/*.toml and the fault_cases! list differ");
}
