//! Models in the reference engine through SQL: model DDL, MODEL_PREDICT
//! with batching, hybrid plans, EXPLAIN and the model system tables, run
//! against the real fixtures, the fake sidecar and the Python sidecar.

use crate::support;

use std::path::Path;
use std::time::Duration;

use harness::artifact::checksum::path_checksum;
use harness::artifact::{DirVariant, LoaderOptions, S3Config};
use harness::catalog::{ModelSettings, NullBehavior};
use harness::engine::engine_config::EngineConfig;
use harness::engine::ReferenceTarget;
use harness::sidecar::{PoolConfig, SidecarCommand};
use harness::target::{ConnectOptions, Connection, Outcome, SqlError, Target};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use support::gated_proxy::GatedProxy;
use support::moto::MotoServer;
use support::{fake_command, fixture, pool_config, python_command, spec_eval};

/// An engine with its own artifact cache and sidecar socket directory.
struct Engine {
    target: Option<ReferenceTarget>,
    sockets: tempfile::TempDir,
    _cache: tempfile::TempDir,
}

impl Engine {
    fn new(command: Option<SidecarCommand>, tune: impl FnOnce(&mut PoolConfig)) -> Engine {
        Engine::with_s3(command, S3Config::default(), tune)
    }

    /// Builds an engine whose artifact loader reaches S3 with `s3`.
    fn with_s3(
        command: Option<SidecarCommand>,
        s3: S3Config,
        tune: impl FnOnce(&mut PoolConfig),
    ) -> Engine {
        let cache = tempfile::tempdir().expect("cache dir");
        let sockets = tempfile::Builder::new()
            .prefix("hs-")
            .tempdir_in("/tmp")
            .expect("socket dir");
        let mlflow = command.map(|command| {
            let mut config = pool_config(command, sockets.path());
            tune(&mut config);
            config
        });
        let config = EngineConfig {
            loader: LoaderOptions {
                cache_dir: cache.path().to_path_buf(),
                s3,
                ..LoaderOptions::default()
            },
            mlflow,
            ..EngineConfig::default()
        };
        let target = ReferenceTarget::with_config(config).expect("engine");
        target.override_model_settings(Some(settings()));
        Engine {
            target: Some(target),
            sockets,
            _cache: cache,
        }
    }

    fn fake() -> Engine {
        Engine::new(Some(fake_command()), |_| {})
    }

    fn target(&self) -> &ReferenceTarget {
        self.target.as_ref().expect("engine open")
    }

    fn connect(&self) -> Box<dyn Connection> {
        self.target()
            .connect(&ConnectOptions {
                database: "test".into(),
                ..ConnectOptions::default()
            })
            .expect("connect")
    }

    fn set(&self, tune: impl FnOnce(&mut ModelSettings)) {
        let mut changed = settings();
        tune(&mut changed);
        self.target().override_model_settings(Some(changed));
    }
}

impl Drop for Engine {
    /// Drops the engine and checks that the sidecars left no socket behind.
    fn drop(&mut self) {
        drop(self.target.take());
        if std::thread::panicking() {
            return;
        }
        let left: Vec<_> = std::fs::read_dir(self.sockets.path())
            .expect("read socket dir")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "socket directories left behind: {left:?}");
    }
}

/// Model features on, defaults otherwise.
fn settings() -> ModelSettings {
    ModelSettings {
        enable_ddl: true,
        enable_inference: true,
        null_behavior: NullBehavior::Error,
        max_batch_size: 1024,
        timeout: Duration::from_secs(1),
        cache_capacity: 64,
        cache_ttl: Duration::from_secs(600),
        allow_nondeterministic: false,
        enable_custom_ops: false,
    }
}

fn run(conn: &mut dyn Connection, sql: &str) -> Outcome {
    conn.execute(sql)
        .unwrap_or_else(|err| panic!("{sql}\nfailed: {err}"))
}

fn fail(conn: &mut dyn Connection, sql: &str) -> SqlError {
    match conn.execute(sql) {
        Ok(outcome) => panic!("{sql}\nsucceeded: {outcome:?}"),
        Err(err) => err,
    }
}

fn rows(conn: &mut dyn Connection, sql: &str) -> Vec<Vec<Option<String>>> {
    match run(conn, sql) {
        Outcome::Rows(result) => result.rows,
        other => panic!("{sql}\nreturned no rows: {other:?}"),
    }
}

