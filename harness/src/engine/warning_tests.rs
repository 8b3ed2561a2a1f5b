//! Tests of the session warning list and of the result types of IFNULL,
//! COALESCE, IF and CASE, through the `Target`/`Connection` API.

use super::ReferenceTarget;
use crate::target::{ColumnType, ConnectOptions, Connection, Outcome, Target};

fn connect(target: &ReferenceTarget) -> Box<dyn Connection> {
    let options = ConnectOptions {
        database: "test".into(),
        ..Default::default()
    };
    target.connect(&options).expect("connect")
}

fn ok(conn: &mut Box<dyn Connection>, sql: &str) -> Outcome {
    conn.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Rows rendered as `a|b|NULL` lines.
fn rows(conn: &mut Box<dyn Connection>, sql: &str) -> Vec<String> {
    match ok(conn, sql) {
        Outcome::Rows(set) => set
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| c.clone().unwrap_or_else(|| "NULL".into()))
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect(),
        other => panic!("{sql}: expected rows, got {other:?}"),
    }
}

fn warnings(conn: &mut Box<dyn Connection>) -> Vec<String> {
    rows(conn, "show warnings")
}

#[test]
fn show_warnings_columns() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    let Outcome::Rows(set) = ok(&mut conn, "SHOW WARNINGS") else {
        panic!("SHOW WARNINGS returned no result set");
    };
    let columns: Vec<(String, ColumnType)> = set
        .columns
        .iter()
        .map(|c| (c.name.clone(), c.column_type))
        .collect();
    assert_eq!(
        columns,
        vec![
            ("Level".to_string(), ColumnType::Text),
            ("Code".to_string(), ColumnType::Int),
            ("Message".to_string(), ColumnType::Text),
        ]
    );
    assert!(set.rows.is_empty());
}

#[test]
fn if_exists_notes() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(&mut conn, "create table t (id int)");

    ok(&mut conn, "create table if not exists t (id int)");
    assert_eq!(warnings(&mut conn), ["Note|1050|Table 't' already exists"]);

    ok(&mut conn, "drop table if exists missing, t");
    assert_eq!(
        warnings(&mut conn),
        ["Note|1051|Unknown table 'test.missing'"]
    );

    ok(&mut conn, "create database if not exists test");
    assert_eq!(
        warnings(&mut conn),
        ["Note|1007|Can't create database 'test'; database exists"]
    );

    ok(&mut conn, "drop database if exists nowhere");
    assert_eq!(
        warnings(&mut conn),
        ["Note|1008|Can't drop database 'nowhere'; database doesn't exist"]
    );
}

#[test]
fn next_statement_clears_warnings() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(&mut conn, "drop table if exists missing");
    assert_eq!(warnings(&mut conn).len(), 1);
    assert_eq!(warnings(&mut conn).len(), 1, "SHOW WARNINGS keeps the list");
    ok(&mut conn, "select 1");
    assert!(warnings(&mut conn).is_empty());
}

#[test]
fn clamped_sysvar_warns() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(&mut conn, "set wait_timeout = -5");
    assert_eq!(
        warnings(&mut conn),
        ["Warning|1292|Truncated incorrect wait_timeout value: '-5'"]
    );
    assert_eq!(rows(&mut conn, "select @@wait_timeout"), ["0"]);
}

#[test]
fn account_notes_recorded() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(&mut conn, "create user if not exists root");
    let list = warnings(&mut conn);
    assert_eq!(list.len(), 1);
    assert!(list[0].starts_with("Note|3163|"), "{list:?}");
}

#[test]
fn failed_statement_error_entry() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    let error = conn
        .execute("select * from missing")
        .expect_err("missing table");
    assert_eq!(error.code, 1146);
    assert_eq!(
        warnings(&mut conn),
        [format!("Error|1146|{}", error.message)]
    );
    assert_eq!(rows(&mut conn, "show errors").len(), 1);
    assert_eq!(rows(&mut conn, "show count(*) errors"), ["1"]);
}

#[test]
fn warning_count_reads_last_statement() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(&mut conn, "drop table if exists a, b");
    assert_eq!(rows(&mut conn, "show count(*) warnings"), ["2"]);
    assert_eq!(rows(&mut conn, "select @@warning_count"), ["2"]);
    assert_eq!(rows(&mut conn, "select @@warning_count"), ["0"]);
    assert_eq!(rows(&mut conn, "select @@error_count"), ["0"]);
}

#[test]
fn ifnull_takes_decimal_scale() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(
        &mut conn,
        "create table t (id int primary key, spend decimal(10,2), score double, name varchar(5))",
    );
    ok(
        &mut conn,
        "insert into t values (1, 70.00, 1.5, 'a'), (2, NULL, NULL, NULL)",
    );
    assert_eq!(
        rows(
            &mut conn,
            "select ifnull(spend, 0), coalesce(spend, 1) from t order by id"
        ),
        ["70.00|70.00", "0.00|1.00"]
    );
    assert_eq!(
        rows(
            &mut conn,
            "select coalesce(NULL, spend, 2.5) from t order by id"
        ),
        ["70.00", "2.50"]
    );
}

#[test]
fn control_flow_result_types() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(
        &mut conn,
        "create table t (id int primary key, spend decimal(10,2), score double, name varchar(5))",
    );
    ok(
        &mut conn,
        "insert into t values (1, 70.00, 1.5, 'a'), (2, NULL, NULL, NULL)",
    );
    assert_eq!(
        rows(&mut conn, "select if(id = 1, 3, spend) from t order by id"),
        ["3.00", "NULL"]
    );
    assert_eq!(
        rows(
            &mut conn,
            "select case when id = 2 then 0 else spend end from t order by id"
        ),
        ["70.00", "0.00"]
    );
    assert_eq!(
        rows(&mut conn, "select ifnull(score, spend) from t order by id"),
        ["1.5", "NULL"]
    );
    assert_eq!(
        rows(&mut conn, "select ifnull(name, 7) from t order by id"),
        ["a", "7"]
    );
    assert_eq!(
        rows(&mut conn, "select ifnull(id, 0) from t order by id"),
        ["1", "2"]
    );
    let Outcome::Rows(set) = ok(&mut conn, "select ifnull(spend, 0) from t") else {
        panic!("expected rows");
    };
    assert_eq!(set.columns[0].column_type, ColumnType::Decimal);
}
