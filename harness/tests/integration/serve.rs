//! `harness serve` with real MySQL clients: mysql_async, the `mariadb`
//! command-line client and PyMySQL, plus shutdown and bad-input behavior.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mysql_async::consts::ColumnType;
use mysql_async::prelude::*;
use mysql_async::{Conn, OptsBuilder, Row};

/// A running `harness serve` in its own process group, killed on drop.
struct ServeProcess {
    child: Child,
    port: u16,
    log: tempfile::NamedTempFile,
}

impl ServeProcess {
    fn start(extra: &[&str]) -> ServeProcess {
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args(["serve", "--listen", "127.0.0.1:0", "--sidecar", "fake"])
            .args(extra)
            .env("RUST_LOG", "harness=info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.reopen().unwrap())
            .process_group(0)
            .spawn()
            .expect("cannot start the harness binary");

        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = match receiver.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("harness serve printed no listening line within 60 s");
            }
        };
        let Some(addr) = line.trim_end().strip_prefix("harness serve: listening on 127.0.0.1:") else {
            let _ = child.kill();
            let status = child.wait().unwrap();
            let stderr = std::fs::read_to_string(log.path()).unwrap_or_default();
            panic!("unexpected first line {line:?} (exit {status}); stderr:\n{stderr}");
        };
        let port = addr.parse().expect("the listening line ends with a port");
        ServeProcess { child, port, log }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `signal` and waits up to `limit` for the exit status.
    fn stop_with(&mut self, signal: nix::sys::signal::Signal, limit: Duration) -> std::process::ExitStatus {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal).unwrap();
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "harness serve did not exit within {limit:?} of {signal}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ServeProcess {
    /// Stops the server with SIGTERM, so it stops its sidecars and removes
    /// their sockets, and kills the whole process group only if it hangs.
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(-self.pid()), nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn opts(port: u16, user: &str, password: &str, database: Option<&str>) -> OptsBuilder {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(database)
        .prefer_socket(false)
}

async fn server_error(conn: &mut Conn, sql: &str) -> (u16, String, String) {
    match conn.query_drop(sql).await {
        Err(mysql_async::Error::Server(err)) => (err.code, err.state, err.message),
        other => panic!("{sql}: expected a server error, got {other:?}"),
    }
}

#[test]
fn mysql_async_runs_statements_and_errors() {
    let server = ServeProcess::start(&[]);
    runtime().block_on(async {
        let mut conn = Conn::new(opts(server.port, "root", "", Some("test"))).await.unwrap();
        assert!(conn.server_version() >= (8, 0, 0), "{:?}", conn.server_version());

        conn.query_drop("CREATE TABLE t (id INT PRIMARY KEY, f FLOAT, d DOUBLE, name VARCHAR(20))")
            .await
            .unwrap();
        conn.query_drop("INSERT INTO t VALUES (1, 1.5, 0.1, 'one'), (2, NULL, NULL, NULL), (3, -3.25, 1e20, 'three')")
            .await
            .unwrap();
        assert_eq!(conn.affected_rows(), 3);

        conn.query_drop("UPDATE t SET name = 'uno' WHERE id = 1").await.unwrap();
        assert_eq!(conn.affected_rows(), 1);
        assert_eq!(conn.info(), "Rows matched: 1  Changed: 1  Warnings: 0");

        let mut result = conn.query_iter("SELECT id, f, d, name FROM t ORDER BY id").await.unwrap();
        let types: Vec<ColumnType> = result.columns_ref().iter().map(|column| column.column_type()).collect();
        assert_eq!(
            types,
            vec![
                ColumnType::MYSQL_TYPE_LONGLONG,
                ColumnType::MYSQL_TYPE_FLOAT,
                ColumnType::MYSQL_TYPE_DOUBLE,
                ColumnType::MYSQL_TYPE_VAR_STRING,
            ]
        );
        let names: Vec<String> = result.columns_ref().iter().map(|column| column.name_str().into_owned()).collect();
        assert_eq!(names, ["id", "f", "d", "name"]);
        let rows: Vec<Row> = result.collect().await.unwrap();
        let rows: Vec<(i64, Option<f32>, Option<f64>, Option<String>)> =
            rows.into_iter().map(mysql_async::from_row).collect();
        assert_eq!(
            rows,
            vec![
                (1, Some(1.5), Some(0.1), Some("uno".into())),
                (2, None, None, None),
                (3, Some(-3.25), Some(1e20), Some("three".into())),
            ]
        );

        let raw: Vec<Row> = conn.query("SELECT d, f FROM t WHERE id = 3").await.unwrap();
        assert_eq!(raw[0].as_ref(0), Some(&mysql_async::Value::Bytes(b"1e20".to_vec())));
        assert_eq!(raw[0].as_ref(1), Some(&mysql_async::Value::Bytes(b"-3.25".to_vec())));

        let decimal: Vec<Row> = conn.query("SELECT 1/3, CAST('2024-05-06 07:08:09' AS DATETIME), NULL").await.unwrap();
        assert_eq!(decimal[0].as_ref(0), Some(&mysql_async::Value::Bytes(b"0.3333".to_vec())));
        assert_eq!(decimal[0].columns_ref()[0].column_type(), ColumnType::MYSQL_TYPE_NEWDECIMAL);
        assert_eq!(decimal[0].columns_ref()[0].decimals(), 4);
        assert_eq!(decimal[0].columns_ref()[1].column_type(), ColumnType::MYSQL_TYPE_DATETIME);
        assert_eq!(decimal[0].as_ref(2), Some(&mysql_async::Value::NULL));

        assert_eq!(
            server_error(&mut conn, "SELECT * FROM t AS OF TIMESTAMP NULL").await,
            (8135, "HY000".into(), "invalid as of timestamp: as of timestamp cannot be NULL".into())
        );
        assert_eq!(
            server_error(&mut conn, "SELECT * FROM t AS OF TIMESTAMP '2999-01-01 00:00:00'").await,
            (9006, "HY000".into(), "cannot set read timestamp to a future time".into())
        );
        assert_eq!(
            server_error(&mut conn, "SELECT * FROM missing").await,
            (1146, "42S02".into(), "Table 'test.missing' doesn't exist".into())
        );
        assert_eq!(
            server_error(&mut conn, "INSERT INTO t VALUES (1, 0, 0, 'dup')").await.0,
            1062
        );

        let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1), "the connection stays usable after errors");

        conn.ping().await.unwrap();
        conn.disconnect().await.unwrap();
    });
}