fn column(conn: &mut dyn Connection, sql: &str) -> Vec<String> {
    rows(conn, sql)
        .into_iter()
        .map(|row| row[0].clone().unwrap_or_else(|| "NULL".into()))
        .collect()
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn checksum(path: &Path) -> String {
    path_checksum(path, DirVariant::default())
        .expect("checksum")
        .to_string()
}

/// `CREATE MODEL name (INPUT (..) OUTPUT (..)) USING engine` for a fixture.
fn create_sql(name: &str, io: &str, engine: &str, relative: &str) -> String {
    let path = fixture(relative);
    format!(
        "CREATE MODEL {name} ({io}) USING {engine} LOCATION '{}' CHECKSUM '{}'",
        uri(&path),
        checksum(&path)
    )
}

const CHURN_IO: &str = "INPUT (tenure DOUBLE, spend DOUBLE) OUTPUT (score FLOAT)";

fn assert_mentions(err: &SqlError, parts: &[&str]) {
    for part in parts {
        assert!(
            err.message.contains(part),
            "error {:?} does not mention {part:?}",
            err.message
        );
    }
}

/// A table `t(id, tenure, spend)` with rows `id` = 1..=n (n <= 10000),
/// `tenure = id % 97` and `spend = (id * 7) % 300 + 0.5`, built from a
/// cross join of digits so no statement text grows with n.
fn create_customers(conn: &mut dyn Connection, n: usize) {
    assert!(n <= 10_000, "at most 10000 rows");
    run(
        conn,
        "CREATE TABLE t (id INT PRIMARY KEY, tenure INT, spend DOUBLE)",
    );
    run(conn, "CREATE TABLE digits (x INT)");
    run(
        conn,
        "INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)",
    );
    let id = "(a.x * 1000 + b.x * 100 + c.x * 10 + e.x + 1)";
    run(
        conn,
        &format!(
            "INSERT INTO t SELECT {id}, {id} % 97, ({id} * 7) % 300 + 0.5 \
             FROM digits a, digits b, digits c, digits e WHERE {id} <= {n}"
        ),
    );
}

/// The churn score the fixture model gives, rendered as SQL FLOAT.
fn expected_scores(model: &str, inputs: &[(f32, f32)]) -> Vec<String> {
    let names = ["tenure".to_string(), "spend".to_string()];
    let values: Vec<f32> = inputs.iter().flat_map(|(a, b)| [*a, *b]).collect();
    spec_eval(model, &names, inputs.len(), &values)
        .into_iter()
        .map(harness::engine::render::render_float)
        .collect()
}

#[test]
fn ddl_errors_name_model_field_and_cause() {
    let engine = Engine::new(None, |_| {});
    let mut conn = engine.connect();
    let conn = conn.as_mut();
    let churn = fixture("mlflow/churn");
    let churn_sum = checksum(&churn);

    // Checksum mismatch: the declared digest is another model's.
    let other = checksum(&fixture("mlflow/risk"));
    let err = fail(
        conn,
        &format!(
            "CREATE MODEL m ({CHURN_IO}) USING MLFLOW LOCATION '{}' CHECKSUM '{other}'",
            uri(&churn)
        ),
    );
    assert_eq!(err.code, 1105);
    assert_mentions(&err, &["model 'test.m'", "CHECKSUM", "checksum mismatch"]);

    // A malformed checksum is the catalog's error.
    let err = fail(
        conn,
        &format!(
            "CREATE MODEL m ({CHURN_IO}) USING MLFLOW LOCATION '{}' CHECKSUM 'md5:1'",
            uri(&churn)
        ),
    );
    assert_mentions(&err, &["invalid checksum 'md5:1' for model 'test.m'"]);

    // Unknown database, checked before any fetch.
    let err = fail(
        conn,
        &format!(
            "CREATE MODEL nodb.m ({CHURN_IO}) USING MLFLOW LOCATION '{}' CHECKSUM '{churn_sum}'",
            uri(&churn)
        ),
    );
    assert_eq!(err.code, 1049);
    assert_mentions(&err, &["nodb"]);

    // Missing artifact.
    let err = fail(
        conn,
        &format!(
            "CREATE MODEL m ({CHURN_IO}) USING MLFLOW LOCATION 'file:///nonexistent/model' CHECKSUM '{churn_sum}'"
        ),
    );
    assert_mentions(&err, &["model 'test.m'", "LOCATION", "not found"]);

    // Rejected URI schemes name the scheme and the allowed forms.
    for (location, scheme) in [
        ("runs:/0123/model", "runs"),
        ("models:/churn/1", "models"),
        ("http://127.0.0.1/model", "http"),
    ] {
        let err = fail(
            conn,
            &format!(
                "CREATE MODEL m ({CHURN_IO}) USING MLFLOW LOCATION '{location}' CHECKSUM '{churn_sum}'"
            ),
        );
        assert_mentions(
            &err,
            &["model 'test.m'", "LOCATION", scheme, "file:///", "s3://"],
        );
    }

    // Unsupported engine.
    let err = fail(
        conn,
        &create_sql("m", CHURN_IO, "TENSORFLOW", "mlflow/churn"),
    );
    assert_mentions(
        &err,
        &["model 'test.m'", "USING", "TENSORFLOW", "ONNX or MLFLOW"],
    );

    // Invalid MLflow models: no PyFunc flavor, no signature, a string
    // input, names that differ from the SQL lists.
    for (relative, io, words) in [
        (
            "invalid/no-pyfunc-flavor",
            CHURN_IO,
            vec!["python_function"],
        ),
        ("invalid/no-signature", CHURN_IO, vec!["signature"]),
        (
            "invalid/input-type-string",
            CHURN_IO,
            vec!["signature.inputs"],
        ),
        (
            "mlflow/churn",
            "INPUT (tenure DOUBLE, amount DOUBLE) OUTPUT (score FLOAT)",
            vec!["amount"],
        ),
        (
            "mlflow/churn",
            "INPUT (tenure DOUBLE) OUTPUT (score FLOAT)",
            vec!["INPUT"],
        ),
    ] {
        let err = fail(conn, &create_sql("m", io, "MLFLOW", relative));
        let mut expected = vec!["model 'test.m'", "invalid MLflow model"];
        expected.extend(words);
        assert_mentions(&err, &expected);
    }

    // STRING columns cannot hold FP32 values.
    let err = fail(
        conn,
        &create_sql(
            "m",
            "INPUT (tenure DOUBLE, spend DOUBLE) OUTPUT (score STRING)",
            "MLFLOW",
            "mlflow/churn",
        ),
    );
    assert_mentions(&err, &["model 'test.m'", "OUTPUT column 'score'", "STRING"]);

    // ONNX: names that differ, and a nondeterministic operator.
    let err = fail(
        conn,
        &create_sql(
            "m",
            "INPUT (tenure DOUBLE, amount DOUBLE) OUTPUT (score FLOAT)",
            "ONNX",
            "onnx/churn_linear.onnx",
        ),
    );
    assert_mentions(&err, &["model 'test.m'", "amount"]);
    let err = fail(
        conn,
        &create_sql(
            "m",
            "INPUT (x FLOAT) OUTPUT (y FLOAT)",
            "ONNX",
            "onnx/invalid_random_normal.onnx",
        ),
    );
    assert_mentions(
        &err,
        &["model 'test.m'", "tidb_model_allow_nondeterministic"],
    );

    // An MLflow directory given to USING ONNX is the wrong kind.
    let err = fail(conn, &create_sql("m", CHURN_IO, "ONNX", "mlflow/churn"));
    assert_mentions(&err, &["model 'test.m'", "LOCATION", "directory"]);

    // Nothing above created a model.
    assert!(rows(conn, "SELECT * FROM mysql.tidb_model").is_empty());

    // Name clashes and missing models.
    run(conn, &create_sql("m", CHURN_IO, "MLFLOW", "mlflow/churn"));
    let err = fail(conn, &create_sql("m", CHURN_IO, "MLFLOW", "mlflow/churn"));
    assert_mentions(&err, &["model 'test.m' already exists"]);
    run(
        conn,
        &create_sql("IF NOT EXISTS m", CHURN_IO, "MLFLOW", "mlflow/churn"),
    );
    let err = fail(conn, "DROP MODEL nothing");
    assert_mentions(&err, &["model 'test.nothing' does not exist"]);
    run(conn, "DROP MODEL IF EXISTS nothing");
    let err = fail(conn, "CREATE MODEL m (INPUT (a INT) OUTPUT) USING ONNX");
    assert_eq!(err.code, 1064);
}

#[test]
fn ddl_switch_and_privileges_are_checked() {
    let engine = Engine::new(None, |_| {});
    let mut conn = engine.connect();
    let conn = conn.as_mut();

    engine.set(|s| s.enable_ddl = false);
    let err = fail(conn, &create_sql("m", CHURN_IO, "MLFLOW", "mlflow/churn"));
    assert_mentions(&err, &["tidb_enable_model_ddl", "test.m"]);

    engine.set(|_| {});
    run(conn, "CREATE USER 'other'@'%'");
    run(conn, "GRANT SELECT ON test.* TO 'other'@'%'");
    let mut other = engine
        .target()
        .connect(&ConnectOptions {
            user: "other".into(),
            database: "test".into(),
            ..ConnectOptions::default()
        })
        .expect("connect");

    // Without CREATE MODEL, then with it.
    let err = fail(other.as_mut(), &create_sql("m", CHURN_IO, "MLFLOW", "mlflow/churn"));
    assert_eq!(err.code, 1227);
    assert_mentions(&err, &["CREATE MODEL"]);
    run(conn, "GRANT CREATE MODEL ON test.* TO 'other'@'%'");
    run(
        other.as_mut(),
        &create_sql("m", CHURN_IO, "MLFLOW", "mlflow/churn"),
    );

    // Without EXECUTE MODEL, then with it.
    let err = fail(other.as_mut(), "SELECT MODEL_PREDICT(m, 1, 2).score");
    assert_eq!(err.code, 1227);
    assert_mentions(&err, &["EXECUTE MODEL"]);
    run(conn, "GRANT EXECUTE MODEL ON test.* TO 'other'@'%'");
    // The privilege check passes; this engine has no sidecar pool, so the
    // statement now fails only when it reaches the backend.
    let err = fail(other.as_mut(), "SELECT MODEL_PREDICT(m, 1, 2).score");
    assert_mentions(&err, &["MLflow models cannot run"]);

    engine.set(|s| s.enable_inference = false);
    let err = fail(conn, "SELECT MODEL_PREDICT(m, 1, 2).score");
    assert_mentions(&err, &["tidb_enable_model_inference", "test.m"]);
}

#[test]
fn versions_resolve_at_the_read_timestamp() {
    let engine = Engine::fake();
    let mut conn = engine.connect();
    let conn = conn.as_mut();
    create_customers(conn, 5);

    // Version 1 is the sigmoid model, version 2 the identity model.
    run(
        conn,
        &create_sql("churn", CHURN_IO, "MLFLOW", "mlflow/churn"),
    );
    run(conn, "SET @v1 = NOW(6)");
    let linear = fixture("mlflow/churn_linear");
    run(
        conn,
        &format!(
            "ALTER MODEL test.churn SET LOCATION '{}' CHECKSUM '{}'",
            uri(&linear),
            checksum(&linear)
        ),
    );
    run(conn, "SET @v2 = NOW(6)");

    let inputs: Vec<(f32, f32)> = (1..=5)
        .map(|i| ((i % 97) as f32, ((i * 7) % 300) as f32 + 0.5))
        .collect();
    let query = "SELECT MODEL_PREDICT(churn, tenure, spend).score FROM t";
    assert_eq!(
        column(conn, &format!("{query} ORDER BY id")),
        expected_scores("mlflow/churn_linear", &inputs)
    );
    assert_eq!(
        column(conn, &format!("{query} AS OF TIMESTAMP @v1 ORDER BY id")),
        expected_scores("mlflow/churn", &inputs)
    );

    // SHOW CREATE MODEL and the system tables see both versions.
    let show = rows(conn, "SHOW CREATE MODEL churn");
    assert_eq!(show[0][0].as_deref(), Some("churn"));
    let text = show[0][1].clone().expect("text");
    assert!(text.starts_with("CREATE MODEL `churn` (INPUT (`tenure` DOUBLE, `spend` DOUBLE) OUTPUT (`score` FLOAT)) USING MLFLOW"), "{text}");
    assert!(text.contains("churn_linear"), "{text}");
    assert_eq!(
        column(
            conn,
            "SELECT location FROM mysql.tidb_model_version WHERE model_id = 1 ORDER BY version DESC"
        )
        .len(),
        2
    );
    assert_eq!(
        column(
            conn,
            "SELECT VERSION FROM INFORMATION_SCHEMA.TIDB_MODEL_VERSIONS WHERE MODEL_NAME = 'churn' AND ENGINE = 'mlflow' ORDER BY VERSION DESC"
        ),
        vec!["2", "1"]
    );
    assert_eq!(
        column(
            conn,
            "SELECT COUNT(*) FROM mysql.tidb_model_version AS OF TIMESTAMP @v1"
        ),
        vec!["1"]
    );
    let created = column(conn, "SELECT create_time FROM mysql.tidb_model");
    let now = column(conn, "SELECT NOW()");
    assert_eq!(created[0].len(), 19, "{created:?}");
    assert_eq!(&created[0][..10], &now[0][..10], "create_time is today");

    // After DROP, current reads fail and older reads still resolve.
    run(conn, "DROP MODEL churn");
    let err = fail(conn, query);
    assert_mentions(&err, &["model 'test.churn' was dropped"]);
    assert_eq!(
        column(conn, &format!("{query} AS OF TIMESTAMP @v2 ORDER BY id")),
        expected_scores("mlflow/churn_linear", &inputs)
    );
    assert_eq!(
        column(conn, "SELECT status FROM mysql.tidb_model"),
        vec!["deleted"]
    );
    let err = fail(conn, "SELECT MODEL_PREDICT(never, 1, 2).score");
    assert_mentions(&err, &["model 'test.never' does not exist"]);

    // Before the model existed there is no visible version.
    run(
        conn,
        &create_sql("late", CHURN_IO, "MLFLOW", "mlflow/churn"),
    );
    let err = fail(
        conn,
        "SELECT MODEL_PREDICT(late, tenure, spend).score FROM t AS OF TIMESTAMP @v1",
    );
    assert_mentions(&err, &["model 'test.late' has no version visible"]);
}

/// The `execution info` cell of the first operator named `operator`.
fn execution_info(conn: &mut dyn Connection, sql: &str, operator: &str) -> (String, String) {
    let plan = rows(conn, sql);
    let row = plan
        .iter()
        .find(|row| {
            row[0]
                .as_deref()
                .is_some_and(|id| id.trim_start_matches(['└', '├', '─', '│', ' ']) == operator)
        })
        .unwrap_or_else(|| panic!("no {operator} in {plan:?}"));
    (
        row[2].clone().expect("actRows"),
        row[5].clone().expect("execution info"),
    )
}

#[test]
fn batches_split_at_the_max_batch_size() {
    let engine = Engine::fake();
    let mut conn = engine.connect();
    let conn = conn.as_mut();
    create_customers(conn, 5000);
    assert_eq!(
        column(conn, "SELECT COUNT(*), MIN(id), MAX(id) FROM t"),
        vec!["5000"]
    );
    run(
        conn,
        &create_sql("churn", CHURN_IO, "MLFLOW", "mlflow/churn"),
    );

    let sql =
        "EXPLAIN ANALYZE SELECT id FROM t WHERE MODEL_PREDICT(churn, tenure, spend).score > 0";
    let (act_rows, info) = execution_info(conn, sql, "MODEL_PREDICATE");
    assert_eq!(act_rows, "5000");
    assert!(
        info.contains("model:test.churn, version:1, rows:5000, batches:5,"),
        "{info}"
    );

    // Within each chunk of 1024 rows, calls take at most 300 rows.
    engine.set(|s| s.max_batch_size = 300);
    let (_, info) = execution_info(
        conn,
        "EXPLAIN ANALYZE SELECT id FROM t WHERE id <= 1000 AND MODEL_PREDICT(churn, tenure, spend).score > 0",
        "MODEL_PREDICATE",
    );
    assert!(info.contains("rows:1000, batches:4,"), "{info}");
}

#[test]
fn hybrid_filters_send_only_surviving_rows() {
    let engine = Engine::fake();
    let mut conn = engine.connect();
    let conn = conn.as_mut();
    create_customers(conn, 200);
    run(
        conn,
        &create_sql("churn", CHURN_IO, "MLFLOW", "mlflow/churn_linear"),
    );
    run(
        conn,
        &create_sql("fast", CHURN_IO, "ONNX", "onnx/churn_linear.onnx"),
    );

    // The model conjunct is written first but runs last, on 10 rows.
    let (act_rows, info) = execution_info(
        conn,
        "EXPLAIN ANALYZE SELECT id FROM t WHERE MODEL_PREDICT(churn, tenure, spend).score > 0 AND id <= 10",
        "MODEL_PREDICATE",
    );
    assert!(info.contains("rows:10, batches:1,"), "{info}");
    let expected: Vec<String> = (1..=10)
        .filter(|i| {
            -2.0 + 0.03125 * (i % 97) as f64 + 0.0078125 * (((i * 7) % 300) as f64 + 0.5) > 0.0
        })
        .map(|i| i.to_string())
        .collect();
    assert_eq!(act_rows, expected.len().to_string());
    assert_eq!(
        column(
            conn,
            "SELECT id FROM t WHERE MODEL_PREDICT(churn, tenure, spend).score > 0 AND id <= 10 ORDER BY id"
        ),
        expected
    );

    // OR and NOT around a model predicate keep their meaning.
    let score =
        |i: usize| -2.0 + 0.03125 * (i % 97) as f64 + 0.0078125 * (((i * 7) % 300) as f64 + 0.5);
    let or_expected: Vec<String> = (1..=200)
        .filter(|&i| i <= 5 || score(i) > 1.0)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(
        column(
            conn,
            "SELECT id FROM t WHERE id <= 5 OR MODEL_PREDICT(churn, tenure, spend).score > 1 ORDER BY id"
        ),
        or_expected
    );
    let not_expected: Vec<String> = (1..=200)
        .filter(|&i| i > 150 && score(i) <= 1.0)
        .map(|i| i.to_string())
        .collect();
    assert_eq!(
        column(
            conn,
            "SELECT id FROM t WHERE NOT (MODEL_PREDICT(churn, tenure, spend).score > 1) AND id > 150 ORDER BY id"
        ),
        not_expected
    );

    // EXPLAIN: plain conjuncts in the reader, then ONNX before MLflow.
    let plan = rows(
        conn,
        "EXPLAIN SELECT id FROM t WHERE MODEL_PREDICT(churn, tenure, spend).score > 0 AND MODEL_PREDICT(fast, tenure, spend).score > 0 AND id <= 10",
    );
    let ids: Vec<String> = plan
        .iter()
        .map(|r| r[0].clone().unwrap_or_default())
        .collect();
    assert_eq!(
        ids,
        vec![
            "Projection",
            "└─MODEL_PREDICATE",
            "  └─TableReader",
            "    └─Selection",
            "      └─TableFullScan"
        ]
    );
    let info = plan[1][4].clone().unwrap_or_default();
    assert_eq!(
        info,
        "gt(model_predict(fast, test.t.tenure, test.t.spend).score, 0), \
         gt(model_predict(churn, test.t.tenure, test.t.spend).score, 0), \
         model:test.fast, version:1, model:test.churn, version:1"
    );
    assert_eq!(plan[3][4].as_deref(), Some("le(test.t.id, 10)"));

    // A model call in the select list is MODEL_PROJECT.
    let plan = rows(
        conn,
        "EXPLAIN SELECT MODEL_PREDICT(fast, tenure, spend).score FROM t",
    );
    assert_eq!(plan[0][0].as_deref(), Some("MODEL_PROJECT"));
    assert!(plan[0][4]
        .as_deref()
        .unwrap_or_default()
        .ends_with("model:test.fast, version:1"));

    // JOIN ON and HAVING accept model predicates too.
    run(conn, "CREATE TABLE u (id INT PRIMARY KEY)");
    run(conn, "INSERT INTO u VALUES (1), (2), (3)");
    let joined = column(
        conn,
        "SELECT t.id FROM t JOIN u ON t.id = u.id AND MODEL_PREDICT(fast, t.tenure, t.spend).score > -100 ORDER BY t.id",
    );
    assert_eq!(joined, vec!["1", "2", "3"]);
    let having = column(
        conn,
        "SELECT tenure FROM t WHERE id <= 3 GROUP BY tenure, spend HAVING MODEL_PREDICT(fast, tenure, spend).score > -100 ORDER BY tenure",
    );
    assert_eq!(having, vec!["1", "2", "3"]);
}

#[test]
fn onnx_and_mlflow_twins_agree() {
    let engine = Engine::fake();
    let mut conn = engine.connect();
    let conn = conn.as_mut();
    create_customers(conn, 300);
    run(
        conn,
        &create_sql("py", CHURN_IO, "MLFLOW", "mlflow/churn_linear"),
    );
    run(
        conn,
        &create_sql("nx", CHURN_IO, "ONNX", "onnx/churn_linear.onnx"),
    );
    let result = rows(
        conn,
        "SELECT MODEL_PREDICT(py, tenure, spend).score, MODEL_PREDICT(nx, tenure, spend).score FROM t ORDER BY id",
    );
    assert_eq!(result.len(), 300);
    for row in &result {
        assert_eq!(row[0], row[1], "twins differ: {row:?}");
    }
    assert_eq!(
        column(
            conn,
            "SELECT COUNT(*) FROM t WHERE MODEL_PREDICT(py, tenure, spend).score <> MODEL_PREDICT(nx, tenure, spend).score"
        ),
        vec!["0"]
    );

    // Both engines show up in the cache view.
    let cached = column(
        conn,
        "SELECT ENGINE FROM INFORMATION_SCHEMA.TIDB_MODEL_CACHE ORDER BY ENGINE",
    );
    assert_eq!(cached, vec!["mlflow", "onnx"]);
}

#[test]
fn inputs_nulls_and_outputs() {
    let engine = Engine::fake();
    let mut conn = engine.connect();
    let conn = conn.as_mut();
    run(
        conn,
        "CREATE TABLE n (id INT PRIMARY KEY, a INT, b DOUBLE, s VARCHAR(10))",
    );
    run(
        conn,
        "INSERT INTO n VALUES (1, 10, 2.5, 'x'), (2, NULL, 1.0, 'y'), (3, 16777217, 0, 'z')",
    );
    run(
        conn,
        &create_sql("lin", CHURN_IO, "ONNX", "onnx/churn_linear.onnx"),
    );
    run(
        conn,
        &create_sql(
            "risk",
            "INPUT (age BIGINT, income DOUBLE) OUTPUT (score FLOAT, band FLOAT)",
            "MLFLOW",
            "mlflow/risk",
        ),
    );

    // NULL inputs: an error by default, NULL and not sent with RETURN_NULL.
    let err = fail(conn, "SELECT MODEL_PREDICT(lin, a, b).score FROM n");
    assert_mentions(
        &err,
        &[
            "model 'test.lin' version 1",
            "argument 1",
            "NULL",
            "RETURN_NULL",
        ],
    );
    engine.set(|s| s.null_behavior = NullBehavior::ReturnNull);
    let scores = column(
        conn,
        "SELECT MODEL_PREDICT(lin, a, b).score FROM n ORDER BY id",
    );
    assert_eq!(scores[1], "NULL");
    assert_eq!(
        scores[0],
        expected_scores("mlflow/churn_linear", &[(10.0, 2.5)])[0]
    );
    // 16777217 rounds to 16777216 as an FP32 conversion does.
    assert_eq!(
        scores[2],
        expected_scores("mlflow/churn_linear", &[(16_777_216.0, 0.0)])[0]
    );
    let (_, info) = execution_info(
        conn,
        "EXPLAIN ANALYZE SELECT MODEL_PREDICT(lin, a, b).score FROM n",
        "MODEL_PROJECT",
    );
    assert!(info.contains("rows:2, batches:1,"), "{info}");

    // Strings, wrong argument counts and unknown outputs are errors.
    let err = fail(conn, "SELECT MODEL_PREDICT(lin, s, b).score FROM n");
    assert_mentions(
        &err,
        &["model 'test.lin' version 1", "argument 1", "string 'x'"],
    );
    let err = fail(conn, "SELECT MODEL_PREDICT(lin, a, b, a).score FROM n");
    assert_mentions(
        &err,
        &["model 'test.lin'", "takes 2 input arguments", "got 3"],
    );
    let err = fail(conn, "SELECT MODEL_PREDICT(lin, a, b).nothing FROM n");
    assert_mentions(&err, &["has no output 'nothing'", "score"]);

    // The bare call returns every output as one JSON object.
    let bare = column(
        conn,
        "SELECT MODEL_PREDICT(risk, 40, 50000) FROM n WHERE id = 1",
    );
    let band = column(conn, "SELECT MODEL_PREDICT(risk, 40, 50000).band");
    let score = column(conn, "SELECT MODEL_PREDICT(risk, 40, 50000).score");
    assert_eq!(
        bare[0],
        format!("{{\"score\": {}, \"band\": {}}}", score[0], band[0])
    );

    // A NaN output is an error naming the model.
    run(
        conn,
        &create_sql("nan", CHURN_IO, "MLFLOW", "mlflow/faults/nan"),
    );
    let err = fail(conn, "SELECT MODEL_PREDICT(nan, 1, 2).score");
    assert_mentions(
        &err,
        &["model 'test.nan' version 1", "output 'score'", "FLOAT"],
    );
}

#[test]
fn sidecar_timeout_fails_only_that_statement() {
    let engine = Engine::new(Some(fake_command()), |config| {
        config.request_timeout = Duration::from_millis(500);
    });
    let mut conn = engine.connect();
    let conn = conn.as_mut();
    run(
        conn,
        &create_sql("slow", CHURN_IO, "MLFLOW", "mlflow/faults/slow"),
    );
    run(
        conn,
        &create_sql("churn", CHURN_IO, "MLFLOW", "mlflow/churn"),
    );
    let err = fail(conn, "SELECT MODEL_PREDICT(slow, 1, 2).score");
    assert_mentions(&err, &["model 'test.slow' version 1"]);
    assert!(
        err.message.contains("timed out") || err.message.contains("timeout"),
        "{}",
        err.message
    );
    assert_eq!(
        column(conn, "SELECT MODEL_PREDICT(churn, 1, 2).score"),
        expected_scores("mlflow/churn", &[(1.0, 2.0)])
    );
}

#[test]
fn python_sidecar_serves_sql() {
    let engine = Engine::new(Some(python_command()), |_| {});
    let mut conn = engine.connect();
    let conn = conn.as_mut();
    create_customers(conn, 50);
    run(
        conn,
        &create_sql("churn", CHURN_IO, "MLFLOW", "mlflow/churn"),
    );
    let scores = column(
        conn,
        "SELECT MODEL_PREDICT(churn, tenure, spend).score FROM t ORDER BY id",
    );
    let inputs: Vec<(f32, f32)> = (1..=50)
        .map(|i| ((i % 97) as f32, ((i * 7) % 300) as f32 + 0.5))
        .collect();
    let expected = expected_scores("mlflow/churn", &inputs);
    for (got, want) in scores.iter().zip(&expected) {
        let got: f32 = got.parse().expect("float");
        let want: f32 = want.parse().expect("float");
        assert!((got - want).abs() <= 1e-6, "{got} vs {want}");
    }
}

/// One session runs a statement against `faults/slow` (the model sleeps
/// 3 s before each predict) while another session runs plain statements.
/// Inference runs outside the store lock, so the plain statements finish
/// long before the slow one.
#[test]
fn slow_model_blocks_no_other_session() {
    let engine = Engine::fake();
    engine.set(|s| s.timeout = Duration::from_secs(10));
    let mut conn = engine.connect();
    run(
        &mut *conn,
        "CREATE TABLE c (id INT PRIMARY KEY, tenure DOUBLE, spend DOUBLE)",
    );
    run(&mut *conn, "INSERT INTO c VALUES (1, 0, 0), (2, 32, 128)");
    run(&mut *conn, &create_sql("slow", CHURN_IO, "MLFLOW", "mlflow/faults/slow"));

    let target = engine.target().clone();
    let slow = std::thread::spawn(move || {
        let mut conn = target
            .connect(&ConnectOptions {
                database: "test".into(),
                ..ConnectOptions::default()
            })
            .expect("connect");
        let started = std::time::Instant::now();
        let result = conn.execute("SELECT id, MODEL_PREDICT(slow, tenure, spend).score FROM c");
        (result, started.elapsed())
    });

    // Give the slow statement time to reach the sidecar's 3 s delay.
    std::thread::sleep(Duration::from_millis(500));
    let started = std::time::Instant::now();
    assert_eq!(column(&mut *conn, "SELECT COUNT(*) FROM c"), vec!["2"]);
    run(&mut *conn, "INSERT INTO c VALUES (3, 48, 150)");
    assert_eq!(column(&mut *conn, "SELECT COUNT(*) FROM c"), vec!["3"]);
    let plain = started.elapsed();

    let (result, slow_elapsed) = slow.join().expect("slow session thread");
    let outcome = result.expect("slow statement");
    let Outcome::Rows(rows) = outcome else {
        panic!("slow statement returned no rows: {outcome:?}");
    };
    assert_eq!(rows.rows.len(), 2, "the slow statement reads its snapshot");
    assert!(
        slow_elapsed >= Duration::from_millis(2_900),
        "the slow statement took {slow_elapsed:?}, expected the model's 3 s delay"
    );
    assert!(
        plain < Duration::from_millis(1_000),
        "plain statements took {plain:?} while a model ran in another session"
    );
}

/// Bucket of the S3 fetch tests.
const FETCH_BUCKET: &str = "models";

/// Maximum time a gated proxy keeps a fetch waiting, so a failing test
/// cannot leave a DDL statement stuck.
const MAX_HOLD: Duration = Duration::from_secs(5);

/// Builds an engine without a sidecar whose S3 requests go through `proxy`.
fn engine_via(proxy: &GatedProxy) -> Engine {
    let s3 = S3Config {
        endpoint: Some(format!("http://127.0.0.1:{}", proxy.port)),
        region: Some("us-east-1".to_string()),
        access_key_id: Some("testing".to_string()),
        secret_access_key: Some("testing".to_string()),
        allow_http: Some(true),
    };
    Engine::with_s3(None, s3, |_| {})
}

/// Runs `sql` in a new session of `engine` on another thread.
fn spawn_statement(
    engine: &Engine,
    sql: String,
) -> std::thread::JoinHandle<Result<Outcome, SqlError>> {
    let target = engine.target().clone();
    std::thread::spawn(move || {
        let mut conn = target
            .connect(&ConnectOptions {
                database: "test".into(),
                ..ConnectOptions::default()
            })
            .expect("connect");
        conn.execute(&sql)
    })
}

/// Runs `plain` in `conn` while `ddl` waits at the closed gate of `proxy`,
/// checks that `plain` finished promptly and `ddl` is still waiting, then
/// opens the gate and returns the DDL result.
fn while_fetch_is_held(
    proxy: &GatedProxy,
    ddl: std::thread::JoinHandle<Result<Outcome, SqlError>>,
    plain: impl FnOnce(),
) -> Result<Outcome, SqlError> {
    assert!(
        proxy.wait_for_client(Duration::from_secs(10)),
        "the DDL statement never reached the S3 server"
    );
    let started = std::time::Instant::now();
    plain();
    let elapsed = started.elapsed();
    assert!(
        !ddl.is_finished(),
        "the DDL statement finished while its fetch was held"
    );
    proxy.open();
    let result = ddl.join().expect("DDL thread");
    assert!(
        elapsed < Duration::from_secs(1),
        "statements of another session took {elapsed:?} while a model fetch was held"
    );
    result
}

/// CREATE and ALTER MODEL fetch an `s3://` artifact from moto through a
/// proxy that keeps the download waiting until the test opens it. The fetch runs
/// without the store lock, so another session's statements finish
/// meanwhile, and the DDL checks the catalog again when it commits: a
/// model created by another session meanwhile makes CREATE fail as a
/// duplicate, and a model replaced with another engine makes ALTER fail.
#[test]
fn model_fetch_blocks_no_other_session() {
    let moto = MotoServer::start();
    moto.create_bucket(FETCH_BUCKET);
    let onnx = fixture("onnx/churn_linear.onnx");
    let onnx_sum = checksum(&onnx);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = moto.config().build_store(FETCH_BUCKET).expect("S3 client");
    for key in ["v1/churn.onnx", "v2/churn.onnx"] {
        let bytes = std::fs::read(&onnx).expect("read fixture");
        runtime
            .block_on(store.put(&ObjectPath::from(key), PutPayload::from(bytes)))
            .expect("upload fixture");
    }
    let s3_create = |name: &str, key: &str| {
        format!(
            "CREATE MODEL {name} ({CHURN_IO}) USING ONNX \
             LOCATION 's3://{FETCH_BUCKET}/{key}' CHECKSUM '{onnx_sum}'"
        )
    };

    // A held CREATE MODEL blocks neither reads nor writes of another
    // session, and commits once its fetch completes.
    {
        let proxy = GatedProxy::start(moto.port, MAX_HOLD);
        let engine = engine_via(&proxy);
        let mut conn = engine.connect();
        run(
            &mut *conn,
            "CREATE TABLE c (id INT PRIMARY KEY, tenure DOUBLE, spend DOUBLE)",
        );
        run(&mut *conn, "INSERT INTO c VALUES (1, 0, 0), (2, 32, 128)");
        let ddl = spawn_statement(&engine, s3_create("lin", "v1/churn.onnx"));
        let result = while_fetch_is_held(&proxy, ddl, || {
            assert_eq!(column(&mut *conn, "SELECT COUNT(*) FROM c"), vec!["2"]);
            run(&mut *conn, "INSERT INTO c VALUES (3, 48, 150)");
            assert_eq!(column(&mut *conn, "SELECT COUNT(*) FROM c"), vec!["3"]);
        });
        result.unwrap_or_else(|err| panic!("held CREATE MODEL failed: {err}"));
        assert_eq!(
            column(
                &mut *conn,
                "SELECT COUNT(*) FROM c WHERE MODEL_PREDICT(lin, tenure, spend).score > -100"
            ),
            vec!["3"]
        );
    }

    // Another session creates the same model while the fetch is held: the
    // held CREATE gets the duplicate error and commits nothing.
    {
        let proxy = GatedProxy::start(moto.port, MAX_HOLD);
        let engine = engine_via(&proxy);
        let mut conn = engine.connect();
        let ddl = spawn_statement(&engine, s3_create("lin", "v1/churn.onnx"));
        let result = while_fetch_is_held(&proxy, ddl, || {
            run(
                &mut *conn,
                &create_sql("lin", CHURN_IO, "ONNX", "onnx/churn_linear.onnx"),
            );
        });
        let err = match result {
            Ok(outcome) => panic!("held CREATE MODEL succeeded: {outcome:?}"),
            Err(err) => err,
        };
        assert_mentions(&err, &["model 'test.lin' already exists"]);
        assert_eq!(
            column(&mut *conn, "SELECT location FROM mysql.tidb_model_version"),
            vec![uri(&onnx)]
        );
    }

    // Another session drops the model and creates it again as an MLflow
    // model while an ALTER's fetch is held: the ONNX artifact was checked
    // for the old model, so the ALTER fails and the new model keeps its
    // version.
    {
        let proxy = GatedProxy::start(moto.port, MAX_HOLD);
        let engine = engine_via(&proxy);
        let mut conn = engine.connect();
        run(
            &mut *conn,
            &create_sql("lin", CHURN_IO, "ONNX", "onnx/churn_linear.onnx"),
        );
        let ddl = spawn_statement(
            &engine,
            format!(
                "ALTER MODEL lin SET LOCATION 's3://{FETCH_BUCKET}/v2/churn.onnx' CHECKSUM '{onnx_sum}'"
            ),
        );
        let result = while_fetch_is_held(&proxy, ddl, || {
            run(&mut *conn, "DROP MODEL lin");
            run(
                &mut *conn,
                &create_sql("lin", CHURN_IO, "MLFLOW", "mlflow/churn"),
            );
        });
        let err = match result {
            Ok(outcome) => panic!("held ALTER MODEL succeeded: {outcome:?}"),
            Err(err) => err,
        };
        assert_mentions(&err, &["test.lin", "changed the model's engine or columns"]);
        assert_eq!(
            column(
                &mut *conn,
                "SELECT CONCAT(engine, ' ', version) FROM INFORMATION_SCHEMA.TIDB_MODEL_VERSIONS WHERE deleted_at IS NULL"
            ),
            vec!["mlflow 1"]
        );
    }
}
