//! Accounts, privileges and system variables through the `Target` and
//! `Connection` API.

use sha1::{Digest, Sha1};

use super::access::{check_privilege, model_settings};
use super::ReferenceTarget;
use crate::catalog::privileges::{Privilege, UserIdentity};
use crate::catalog::sysvars::NullBehavior;
use crate::target::{ConnectOptions, Connection, Outcome, SqlError, Target};

fn login(
    target: &ReferenceTarget,
    user: &str,
    password: &str,
    database: &str,
) -> Result<Box<dyn Connection>, SqlError> {
    target.connect(&ConnectOptions {
        user: user.into(),
        password: password.into(),
        database: database.into(),
    })
}

fn root(target: &ReferenceTarget) -> Box<dyn Connection> {
    login(target, "", "", "test").expect("root login")
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

/// Rows as `a|b` lines.
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

fn header(conn: &mut Box<dyn Connection>, sql: &str) -> Vec<String> {
    match ok(conn, sql) {
        Outcome::Rows(set) => set.columns.iter().map(|c| c.name.clone()).collect(),
        other => panic!("{sql}: expected rows, got {other:?}"),
    }
}

fn assert_error(error: &SqlError, code: u16, sqlstate: &str, message: &str) {
    assert_eq!(error.code, code, "{error}");
    assert_eq!(error.sqlstate, sqlstate, "{error}");
    assert_eq!(error.message, message, "{error}");
}

/// Computes a client's `mysql_native_password` response:
/// SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))).
fn scramble(password: &str, salt: &[u8]) -> Vec<u8> {
    let stage1 = Sha1::digest(password.as_bytes());
    let stage2 = Sha1::digest(stage1);
    let mut hasher = Sha1::new();
    hasher.update(salt);
    hasher.update(stage2);
    let mask = hasher.finalize();
    stage1.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect()
}

#[test]
fn login_checks_user_and_password() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);

    let unknown = login(&target, "nobody", "", "")
        .err()
        .expect("unknown user");
    assert_error(
        &unknown,
        1045,
        "28000",
        "Access denied for user 'nobody'@'127.0.0.1' (using password: NO)",
    );

    ok(&mut admin, "create user 'app'@'%' identified by 's3cret'");
    assert!(login(&target, "app", "s3cret", "").is_ok());
    let wrong = login(&target, "app", "wrong", "")
        .err()
        .expect("wrong password");
    assert_error(
        &wrong,
        1045,
        "28000",
        "Access denied for user 'app'@'127.0.0.1' (using password: YES)",
    );
    let missing = login(&target, "app", "", "")
        .err()
        .expect("missing password");
    assert_eq!(missing.code, 1045);

    // A localhost account serves the embedded client too, and a host that
    // does not match is not used.
    ok(&mut admin, "create user local@localhost identified by 'pw'");
    ok(&mut admin, "create user remote@'10.0.0.%'");
    assert!(login(&target, "local", "pw", "").is_ok());
    assert_eq!(
        login(&target, "remote", "", "").err().map(|e| e.code),
        Some(1045)
    );

    // Root's password can change too; the empty user name means root.
    ok(&mut admin, "set password = 'rootpw'");
    assert_eq!(login(&target, "", "", "").err().map(|e| e.code), Some(1045));
    assert!(login(&target, "", "rootpw", "test").is_ok());
    assert!(login(&target, "root", "rootpw", "").is_ok());
}

#[test]
fn default_database_needs_a_privilege() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    ok(&mut admin, "create user u");
    let denied = login(&target, "u", "", "test").err().expect("no privilege");
    assert_error(
        &denied,
        1044,
        "42000",
        "Access denied for user 'u'@'%' to database 'test'",
    );

    // A grant on one table of the database is enough.
    ok(&mut admin, "create table t (a int)");
    ok(&mut admin, "grant insert on test.t to u");
    assert!(login(&target, "u", "", "test").is_ok());
    ok(&mut admin, "revoke insert on test.t from u");
    assert_eq!(
        login(&target, "u", "", "test").err().map(|e| e.code),
        Some(1044)
    );
    ok(&mut admin, "grant insert on test.* to u");
    assert!(login(&target, "u", "", "test").is_ok());
    let unknown = login(&target, "", "", "nodb")
        .err()
        .expect("unknown database");
    assert_eq!(unknown.code, 1049);
}