#[test]
fn mysql_async_tracks_transactions() {
    let server = ServeProcess::start(&[]);
    runtime().block_on(async {
        let mut writer = Conn::new(opts(server.port, "root", "", Some("test"))).await.unwrap();
        let mut reader = Conn::new(opts(server.port, "root", "", Some("test"))).await.unwrap();
        writer.query_drop("CREATE TABLE tx (id INT PRIMARY KEY)").await.unwrap();

        let mut transaction = writer.start_transaction(Default::default()).await.unwrap();
        transaction.query_drop("INSERT INTO tx VALUES (1)").await.unwrap();
        let seen: Vec<i64> = reader.query("SELECT id FROM tx").await.unwrap();
        assert!(seen.is_empty(), "uncommitted rows are invisible to other sessions");
        transaction.commit().await.unwrap();

        let seen: Vec<i64> = reader.query("SELECT id FROM tx").await.unwrap();
        assert_eq!(seen, vec![1]);
        writer.disconnect().await.unwrap();
        reader.disconnect().await.unwrap();
    });
}

#[test]
fn sql_accounts_log_in_with_password() {
    let server = ServeProcess::start(&[]);
    runtime().block_on(async {
        let mut root = Conn::new(opts(server.port, "root", "", Some("test"))).await.unwrap();
        root.query_drop("CREATE USER 'alice'@'%' IDENTIFIED BY 's3cret'").await.unwrap();
        root.query_drop("CREATE TABLE t (id INT)").await.unwrap();

        let mut alice = Conn::new(opts(server.port, "alice", "s3cret", None)).await.unwrap();
        let user: Option<String> = alice.query_first("SELECT CURRENT_USER()").await.unwrap();
        assert_eq!(user.as_deref(), Some("alice@%"));
        // The session runs as alice, with alice's privileges.
        let (code, _, message) = server_error(&mut alice, "SELECT * FROM test.t").await;
        assert_eq!(code, 1142, "{message}");
        alice.disconnect().await.unwrap();

        let err = Conn::new(opts(server.port, "alice", "wrong", None)).await.unwrap_err();
        let mysql_async::Error::Server(err) = err else {
            panic!("expected a server error, got {err:?}");
        };
        assert_eq!(err.message, "Access denied for user 'alice'@'127.0.0.1' (using password: YES)");

        root.query_drop("SET PASSWORD FOR 'alice'@'%' = 'next'").await.unwrap();
        assert!(Conn::new(opts(server.port, "alice", "s3cret", None)).await.is_err());
        Conn::new(opts(server.port, "alice", "next", None)).await.unwrap().disconnect().await.unwrap();
        root.disconnect().await.unwrap();
    });
}

