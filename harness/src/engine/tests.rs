//! Statement-level tests through the `Target`/`Connection` API.

use super::ReferenceTarget;
use crate::target::{ColumnType, ConnectOptions, Connection, Outcome, SqlError, Target};

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

fn err(conn: &mut Box<dyn Connection>, sql: &str) -> SqlError {
    match conn.execute(sql) {
        Ok(outcome) => panic!("{sql}: expected an error, got {outcome:?}"),
        Err(e) => e,
    }
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

fn names(conn: &mut Box<dyn Connection>, sql: &str) -> Vec<String> {
    match ok(conn, sql) {
        Outcome::Rows(set) => set.columns.iter().map(|c| c.name.clone()).collect(),
        other => panic!("{sql}: expected rows, got {other:?}"),
    }
}

fn setup() -> (ReferenceTarget, Box<dyn Connection>) {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(&mut conn, "create table t (id int primary key, name varchar(10), score double, f float, d decimal(10,2), at datetime)");
    ok(
        &mut conn,
        "insert into t values (1, 'a', 1.5, 0.1111111111111111, 1.25, '2024-01-01 10:00:00'), (2, 'b', NULL, -3.40282e38, 2.5, NULL), (3, 'c', 3.0, 1, NULL, '2024-01-02 00:00:00')",
    );
    (target, conn)
}

#[test]
fn select_expressions_without_from() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    let cases = [
        ("select 1+1", "2"),
        ("select 1/3", "0.3333"),
        ("select 7 div 2", "3"),
        ("select 1/0", "NULL"),
        ("select 1.5 * 2", "3.0"),
        ("select '10' = 10", "1"),
        ("select 'abc' = 0", "1"),
        ("select null = null", "NULL"),
        ("select null <=> null", "1"),
        ("select 1 and null", "NULL"),
        ("select 0 and null", "0"),
        ("select 1 or null", "1"),
        ("select 1 xor 1", "0"),
        ("select not null", "NULL"),
        ("select 2 in (1, 2, null)", "1"),
        ("select 3 in (1, 2, null)", "NULL"),
        ("select 5 between 1 and 10", "1"),
        ("select 'abc' like 'a%'", "1"),
        ("select case when 1 > 2 then 'x' else 'y' end", "y"),
        ("select if(1, 'a', 'b')", "a"),
        ("select ifnull(null, 3)", "3"),
        ("select coalesce(null, null, 'z')", "z"),
        ("select abs(-4)", "4"),
        ("select round(2.345, 2)", "2.35"),
        ("select round(-2.5)", "-3"),
        ("select cast('12' as signed)", "12"),
        ("select cast(1.005 as decimal(10,2))", "1.01"),
        ("select concat('a', 1, 'b')", "a1b"),
        ("select concat('a', null)", "NULL"),
        ("select lower('AbC'), upper('AbC')", "abc|ABC"),
        (
            "select date_add('2024-01-31 00:00:00', interval 1 month)",
            "2024-02-29 00:00:00",
        ),
        (
            "select timestamp '2024-01-01 00:00:00' - interval 1 second",
            "2023-12-31 23:59:59",
        ),
        ("select database()", "test"),
        ("select current_user()", "root@%"),
        ("select 1e20", "1e20"),
        ("select 900000000000000.0 + 0e0", "900000000000000"),
        ("select 0.000000000000001e0", "0.000000000000001"),
        ("select -9223372036854775808", "-9223372036854775808"),
    ];
    for (sql, expected) in cases {
        assert_eq!(rows(&mut conn, sql), vec![expected.to_string()], "{sql}");
    }
}

#[test]
fn column_names_keep_user_text() {
    let (_target, mut conn) = setup();
    assert_eq!(
        names(
            &mut conn,
            "select 1+1, 'abc', name, t.score AS s, 2 * id from t"
        ),
        ["1+1", "abc", "name", "s", "2 * id"]
    );
    assert_eq!(
        names(&mut conn, "select count(*), Sum(id) total from t"),
        ["count(*)", "total"]
    );
    assert_eq!(err(&mut conn, "select count(*), name from t").code, 1140);
    assert_eq!(names(&mut conn, "SELECT COUNT(*) FROM t"), ["COUNT(*)"]);
    assert_eq!(
        names(&mut conn, "select * from t"),
        ["id", "name", "score", "f", "d", "at"]
    );
}