#[test]
fn native_scramble_authentication() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    ok(&mut admin, "create user 'proto'@'%' identified by 'pass'");
    let salt: Vec<u8> = (1..=20).collect();

    let identity = target
        .authenticate_native("proto", "127.0.0.1", &salt, &scramble("pass", &salt))
        .expect("right scramble");
    assert_eq!(identity, UserIdentity::new("proto", "%"));

    let wrong = target
        .authenticate_native("proto", "10.1.2.3", &salt, &scramble("nope", &salt))
        .expect_err("wrong scramble");
    assert_error(
        &wrong,
        1045,
        "28000",
        "Access denied for user 'proto'@'10.1.2.3' (using password: YES)",
    );
    let root_identity = target
        .authenticate_native("", "127.0.0.1", &salt, &[])
        .expect("root without password");
    assert_eq!(root_identity, UserIdentity::root());

    let mut conn: Box<dyn Connection> = Box::new(target.connect_as(identity, "").expect("session"));
    assert_eq!(
        rows(&mut conn, "show grants"),
        ["GRANT USAGE ON *.* TO 'proto'@'%'"]
    );
}

#[test]
fn create_and_drop_user() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    ok(
        &mut admin,
        "create user 'a'@'%', b@localhost identified by 'x'",
    );
    assert_error(
        &err(&mut admin, "create user a, c"),
        1396,
        "HY000",
        "Operation CREATE USER failed for a@%",
    );
    // Nothing was created by the failed statement.
    assert_eq!(err(&mut admin, "drop user c").code, 1396);
    ok(&mut admin, "create user if not exists a, c");
    ok(&mut admin, "drop user c");

    assert_error(
        &err(&mut admin, "drop user 'a'@'%', 'zz'@'%'"),
        1396,
        "HY000",
        "Operation DROP USER failed for zz@%",
    );
    ok(&mut admin, "drop user if exists 'a'@'%', zz");
    assert_eq!(
        login(&target, "a", "", "").err().map(|e| e.code),
        Some(1045)
    );

    // Without CREATE USER an account cannot create or drop others.
    let mut b = login(&target, "b", "x", "").expect("b");
    assert_error(
        &err(&mut b, "create user d"),
        1227,
        "42000",
        "Access denied; you need (at least one of) the CREATE USER privilege(s) for this operation",
    );
    assert_eq!(err(&mut b, "drop user b@localhost").code, 1227);
    assert_eq!(err(&mut admin, "create user e identified by").code, 1064);
}

#[test]
fn set_password_rules() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    ok(&mut admin, "create user u identified by 'old', v");
    let mut u = login(&target, "u", "old", "").expect("u");
    ok(&mut u, "set password = 'new'");
    assert!(login(&target, "u", "old", "").is_err());
    assert!(login(&target, "u", "new", "").is_ok());
    ok(
        &mut u,
        "set password for current_user() = password('newer')",
    );
    assert!(login(&target, "u", "newer", "").is_ok());

    assert_eq!(err(&mut u, "set password for v = 'x'").code, 1227);
    ok(&mut admin, "set password for 'v'@'%' = 'vpw'");
    assert!(login(&target, "v", "vpw", "").is_ok());
    assert_error(
        &err(&mut admin, "set password for ghost = 'x'"),
        1133,
        "42000",
        "Can't find any matching row in the user table",
    );
}