#[test]
fn deep_expressions_fail_without_crashing() {
    let server = ServeProcess::start(&[]);
    runtime().block_on(async {
        let mut conn = Conn::new(opts(server.port, "root", "", None)).await.unwrap();
        let near_limit = format!("SELECT 1{}", "+1".repeat(990));
        let sum: Option<i64> = conn.query_first(near_limit).await.unwrap();
        assert_eq!(sum, Some(991));

        for terms in [1_000, 200_000] {
            let sql = format!("SELECT 1{}", " OR 1".repeat(terms));
            let (code, _, message) = server_error(&mut conn, &sql).await;
            assert_eq!(code, 1105, "{message}");
            assert!(message.contains("deeper than 1000 levels"), "{message}");
        }

        // Parentheses and unary operators nest in the parser itself.
        let parens = format!("SELECT {}1{}", "(".repeat(900), ")".repeat(900));
        let one: Option<i64> = conn.query_first(parens).await.unwrap();
        assert_eq!(one, Some(1));
        let negations = format!("SELECT {}1", "- ".repeat(900));
        let one: Option<i64> = conn.query_first(negations).await.unwrap();
        assert_eq!(one, Some(1));
        for depth in [1_001, 50_000] {
            let sql = format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth));
            let (code, _, message) = server_error(&mut conn, &sql).await;
            assert_eq!(code, 1105, "{message}");
            assert!(message.contains("deeper than 1000 levels"), "{message}");
        }

        let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1));
    });
}

#[test]
fn login_errors_reach_the_client() {
    let server = ServeProcess::start(&[]);
    runtime().block_on(async {
        let err = Conn::new(opts(server.port, "root", "wrong", None)).await.unwrap_err();
        let mysql_async::Error::Server(err) = err else {
            panic!("expected a server error, got {err:?}");
        };
        assert_eq!((err.code, err.state.as_str()), (1045, "28000"));
        assert_eq!(err.message, "Access denied for user 'root'@'127.0.0.1' (using password: YES)");

        let err = Conn::new(opts(server.port, "alice", "", None)).await.unwrap_err();
        let mysql_async::Error::Server(err) = err else {
            panic!("expected a server error, got {err:?}");
        };
        assert_eq!(err.message, "Access denied for user 'alice'@'127.0.0.1' (using password: NO)");

        let err = Conn::new(opts(server.port, "root", "", Some("nowhere"))).await.unwrap_err();
        let mysql_async::Error::Server(err) = err else {
            panic!("expected a server error, got {err:?}");
        };
        assert_eq!((err.code, err.state.as_str()), (1049, "42000"));
        assert_eq!(err.message, "Unknown database 'nowhere'");
    });
    assert!(server.stderr().contains("login rejected"), "{}", server.stderr());
}

#[test]
fn statement_over_packet_limit_is_rejected() {
    let limit = 16 * 1024 * 1024 - 1;
    let server = ServeProcess::start(&["--max-allowed-packet", &limit.to_string()]);
    runtime().block_on(async {
        let options = opts(server.port, "root", "", Some("test")).max_allowed_packet(Some(64 * 1024 * 1024));
        let mut conn = Conn::new(options.clone()).await.unwrap();
        let sql = format!("SELECT '{}'", "x".repeat(limit));
        let err = conn.query_drop(sql).await.unwrap_err();
        match err {
            mysql_async::Error::Server(err) => assert_eq!(err.code, 1153, "{err:?}"),
            // The server closes the connection right after the error, so
            // the client may see the close first.
            mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => {}
            other => panic!("unexpected error {other:?}"),
        }

        let mut fresh = Conn::new(options).await.unwrap();
        let one: Option<i64> = fresh.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1));
    });
}

