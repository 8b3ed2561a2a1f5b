//! The live MySQL target against a real, private MariaDB server.
//!
//! One `#[test]` starts the server and runs every check that needs it (see
//! `support::mariadb` for why). MariaDB must be installed. Without it the
//! test fails with the install command.

use crate::support;

use std::net::TcpListener;

use harness::target::mysql::{is_client_error, MysqlTarget, MODEL_PROBE};
use harness::target::{
    ColumnType, ConnectOptions, Connection, Outcome, ResultSet, SqlError, Target,
};
use support::mariadb::{run_checks, MariaDb};

fn target(server: &MariaDb, database: &str) -> MysqlTarget {
    MysqlTarget::new(&server.url(database)).expect("valid URL")
}

fn connect(server: &MariaDb, database: &str) -> Box<dyn Connection> {
    target(server, database)
        .connect(&ConnectOptions::default())
        .unwrap_or_else(|err| panic!("connect to {}: {err}", server.url(database)))
}

fn rows(conn: &mut dyn Connection, sql: &str) -> ResultSet {
    match conn.execute(sql) {
        Ok(Outcome::Rows(result)) => result,
        other => panic!("{sql}: expected rows, got {other:?}"),
    }
}

fn affected(conn: &mut dyn Connection, sql: &str) -> (u64, String) {
    match conn.execute(sql) {
        Ok(Outcome::Affected { rows, info }) => (rows, info),
        other => panic!("{sql}: expected an affected count, got {other:?}"),
    }
}

fn error(conn: &mut dyn Connection, sql: &str) -> SqlError {
    match conn.execute(sql) {
        Err(err) => err,
        Ok(outcome) => panic!("{sql}: expected an error, got {outcome:?}"),
    }
}

fn cells(result: &ResultSet) -> Vec<Vec<Option<&str>>> {
    result
        .rows
        .iter()
        .map(|row| row.iter().map(|cell| cell.as_deref()).collect())
        .collect()
}

/// Renders rows as the `mariadb --batch --raw` client prints them.
fn as_client_text(result: &ResultSet) -> String {
    let mut text = String::new();
    for row in &result.rows {
        let line: Vec<&str> = row
            .iter()
            .map(|cell| cell.as_deref().unwrap_or("NULL"))
            .collect();
        text.push_str(&line.join("\t"));
        text.push('\n');
    }
    text
}

#[test]
fn live_target_on_mariadb() {
    let server = MariaDb::start();
    let setup = connect(&server, "");
    drop(setup);

    run_checks(&[
        ("round trip", &|| round_trip(&server)),
        ("null rendering", &|| null_rendering(&server)),
        ("float text", &|| float_text(&server)),
        ("column types", &|| column_types(&server)),
        ("server errors", &|| server_errors(&server)),
        ("multi statement", &|| multi_statement(&server)),
        ("two databases", &|| two_databases(&server)),
        ("user override", &|| user_override(&server)),
        ("session setup", &|| session_setup(&server)),
        ("capabilities", &|| capabilities(&server)),
        ("lost connection", &|| lost_connection(&server)),
        ("drop closes session", &|| drop_disconnects(&server)),
        ("target name", &|| target_name(&server)),
    ]);

    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    drop(server);
    assert!(
        !support::process_exists(pid),
        "mariadbd {pid} still exists after drop"
    );
    assert!(!dir.exists(), "{} left behind", dir.display());
}