#[test]
fn grant_and_show_grants() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    assert_eq!(header(&mut admin, "show grants"), ["Grants for root@%"]);
    assert_eq!(
        rows(&mut admin, "show grants"),
        ["GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION"]
    );

    ok(&mut admin, "create table t (a int)");
    ok(&mut admin, "create user 'app'@'%'");
    ok(
        &mut admin,
        "grant execute model, create model on *.* to 'app'@'%'",
    );
    ok(&mut admin, "grant select, insert on test.* to app");
    ok(
        &mut admin,
        "grant update on test.t to app with grant option",
    );
    ok(
        &mut admin,
        "grant alter model, drop model, model_execute on db2.* to app",
    );
    ok(&mut admin, "grant system_variables_admin on *.* to app");
    assert_eq!(
        header(&mut admin, "show grants for app"),
        ["Grants for app@%"]
    );
    assert_eq!(
        rows(&mut admin, "show grants for 'app'@'%'"),
        [
            "GRANT CREATE MODEL,EXECUTE MODEL ON *.* TO 'app'@'%'",
            "GRANT ALTER MODEL,DROP MODEL,EXECUTE MODEL ON db2.* TO 'app'@'%'",
            "GRANT SELECT,INSERT ON test.* TO 'app'@'%'",
            "GRANT UPDATE ON test.t TO 'app'@'%' WITH GRANT OPTION",
            "GRANT SYSTEM_VARIABLES_ADMIN ON *.* TO 'app'@'%'",
        ]
    );

    ok(&mut admin, "create user full");
    ok(&mut admin, "grant all privileges on test.* to full");
    ok(&mut admin, "grant all on *.* to full");
    assert_eq!(
        rows(&mut admin, "show grants for full"),
        [
            "GRANT ALL PRIVILEGES ON *.* TO 'full'@'%'",
            "GRANT ALL PRIVILEGES ON test.* TO 'full'@'%'",
        ]
    );

    // The current database fills in `*` and bare table names.
    ok(&mut admin, "create user cur");
    ok(&mut admin, "grant delete on * to cur");
    ok(&mut admin, "grant select on t to cur");
    assert_eq!(
        rows(&mut admin, "show grants for cur"),
        [
            "GRANT USAGE ON *.* TO 'cur'@'%'",
            "GRANT DELETE ON test.* TO 'cur'@'%'",
            "GRANT SELECT ON test.t TO 'cur'@'%'",
        ]
    );
}

#[test]
fn grant_errors() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    ok(&mut admin, "create table t (a int)");
    ok(&mut admin, "create user u");

    let cases: &[(&str, u16, &str, &str)] = &[
        ("grant select on *.* to ghost", 1410, "42000", "You are not allowed to create a user with GRANT"),
        ("grant select on test.nope to u", 1146, "42S02", "Table 'test.nope' doesn't exist"),
        ("grant super on test.* to u", 1221, "HY000", "Incorrect usage of DB GRANT and GLOBAL PRIVILEGES"),
        ("grant create model on test.t to u", 1144, "42000", "Illegal GRANT/REVOKE command; please consult the manual to see which privileges can be used"),
        ("show grants for ghost", 1141, "42000", "There is no such grant defined for user 'ghost' on host '%'"),
        ("revoke select on test.* from u", 1141, "42000", "There is no such grant defined for user 'u' on host '%'"),
        ("revoke select on test.t from u", 1147, "42000", "There is no such grant defined for user 'u' on host '%' on table 't'"),
    ];
    for (sql, code, sqlstate, message) in cases {
        assert_error(&err(&mut admin, sql), *code, sqlstate, message);
    }
    assert_eq!(err(&mut admin, "grant fly on *.* to u").code, 1064);

    // Without GRANT OPTION an account cannot pass privileges on, and it
    // cannot read another account's grants without SELECT on mysql.
    ok(&mut admin, "grant select on test.* to u");
    let mut u = login(&target, "u", "", "test").expect("u");
    assert_error(
        &err(&mut u, "grant select on test.* to u"),
        1044,
        "42000",
        "Access denied for user 'u'@'%' to database 'test'",
    );
    assert_error(
        &err(&mut u, "grant select on *.* to u"),
        1227,
        "42000",
        "Access denied; you need (at least one of) the GRANT OPTION privilege(s) for this operation",
    );
    assert_error(
        &err(&mut u, "show grants for root"),
        1044,
        "42000",
        "Access denied for user 'u'@'%' to database 'mysql'",
    );
    assert_eq!(
        rows(&mut u, "show grants for current_user"),
        [
            "GRANT USAGE ON *.* TO 'u'@'%'",
            "GRANT SELECT ON test.* TO 'u'@'%'"
        ]
    );
}

#[test]
fn revoke_removes_grants() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    ok(&mut admin, "create user u");
    ok(
        &mut admin,
        "grant select, insert, create model on test.* to u with grant option",
    );
    ok(&mut admin, "revoke insert, grant option on test.* from u");
    assert_eq!(
        rows(&mut admin, "show grants for u"),
        [
            "GRANT USAGE ON *.* TO 'u'@'%'",
            "GRANT SELECT,CREATE MODEL ON test.* TO 'u'@'%'"
        ]
    );
    ok(&mut admin, "revoke all privileges on test.* from u");
    assert_eq!(
        rows(&mut admin, "show grants for u"),
        ["GRANT USAGE ON *.* TO 'u'@'%'"]
    );
}