/// Finds the `mariadb` client, or fails the test with install instructions.
fn mariadb_client() -> PathBuf {
    which::which("mariadb").unwrap_or_else(|_| {
        panic!("the mariadb command-line client is missing: run `bash scripts/setup.sh` as root, or `apt-get install mariadb-client`")
    })
}

fn run_mariadb(port: u16, script: &str) -> std::process::Output {
    let mut child = Command::new(mariadb_client())
        .args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", "root", "--batch", "--skip-ssl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn mariadb_client_runs_script() {
    let server = ServeProcess::start(&[]);
    let script = "\
CREATE DATABASE shop;
use shop
CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), price DOUBLE, weight FLOAT, added DATETIME);
INSERT INTO items VALUES (1, 'apple', 0.5, 1.25, '2024-01-02 03:04:05'), (2, NULL, 2, NULL, NULL);
SELECT id, name, price, weight, added FROM items ORDER BY id;
SELECT DATABASE(), COUNT(*) FROM items;
SELECT * FROM items AS OF TIMESTAMP NULL;
SELECT 'not reached';
";
    let output = run_mariadb(server.port, script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stdout,
        "id\tname\tprice\tweight\tadded\n\
         1\tapple\t0.5\t1.25\t2024-01-02 03:04:05\n\
         2\tNULL\t2\tNULL\tNULL\n\
         DATABASE()\tCOUNT(*)\n\
         shop\t2\n",
        "stderr: {stderr}"
    );
    // The client echoes the failed statement before the error line.
    assert!(
        stderr
            .trim_end()
            .ends_with("\nERROR 8135 (HY000) at line 7: invalid as of timestamp: as of timestamp cannot be NULL"),
        "{stderr}"
    );
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn mariadb_client_rejects_wrong_password() {
    let server = ServeProcess::start(&[]);
    let output = Command::new(mariadb_client())
        .args(["-h", "127.0.0.1", "-P", &server.port.to_string(), "-u", "root", "-psecret", "--batch", "--skip-ssl", "-e", "SELECT 1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ERROR 1045 (28000): Access denied for user 'root'@'127.0.0.1' (using password: YES)"),
        "{stderr}"
    );
}

const PYMYSQL_SESSION: &str = r#"
import sys
import pymysql

conn = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="root", password="", database="test")
cur = conn.cursor()
cur.execute("CREATE TABLE py (id INT PRIMARY KEY, v DOUBLE, s VARCHAR(10), d DECIMAL(10,2), t DATETIME)")
cur.execute("INSERT INTO py VALUES (1, 2.5, 'x', 3.25, '2024-01-02 03:04:05'), (2, NULL, NULL, NULL, NULL)")
print("affected", cur.rowcount)
conn.commit()
cur.execute("SELECT id, v, s, d, t FROM py ORDER BY id")
for row in cur.fetchall():
    print(repr(row))
print([column[1] for column in cur.description])
try:
    cur.execute("SELECT * FROM missing")
except pymysql.err.ProgrammingError as err:
    print("error", err.args)
conn.select_db("mysql")
cur.execute("SELECT DATABASE()")
print(cur.fetchone())
conn.ping(reconnect=False)
conn.close()
"#;

fn venv_python() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    assert!(
        path.is_file(),
        "{} is missing: run `bash scripts/setup.sh` to create the venv with PyMySQL",
        path.display()
    );
    path
}