#[test]
fn float_and_decimal_rendering() {
    let (_target, mut conn) = setup();
    assert_eq!(
        rows(&mut conn, "select f from t order by id"),
        ["0.11111111", "-3.40282e38", "1"]
    );
    assert_eq!(
        rows(&mut conn, "select d from t order by id"),
        ["1.25", "2.50", "NULL"]
    );
    assert_eq!(
        rows(&mut conn, "select at from t where id = 1"),
        ["2024-01-01 10:00:00"]
    );
    match ok(&mut conn, "select f, score, d, id, name, at from t") {
        Outcome::Rows(set) => {
            let types: Vec<ColumnType> = set.columns.iter().map(|c| c.column_type).collect();
            assert_eq!(
                types,
                [
                    ColumnType::Float,
                    ColumnType::Double,
                    ColumnType::Decimal,
                    ColumnType::Int,
                    ColumnType::Text,
                    ColumnType::DateTime
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    ok(&mut conn, "create table dbl (v double)");
    ok(&mut conn, "insert into dbl values (1e20), (900000000000000), (0.000000000000001), (0.1111111111111111)");
    assert_eq!(
        rows(&mut conn, "select v from dbl"),
        [
            "1e20",
            "900000000000000",
            "0.000000000000001",
            "0.1111111111111111"
        ]
    );
}

#[test]
fn where_order_limit_group() {
    let (_target, mut conn) = setup();
    assert_eq!(
        rows(
            &mut conn,
            "select id from t where score > 1 order by id desc"
        ),
        ["3", "1"]
    );
    assert_eq!(
        rows(&mut conn, "select id from t order by score"),
        ["2", "1", "3"]
    );
    assert_eq!(
        rows(&mut conn, "select id from t order by score desc"),
        ["3", "1", "2"]
    );
    assert_eq!(
        rows(&mut conn, "select id from t order by id limit 1, 1"),
        ["2"]
    );
    assert_eq!(
        rows(&mut conn, "select id from t order by id limit 2 offset 1"),
        ["2", "3"]
    );
    assert_eq!(
        rows(
            &mut conn,
            "select count(*), count(score), sum(id), avg(id), min(name), max(d) from t"
        ),
        ["3|2|6|2.0000|a|2.50"]
    );
    assert_eq!(
        rows(&mut conn, "select sum(score), avg(score) from t"),
        ["4.5|2.25"]
    );
    assert_eq!(
        rows(&mut conn, "select count(*) from t where id > 10"),
        ["0"]
    );
    assert_eq!(
        rows(&mut conn, "select sum(id) from t where id > 10"),
        ["NULL"]
    );
    ok(&mut conn, "insert into t (id, name) values (4, 'a')");
    assert_eq!(
        rows(
            &mut conn,
            "select name, count(*) as n from t group by name having n > 1"
        ),
        ["a|2"]
    );
    assert_eq!(
        rows(
            &mut conn,
            "select name, count(*) from t group by name order by count(*) desc, name"
        ),
        ["a|2", "b|1", "c|1"]
    );
    assert_eq!(
        rows(&mut conn, "select distinct name from t order by name"),
        ["a", "b", "c"]
    );
    assert_eq!(
        rows(
            &mut conn,
            "select x.id from t x where x.name = 'a' order by 1"
        ),
        ["1", "4"]
    );
}

#[test]
fn joins() {
    let (_target, mut conn) = setup();
    ok(&mut conn, "create table u (tid int, tag varchar(5))");
    ok(
        &mut conn,
        "insert into u values (1, 'x'), (1, 'y'), (3, 'z'), (9, 'w')",
    );
    assert_eq!(
        rows(
            &mut conn,
            "select t.id, u.tag from t join u on t.id = u.tid order by u.tag"
        ),
        ["1|x", "1|y", "3|z"]
    );
    assert_eq!(
        rows(
            &mut conn,
            "select count(*) from t, u where t.id = u.tid and u.tag <> 'x'"
        ),
        ["2"]
    );
    assert_eq!(
        err(&mut conn, "select id from t, u where tid = 1 and zz = 2").code,
        1054
    );
}

#[test]
fn dml_and_constraints() {
    let (_target, mut conn) = setup();
    let cases: [(&str, u16, &str); 9] = [
        (
            "insert into t (id) values (1)",
            1062,
            "Duplicate entry '1' for key 't.PRIMARY'",
        ),
        (
            "insert into t (name) values ('x')",
            1364,
            "Field 'id' doesn't have a default value",
        ),
        (
            "insert into t (id) values (null)",
            1048,
            "Column 'id' cannot be null",
        ),
        (
            "insert into t (id, name) values (9, 'abcdefghijk')",
            1406,
            "Data too long for column 'name' at row 1",
        ),
        (
            "insert into t (id, d) values (9, 123456789.5)",
            1264,
            "Out of range value for column 'd' at row 1",
        ),
        (
            "insert into nope values (1)",
            1146,
            "Table 'test.nope' doesn't exist",
        ),
        (
            "select nope from t",
            1054,
            "Unknown column 'nope' in 'field list'",
        ),
        (
            "select id from t where nope = 1",
            1054,
            "Unknown column 'nope' in 'where clause'",
        ),
        (
            "insert into t (id) values (1, 2)",
            1136,
            "Column count doesn't match value count at row 1",
        ),
    ];
    for (sql, code, message) in cases {
        let e = err(&mut conn, sql);
        assert_eq!((e.code, e.message.as_str()), (code, message), "{sql}");
    }
    assert_eq!(
        err(&mut conn, "insert into t (id) values (10), (10)").code,
        1062
    );
    assert_eq!(
        rows(&mut conn, "select count(*) from t"),
        ["3"],
        "a failed statement writes nothing"
    );

    match ok(
        &mut conn,
        "update t set score = score + 1 where score is not null",
    ) {
        Outcome::Affected { rows, info } => {
            assert_eq!(rows, 2);
            assert_eq!(info, "Rows matched: 2  Changed: 2  Warnings: 0");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rows(&mut conn, "select score from t order by id"),
        ["2.5", "NULL", "4"]
    );
    assert_eq!(
        err(&mut conn, "update t set id = 2 where id = 1").code,
        1062
    );
    ok(&mut conn, "update t set id = 10 where id = 1");
    assert_eq!(
        rows(&mut conn, "select id from t order by id"),
        ["2", "3", "10"]
    );
    assert!(matches!(
        ok(&mut conn, "delete from t where id > 2"),
        Outcome::Affected { rows: 2, .. }
    ));
    assert_eq!(rows(&mut conn, "select id from t"), ["2"]);
    ok(
        &mut conn,
        "create table t2 (id int, name varchar(10) not null default 'n')",
    );
    ok(&mut conn, "insert into t2 (id) select id * 10 from t");
    assert_eq!(rows(&mut conn, "select id, name from t2"), ["20|n"]);
    ok(&mut conn, "truncate table t2");
    assert_eq!(rows(&mut conn, "select count(*) from t2"), ["0"]);
}

#[test]
fn databases_and_tables() {
    let target = ReferenceTarget::new();
    let mut conn = target.connect(&ConnectOptions::default()).unwrap();
    assert_eq!(err(&mut conn, "create table x (a int)").code, 1046);
    assert_eq!(err(&mut conn, "use nope").code, 1049);
    ok(&mut conn, "create database d1");
    assert_eq!(err(&mut conn, "create database d1").code, 1007);
    ok(&mut conn, "create database if not exists d1");
    ok(&mut conn, "use d1");
    ok(&mut conn, "create table x (a int)");
    assert_eq!(err(&mut conn, "create table x (a int)").code, 1050);
    ok(&mut conn, "create table if not exists x (a int)");
    assert_eq!(rows(&mut conn, "show tables"), ["x"]);
    assert!(rows(&mut conn, "show databases").contains(&"d1".to_string()));
    assert_eq!(err(&mut conn, "drop table y").code, 1051);
    ok(&mut conn, "drop table if exists y");
    ok(&mut conn, "drop table x");
    assert_eq!(err(&mut conn, "select * from x").code, 1146);
    ok(&mut conn, "drop database d1");
    assert_eq!(err(&mut conn, "drop database d1").code, 1008);
    assert_eq!(rows(&mut conn, "select database()"), ["NULL"]);
}

#[test]
fn unsupported_and_syntax_errors() {
    let (_target, mut conn) = setup();
    for sql in [
        "select * from t left join t t2 on t.id = t2.id",
        "select (select 1)",
        "select id from t union select id from t",
        "alter user u identified by 'x'",
        "select model_predict(m, id).score from t",
    ] {
        let e = err(&mut conn, sql);
        assert_eq!(e.code, 1105, "{sql}: {e}");
        assert!(
            e.message
                .starts_with("the reference engine does not support"),
            "{sql}: {e}"
        );
    }
    let e = err(&mut conn, "select from where");
    assert_eq!((e.code, e.sqlstate.as_str()), (1064, "42000"));
    assert!(
        e.message
            .starts_with("You have an error in your SQL syntax"),
        "{e}"
    );
}

#[test]
fn transactions_isolation_and_conflicts() {
    let (target, mut a) = setup();
    let mut b = connect(&target);
    ok(&mut a, "begin");
    ok(&mut a, "insert into t (id, name) values (5, 'e')");
    assert_eq!(
        rows(&mut a, "select count(*) from t"),
        ["4"],
        "reads its own writes"
    );
    assert_eq!(
        rows(&mut b, "select count(*) from t"),
        ["3"],
        "no dirty reads"
    );
    ok(&mut b, "begin");
    ok(&mut a, "commit");
    assert_eq!(
        rows(&mut b, "select count(*) from t"),
        ["3"],
        "snapshot stays fixed"
    );
    ok(&mut b, "commit");
    assert_eq!(rows(&mut b, "select count(*) from t"), ["4"]);

    ok(&mut a, "begin");
    ok(&mut b, "begin");
    ok(&mut a, "update t set name = 'a1' where id = 1");
    ok(&mut b, "update t set name = 'b1' where id = 1");
    ok(&mut a, "commit");
    let e = err(&mut b, "commit");
    assert_eq!(e.code, 9007, "{e}");
    assert_eq!(rows(&mut b, "select name from t where id = 1"), ["a1"]);

    ok(&mut a, "begin");
    ok(&mut a, "delete from t");
    ok(&mut a, "rollback");
    assert_eq!(rows(&mut a, "select count(*) from t"), ["4"]);
}

#[test]
fn as_of_timestamp_reads() {
    let (_target, mut conn) = setup();
    ok(&mut conn, "set @t1 = now(6)");
    ok(&mut conn, "insert into t (id) values (4)");
    ok(&mut conn, "set @t2 = now(6)");
    ok(&mut conn, "delete from t where id = 1");
    assert_eq!(
        rows(&mut conn, "select count(*) from t as of timestamp @t1"),
        ["3"]
    );
    assert_eq!(
        rows(&mut conn, "select count(*) from t as of timestamp @t2"),
        ["4"]
    );
    assert_eq!(rows(&mut conn, "select count(*) from t"), ["3"]);
    assert_eq!(
        rows(
            &mut conn,
            "select count(*) from t as of timestamp now(6) - interval 0 second"
        ),
        ["3"]
    );
    assert_eq!(
        err(
            &mut conn,
            "select count(*) from t as of timestamp '2000-01-01 00:00:00'"
        )
        .code,
        1146,
        "no table then"
    );
}

#[test]
fn as_of_errors() {
    let (_target, mut conn) = setup();
    let cases: [(&str, u16, &str); 4] = [
        ("select * from t as of timestamp null", 8135, "invalid as of timestamp: as of timestamp cannot be NULL"),
        ("start transaction read only as of timestamp null", 8135, "invalid as of timestamp: as of timestamp cannot be NULL"),
        ("select * from t as of timestamp '2999-01-01 00:00:00'", 9006, "cannot set read timestamp to a future time"),
        ("select * from t as of timestamp now(6), t t2 as of timestamp now(6) - interval 1 second", 8135, "can not set different time in the as of"),
    ];
    for (sql, code, message) in cases {
        let e = err(&mut conn, sql);
        assert_eq!(
            (e.code, e.sqlstate.as_str(), e.message.as_str()),
            (code, "HY000", message),
            "{sql}"
        );
    }
    ok(&mut conn, "begin");
    let e = err(&mut conn, "select * from t as of timestamp now(6)");
    assert_eq!(
        e.message,
        "invalid as of timestamp: as of timestamp can't be set in transaction."
    );
    ok(&mut conn, "commit");
    ok(
        &mut conn,
        "set transaction read only as of timestamp now(6)",
    );
    let e = err(&mut conn, "select * from t as of timestamp now(6)");
    assert_eq!(
        e.message,
        "invalid as of timestamp: can't use select as of while already set transaction as of"
    );
}

#[test]
fn stale_transactions_and_snapshot() {
    let (_target, mut conn) = setup();
    ok(&mut conn, "set @t = now(6)");
    ok(&mut conn, "insert into t (id) values (7)");
    ok(&mut conn, "start transaction read only as of timestamp @t");
    assert_eq!(rows(&mut conn, "select count(*) from t"), ["3"]);
    let e = err(&mut conn, "insert into t (id) values (8)");
    assert_eq!(
        (e.code, e.sqlstate.as_str(), e.message.as_str()),
        (
            1792,
            "25006",
            "Cannot execute statement in a READ ONLY transaction."
        )
    );
    ok(&mut conn, "commit");

    ok(&mut conn, "set transaction read only as of timestamp @t");
    ok(&mut conn, "begin");
    assert_eq!(rows(&mut conn, "select count(*) from t"), ["3"]);
    ok(&mut conn, "commit");
    assert_eq!(rows(&mut conn, "select count(*) from t"), ["4"]);

    ok(&mut conn, "set time_zone = 'Asia/Shanghai'");
    ok(&mut conn, "set @local = now(6)");
    ok(&mut conn, "insert into t (id) values (8)");
    let local = rows(&mut conn, "select @local");
    ok(&mut conn, &format!("set @@tidb_snapshot = '{}'", local[0]));
    assert_eq!(rows(&mut conn, "select count(*) from t"), ["4"]);
    assert_eq!(
        rows(&mut conn, "select @@tidb_snapshot"),
        [local[0].clone()]
    );
    let e = err(&mut conn, "insert into t (id) values (9)");
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            1105,
            "can not execute write statement when 'tidb_snapshot' is set"
        )
    );
    ok(&mut conn, "set @@tidb_snapshot = ''");
    assert_eq!(rows(&mut conn, "select count(*) from t"), ["5"]);
    ok(&mut conn, "set time_zone = '+00:00'");
    let e = err(&mut conn, &format!("set @@tidb_snapshot = '{}'", local[0]));
    assert_eq!(
        e.code, 9006,
        "the same wall time 8 hours later in UTC is in the future"
    );
}

#[test]
fn historical_schema_is_visible() {
    let (_target, mut conn) = setup();
    ok(&mut conn, "set @before = now(6)");
    ok(&mut conn, "drop table t");
    ok(&mut conn, "create table t (other int)");
    assert_eq!(
        rows(&mut conn, "select count(*) from t as of timestamp @before"),
        ["3"]
    );
    assert_eq!(
        names(&mut conn, "select * from t as of timestamp @before")[0],
        "id"
    );
    assert_eq!(names(&mut conn, "select * from t"), ["other"]);
}

#[test]
fn explain_brief_tree() {
    let (_target, mut conn) = setup();
    let explain = rows(
        &mut conn,
        "explain format = 'brief' select * from t where id > 1",
    );
    assert_eq!(
        explain,
        [
            "TableReader|1.00|root||data:Selection",
            "└─Selection|1.00|cop[tikv]||gt(test.t.id, 1)",
            "  └─TableFullScan|3.00|cop[tikv]|table:t|keep order:false, stats:pseudo",
        ]
    );
    let explain = rows(
        &mut conn,
        "explain select name, count(*) from t group by name order by name limit 2",
    );
    assert_eq!(explain[0], "Projection|2.00|root||test.t.name, count(1)");
    assert!(explain[1].starts_with("└─TopN|2.00|root||"), "{explain:?}");
    assert!(
        explain[2].starts_with("  └─HashAgg|3.00|root||group by:test.t.name, funcs:count(1)"),
        "{explain:?}"
    );
}

#[test]
fn explain_join_prefixes() {
    let (_target, mut conn) = setup();
    ok(&mut conn, "create table u (tid int)");
    let explain = rows(
        &mut conn,
        "explain format='brief' select t.id from t join u on t.id = u.tid",
    );
    let ids: Vec<&str> = explain
        .iter()
        .map(|r| r.split('|').next().unwrap_or(""))
        .collect();
    assert_eq!(
        ids,
        [
            "Projection",
            "└─HashJoin",
            "  ├─TableReader(Build)",
            "  │ └─TableFullScan",
            "  └─TableReader(Probe)",
            "    └─TableFullScan",
        ]
    );
    assert!(
        explain[1].ends_with("inner join, equal:[eq(test.t.id, test.u.tid)]"),
        "{explain:?}"
    );
}

#[test]
fn session_variables() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(&mut conn, "set @a = 5, @b = @a + 1");
    assert_eq!(rows(&mut conn, "select @a, @b, @nope"), ["5|6|NULL"]);
    ok(&mut conn, "set global tidb_enable_model_ddl = 1");
    assert_eq!(rows(&mut conn, "select @@tidb_enable_model_ddl"), ["1"]);
    assert_eq!(err(&mut conn, "set no_such_var = 1").code, 1193);
    assert_eq!(err(&mut conn, "set time_zone = 'Mars/Base'").code, 1298);
    assert!(rows(&mut conn, "select tidb_version()")[0].starts_with("Release Version"));
}

/// Returns the `line L column C near "..."` part of a 1064 message.
fn syntax_position(conn: &mut Box<dyn Connection>, sql: &str) -> String {
    let error = err(conn, sql);
    assert_eq!(error.code, 1064, "{sql}: {error}");
    let (_, position) = error
        .message
        .split_once("right syntax to use ")
        .unwrap_or_else(|| panic!("{sql}: no position in {:?}", error.message));
    position.to_string()
}

#[test]
fn syntax_errors_name_line_and_column() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    // The column is the byte offset just after the offending token, as
    // TiDB reports `create invalid` at column 14 and `FLUSH LOGS` at 10.
    let cases = [
        ("select * fro t", r#"line 1 column 12 near "fro t" "#),
        ("select 1 +", r#"line 1 column 10 near "" "#),
        ("select 1,\n  2 3", r#"line 2 column 5 near "3" "#),
        ("insert into t valuez (1)", r#"line 1 column 20 near "valuez (1)" "#),
        ("set @@", r#"line 1 column 6 near "@@" "#),
    ];
    for (sql, expected) in cases {
        assert_eq!(syntax_position(&mut conn, sql), expected, "{sql}");
    }
}

#[test]
fn syntax_error_column_after_rewrites() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    // MODEL_PREDICT(...).x and AS OF TIMESTAMP are rewritten before
    // parsing; the position still counts in the statement as written.
    let cases = [
        (
            "select id from t where model_predict(m, a).score > 0.5 and id = = 1",
            r#"line 1 column 65 near "= 1" "#,
        ),
        (
            "select model_predict(m, a +).score from t",
            r#"line 1 column 28 near ").score from t" "#,
        ),
        (
            "select model_predict(m, a).score,\n  model_predict(m, b).score from t where 1 +",
            r#"line 2 column 44 near "" "#,
        ),
        (
            "select * from t as of timestamp now(6) where a = = 1",
            r#"line 1 column 50 near "= 1" "#,
        ),
    ];
    for (sql, expected) in cases {
        assert_eq!(syntax_position(&mut conn, sql), expected, "{sql}");
    }
}

#[test]
fn float_with_exact_type_is_double() {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(&mut conn, "CREATE TABLE f (id INT PRIMARY KEY, x FLOAT, d DECIMAL(5,2))");
    ok(&mut conn, "INSERT INTO f VALUES (1, 0.1, 1.50), (2, NULL, NULL)");

    let widened = "0.10000000149011612";
    assert_eq!(
        rows(&mut conn, "SELECT IFNULL(x, 0) FROM f ORDER BY id"),
        vec![widened, "0"]
    );
    assert_eq!(
        rows(&mut conn, "SELECT COALESCE(x, d) FROM f ORDER BY id"),
        vec![widened, "NULL"]
    );
    assert_eq!(
        rows(&mut conn, "SELECT CASE WHEN id = 1 THEN x ELSE 2 END FROM f ORDER BY id"),
        vec![widened, "2"]
    );
    assert_eq!(
        rows(&mut conn, "SELECT IF(id = 2, 7, x) FROM f ORDER BY id"),
        vec![widened, "7"]
    );

    // FLOAT with FLOAT stays FLOAT.
    assert_eq!(
        rows(&mut conn, "SELECT IFNULL(x, x) FROM f ORDER BY id"),
        vec!["0.1", "NULL"]
    );
}