#[test]
fn table_privileges_are_checked() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    ok(&mut admin, "create table t (a int primary key, b int)");
    ok(&mut admin, "create table s (a int)");
    ok(&mut admin, "insert into t values (1, 10), (2, 20)");
    ok(&mut admin, "insert into s values (5)");
    ok(&mut admin, "create user u");
    ok(&mut admin, "grant create model on test.* to u");
    let mut u = login(&target, "u", "", "test").expect("u");

    let denied = |verb: &str, table: &str| {
        format!("{verb} command denied to user 'u'@'%' for table '{table}'")
    };
    let cases: &[(&str, &str, &str)] = &[
        ("select * from t", "SELECT", "t"),
        ("select * from test.s join t on s.a = t.a", "SELECT", "s"),
        ("explain select * from t", "SELECT", "t"),
        ("select * from missing", "SELECT", "missing"),
        ("insert into t values (3, 30)", "INSERT", "t"),
        ("update t set b = 0", "UPDATE", "t"),
        ("delete from t", "DELETE", "t"),
        ("create table n (a int)", "CREATE", "n"),
        ("drop table t", "DROP", "t"),
        ("truncate table t", "DROP", "t"),
    ];
    for (sql, verb, table) in cases {
        assert_error(&err(&mut u, sql), 1142, "42000", &denied(verb, table));
    }
    assert_error(
        &err(&mut u, "create database d2"),
        1044,
        "42000",
        "Access denied for user 'u'@'%' to database 'd2'",
    );
    assert_eq!(err(&mut u, "drop database test").code, 1044);
    assert_error(
        &err(&mut u, "use mysql"),
        1044,
        "42000",
        "Access denied for user 'u'@'%' to database 'mysql'",
    );

    // Table-level SELECT allows reads of that table only.
    ok(&mut admin, "grant select on test.t to u");
    assert_eq!(rows(&mut u, "select b from t order by a"), ["10", "20"]);
    assert_error(
        &err(&mut u, "select * from t, s"),
        1142,
        "42000",
        &denied("SELECT", "s"),
    );

    // INSERT ... SELECT needs SELECT on the source; UPDATE and DELETE
    // with WHERE need SELECT on the target.
    ok(&mut admin, "grant insert, update, delete on test.s to u");
    ok(&mut u, "insert into s values (6)");
    ok(&mut u, "insert into s select a from t");
    ok(&mut u, "update s set a = 7");
    assert_error(
        &err(&mut u, "update s set a = 8 where a = 7"),
        1142,
        "42000",
        &denied("SELECT", "s"),
    );
    assert_eq!(err(&mut u, "delete from s where a = 7").code, 1142);
    ok(&mut u, "delete from s");
    assert_eq!(err(&mut u, "insert into t select a, a from s").code, 1142);

    // Database-level grants cover every table, and revoking takes effect
    // in open sessions.
    ok(&mut admin, "grant create, drop on test.* to u");
    ok(&mut u, "create table n (a int)");
    ok(&mut u, "drop table n");
    ok(&mut admin, "revoke select on test.t from u");
    assert_eq!(err(&mut u, "select * from t").code, 1142);
}

#[test]
fn root_has_every_privilege() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    ok(&mut admin, "create database d2");
    ok(&mut admin, "use d2");
    ok(&mut admin, "create table x (a int)");
    ok(&mut admin, "insert into x values (1)");
    assert_eq!(rows(&mut admin, "select a from d2.x"), ["1"]);
    ok(&mut admin, "drop database d2");
}