#[test]
fn pymysql_runs_session() {
    let server = ServeProcess::start(&[]);
    let output = Command::new(venv_python())
        .args(["-c", PYMYSQL_SESSION, &server.port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout: {stdout}\nstderr: {stderr}\nserver: {}", server.stderr());
    assert_eq!(
        stdout,
        "affected 2\n\
         (1, 2.5, 'x', Decimal('3.25'), datetime.datetime(2024, 1, 2, 3, 4, 5))\n\
         (2, None, None, None, None)\n\
         [8, 5, 253, 246, 12]\n\
         error (1146, \"Table 'test.missing' doesn't exist\")\n\
         ('mysql',)\n"
    );
}

/// Checks whether any process is left in process group `pgid`.
fn group_alive(pgid: i32) -> bool {
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(-pgid), None) {
        Ok(()) => true,
        Err(nix::errno::Errno::ESRCH) => false,
        Err(err) => panic!("cannot probe process group {pgid}: {err}"),
    }
}

#[test]
fn sigterm_closes_connections_and_exits_zero() {
    let mut server = ServeProcess::start(&[]);
    let rt = runtime();
    let idle = rt.block_on(Conn::new(opts(server.port, "root", "", Some("test")))).unwrap();
    let mut half_open = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let mut greeting = [0u8; 4];
    half_open.read_exact(&mut greeting).unwrap();

    let status = server.stop_with(nix::sys::signal::Signal::SIGTERM, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
    assert!(!group_alive(server.pid()), "processes of harness serve are left after exit");

    let after = rt.block_on(async move {
        let mut idle = idle;
        idle.query_drop("SELECT 1").await
    });
    assert!(after.is_err(), "the idle connection was closed by the shutdown");
    let stderr = server.stderr();
    assert!(stderr.contains("SIGTERM received"), "{stderr}");
    assert!(stderr.contains("connection closed"), "{stderr}");
}

#[test]
fn sigint_exits_zero() {
    let mut server = ServeProcess::start(&[]);
    let status = server.stop_with(nix::sys::signal::Signal::SIGINT, Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
    assert!(!group_alive(server.pid()));
}

/// Reads until the server closes the connection; returns what arrived.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(err) => panic!("the server did not close the connection: {err}"),
    }
    received
}

/// Connects and reads the greeting packet.
fn raw_connect(port: u16) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).unwrap();
    let length = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut greeting = vec![0u8; length];
    stream.read_exact(&mut greeting).unwrap();
    assert_eq!(greeting[0], 10, "HandshakeV10");
    stream
}

/// Extracts the error code and message of the ERR packet at the start of
/// `bytes`.
fn error_packet(bytes: &[u8]) -> (u16, String) {
    assert!(bytes.len() > 13, "expected an ERR packet, got {bytes:?}");
    assert_eq!(bytes[4], 0xFF, "expected an ERR packet, got {bytes:?}");
    let code = u16::from_le_bytes([bytes[5], bytes[6]]);
    let length = usize::from(bytes[0]) | usize::from(bytes[1]) << 8 | usize::from(bytes[2]) << 16;
    let message = String::from_utf8_lossy(&bytes[13..4 + length]).into_owned();
    (code, message)
}

#[test]
fn bad_input_closes_only_that_connection() {
    let server = ServeProcess::start(&[]);

    // Garbage that is not a packet at all.
    let mut garbage = raw_connect(server.port);
    garbage.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    read_until_closed(&mut garbage);

    // A handshake response cut short, then the client's write side closed.
    let mut truncated = raw_connect(server.port);
    truncated.write_all(&[40, 0, 0, 1, 0x0D, 0xA2]).unwrap();
    truncated.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_until_closed(&mut truncated).is_empty());

    // A header announcing 16 MiB - 1 bytes during the handshake.
    let mut huge = raw_connect(server.port);
    huge.write_all(&[0xFF, 0xFF, 0xFF, 1]).unwrap();
    read_until_closed(&mut huge);

    // A pre-4.1 handshake response gets error 1043.
    let mut old = raw_connect(server.port);
    let mut packet = vec![32, 0, 0, 1];
    packet.extend_from_slice(&[0u8; 32]);
    old.write_all(&packet).unwrap();
    let (code, message) = error_packet(&read_until_closed(&mut old));
    assert_eq!(code, 1043);
    assert!(message.contains("CLIENT_PROTOCOL_41"), "{message}");

    // An SSLRequest gets error 1043 naming the fix.
    let mut tls = raw_connect(server.port);
    let mut packet = vec![32, 0, 0, 1];
    packet.extend_from_slice(&(0x0200u32 | 0x0800 | 0x8000).to_le_bytes());
    packet.extend_from_slice(&[0u8; 28]);
    tls.write_all(&packet).unwrap();
    let (code, message) = error_packet(&read_until_closed(&mut tls));
    assert_eq!(code, 1043);
    assert!(message.contains("TLS is not supported"), "{message}");

    // Bounded random-looking garbage after the greeting.
    let mut seed: u32 = 0x2545_F491;
    for _ in 0..20 {
        let mut stream = raw_connect(server.port);
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        stream.write_all(&bytes).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        read_until_closed(&mut stream);
    }

    runtime().block_on(async {
        let mut conn = Conn::new(opts(server.port, "root", "", None)).await.unwrap();
        let one: Option<i64> = conn.query_first("SELECT 1").await.unwrap();
        assert_eq!(one, Some(1), "the server still serves new clients");
        conn.disconnect().await.unwrap();
    });
    assert!(server.stderr().contains("handshake failed"), "{}", server.stderr());
}