fn round_trip(server: &MariaDb) {
    let mut conn = connect(server, "");
    let conn = conn.as_mut();
    affected(conn, "CREATE DATABASE round_trip");
    affected(conn, "USE round_trip");
    assert_eq!(
        affected(
            conn,
            "CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20), score DOUBLE)"
        ),
        (0, String::new())
    );

    let (count, info) = affected(
        conn,
        "INSERT INTO t VALUES (1, 'a', 0.5), (2, 'b', 1.5), (3, 'c', NULL)",
    );
    assert_eq!(count, 3);
    assert_eq!(info, "Records: 3  Duplicates: 0  Warnings: 0");

    let (count, info) = affected(conn, "UPDATE t SET score = 2.5 WHERE id >= 2");
    assert_eq!(count, 2);
    assert_eq!(info, "Rows matched: 2  Changed: 2  Warnings: 0");

    // Without CLIENT_FOUND_ROWS the count is of changed rows, as with
    // mysql-tester's Go driver.
    let (count, info) = affected(conn, "UPDATE t SET score = 2.5 WHERE id >= 2");
    assert_eq!(count, 0);
    assert_eq!(info, "Rows matched: 2  Changed: 0  Warnings: 0");

    assert_eq!(
        affected(conn, "DELETE FROM t WHERE id = 1"),
        (1, String::new())
    );

    let result = rows(conn, "SELECT id, name, score FROM t ORDER BY id");
    let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "score"]);
    assert_eq!(
        cells(&result),
        [
            [Some("2"), Some("b"), Some("2.5")],
            [Some("3"), Some("c"), Some("2.5")]
        ]
    );

    let result = rows(conn, "SELECT id FROM t WHERE id > 100");
    assert_eq!(result.columns.len(), 1, "an empty result keeps its columns");
    assert!(result.rows.is_empty());

    assert_eq!(affected(conn, "SET @x = 1"), (0, String::new()));
    affected(conn, "DROP DATABASE round_trip");
}

fn null_rendering(server: &MariaDb) {
    let mut conn = connect(server, "");
    let result = rows(
        conn.as_mut(),
        "SELECT NULL AS n, '' AS e, 'NULL' AS s, X'FF' AS b",
    );
    assert_eq!(result.columns[0].column_type, ColumnType::Null);
    assert_eq!(result.rows[0][0], None);
    assert_eq!(result.rows[0][1].as_deref(), Some(""));
    assert_eq!(result.rows[0][2].as_deref(), Some("NULL"));
    // A byte that is not UTF-8 arrives as the replacement character.
    assert_eq!(result.rows[0][3].as_deref(), Some("\u{fffd}"));
}

fn float_text(server: &MariaDb) {
    let mut conn = connect(server, "");
    let conn = conn.as_mut();
    affected(conn, "CREATE DATABASE float_text");
    affected(
        conn,
        "CREATE TABLE float_text.f (id INT, f FLOAT, d DOUBLE)",
    );
    affected(
        conn,
        "INSERT INTO float_text.f VALUES \
         (1, 0.1, 0.1), (2, 1e20, 1e20), (3, -3.4e38, -1.7976931348623157e308), \
         (4, 0.1111111111111111, 0.1111111111111111), (5, 1e-20, 9e-16), (6, 0, 0), \
         (7, 900000000000000, 900000000000000), (8, 123456789, 123456789.123)",
    );

    let query = "SELECT f, d FROM float_text.f ORDER BY id";
    let result = rows(conn, query);
    assert_eq!(result.columns[0].column_type, ColumnType::Float);
    assert_eq!(result.columns[1].column_type, ColumnType::Double);

    // Every cell must be the text the server sends, which the mariadb
    // client prints unchanged in --raw batch mode.
    assert_eq!(as_client_text(&result), server.client_query(query));

    // Spot checks of MariaDB 10.11's formatting. FLOAT columns print six
    // significant digits, where TiDB prints the shortest text that reads
    // back as the same FP32 value (0.11111111 and 123456790).
    assert_eq!(result.rows[0][0].as_deref(), Some("0.1"));
    assert_eq!(result.rows[0][1].as_deref(), Some("0.1"));
    assert_eq!(result.rows[1][1].as_deref(), Some("1e20"));
    assert_eq!(result.rows[3][0].as_deref(), Some("0.111111"));
    assert_eq!(result.rows[3][1].as_deref(), Some("0.1111111111111111"));
    assert_eq!(result.rows[5][0].as_deref(), Some("0"));
    assert_eq!(result.rows[7][0].as_deref(), Some("123457000"));

    // An expression result has no table, so the server formats it alone.
    let query = "SELECT 1e0 / 3, CAST(0.1 AS FLOAT) * 3";
    let result = rows(conn, query);
    assert_eq!(as_client_text(&result), server.client_query(query));

    affected(conn, "DROP DATABASE float_text");
}