#[test]
fn model_privileges_through_access() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    ok(&mut admin, "create table t (a int)");
    ok(&mut admin, "create user app");
    ok(&mut admin, "grant select on test.* to app");
    let identity = UserIdentity::new("app", "%");
    let app = target.connect_as(identity, "test").expect("app");
    let session = &app.session;

    let denied = check_privilege(session, Privilege::ExecuteModel, Some("test"), Some("m"))
        .expect_err("no EXECUTE MODEL");
    assert_error(
        &denied,
        1227,
        "42000",
        "Access denied; you need (at least one of) the EXECUTE MODEL privilege(s) for this operation",
    );
    assert_eq!(
        check_privilege(session, Privilege::CreateModel, None, None).map_err(|e| e.code),
        Err(1227)
    );

    ok(&mut admin, "grant execute model on test.* to app");
    check_privilege(session, Privilege::ExecuteModel, Some("test"), Some("m")).expect("granted");
    // The current database is the default.
    check_privilege(session, Privilege::ExecuteModel, None, Some("m")).expect("current db");
    assert_eq!(
        check_privilege(session, Privilege::ExecuteModel, Some("db2"), Some("m"))
            .map_err(|e| e.code),
        Err(1227)
    );

    ok(&mut admin, "grant create model on *.* to app");
    check_privilege(session, Privilege::CreateModel, Some("db2"), None).expect("global grant");
    assert_eq!(
        check_privilege(session, Privilege::DropModel, Some("test"), Some("m"))
            .map_err(|e| e.message),
        Err("Access denied; you need (at least one of) the DROP MODEL privilege(s) for this operation".to_string())
    );

    // Table privileges keep their MySQL errors.
    check_privilege(session, Privilege::Select, Some("test"), Some("t")).expect("select");
    assert_eq!(
        check_privilege(session, Privilege::Insert, Some("test"), Some("t")).map_err(|e| e.message),
        Err("INSERT command denied to user 'app'@'%' for table 't'".to_string())
    );
    assert_eq!(
        check_privilege(session, Privilege::Drop, Some("test"), None).map_err(|e| e.code),
        Err(1044)
    );

    ok(&mut admin, "revoke execute model on test.* from app");
    assert!(check_privilege(session, Privilege::ExecuteModel, Some("test"), None).is_err());

    let root_conn = target.connect_as(UserIdentity::root(), "").expect("root");
    for privilege in [
        Privilege::CreateModel,
        Privilege::AlterModel,
        Privilege::DropModel,
        Privilege::ExecuteModel,
    ] {
        check_privilege(&root_conn.session, privilege, Some("any"), Some("m")).expect("root");
    }
}

#[test]
fn model_settings_follow_set_global() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    let observer = target
        .connect_as(UserIdentity::root(), "")
        .expect("observer");

    let defaults = model_settings(&observer.session);
    assert!(!defaults.enable_ddl);
    assert!(!defaults.enable_inference);
    assert_eq!(defaults.null_behavior, NullBehavior::Error);
    assert_eq!(defaults.max_batch_size, 1024);
    assert_eq!(defaults.timeout, std::time::Duration::from_secs(1));

    ok(&mut admin, "set global tidb_enable_model_inference = on");
    ok(&mut admin, "set @@global.tidb_model_timeout = '200ms'");
    ok(
        &mut admin,
        "set global tidb_model_null_behavior = 'return_null', tidb_model_max_batch_size = 64",
    );
    let settings = model_settings(&observer.session);
    assert!(settings.enable_inference);
    assert_eq!(settings.timeout, std::time::Duration::from_millis(200));
    assert_eq!(settings.null_behavior, NullBehavior::ReturnNull);
    assert_eq!(settings.max_batch_size, 64);

    // Model variables are GLOBAL only.
    assert_error(
        &err(&mut admin, "set tidb_enable_model_ddl = 1"),
        1229,
        "HY000",
        "Variable 'tidb_enable_model_ddl' is a GLOBAL variable and should be set with SET GLOBAL",
    );
    assert_eq!(
        rows(
            &mut admin,
            "select @@tidb_model_timeout, @@global.tidb_model_max_batch_size"
        ),
        ["200ms|64"]
    );
    assert_eq!(
        err(&mut admin, "select @@session.tidb_model_timeout").code,
        1238
    );
    assert_eq!(
        err(&mut admin, "set global tidb_model_timeout = 'soon'").code,
        1231
    );
    ok(&mut admin, "set global tidb_model_timeout = default");
    assert_eq!(
        model_settings(&observer.session).timeout,
        std::time::Duration::from_secs(1)
    );
}

#[test]
fn set_global_needs_super() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    ok(&mut admin, "create user u, admin2");
    let mut u = login(&target, "u", "", "").expect("u");
    assert_error(
        &err(&mut u, "set global tidb_enable_model_ddl = 1"),
        1227,
        "42000",
        "Access denied; you need (at least one of) the SUPER or SYSTEM_VARIABLES_ADMIN privilege(s) for this operation",
    );
    // Session variables need no privilege.
    ok(&mut u, "set autocommit = 1, time_zone = '+01:00'");

    ok(&mut admin, "grant system_variables_admin on *.* to admin2");
    let mut admin2 = login(&target, "admin2", "", "").expect("admin2");
    ok(&mut admin2, "set global tidb_enable_model_ddl = 1");
    assert_eq!(rows(&mut u, "select @@tidb_enable_model_ddl"), ["1"]);
}