/// Reads one packet: (sequence id, payload).
fn read_packet(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).unwrap();
    let length = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).unwrap();
    (header[3], payload)
}

fn write_packet(stream: &mut TcpStream, seq: u8, payload: &[u8]) {
    let mut packet = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    packet.push(seq);
    packet.extend_from_slice(payload);
    stream.write_all(&packet).unwrap();
}

/// Connects and sends a HandshakeResponse41 for `user` that names
/// `plugin` and carries `auth`; returns the stream and the greeting's
/// salt.
fn raw_login(port: u16, user: &str, auth: &[u8], plugin: &str) -> (TcpStream, Vec<u8>) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let (seq, greeting) = read_packet(&mut stream);
    assert_eq!((seq, greeting[0]), (0, 10));
    let version_end = greeting.iter().position(|&byte| byte == 0).unwrap();
    let after_version = &greeting[version_end + 1..];
    let mut salt = after_version[4..12].to_vec();
    salt.extend_from_slice(&after_version[31..43]);

    let capabilities: u32 = 0x0200 | 0x8000 | 0x0008_0000 | 0x0100_0000;
    let mut payload = Vec::new();
    payload.extend_from_slice(&capabilities.to_le_bytes());
    payload.extend_from_slice(&(1u32 << 24).to_le_bytes());
    payload.push(45);
    payload.extend_from_slice(&[0u8; 23]);
    payload.extend_from_slice(user.as_bytes());
    payload.push(0);
    payload.push(auth.len() as u8);
    payload.extend_from_slice(auth);
    payload.extend_from_slice(plugin.as_bytes());
    payload.push(0);
    write_packet(&mut stream, 1, &payload);
    (stream, salt)
}

#[test]
fn other_auth_plugin_is_switched_to_native() {
    let server = ServeProcess::start(&[]);

    // A MySQL 8 client starts with caching_sha2_password.
    let (mut stream, salt) = raw_login(server.port, "root", &[7u8; 32], "caching_sha2_password");
    let (seq, switch) = read_packet(&mut stream);
    assert_eq!(seq, 2);
    assert_eq!(switch[0], 0xFE, "AuthSwitchRequest: {switch:?}");
    let mut expected = b"mysql_native_password\0".to_vec();
    expected.extend_from_slice(&salt);
    expected.push(0);
    assert_eq!(&switch[1..], &expected[..]);
    write_packet(&mut stream, 3, b"");
    let (seq, ok) = read_packet(&mut stream);
    assert_eq!((seq, ok[0]), (4, 0x00), "{ok:?}");

    // The same switch with a wrong password ends in 1045.
    let (mut stream, salt) = raw_login(server.port, "root", &[7u8; 32], "caching_sha2_password");
    let (_, switch) = read_packet(&mut stream);
    assert_eq!(switch[0], 0xFE);
    write_packet(&mut stream, 3, &harness::serve::native_scramble(b"wrong", &salt));
    let (seq, error) = read_packet(&mut stream);
    assert_eq!((seq, error[0]), (4, 0xFF));
    assert_eq!(u16::from_le_bytes([error[1], error[2]]), 1045);
    assert_eq!(
        String::from_utf8_lossy(&error[9..]),
        "Access denied for user 'root'@'127.0.0.1' (using password: YES)"
    );
}

