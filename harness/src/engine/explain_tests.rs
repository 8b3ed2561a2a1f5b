//! EXPLAIN and EXPLAIN ANALYZE plans of joins, DISTINCT and SELECT
//! without FROM, with the row counts checked by hand.

use super::ReferenceTarget;
use crate::target::{ConnectOptions, Connection, Outcome, Target};

fn connect(target: &ReferenceTarget) -> Box<dyn Connection> {
    let options = ConnectOptions {
        database: "test".into(),
        ..Default::default()
    };
    target.connect(&options).expect("connect")
}

fn ok(conn: &mut Box<dyn Connection>, sql: &str) {
    conn.execute(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Rows of a result set as cell lists, NULL as `NULL`.
fn cells(conn: &mut Box<dyn Connection>, sql: &str) -> Vec<Vec<String>> {
    match conn.execute(sql) {
        Ok(Outcome::Rows(set)) => set
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| c.clone().unwrap_or_else(|| "NULL".into()))
                    .collect()
            })
            .collect(),
        other => panic!("{sql}: expected rows, got {other:?}"),
    }
}

/// `id|actRows` of each EXPLAIN ANALYZE row.
fn actual_rows(conn: &mut Box<dyn Connection>, sql: &str) -> Vec<String> {
    cells(conn, sql)
        .iter()
        .map(|row| format!("{}|{}", row[0], row[2]))
        .collect()
}

fn setup() -> (ReferenceTarget, Box<dyn Connection>) {
    let target = ReferenceTarget::new();
    let mut conn = connect(&target);
    ok(
        &mut conn,
        "create table t (id int primary key, name varchar(10))",
    );
    ok(
        &mut conn,
        "insert into t values (1, 'a'), (2, 'b'), (3, 'c')",
    );
    ok(&mut conn, "create table u (tid int)");
    ok(&mut conn, "insert into u values (1), (1), (3), (5)");
    ok(&mut conn, "create table w (tid int, k int)");
    ok(&mut conn, "insert into w values (1, 10), (3, 30), (4, 40)");
    (target, conn)
}

#[test]
fn analyze_three_table_join() {
    let (_target, mut conn) = setup();
    let query = "select t.id from t join u on t.id = u.tid join w on w.tid = t.id \
                 where u.tid < 5 and t.id + w.k > 12";
    assert_eq!(cells(&mut conn, query), [["3"]]);

    // t: 3 rows; u: 4 rows, 3 below 5; t = u gives (1,1), (1,1), (3,3);
    // each finds its w row; only 3 + 30 passes the root Selection.
    let counts = actual_rows(&mut conn, &format!("explain analyze {query}"));
    assert_eq!(
        counts,
        [
            "Projection|1",
            "└─Selection|1",
            "  └─HashJoin|3",
            "    ├─TableReader(Build)|3",
            "    │ └─TableFullScan|3",
            "    └─HashJoin(Probe)|3",
            "      ├─TableReader(Build)|3",
            "      │ └─Selection|3",
            "      │   └─TableFullScan|4",
            "      └─TableReader(Probe)|3",
            "        └─TableFullScan|3",
        ]
    );
}

#[test]
fn join_equality_waits_for_its_table() {
    let (_target, mut conn) = setup();
    let plan = cells(
        &mut conn,
        "explain select t.id from t join u on t.id = u.tid join w on w.tid = t.id",
    );
    let info = |id: &str| -> String {
        plan.iter()
            .find(|row| row[0] == id)
            .map(|row| row[4].clone())
            .unwrap_or_else(|| panic!("no operator {id} in {plan:?}"))
    };
    assert_eq!(
        info("└─HashJoin"),
        "inner join, equal:[eq(test.w.tid, test.t.id)]"
    );
    assert_eq!(
        info("  └─HashJoin(Probe)"),
        "inner join, equal:[eq(test.t.id, test.u.tid)]"
    );
}

#[test]
fn analyze_distinct_below_limit() {
    let (_target, mut conn) = setup();
    let query = "select distinct tid from u order by tid limit 2 offset 1";
    assert_eq!(cells(&mut conn, query), [["3"], ["5"]]);

    // 4 rows, 3 distinct values, offset 1 leaves 2.
    let counts = actual_rows(&mut conn, &format!("explain analyze {query}"));
    assert_eq!(
        counts,
        [
            "TopN|2",
            "└─HashAgg|3",
            "  └─TableReader|4",
            "    └─TableFullScan|4",
        ]
    );
}

#[test]
fn analyze_aggregation_over_join() {
    let (_target, mut conn) = setup();
    let query = "select t.name, count(*) from t join u on t.id = u.tid \
                 group by t.name having count(*) > 1 order by t.name";
    assert_eq!(cells(&mut conn, query), [["a", "2"]]);

    let counts = actual_rows(&mut conn, &format!("explain analyze {query}"));
    assert_eq!(
        counts,
        [
            "Projection|1",
            "└─Sort|1",
            "  └─Selection|1",
            "    └─HashAgg|2",
            "      └─HashJoin|3",
            "        ├─TableReader(Build)|4",
            "        │ └─TableFullScan|4",
            "        └─TableReader(Probe)|3",
            "          └─TableFullScan|3",
        ]
    );
}

#[test]
fn analyze_cartesian_join() {
    let (_target, mut conn) = setup();
    let counts = actual_rows(
        &mut conn,
        "explain analyze select * from t, w where t.id < w.tid",
    );
    // Pairs with t.id < w.tid: 1<3, 1<4, 2<3, 2<4, 3<4.
    assert_eq!(
        counts,
        [
            "Selection|5",
            "└─HashJoin|9",
            "  ├─TableReader(Build)|3",
            "  │ └─TableFullScan|3",
            "  └─TableReader(Probe)|3",
            "    └─TableFullScan|3",
        ]
    );
}

#[test]
fn analyze_without_from() {
    let (_target, mut conn) = setup();
    let counts = actual_rows(&mut conn, "explain analyze select 1 + 1");
    assert_eq!(counts, ["Projection|1", "└─TableDual|1"]);

    let counts = actual_rows(&mut conn, "explain analyze select 1 where 1 = 0");
    assert_eq!(counts, ["Projection|0", "└─Selection|0", "  └─TableDual|1"]);
}