#[test]
fn set_global_is_seen_by_new_sessions() {
    let target = ReferenceTarget::new();
    let mut admin = root(&target);
    let mut before = root(&target);
    ok(
        &mut admin,
        "set global time_zone = '+08:00', autocommit = off",
    );
    ok(&mut admin, "set global tidb_max_chunk_size = 64");

    let mut after = root(&target);
    assert_eq!(
        rows(
            &mut after,
            "select @@time_zone, @@autocommit, @@tidb_max_chunk_size"
        ),
        ["+08:00|0|64"]
    );
    assert_eq!(
        rows(
            &mut before,
            "select @@time_zone, @@autocommit, @@tidb_max_chunk_size"
        ),
        ["SYSTEM|1|1024"]
    );
    assert_eq!(
        rows(
            &mut before,
            "select @@global.time_zone, @@session.autocommit"
        ),
        ["+08:00|1"]
    );

    // The new session runs with autocommit off: its write stays invisible
    // to others until COMMIT.
    ok(&mut after, "create table t (a int)");
    ok(&mut after, "insert into t values (1)");
    assert!(rows(&mut before, "select a from t").is_empty());
    ok(&mut after, "commit");
    assert_eq!(rows(&mut before, "select a from t"), ["1"]);
}

#[test]
fn session_variables_are_isolated() {
    let target = ReferenceTarget::new();
    let mut first = root(&target);
    let mut second = root(&target);
    ok(
        &mut first,
        "set session tidb_max_chunk_size = 128, @@local.sql_mode = 'ansi'",
    );
    ok(&mut second, "set @@tidb_max_chunk_size = 256");
    assert_eq!(
        rows(&mut first, "select @@tidb_max_chunk_size, @@sql_mode"),
        ["128|ANSI"]
    );
    assert_eq!(rows(&mut second, "select @@tidb_max_chunk_size"), ["256"]);
    assert_eq!(
        rows(&mut second, "select @@global.tidb_max_chunk_size"),
        ["1024"]
    );

    ok(&mut first, "set tidb_max_chunk_size = default");
    assert_eq!(rows(&mut first, "select @@tidb_max_chunk_size"), ["1024"]);
    assert_eq!(rows(&mut second, "select @@tidb_max_chunk_size"), ["256"]);
}

#[test]
fn variable_errors() {
    let target = ReferenceTarget::new();
    let mut conn = root(&target);
    let cases: &[(&str, u16, &str, &str)] = &[
        ("set no_such_var = 1", 1193, "HY000", "Unknown system variable 'no_such_var'"),
        ("select @@no_such_var", 1193, "HY000", "Unknown system variable 'no_such_var'"),
        ("set autocommit = 'maybe'", 1231, "42000", "Variable 'autocommit' can't be set to the value of 'maybe'"),
        ("set tidb_multi_statement_mode = null", 1231, "42000", "Variable 'tidb_multi_statement_mode' can't be set to the value of 'NULL'"),
        ("set global tidb_snapshot = ''", 1228, "HY000", "Variable 'tidb_snapshot' is a SESSION variable and can't be used with SET GLOBAL"),
        ("set tidb_model_cache_ttl = '1m'", 1229, "HY000", "Variable 'tidb_model_cache_ttl' is a GLOBAL variable and should be set with SET GLOBAL"),
        ("set global version = 'x'", 1238, "HY000", "Variable 'version' is a read only variable"),
        ("select @@global.tidb_snapshot", 1238, "HY000", "Variable 'tidb_snapshot' is a SESSION variable"),
        ("set tidb_max_chunk_size = 'big'", 1232, "42000", "Incorrect argument type to variable 'tidb_max_chunk_size'"),
        ("set time_zone = 'Mars/Base'", 1298, "HY000", "Unknown or incorrect time zone: 'Mars/Base'"),
        ("set names klingon", 1115, "42000", "Unknown character set: 'klingon'"),
    ];
    for (sql, code, sqlstate, message) in cases {
        assert_error(&err(&mut conn, sql), *code, sqlstate, message);
    }

    // Values the engine cannot honour are rejected and the old value kept.
    assert_eq!(err(&mut conn, "set transaction_read_only = on").code, 1105);
    assert_eq!(rows(&mut conn, "select @@transaction_read_only"), ["0"]);
    assert_eq!(
        err(&mut conn, "set transaction_isolation = 'READ-COMMITTED'").code,
        1105
    );
    assert_eq!(
        rows(&mut conn, "select @@transaction_isolation"),
        ["REPEATABLE-READ"]
    );
}

