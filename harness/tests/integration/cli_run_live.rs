//! `harness run --target mysql://...` against a real, private MariaDB
//! server: standard SQL passes, model and TiDB-only cases are skipped with
//! the probe's reason, and a wrong expectation still fails.

use crate::support;

use std::path::Path;

use assert_cmd::Command;
use support::mariadb::{run_checks, MariaDb};

/// Writes a small suite: one portable case, one model case, one TiDB-only
/// case.
fn write_suite(root: &Path) {
    std::fs::create_dir_all(root.join("t")).unwrap();
    std::fs::create_dir_all(root.join("r")).unwrap();
    std::fs::write(
        root.join("t/plain.test"),
        "# Standard SQL that any MySQL-protocol server runs the same.\n\
         create table t (id int primary key, v varchar(10));\n\
         insert into t values (1, 'a'), (2, NULL);\n\
         select id, v from t order by id;\n\
         --error 1146\n\
         select * from missing;\n",
    )
    .unwrap();
    std::fs::write(
        root.join("r/plain.result"),
        "create table t (id int primary key, v varchar(10));\n\
         insert into t values (1, 'a'), (2, NULL);\n\
         select id, v from t order by id;\n\
         id\tv\n1\ta\n2\tNULL\n\
         select * from missing;\n\
         Error 1146 (42S02): Table 'plain.missing' doesn't exist\n",
    )
    .unwrap();
    std::fs::write(root.join("t/model.test"), "# requires: models\nshow create model m;\n").unwrap();
    std::fs::write(root.join("r/model.result"), "").unwrap();
    std::fs::write(root.join("t/stale.test"), "# requires: tidb\nselect 1;\n").unwrap();
    std::fs::write(root.join("r/stale.result"), "select 1;\n1\n1\n").unwrap();
}

fn run(server: &MariaDb, suite: &Path) -> (Option<i32>, String) {
    let output = Command::cargo_bin("harness")
        .unwrap()
        .args(["run", "--sidecar", "fake", "--target", &server.url("")])
        .arg(suite)
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn live_mariadb_runs_portable_cases() {
    let mut server = MariaDb::start();
    let suite = tempfile::tempdir().unwrap();
    write_suite(suite.path());

    let passes = || {
        let (code, stdout) = run(&server, suite.path());
        assert_eq!(code, Some(0), "{stdout}");
        assert!(stdout.ends_with("1 passed, 0 failed, 2 skipped\n"), "{stdout}");
        assert!(stdout.contains("does not support model statements"), "{stdout}");
        assert!(stdout.contains("is not TiDB"), "{stdout}");
    };
    let wrong_expectation_fails = || {
        let result = suite.path().join("r/plain.result");
        let good = std::fs::read_to_string(&result).unwrap();
        std::fs::write(&result, good.replace("1\ta\n", "1\tb\n")).unwrap();
        let (code, stdout) = run(&server, suite.path());
        std::fs::write(&result, good).unwrap();
        assert_eq!(code, Some(1), "{stdout}");
        assert!(stdout.contains("r/plain.result"), "{stdout}");
        assert!(stdout.contains("-1\tb") && stdout.contains("+1\ta"), "{stdout}");
    };
    run_checks(&[("portable cases pass", &passes), ("a wrong row fails", &wrong_expectation_fails)]);
    server.stop();
}

#[test]
fn mariadb_runs_whole_suite() {
    let mut server = MariaDb::start();
    let output = Command::cargo_bin("harness")
        .unwrap()
        .current_dir(support::repo_root())
        .args(["run", "--sidecar", "fake", "--target", &server.url("")])
        .args(["integrationtest", "cases"])
        .output()
        .unwrap();
    server.stop();

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let (passed, failed, skipped) = support::summary_counts(&stdout);
    assert!(passed >= 5, "the standard-SQL cases should pass: {stdout}");
    assert_eq!(failed, 0, "{stdout}");
    assert!(skipped > 0, "the model cases should be skipped: {stdout}");
    // One line per skipped case, each with a reason; the model cases give
    // the probe's.
    let skip_lines: Vec<&str> = stdout.lines().filter(|line| line.starts_with("skipped ")).collect();
    assert_eq!(skip_lines.len(), skipped, "{stdout}");
    assert!(skip_lines.iter().all(|line| line.split_once(": ").is_some_and(|(_, why)| !why.is_empty())), "{stdout}");
    assert!(
        skip_lines.iter().any(|line| line.contains("does not support model statements")),
        "{stdout}"
    );
}