fn column_types(server: &MariaDb) {
    let mut conn = connect(server, "");
    let result = rows(
        conn.as_mut(),
        "SELECT 1, CAST(1.50 AS DECIMAL(5,2)), NOW(), 'x', CAST(1 AS DOUBLE), JSON_OBJECT('a', 1), \
         CURDATE()",
    );
    let types: Vec<ColumnType> = result.columns.iter().map(|c| c.column_type).collect();
    // MariaDB has no JSON wire type: JSON values arrive as text.
    assert_eq!(
        types,
        [
            ColumnType::Int,
            ColumnType::Decimal,
            ColumnType::DateTime,
            ColumnType::Text,
            ColumnType::Double,
            ColumnType::Text,
            ColumnType::Text
        ]
    );
    assert_eq!(result.rows[0][1].as_deref(), Some("1.50"));
}

fn server_errors(server: &MariaDb) {
    let mut conn = connect(server, "");
    let conn = conn.as_mut();
    affected(conn, "CREATE DATABASE errs");

    let err = error(conn, "SELECT * FROM errs.t");
    assert_eq!(
        err,
        SqlError::new(1146, "42S02", "Table 'errs.t' doesn't exist")
    );
    assert_eq!(
        err.to_string(),
        "Error 1146 (42S02): Table 'errs.t' doesn't exist"
    );
    assert!(!is_client_error(&err));

    let err = error(conn, "SELEC 1");
    assert_eq!((err.code, err.sqlstate.as_str()), (1064, "42000"));
    assert!(
        err.message
            .starts_with("You have an error in your SQL syntax"),
        "{}",
        err.message
    );

    affected(conn, "CREATE TABLE errs.k (id INT PRIMARY KEY)");
    affected(conn, "INSERT INTO errs.k VALUES (1)");
    let err = error(conn, "INSERT INTO errs.k VALUES (1)");
    assert_eq!(
        err,
        SqlError::new(1062, "23000", "Duplicate entry '1' for key 'PRIMARY'")
    );

    let err = error(conn, "SELECT nope()");
    assert_eq!(
        err,
        SqlError::new(1305, "42000", "FUNCTION nope does not exist")
    );

    // The session survives statement errors.
    let result = rows(conn, "SELECT COUNT(*) FROM errs.k");
    assert_eq!(cells(&result), [[Some("1")]]);
    affected(conn, "DROP DATABASE errs");
}

fn multi_statement(server: &MariaDb) {
    let mut conn = connect(server, "");
    let conn = conn.as_mut();

    let result = rows(conn, "SELECT 1 AS a; SELECT 2 AS b");
    assert_eq!(result.columns[0].name, "b");
    assert_eq!(cells(&result), [[Some("2")]]);

    let result = rows(conn, "SELECT 1 AS a; SET @y = 2");
    assert_eq!(
        result.columns[0].name, "a",
        "the last result set with columns"
    );

    assert_eq!(affected(conn, "SET @y = 3; DO 1"), (0, String::new()));

    let err = error(conn, "SELECT 1; SELECT * FROM no_db.no_table");
    assert_eq!(err.code, 1146, "{err}");

    let result = rows(conn, "SELECT 3");
    assert_eq!(
        cells(&result),
        [[Some("3")]],
        "the session is usable after the error"
    );
}

fn two_databases(server: &MariaDb) {
    let mut admin = connect(server, "");
    affected(admin.as_mut(), "CREATE DATABASE left_db");
    affected(admin.as_mut(), "CREATE DATABASE right_db");
    affected(admin.as_mut(), "CREATE TABLE left_db.t (v VARCHAR(10))");
    affected(admin.as_mut(), "CREATE TABLE right_db.t (v VARCHAR(10))");
    affected(admin.as_mut(), "INSERT INTO left_db.t VALUES ('left')");
    affected(admin.as_mut(), "INSERT INTO right_db.t VALUES ('right')");

    // One target from the URL's database, one overridden by the options.
    let target = target(server, "left_db");
    let mut left = target.connect(&ConnectOptions::default()).expect("left");
    let options = ConnectOptions {
        database: "right_db".to_string(),
        ..ConnectOptions::default()
    };
    let mut right = target.connect(&options).expect("right");

    assert_eq!(
        cells(&rows(left.as_mut(), "SELECT DATABASE(), v FROM t")),
        [[Some("left_db"), Some("left")]]
    );
    assert_eq!(
        cells(&rows(right.as_mut(), "SELECT DATABASE(), v FROM t")),
        [[Some("right_db"), Some("right")]]
    );

    // Session state stays per connection.
    affected(left.as_mut(), "SET @side = 'left'");
    assert_eq!(cells(&rows(right.as_mut(), "SELECT @side")), [[None]]);

    let missing = ConnectOptions {
        database: "no_such_db".to_string(),
        ..ConnectOptions::default()
    };
    let err = target.connect(&missing).err().expect("unknown database");
    assert_eq!(
        err,
        SqlError::new(1049, "42000", "Unknown database 'no_such_db'")
    );

    affected(admin.as_mut(), "DROP DATABASE left_db");
    affected(admin.as_mut(), "DROP DATABASE right_db");
}