#[test]
fn unknown_command_gets_1047() {
    let server = ServeProcess::start(&[]);
    let (mut stream, _) = raw_login(server.port, "root", b"", "mysql_native_password");
    let (seq, ok) = read_packet(&mut stream);
    assert_eq!((seq, ok[0]), (2, 0x00), "OK packet with sequence id 2: {ok:?}");

    // COM_STMT_PREPARE is not served.
    write_packet(&mut stream, 0, b"\x16SELECT 1");
    let (seq, error) = read_packet(&mut stream);
    assert_eq!((seq, error[0]), (1, 0xFF), "{error:?}");
    assert_eq!(u16::from_le_bytes([error[1], error[2]]), 1047);
    assert_eq!(&error[3..9], b"#08S01");
    assert_eq!(&error[9..], b"Unknown command");

    // COM_PING still works on the same connection.
    write_packet(&mut stream, 0, &[0x0E]);
    let (seq, ok) = read_packet(&mut stream);
    assert_eq!((seq, ok[0]), (1, 0x00), "{ok:?}");

    // COM_INIT_DB switches the database; an unknown one is 1049.
    write_packet(&mut stream, 0, b"\x02mysql");
    let (_, ok) = read_packet(&mut stream);
    assert_eq!(ok[0], 0x00, "{ok:?}");
    write_packet(&mut stream, 0, b"\x02nowhere");
    let (_, error) = read_packet(&mut stream);
    assert_eq!(u16::from_le_bytes([error[1], error[2]]), 1049, "{error:?}");

    // COM_QUIT closes the connection.
    write_packet(&mut stream, 0, &[0x01]);
    assert!(read_until_closed(&mut stream).is_empty());
}

#[test]
fn connection_over_limit_gets_1040() {
    let server = ServeProcess::start(&["--max-connections", "1"]);
    runtime().block_on(async {
        let first = Conn::new(opts(server.port, "root", "", None)).await.unwrap();

        let err = Conn::new(opts(server.port, "root", "", None)).await.unwrap_err();
        let mysql_async::Error::Server(err) = err else {
            panic!("expected a server error, got {err:?}");
        };
        // The error replaces the greeting, so it carries no SQLSTATE.
        assert_eq!(err.code, 1040);
        assert_eq!(err.message, "Too many connections");

        first.disconnect().await.unwrap();
    });

    // The slot frees once the server has reaped the closed connection.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let connected = runtime().block_on(async {
            match Conn::new(opts(server.port, "root", "", None)).await {
                Ok(conn) => {
                    conn.disconnect().await.unwrap();
                    true
                }
                Err(_) => false,
            }
        });
        if connected {
            break;
        }
        assert!(Instant::now() < deadline, "the freed connection slot was never reused");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `harness run` over the repository's suites with `target_args`,
/// and returns the exit status and stdout.
fn run_suite(target_args: &[&str]) -> (Option<i32>, String) {
    let root = crate::support::repo_root();
    let output = Command::new(env!("CARGO_BIN_EXE_harness"))
        .current_dir(&root)
        .args(["run", "--sidecar", "fake"])
        .args(target_args)
        .args(["integrationtest", "cases"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn suite_through_serve_matches_reference() {
    let (code, reference) = run_suite(&[]);
    assert_eq!(code, Some(0), "{reference}");
    let (passed, failed, skipped) = crate::support::summary_counts(&reference);
    assert!(passed > 0, "{reference}");
    assert_eq!(failed, 0, "{reference}");
    assert_eq!(skipped, 0, "{reference}");

    let server = ServeProcess::start(&[]);
    let url = format!("mysql://root@127.0.0.1:{}", server.port);
    let (code, served) = run_suite(&["--target", &url]);
    assert_eq!(code, Some(0), "{served}\nserver log:\n{}", server.stderr());
    assert_eq!(crate::support::summary_counts(&served), (passed, 0, 0), "{served}");
}
