//! Runner behaviour against a scripted target: each test writes a small
//! suite to a temporary directory, runs it and checks the verdict and the
//! report text.

use crate::runner_support;

use std::path::{Path, PathBuf};

use harness::runner::{discover, run_cases, RunnerConfig, Summary};
use runner_support::{error, int_rows, rows, FakeTarget, Reply};

/// A temporary suite with `t/` and `r/`.
struct Suite {
    dir: tempfile::TempDir,
}

impl Suite {
    fn new() -> Suite {
        Suite {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.root().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.root().join(relative)).unwrap()
    }

    fn run(&self, target: &FakeTarget, config: &RunnerConfig) -> (Summary, String) {
        let cases = discover(&[self.root().to_path_buf()]).unwrap();
        let mut out = Vec::new();
        let summary = run_cases(target, config, &cases, &mut out).unwrap();
        (summary, String::from_utf8(out).unwrap())
    }
}

fn basic_target() -> FakeTarget {
    let target = FakeTarget::new();
    target.script(
        "create table t (a int, b varchar(10))",
        Reply::Affected(0, String::new()),
    );
    target.script(
        "select a, b\nfrom t",
        int_rows(&["a", "b"], &[&[Some("1"), Some("x")], &[Some("2"), None]]),
    );
    target.script(
        "select * from missing",
        error(1146, "42S02", "Table 'x.missing' doesn't exist"),
    );
    target.script("select 1", int_rows(&["1"], &[&[Some("1")]]));
    target
}

const BASIC_TEST: &str = "\
# a comment
create table t (a int, b varchar(10));
select a, b
from t;
--error 1146
select * from missing;
--echo done
";

const BASIC_RESULT: &str = "\
create table t (a int, b varchar(10));
select a, b
from t;
a\tb
1\tx
2\tNULL
select * from missing;
Error 1146 (42S02): Table 'x.missing' doesn't exist
done
";

fn last_line(out: &str) -> &str {
    out.lines().last().unwrap_or_default()
}

#[test]
fn passing_case_passes() {
    let suite = Suite::new();
    suite.write("t/basic.test", BASIC_TEST);
    suite.write("r/basic.result", BASIC_RESULT);

    let (summary, out) = suite.run(&basic_target(), &RunnerConfig::new());
    assert!(summary.success(), "{out}");
    assert_eq!(out, "1 passed, 0 failed, 0 skipped\n");
}