#[test]
fn mysql_tester_settings_work() {
    let target = ReferenceTarget::new();
    let mut conn = root(&target);
    for sql in [
        "set @@tidb_init_chunk_size=1",
        "set @@tidb_max_chunk_size=32",
        "set @@tidb_multi_statement_mode=1",
        "set @@tidb_hash_join_concurrency=1",
        "set @@tidb_enable_pseudo_for_outdated_stats=false",
        "set @@tidb_enable_analyze_snapshot=1",
        "set @@tidb_enable_clustered_index='int_only'",
        "set names utf8mb4",
        "set names 'utf8mb4' collate 'utf8mb4_bin'",
        "set sql_mode = ''",
    ] {
        ok(&mut conn, sql);
    }
    assert_eq!(
        rows(
            &mut conn,
            "select @@tidb_init_chunk_size, @@tidb_max_chunk_size, @@tidb_multi_statement_mode, @@tidb_hash_join_concurrency, @@tidb_enable_pseudo_for_outdated_stats, @@tidb_enable_analyze_snapshot, @@tidb_enable_clustered_index"
        ),
        ["1|32|ON|1|0|1|INT_ONLY"]
    );
    assert_eq!(
        rows(
            &mut conn,
            "select @@character_set_client, @@collation_connection, @@autocommit"
        ),
        ["utf8mb4|utf8mb4_bin|1"]
    );
    assert_eq!(rows(&mut conn, "select @@version = version()"), ["1"]);
}

#[test]
fn show_variables_filters() {
    let target = ReferenceTarget::new();
    let mut conn = root(&target);
    ok(&mut conn, "set global tidb_model_max_batch_size = 10");
    ok(&mut conn, "set autocommit = 0");

    assert_eq!(
        header(&mut conn, "show variables like 'autocommit'"),
        ["Variable_name", "Value"]
    );
    assert_eq!(
        rows(&mut conn, "show variables like 'autocommit'"),
        ["autocommit|OFF"]
    );
    assert_eq!(
        rows(&mut conn, "show global variables like 'AUTOCOMMIT'"),
        ["autocommit|ON"]
    );
    assert_eq!(
        rows(&mut conn, "show session variables like 'tidb_model_%'"),
        [
            "tidb_model_allow_nondeterministic|OFF",
            "tidb_model_cache_capacity|64",
            "tidb_model_cache_ttl|10m",
            "tidb_model_max_batch_size|10",
            "tidb_model_null_behavior|ERROR",
            "tidb_model_timeout|1s",
        ]
    );
    assert_eq!(
        rows(
            &mut conn,
            "show variables where Variable_name like 'tidb_enable_model%' and value = 'OFF'"
        ),
        [
            "tidb_enable_model_custom_ops|OFF",
            "tidb_enable_model_ddl|OFF",
            "tidb_enable_model_inference|OFF",
        ]
    );
    // The global view leaves out session-only variables.
    assert_eq!(
        rows(&mut conn, "show variables like 'tidb_snapshot'"),
        ["tidb_snapshot|"]
    );
    assert!(rows(&mut conn, "show global variables like 'tidb_snapshot'").is_empty());
    let all = rows(&mut conn, "show variables");
    assert!(all.len() > 30, "{all:?}");
    assert_eq!(err(&mut conn, "show variables like").code, 1064);
    assert_eq!(err(&mut conn, "show variables where nope = 1").code, 1054);
}

#[test]
fn keyword_scope_carries_over() {
    let target = ReferenceTarget::new();
    let mut conn = root(&target);
    ok(
        &mut conn,
        "set global tidb_max_chunk_size = 100, tidb_init_chunk_size = 2",
    );
    assert_eq!(
        rows(&mut conn, "select @@global.tidb_max_chunk_size, @@global.tidb_init_chunk_size, @@tidb_init_chunk_size"),
        ["100|2|32"]
    );
    ok(
        &mut conn,
        "set @@global.tidb_init_chunk_size = 3, tidb_init_chunk_size = 4",
    );
    assert_eq!(
        rows(
            &mut conn,
            "select @@global.tidb_init_chunk_size, @@session.tidb_init_chunk_size"
        ),
        ["3|4"]
    );
}