fn user_override(server: &MariaDb) {
    let mut admin = connect(server, "");
    affected(admin.as_mut(), "CREATE DATABASE app_db");
    affected(
        admin.as_mut(),
        "CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-pass'",
    );
    affected(
        admin.as_mut(),
        "GRANT SELECT ON app_db.* TO 'app'@'127.0.0.1'",
    );

    let target = target(server, "");
    let options = ConnectOptions {
        user: "app".to_string(),
        password: "app-pass".to_string(),
        database: "app_db".to_string(),
    };
    let mut app = target.connect(&options).expect("app user connects");
    let result = rows(app.as_mut(), "SELECT CURRENT_USER(), DATABASE()");
    assert_eq!(cells(&result), [[Some("app@127.0.0.1"), Some("app_db")]]);

    let err = error(app.as_mut(), "CREATE TABLE app_db.t (a INT)");
    assert_eq!(err.code, 1142, "{err}");
    assert_eq!(err.sqlstate, "42000");

    let wrong = ConnectOptions {
        password: "wrong".to_string(),
        ..options.clone()
    };
    let err = target.connect(&wrong).err().expect("wrong password");
    assert_eq!(
        err,
        SqlError::new(
            1045,
            "28000",
            "Access denied for user 'app'@'127.0.0.1' (using password: YES)"
        )
    );

    // The password in the URL is used when the options give none.
    let url = format!("mysql://app:app-pass@127.0.0.1:{}/app_db", server.port());
    let from_url = MysqlTarget::new(&url).expect("URL with password");
    let mut conn = from_url
        .connect(&ConnectOptions::default())
        .expect("URL password");
    assert_eq!(
        cells(&rows(conn.as_mut(), "SELECT CURRENT_USER()")),
        [[Some("app@127.0.0.1")]]
    );

    affected(admin.as_mut(), "DROP USER 'app'@'127.0.0.1'");
    affected(admin.as_mut(), "DROP DATABASE app_db");
}

fn session_setup(server: &MariaDb) {
    let target = target(server, "");
    let mut conn = target.open(&ConnectOptions::default()).expect("connect");
    // The private server has no time zone tables, so the named zone is
    // unknown and the session uses the equal fixed offset.
    assert_eq!(conn.session().time_zone, "+08:00");
    assert_eq!(conn.session().tidb_version, None);
    assert!(
        conn.session().server_version.contains("MariaDB"),
        "{:?}",
        conn.session()
    );

    let result = rows(&mut conn, "SELECT @@session.time_zone, FROM_UNIXTIME(0)");
    assert_eq!(
        cells(&result),
        [[Some("+08:00"), Some("1970-01-01 08:00:00")]]
    );
}

fn capabilities(server: &MariaDb) {
    let caps = target(server, "").capabilities().expect("probe");
    assert!(!caps.tidb, "{caps:?}");
    assert_eq!(caps.tidb_version, None);
    assert!(!caps.models, "{caps:?}");
    assert!(
        caps.models_evidence.contains(MODEL_PROBE),
        "{}",
        caps.models_evidence
    );
    assert!(
        caps.models_evidence.contains("Error 1064 (42000)"),
        "{}",
        caps.models_evidence
    );
    let reason = caps.models_skip_reason().expect("a skip reason");
    assert!(reason.contains("MariaDB"), "{reason}");
}