#[test]
fn expected_error_that_does_not_happen_fails() {
    let suite = Suite::new();
    suite.write("t/a.test", "--error ER_NO_SUCH_TABLE\nselect 1;\n");
    suite.write("r/a.result", "select 1;\n1\n1\n");

    let (summary, out) = suite.run(&basic_target(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1, "{out}");
    assert!(out.contains("a.test:2\n"), "{out}");
    assert!(out.contains("[SQL] select 1;"), "{out}");
    assert!(
        out.contains("Statement succeeded, expected error(s) ER_NO_SUCH_TABLE"),
        "{out}"
    );
    assert_eq!(last_line(&out), "0 passed, 1 failed, 0 skipped");
}

#[test]
fn wrong_error_code_fails() {
    let suite = Suite::new();
    suite.write("t/a.test", "--error 1064\nselect * from missing;\n");
    suite.write(
        "r/a.result",
        "select * from missing;\nError 1146 (42S02): Table 'x.missing' doesn't exist\n",
    );

    let (summary, out) = suite.run(&basic_target(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1, "{out}");
    assert!(
        out.contains("Statement failed with Error 1146 (42S02)"),
        "{out}"
    );
    assert!(out.contains("expected error(s) 1064"), "{out}");
}

#[test]
fn unexpected_error_fails() {
    let suite = Suite::new();
    suite.write("t/a.test", "select * from missing;\n");
    suite.write(
        "r/a.result",
        "select * from missing;\nError 1146 (42S02): Table 'x.missing' doesn't exist\n",
    );

    let (summary, out) = suite.run(&basic_target(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1, "{out}");
    assert!(
        out.contains("Statement failed unexpectedly: Error 1146"),
        "{out}"
    );
}

#[test]
fn changed_row_fails_with_diff() {
    let suite = Suite::new();
    suite.write("t/basic.test", BASIC_TEST);
    suite.write("r/basic.result", &BASIC_RESULT.replace("1\tx", "1\ty"));

    let (summary, out) = suite.run(&basic_target(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1, "{out}");
    let result_file = suite.root().join("r/basic.result");
    assert!(out.contains("basic.test:3\n"), "{out}");
    assert!(
        out.contains(&format!(
            "output differs from the result file at {}:5",
            result_file.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("--- {} (expected)", result_file.display())),
        "{out}"
    );
    assert!(out.contains("\n-1\ty\n+1\tx\n"), "{out}");
    assert!(out.contains("[SQL] select a, b\nfrom t;"), "{out}");
}

#[test]
fn extra_data_at_end_fails() {
    let suite = Suite::new();
    suite.write("t/basic.test", BASIC_TEST);
    suite.write("r/basic.result", &format!("{BASIC_RESULT}select 2;\n"));

    let (summary, out) = suite.run(&basic_target(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1, "{out}");
    assert!(
        out.contains("there is extra data at the end of the result file"),
        "{out}"
    );
    assert!(out.contains("basic.result:10"), "{out}");
    assert!(out.contains("-select 2;"), "{out}");
}

#[test]
fn missing_output_fails() {
    let suite = Suite::new();
    suite.write("t/basic.test", BASIC_TEST);
    // The result file lacks the last row and everything after it.
    suite.write(
        "r/basic.result",
        "create table t (a int, b varchar(10));\nselect a, b\nfrom t;\na\tb\n1\tx\n",
    );

    let (summary, out) = suite.run(&basic_target(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1, "{out}");
    assert!(out.contains("basic.result:6"), "{out}");
    assert!(out.contains("+2\tNULL"), "{out}");
}

#[test]
fn missing_result_file_fails() {
    let suite = Suite::new();
    suite.write("t/basic.test", BASIC_TEST);

    let (summary, out) = suite.run(&basic_target(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1, "{out}");
    assert!(out.contains("run with --record to create it"), "{out}");
}

#[test]
fn record_writes_actual_output() {
    let suite = Suite::new();
    suite.write("t/sub/basic.test", BASIC_TEST);
    suite.write("r/sub/basic.result", "stale\n");

    let mut config = RunnerConfig::new();
    config.record = true;
    let (summary, out) = suite.run(&basic_target(), &config);
    assert!(summary.success(), "{out}");
    assert_eq!(suite.read("r/sub/basic.result"), BASIC_RESULT);

    let (summary, out) = suite.run(&basic_target(), &RunnerConfig::new());
    assert!(summary.success(), "{out}");
}

#[test]
fn record_does_not_write_on_failure() {
    let suite = Suite::new();
    suite.write("t/a.test", "select * from missing;\n");
    suite.write("r/a.result", "kept\n");

    let mut config = RunnerConfig::new();
    config.record = true;
    let (summary, _) = suite.run(&basic_target(), &config);
    assert_eq!(summary.failed.len(), 1);
    assert_eq!(suite.read("r/a.result"), "kept\n");
}

#[test]
fn filters_apply_to_next_statement_only() {
    let target = FakeTarget::new();
    target.script(
        "select v, t from s",
        rows(
            &["v", "t"],
            &[
                &[Some("b"), Some("12:00")],
                &[Some(""), Some("9")],
                &[None, Some("13:00")],
                &[Some("a"), Some("id 42")],
            ],
        ),
    );
    target.script(
        "select * from nope",
        error(1146, "42S02", "Table 'a__b.nope' doesn't exist"),
    );
    let suite = Suite::new();
    suite.write(
        "t/f.test",
        "--sorted_result\n--replace_column 2 <t>\nselect v, t from s;\n--replace_regex /[0-9]+/N/\nselect v, t from s;\n--replace_regex /'[a-z_]+\\./'DB./\n--error 1146\nselect * from nope;\nselect v, t from s;\n",
    );
    let expected = "\
select v, t from s;
v\tt
NULL\t<t>
\t<t>
a\t<t>
b\t<t>
select v, t from s;
v\tt
b\tN:N
\tN
NULL\tN:N
a\tid N
select * from nope;
Error 1146 (42S02): Table 'DB.nope' doesn't exist
select v, t from s;
v\tt
b\t12:00
\t9
NULL\t13:00
a\tid 42
";
    suite.write("r/f.result", expected);

    let (summary, out) = suite.run(&target, &RunnerConfig::new());
    assert!(summary.success(), "{out}");
}

#[test]
fn error_names_and_lists() {
    let target = FakeTarget::new();
    target.script(
        "select * from nope",
        error(1146, "42S02", "Table 'x.nope' doesn't exist"),
    );
    target.script(
        "grant x",
        error(
            1227,
            "42000",
            "Access denied; you need (at least one of) the SUPER privilege(s) for this operation",
        ),
    );
    target.script("select 1", int_rows(&["1"], &[&[Some("1")]]));
    let suite = Suite::new();
    suite.write(
        "t/e.test",
        "--error ErrSpecificAccessDenied\ngrant x;\n--error ER_PARSE_ERROR, ER_NO_SUCH_TABLE\nselect * from nope;\n--error 0, 1146\nselect * from nope;\n--error 0,1146\nselect 1;\n",
    );
    suite.write(
        "r/e.result",
        "grant x;\nError 1227 (42000): Access denied; you need (at least one of) the SUPER privilege(s) for this operation\nselect * from nope;\nGot one of the listed errors\nselect * from nope;\nselect 1;\n1\n1\n",
    );

    let (summary, out) = suite.run(&target, &RunnerConfig::new());
    assert!(summary.success(), "{out}");
}

#[test]
fn info_and_warnings() {
    let target = FakeTarget::new();
    target.script(
        "insert into t values (1)",
        Reply::Affected(1, String::new()),
    );
    target.script(
        "update t set a = 2",
        Reply::Affected(3, "Rows matched: 3  Changed: 3  Warnings: 0".into()),
    );
    target.set_warnings(&[
        &[Some("Warning"), Some("1292"), Some("b")],
        &[Some("Warning"), Some("1292"), Some("a")],
    ]);
    let suite = Suite::new();
    suite.write(
        "t/i.test",
        "--enable_info\ninsert into t values (1);\nupdate t set a = 2;\n--disable_info\n--enable_warnings\ninsert into t values (1);\n--disable_warnings\n--disable_query_log\ninsert into t values (1);\n--enable_query_log\n",
    );
    suite.write(
        "r/i.result",
        "insert into t values (1);\naffected rows: 1\ninfo: \nupdate t set a = 2;\naffected rows: 3\ninfo: Rows matched: 3  Changed: 3  Warnings: 0\ninsert into t values (1);\nLevel\tCode\tMessage\nWarning\t1292\ta\nWarning\t1292\tb\n",
    );

    let (summary, out) = suite.run(&target, &RunnerConfig::new());
    assert!(summary.success(), "{out}");
}

#[test]
fn connections_switch_sessions() {
    let target = FakeTarget::new();
    target.script("select user()", rows(&["user()"], &[&[Some("u")]]));
    target.reject_user(
        "nobody",
        harness::target::SqlError::new(1045, "28000", "Access denied for user 'nobody'"),
    );
    let suite = Suite::new();
    suite.write(
        "t/c.test",
        "connect (conn1,localhost,u1,pw,db1);\nselect user();\nconnection default;\nselect user();\nconnection conn1;\nselect user();\ndisconnect conn1;\nselect user();\n--error ER_ACCESS_DENIED_ERROR\nconnect (conn2,localhost,nobody,,);\n",
    );
    suite.write("r/c.result", &"select user();\nuser()\nu\n".repeat(4));

    let (summary, out) = suite.run(&target, &RunnerConfig::new());
    assert!(summary.success(), "{out}");

    // Connection 1 is the default one, 2 is conn1, 3 the cleanup one.
    let statements: Vec<String> = target
        .log()
        .into_iter()
        .filter(|s| s.ends_with("select user()"))
        .collect();
    assert_eq!(
        statements,
        [
            "2: select user()",
            "1: select user()",
            "2: select user()",
            "1: select user()"
        ]
    );
    let connects = target.connects();
    assert_eq!(connects[1].user, "u1");
    assert_eq!(connects[1].password, "pw");
    assert_eq!(connects[1].database, "db1");
}

#[test]
fn unknown_connection_fails() {
    let suite = Suite::new();
    suite.write("t/c.test", "connection nope;\n");
    suite.write("r/c.result", "");
    let (summary, out) = suite.run(&FakeTarget::new(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1, "{out}");
    assert!(out.contains("c.test:1\n"), "{out}");
    assert!(out.contains("connection \"nope\" does not exist"), "{out}");
}

#[test]
fn case_database_is_created_and_dropped() {
    let target = FakeTarget::new();
    let suite = Suite::new();
    suite.write("t/sub/db.test", "create database extra;\n");
    suite.write("r/sub/db.result", "create database extra;\n");

    let (summary, out) = suite.run(&target, &RunnerConfig::new());
    assert!(summary.success(), "{out}");
    let log = target.log();
    assert!(
        log.contains(&"1: CREATE DATABASE IF NOT EXISTS `sub__db`".to_string()),
        "{log:?}"
    );
    assert!(log.contains(&"1: USE `sub__db`".to_string()), "{log:?}");
    assert!(
        log.iter().any(|s| s.ends_with("DROP DATABASE `extra`")),
        "{log:?}"
    );
    assert!(
        log.iter().any(|s| s.ends_with("DROP DATABASE `sub__db`")),
        "{log:?}"
    );
    assert_eq!(
        target.databases().into_iter().collect::<Vec<_>>(),
        ["mysql"]
    );

    let target = FakeTarget::new();
    let mut config = RunnerConfig::new();
    config.reserve_schema = true;
    let (summary, _) = suite.run(&target, &config);
    assert!(summary.success());
    assert_eq!(
        target.databases().into_iter().collect::<Vec<_>>(),
        ["extra", "mysql", "sub__db"]
    );
}

#[test]
fn let_and_echo_variables() {
    let target = FakeTarget::new();
    target.script(
        "select now()",
        rows(&["now()"], &[&[Some("2024-01-01 00:00:00")]]),
    );
    let suite = Suite::new();
    suite.write(
        "t/l.test",
        "let $ts = `select now()`;\n--let $word=plain\n--echo at $ts and $word, $word\n",
    );
    // `$word,` is not followed by a space, so it stays as written.
    suite.write("r/l.result", "at 2024-01-01 00:00:00 and $word, plain\n");

    let (summary, out) = suite.run(&target, &RunnerConfig::new());
    assert!(summary.success(), "{out}");
}

#[test]
fn placeholders_expand_in_sql_not_in_echo() {
    let fixtures = tempfile::tempdir().unwrap();
    let dir = fixtures.path().to_path_buf();
    let target = FakeTarget::new();
    let sql = format!(
        "create model m using onnx location '{}/m.onnx' checksum 'sum:{}/m.onnx'",
        dir.display(),
        dir.display()
    );
    target.script(&sql, Reply::Affected(0, String::new()));

    let suite = Suite::new();
    let statement = "create model m using onnx location '${FIXTURES_DIR}/m.onnx' checksum 'sum:${CHECKSUM:m.onnx}';";
    suite.write("t/p.test", &format!("{statement}\n"));
    suite.write("r/p.result", &format!("{statement}\n"));

    let mut config = RunnerConfig::new();
    config.fixtures_dir = Some(dir.clone());
    config.checksum = Box::new(|path| Ok(path.display().to_string()));
    let (summary, out) = suite.run(&target, &config);
    assert!(summary.success(), "{out}");

    // Without a fixtures directory the case fails and names the flag to pass.
    let (summary, out) = suite.run(&target, &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1);
    assert!(out.contains("--local-fixtures-dir"), "{out}");
}

#[test]
fn unmet_requirement_skips() {
    let suite = Suite::new();
    suite.write("t/py.test", "# requires: python\nselect 1;\n");
    suite.write("r/py.result", "select 1;\n1\n1\n");
    suite.write("t/plain.test", "select 1;\n");
    suite.write("r/plain.result", "select 1;\n1\n1\n");

    let mut config = RunnerConfig::new();
    config
        .requirements
        .unmet("python", "--sidecar fake selected");
    let (summary, out) = suite.run(&basic_target(), &config);
    assert!(summary.success(), "{out}");
    assert!(
        out.contains("py.test: requires python (--sidecar fake selected)\n"),
        "{out}"
    );
    assert_eq!(last_line(&out), "1 passed, 0 failed, 1 skipped");

    config.requirements.met("python");
    let (summary, out) = suite.run(&basic_target(), &config);
    assert_eq!(summary.passed, 2, "{out}");
}

#[test]
fn parse_error_names_line() {
    let suite = Suite::new();
    suite.write("t/bad.test", "select 1;\n--no_such_command\n");
    suite.write("r/bad.result", "");
    let (summary, out) = suite.run(&basic_target(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1);
    assert!(out.contains("bad.test:2\n"), "{out}");
    assert!(out.contains("valid mysqltest command"), "{out}");
}

// ===== sqllogictest =====

fn slt_target() -> FakeTarget {
    let target = FakeTarget::new();
    target.script(
        "create table t (a int, b text)",
        Reply::Affected(0, String::new()),
    );
    target.script(
        "insert into t values (1, ''), (2, null)",
        Reply::Affected(2, String::new()),
    );
    target.script(
        "select a, b from t",
        int_rows(&["a", "b"], &[&[Some("1"), Some("")], &[Some("2"), None]]),
    );
    target.script(
        "select * from missing",
        error(1146, "42S02", "Table 'x.missing' doesn't exist"),
    );
    target
}

const SLT_PASS: &str = "\
statement ok
create table t (a int, b text)

statement count 2
insert into t values (1, ''), (2, null)

query IT rowsort
select a, b from t
----
1 (empty)
2 NULL

statement error Error 1146 \\(42S02\\): Table .* doesn't exist
select * from missing

statement error (42S02)
select * from missing

skipif fake
statement ok
this would fail

onlyif fake
statement ok
create table t (a int, b text)
";

#[test]
fn slt_passes() {
    let suite = Suite::new();
    suite.write("cases/a.slt", SLT_PASS);
    let (summary, out) = suite.run(&slt_target(), &RunnerConfig::new());
    assert!(summary.success(), "{out}");
    assert_eq!(out, "1 passed, 0 failed, 0 skipped\n");
}

#[test]
fn binary_slt_fails_alone() {
    let suite = Suite::new();
    suite.write("cases/a.slt", SLT_PASS);
    let binary = suite.write("cases/b.slt", "");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80, b'\n']).unwrap();

    let (summary, out) = suite.run(&slt_target(), &RunnerConfig::new());
    assert_eq!(summary.passed, 1, "{out}");
    assert_eq!(summary.failed.len(), 1, "{out}");
    assert!(out.contains("not UTF-8 text"), "{out}");
}

#[test]
fn slt_include_cycle_fails_alone() {
    let suite = Suite::new();
    suite.write("cases/a.slt", SLT_PASS);
    // Both files are cases of their own, and both fail on the cycle.
    suite.write("cases/b.slt", "include c.slt\n");
    suite.write("cases/c.slt", "include b.slt\n");

    let (summary, out) = suite.run(&slt_target(), &RunnerConfig::new());
    assert_eq!(summary.passed, 1, "{out}");
    assert_eq!(summary.failed.len(), 2, "{out}");
    assert!(out.contains("include cycle: "), "{out}");
}

#[test]
fn slt_wrong_row_fails() {
    let suite = Suite::new();
    suite.write("cases/a.slt", &SLT_PASS.replace("2 NULL", "2 3"));
    let (summary, out) = suite.run(&slt_target(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1, "{out}");
    assert!(out.contains("a.slt:7\n"), "{out}");
    assert!(out.contains("select a, b from t"), "{out}");
    assert!(out.contains("2 NULL"), "{out}");
}

#[test]
fn slt_unexpected_error_fails() {
    let suite = Suite::new();
    suite.write("cases/a.slt", "statement ok\nselect * from missing\n");
    let (summary, out) = suite.run(&slt_target(), &RunnerConfig::new());
    assert_eq!(summary.failed.len(), 1, "{out}");
    assert!(out.contains("Error 1146 (42S02)"), "{out}");
}

#[test]
fn slt_record_rewrites_expectations() {
    let suite = Suite::new();
    let path = suite.write(
        "cases/a.slt",
        &SLT_PASS.replace("1 (empty)\n2 NULL\n", "9 9\n"),
    );
    let mut config = RunnerConfig::new();
    config.record = true;
    let (summary, out) = suite.run(&slt_target(), &config);
    assert!(summary.success(), "{out}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("----\n1 (empty)\n2 NULL\n"), "{text}");
    assert!(text.ends_with("create table t (a int, b text)\n"), "{text}");

    let (summary, out) = suite.run(&slt_target(), &RunnerConfig::new());
    assert!(summary.success(), "{out}");
}

#[test]
fn slt_connections_and_database() {
    let target = slt_target();
    let suite = Suite::new();
    suite.write(
        "cases/conn.slt",
        "connection one\nstatement ok\ncreate table t (a int, b text)\n\nconnection two\nstatement ok\ncreate table t (a int, b text)\n",
    );
    let (summary, out) = suite.run(&target, &RunnerConfig::new());
    assert!(summary.success(), "{out}");

    // Setup, two named connections on the case database, cleanup.
    let connects = target.connects();
    assert_eq!(connects.len(), 4, "{connects:?}");
    assert_eq!(connects[1].database, "conn");
    assert_eq!(connects[2].database, "conn");
    assert_eq!(
        target.databases().into_iter().collect::<Vec<_>>(),
        ["mysql"]
    );
}

#[test]
fn slt_placeholders_expand() {
    let fixtures = tempfile::tempdir().unwrap();
    let dir = fixtures.path().to_path_buf();
    let target = FakeTarget::new();
    target.script(
        &format!("select '{}'", dir.display()),
        rows(&["p"], &[&[Some("ok")]]),
    );
    let suite = Suite::new();
    suite.write(
        "cases/p.slt",
        "query T\nselect '${FIXTURES_DIR}'\n----\nok\n",
    );

    let mut config = RunnerConfig::new();
    config.fixtures_dir = Some(dir);
    let (summary, out) = suite.run(&target, &config);
    assert!(summary.success(), "{out}");
}