fn lost_connection(server: &MariaDb) {
    let mut victim = connect(server, "");
    let id = rows(victim.as_mut(), "SELECT CONNECTION_ID()").rows[0][0]
        .clone()
        .expect("id");
    let mut admin = connect(server, "");
    affected(admin.as_mut(), &format!("KILL CONNECTION {id}"));

    // MariaDB may answer first with error 1927 "Connection was killed".
    // The socket is closed then, so a statement fails with 2013, and later
    // ones fail with 2006 without using the network.
    let errors: Vec<SqlError> = (0..3).map(|_| error(victim.as_mut(), "SELECT 1")).collect();
    let codes: Vec<u16> = errors.iter().map(|err| err.code).collect();
    eprintln!("lost connection codes: {errors:?}");
    assert!(codes.contains(&2013), "{errors:?}");
    assert_eq!(codes.last(), Some(&2006), "{errors:?}");
    let last = errors.last().expect("three errors");
    assert!(
        last.message
            .contains(&format!("127.0.0.1:{}", server.port())),
        "{last}"
    );
}

/// Waits until the server no longer lists session `id`, up to 5 seconds.
fn wait_session_gone(admin: &mut dyn Connection, id: &str) {
    let sql = format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {id}");
    for _ in 0..50 {
        if cells(&rows(admin, &sql)) == [[Some("0")]] {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("session {id} still open 5 s after its connection was dropped");
}

fn drop_disconnects(server: &MariaDb) {
    let mut admin = connect(server, "");
    let target = target(server, "");

    let mut plain = target.connect(&ConnectOptions::default()).expect("connect");
    let id = rows(plain.as_mut(), "SELECT CONNECTION_ID()").rows[0][0]
        .clone()
        .expect("id");
    drop(plain);
    wait_session_gone(admin.as_mut(), &id);

    // Dropped inside another Tokio runtime, the connection cannot block,
    // so it disconnects in a task on the target's runtime.
    let mut inside = target.connect(&ConnectOptions::default()).expect("connect");
    let id = rows(inside.as_mut(), "SELECT CONNECTION_ID()").rows[0][0]
        .clone()
        .expect("id");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async move { drop(inside) });
    wait_session_gone(admin.as_mut(), &id);
}

fn target_name(server: &MariaDb) {
    let url = format!("mysql://root:secret@127.0.0.1:{}/x", server.port());
    let target = MysqlTarget::new(&url).expect("valid");
    assert_eq!(
        target.name(),
        format!("mysql://127.0.0.1:{}", server.port())
    );
}

#[test]
fn bad_urls_are_rejected() {
    let cases = [
        ("localhost:4000", "scheme"),
        ("mysql://root@localhost", "port"),
        ("mysql://root@localhost:port", "port"),
        ("mysql://root@:4000", "host"),
        ("mysql://root@h:4000/a/b", "database"),
    ];
    for (url, part) in cases {
        let err = MysqlTarget::new(url)
            .err()
            .unwrap_or_else(|| panic!("{url} accepted"));
        let text = err.to_string();
        assert!(text.contains(url), "{text}");
        assert!(text.contains(&format!(": {part} ")), "{url}: {text}");
    }
}

#[test]
fn refused_connection_names_address() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let target = MysqlTarget::new(&format!("mysql://root@127.0.0.1:{port}")).expect("valid");
    let err = target
        .connect(&ConnectOptions::default())
        .err()
        .expect("refused");
    assert_eq!(err.code, 2003, "{err}");
    assert_eq!(err.sqlstate, "HY000");
    assert!(
        err.message.starts_with(&format!(
            "Can't connect to MySQL server on '127.0.0.1:{port}'"
        )),
        "{err}"
    );
    assert!(is_client_error(&err));
}

#[test]
fn blocking_call_inside_runtime_fails() {
    let target = MysqlTarget::new("mysql://root@127.0.0.1:1").expect("valid");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let err = runtime
        .block_on(async { target.connect(&ConnectOptions::default()).err() })
        .expect("an error inside a runtime");
    assert!(err.message.contains("inside a Tokio runtime"), "{err}");
    drop(runtime);
}
