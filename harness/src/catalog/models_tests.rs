//! Tests of the model catalog rules, errors and system table rows.

use chrono::FixedOffset;
use proptest::prelude::*;
use serde_json::{json, Map};

use super::errors::ModelError;
use super::models::*;
use super::rows::*;
use crate::backend::ModelEngine;
use crate::target::SqlError;

const SUM_A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SUM_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const ACTOR: &str = "root@%";

fn definition(location: &str) -> ModelDefinition {
    ModelDefinition {
        inputs: vec![
            ModelColumn::new("a", ModelColumnType::Double),
            ModelColumn::new("b", ModelColumnType::Int),
        ],
        outputs: vec![ModelColumn::new("s", ModelColumnType::Float)],
        engine: ModelEngine::Mlflow,
        location: location.to_string(),
        checksum: SUM_A.to_string(),
        comment: Some("churn v1".to_string()),
        options: Map::new(),
    }
}

fn catalog_with_model(ts: u64) -> ModelCatalog {
    let mut catalog = ModelCatalog::new();
    catalog
        .create_model("test", "m", definition("s3://b/v1"), false, ACTOR, ts)
        .expect("create");
    catalog
}

#[test]
fn create_gives_version_one() {
    let catalog = catalog_with_model(10);
    let resolved = catalog.resolve("test", "m", 10).expect("resolve");
    assert_eq!(resolved.model.id, 1);
    assert_eq!(resolved.version.version, 1);
    assert_eq!(resolved.version.location, "s3://b/v1");
    assert_eq!(resolved.model.status, ModelStatus::Public);
    assert_eq!(catalog.last_commit_ts(), 10);
}

#[test]
fn names_compare_case_insensitively() {
    let catalog = catalog_with_model(10);
    let resolved = catalog.resolve("TEST", "M", 10).expect("resolve");
    assert_eq!(resolved.model.model_name, "m");
}

#[test]
fn create_existing_name_fails() {
    let mut catalog = catalog_with_model(10);
    let err = catalog
        .create_model("test", "M", definition("s3://b/x"), false, ACTOR, 11)
        .expect_err("duplicate");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(1105, "HY000", "model 'test.M' already exists")
    );
    assert_eq!(
        catalog.last_commit_ts(),
        10,
        "a failed create commits nothing"
    );
}

#[test]
fn create_if_not_exists_is_noop() {
    let mut catalog = catalog_with_model(10);
    let outcome = catalog
        .create_model("test", "m", definition("s3://b/x"), true, ACTOR, 11)
        .expect("if not exists");
    assert_eq!(outcome, CreateOutcome::AlreadyExists { model_id: 1 });
    assert_eq!(catalog.last_commit_ts(), 10);
    assert_eq!(
        catalog
            .resolve("test", "m", 11)
            .expect("resolve")
            .version
            .location,
        "s3://b/v1"
    );
}

#[test]
fn same_name_in_other_db_is_separate() {
    let mut catalog = catalog_with_model(10);
    catalog
        .create_model("other", "m", definition("s3://b/o"), false, ACTOR, 11)
        .expect("create in other db");
    assert_eq!(
        catalog.resolve("other", "m", 11).expect("other").model.id,
        2
    );
    assert_eq!(catalog.resolve("test", "m", 11).expect("test").model.id, 1);
}

#[test]
fn alter_adds_version_and_keeps_old() {
    let mut catalog = catalog_with_model(10);
    let version = catalog
        .alter_model("test", "m", "s3://b/v2", SUM_B, "u1@%", 20)
        .expect("alter");
    assert_eq!(version, 2);

    let now = catalog.resolve("test", "m", 20).expect("at 20");
    assert_eq!(now.version.version, 2);
    assert_eq!(now.version.location, "s3://b/v2");
    assert_eq!(now.version.checksum, SUM_B);
    assert_eq!(
        now.version.inputs,
        definition("").inputs,
        "schema is copied"
    );
    assert_eq!(now.version.created_by, "u1@%");
    assert_eq!(now.model.updated_by, "u1@%");
    assert_eq!(now.model.update_time, 20);

    let before = catalog.resolve("test", "m", 19).expect("at 19");
    assert_eq!(before.version.version, 1);
    assert_eq!(before.version.location, "s3://b/v1");
    assert_eq!(before.model.update_time, 10);
}

#[test]
fn alter_missing_model_fails() {
    let mut catalog = catalog_with_model(10);
    let err = catalog
        .alter_model("test", "nope", "s3://b/v2", SUM_B, ACTOR, 20)
        .expect_err("missing");
    assert_eq!(err.to_string(), "model 'test.nope' does not exist");
}

#[test]
fn alter_rejects_bad_checksum() {
    let mut catalog = catalog_with_model(10);
    let err = catalog
        .alter_model("test", "m", "s3://b/v2", "md5:abc", ACTOR, 20)
        .expect_err("bad checksum");
    assert_eq!(
        err.to_string(),
        "invalid checksum 'md5:abc' for model 'test.m': expected 'sha256:' followed by 64 hexadecimal digits"
    );
    assert_eq!(catalog.last_commit_ts(), 10);
}

#[test]
fn drop_hides_model_after_drop_ts() {
    let mut catalog = catalog_with_model(10);
    let outcome = catalog
        .drop_model("test", "m", false, "u2@%", 30)
        .expect("drop");
    assert_eq!(outcome, DropOutcome::Dropped { model_id: 1 });

    let err = catalog.resolve("test", "m", 30).expect_err("dropped");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1105,
            "HY000",
            "model 'test.m' was dropped at ts 30 (read at ts 30)"
        )
    );
    assert_eq!(
        catalog
            .resolve("test", "m", 29)
            .expect("before drop")
            .version
            .version,
        1
    );
}

#[test]
fn drop_missing_model_fails_unless_if_exists() {
    let mut catalog = ModelCatalog::new();
    let err = catalog
        .drop_model("test", "m", false, ACTOR, 5)
        .expect_err("missing");
    assert_eq!(err.to_string(), "model 'test.m' does not exist");
    assert_eq!(
        catalog
            .drop_model("test", "m", true, ACTOR, 5)
            .expect("if exists"),
        DropOutcome::NotFound
    );
    assert_eq!(catalog.last_commit_ts(), 0);
}

#[test]
fn drop_twice_fails() {
    let mut catalog = catalog_with_model(10);
    catalog
        .drop_model("test", "m", false, ACTOR, 20)
        .expect("drop");
    let err = catalog
        .drop_model("test", "m", false, ACTOR, 21)
        .expect_err("again");
    assert!(matches!(err, ModelError::NotFound { .. }), "{err}");
}

#[test]
fn recreate_gets_new_id_and_version_one() {
    let mut catalog = catalog_with_model(10);
    catalog
        .alter_model("test", "m", "s3://b/v2", SUM_B, ACTOR, 20)
        .expect("alter");
    catalog
        .drop_model("test", "m", false, ACTOR, 30)
        .expect("drop");
    let outcome = catalog
        .create_model("test", "m", definition("s3://b/new"), false, ACTOR, 40)
        .expect("recreate");
    assert_eq!(outcome, CreateOutcome::Created { model_id: 2 });

    let now = catalog.resolve("test", "m", 40).expect("new");
    assert_eq!((now.model.id, now.version.version), (2, 1));
    assert_eq!(now.version.location, "s3://b/new");

    let gap = catalog
        .resolve("test", "m", 35)
        .expect_err("between drop and create");
    assert_eq!(
        gap.to_string(),
        "model 'test.m' was dropped at ts 30 (read at ts 35)"
    );

    let old = catalog.resolve("test", "m", 25).expect("old history");
    assert_eq!((old.model.id, old.version.version), (1, 2));
}

#[test]
fn read_before_create_is_not_visible() {
    let catalog = catalog_with_model(10);
    let err = catalog.resolve("test", "m", 9).expect_err("too early");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1105,
            "HY000",
            "model 'test.m' has no version visible at ts 9"
        )
    );
}

#[test]
fn unknown_model_does_not_exist() {
    let catalog = catalog_with_model(10);
    let err = catalog.resolve("test", "other", 10).expect_err("unknown");
    assert_eq!(
        err,
        ModelError::NotFound {
            db: "test".into(),
            name: "other".into()
        }
    );
}

#[test]
fn stale_commit_ts_is_rejected() {
    let mut catalog = catalog_with_model(10);
    for ts in [5, 10] {
        let err = catalog
            .alter_model("test", "m", "s3://b/v2", SUM_B, ACTOR, ts)
            .expect_err("stale");
        assert_eq!(
            err.to_string(),
            format!("internal error: commit ts {ts} is not greater than the last commit ts 10; the commit clock must be strictly increasing")
        );
    }
    let err = catalog
        .drop_model("test", "m", true, ACTOR, 10)
        .expect_err("stale drop");
    assert!(matches!(err, ModelError::CommitTsNotIncreasing { .. }));
    let err = catalog
        .create_model("test", "x", definition("s3://b/x"), false, ACTOR, 3)
        .expect_err("stale create");
    assert!(matches!(err, ModelError::CommitTsNotIncreasing { .. }));
    assert_eq!(
        catalog
            .resolve("test", "m", 100)
            .expect("unchanged")
            .version
            .version,
        1
    );
}

#[test]
fn definition_validation_errors() {
    let mut catalog = ModelCatalog::new();
    let mut cases: Vec<(ModelDefinition, SqlError)> = Vec::new();

    let mut no_inputs = definition("s3://b/x");
    no_inputs.inputs.clear();
    cases.push((
        no_inputs,
        SqlError::new(
            1105,
            "HY000",
            "model 'test.m' declares no INPUT columns; list at least one",
        ),
    ));

    let mut no_outputs = definition("s3://b/x");
    no_outputs.outputs.clear();
    cases.push((
        no_outputs,
        SqlError::new(
            1105,
            "HY000",
            "model 'test.m' declares no OUTPUT columns; list at least one",
        ),
    ));

    let mut duplicate = definition("s3://b/x");
    duplicate
        .inputs
        .push(ModelColumn::new("A", ModelColumnType::Int));
    cases.push((
        duplicate,
        SqlError::new(1060, "42S21", "Duplicate column name 'A'"),
    ));

    let mut empty_location = definition("  ");
    empty_location.location = " ".into();
    cases.push((
        empty_location,
        SqlError::new(
            1105,
            "HY000",
            "model 'test.m' has an empty LOCATION; give the artifact URI",
        ),
    ));

    let mut short_sum = definition("s3://b/x");
    short_sum.checksum = "sha256:abc".into();
    cases.push((
        short_sum,
        SqlError::new(
            1105,
            "HY000",
            "invalid checksum 'sha256:abc' for model 'test.m': expected 'sha256:' followed by 64 hexadecimal digits",
        ),
    ));

    let mut non_hex = definition("s3://b/x");
    non_hex.checksum = format!("sha256:{}", "g".repeat(64));
    cases.push((
        non_hex.clone(),
        SqlError::from(ModelError::InvalidChecksum {
            db: "test".into(),
            name: "m".into(),
            checksum: non_hex.checksum.clone(),
        }),
    ));

    for (definition, expected) in cases {
        let err = catalog
            .create_model("test", "m", definition, false, ACTOR, 1)
            .expect_err("invalid");
        assert_eq!(SqlError::from(err), expected);
    }
    assert_eq!(catalog.last_commit_ts(), 0);
}

#[test]
fn model_name_length_is_checked() {
    let mut catalog = ModelCatalog::new();
    let long = "m".repeat(65);
    let err = catalog
        .create_model("test", &long, definition("s3://b/x"), false, ACTOR, 1)
        .expect_err("too long");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1059,
            "42000",
            format!("Identifier name '{long}' is too long")
        )
    );
    let ok = "m".repeat(64);
    catalog
        .create_model("test", &ok, definition("s3://b/x"), false, ACTOR, 1)
        .expect("64 characters");
}

#[test]
fn column_type_parsing() {
    let cases = [
        ("int", ModelColumnType::Int),
        ("INTEGER", ModelColumnType::Int),
        ("BigInt", ModelColumnType::Bigint),
        ("float", ModelColumnType::Float),
        ("DOUBLE", ModelColumnType::Double),
        ("real", ModelColumnType::Double),
        ("String", ModelColumnType::String),
    ];
    for (name, expected) in cases {
        assert_eq!(ModelColumnType::parse(name, "c"), Ok(expected), "{name}");
    }
    let err = ModelColumnType::parse("VARCHAR", "label").expect_err("unsupported");
    assert_eq!(
        SqlError::from(err),
        SqlError::new(
            1105,
            "HY000",
            "unsupported type 'VARCHAR' for model column 'label'; use INT, BIGINT, FLOAT, DOUBLE or STRING"
        )
    );
}

#[test]
fn show_create_renders_visible_version() {
    let mut catalog = catalog_with_model(10);
    catalog
        .alter_model("test", "m", "s3://b/v2", SUM_B, ACTOR, 20)
        .expect("alter");
    assert_eq!(
        catalog.show_create("test", "m", 15).expect("at 15"),
        format!("CREATE MODEL `m` (INPUT (`a` DOUBLE, `b` INT) OUTPUT (`s` FLOAT)) USING MLFLOW LOCATION 's3://b/v1' CHECKSUM '{SUM_A}' COMMENT 'churn v1'")
    );
    assert_eq!(
        catalog.show_create("test", "m", 20).expect("at 20"),
        format!("CREATE MODEL `m` (INPUT (`a` DOUBLE, `b` INT) OUTPUT (`s` FLOAT)) USING MLFLOW LOCATION 's3://b/v2' CHECKSUM '{SUM_B}' COMMENT 'churn v1'")
    );
    assert!(catalog.show_create("test", "m", 5).is_err());
}

#[test]
fn show_create_quotes_and_omits_comment() {
    let mut catalog = ModelCatalog::new();
    let mut def = definition("file:///tmp/it's\\here.onnx");
    def.engine = ModelEngine::Onnx;
    def.comment = None;
    def.inputs = vec![ModelColumn::new("we`ird", ModelColumnType::Bigint)];
    catalog
        .create_model("test", "o`nnx", def, false, ACTOR, 1)
        .expect("create");
    assert_eq!(
        catalog.show_create("test", "o`nnx", 1).expect("show"),
        format!("CREATE MODEL `o``nnx` (INPUT (`we``ird` BIGINT) OUTPUT (`s` FLOAT)) USING ONNX LOCATION 'file:///tmp/it''s\\\\here.onnx' CHECKSUM '{SUM_A}'")
    );
}

#[test]
fn system_rows_follow_history() {
    let mut catalog = catalog_with_model(10);
    catalog
        .alter_model("test", "m", "s3://b/v2", SUM_B, "u1@%", 20)
        .expect("alter");
    catalog
        .drop_model("test", "m", false, "u2@%", 30)
        .expect("drop");
    let utc = FixedOffset::east_opt(0).expect("utc");

    // Before the drop: public rows, no deleted_at.
    let table = tidb_model_table(&catalog, 25);
    assert_eq!(table.rows.len(), 1);
    let cells: Vec<Option<String>> = table.rows[0].iter().map(|v| v.to_text(utc)).collect();
    assert_eq!(cells[0].as_deref(), Some("1"));
    assert_eq!(cells[1].as_deref(), Some("test"));
    assert_eq!(cells[3].as_deref(), Some(ACTOR));
    assert_eq!(cells[5].as_deref(), Some("u1@%"));
    assert_eq!(cells[6].as_deref(), Some("public"));
    assert_eq!(cells[7].as_deref(), Some("churn v1"));
    assert_eq!(table.rows[0][9], SystemValue::Timestamp(20));
    assert_eq!(table.rows[0][10], SystemValue::Null);

    // After the drop: the row remains, deleted.
    let table = tidb_model_table(&catalog, 30);
    assert_eq!(table.rows[0][6], SystemValue::Text("deleted".into()));
    assert_eq!(table.rows[0][10], SystemValue::Timestamp(30));
    assert_eq!(table.rows[0][5], SystemValue::Text("u2@%".into()));

    // Versions: one at 15, two at 25, both deleted at 30.
    assert_eq!(tidb_model_version_table(&catalog, 15).rows.len(), 1);
    let versions = tidb_model_version_table(&catalog, 25);
    assert_eq!(versions.columns.len(), versions.rows[0].len());
    assert_eq!(versions.rows.len(), 2);
    assert_eq!(versions.rows[1][2], SystemValue::UInt(2));
    assert_eq!(versions.rows[1][3], SystemValue::Text("mlflow".into()));
    assert_eq!(
        versions.rows[1][6],
        SystemValue::Json(json!([{"name": "a", "type": "DOUBLE"}, {"name": "b", "type": "INT"}]))
    );
    assert_eq!(
        versions.rows[1][7].to_text(utc).as_deref(),
        Some(r#"[{"name":"s","type":"FLOAT"}]"#)
    );
    assert_eq!(versions.rows[1][8].to_text(utc).as_deref(), Some("{}"));
    assert_eq!(versions.rows[1][10], SystemValue::Text("public".into()));
    let dropped = tidb_model_version_table(&catalog, 30);
    assert!(dropped
        .rows
        .iter()
        .all(|row| row[10] == SystemValue::Text("deleted".into())
            && row[12] == SystemValue::Timestamp(30)));

    assert!(tidb_model_table(&catalog, 9).rows.is_empty());
}

#[test]
fn versions_view_joins_model_names() {
    let mut catalog = catalog_with_model(10);
    catalog
        .alter_model("test", "m", "s3://b/v2", SUM_B, ACTOR, 20)
        .expect("alter");
    let view = tidb_model_versions_view(&catalog, 20);
    assert_eq!(view.schema, "INFORMATION_SCHEMA");
    assert_eq!(view.rows.len(), 2);
    for row in &view.rows {
        assert_eq!(row.len(), view.columns.len());
        assert_eq!(row[0], SystemValue::Text("test".into()));
        assert_eq!(row[1], SystemValue::Text("m".into()));
    }
    assert_eq!(view.rows[1][3], SystemValue::UInt(2));
    assert_eq!(view.rows[1][6], SystemValue::Text(SUM_B.into()));
}

#[test]
fn cache_view_renders_entries() {
    let entry = ModelCacheRow {
        engine: ModelEngine::Onnx,
        model_schema: Some("test".into()),
        model_name: None,
        version: Some(3),
        checksum: SUM_A.into(),
        hits: 7,
        misses: 1,
        load_time: Some(super::tso::compose_tso(0, 0)),
        last_used_time: None,
    };
    let view = tidb_model_cache_view(&[entry]);
    let utc = FixedOffset::east_opt(0).expect("utc");
    let cells: Vec<Option<String>> = view.rows[0].iter().map(|v| v.to_text(utc)).collect();
    assert_eq!(
        cells,
        vec![
            Some("onnx".into()),
            Some("test".into()),
            None,
            Some("3".into()),
            Some(SUM_A.into()),
            Some("7".into()),
            Some("1".into()),
            Some("1970-01-01 00:00:00".into()),
            None,
        ]
    );
}

#[test]
fn drop_database_drops_its_models() {
    let mut catalog = catalog_with_model(10);
    catalog
        .create_model("test", "n", definition("s3://b/n"), false, ACTOR, 11)
        .expect("second");
    catalog
        .create_model("keep", "m", definition("s3://b/k"), false, ACTOR, 12)
        .expect("other db");
    let names = catalog
        .drop_database_models("TEST", ACTOR, 20)
        .expect("drop db");
    assert_eq!(names, vec!["m".to_string(), "n".to_string()]);
    assert!(matches!(
        catalog.resolve("test", "n", 20),
        Err(ModelError::Dropped { .. })
    ));
    assert!(catalog.resolve("keep", "m", 20).is_ok());
    assert!(catalog.resolve("test", "n", 19).is_ok());

    let none = catalog
        .drop_database_models("empty", ACTOR, 21)
        .expect("nothing");
    assert!(none.is_empty());
    assert_eq!(
        catalog.last_commit_ts(),
        20,
        "no commit when nothing was dropped"
    );
}

// ===== model-based property test =====

/// One DDL operation of the property test; `name` indexes [`NAMES`].
#[derive(Debug, Clone)]
enum Op {
    Create { name: usize, if_not_exists: bool },
    Alter { name: usize },
    Drop { name: usize, if_exists: bool },
}

/// Two spellings of one name exercise case-insensitive matching.
const NAMES: [&str; 3] = ["a", "b", "A"];

fn canonical(name: usize) -> &'static str {
    if name == 2 {
        "a"
    } else {
        NAMES[name]
    }
}

/// An accepted event of the reference log.
#[derive(Debug, Clone)]
enum Event {
    Created { model_id: u64, location: String },
    Altered { location: String },
    Dropped,
}

/// What a read expects: the model id, version and location, or an error.
#[derive(Debug, Clone, PartialEq)]
enum Expected {
    Visible(u64, u64, String),
    Dropped(u64),
    NotVisible,
    NotFound,
}

/// The rules replayed over a plain event list.
#[derive(Debug, Default)]
struct Reference {
    events: Vec<(u64, &'static str, Event)>,
    next_model_id: u64,
}

impl Reference {
    /// The state of `name` after replaying events up to `read_ts`.
    fn expect(&self, name: &str, read_ts: u64) -> Expected {
        let mut state: Option<Expected> = None;
        let mut seen = false;
        for (ts, event_name, event) in &self.events {
            if *event_name != name {
                continue;
            }
            seen = true;
            if *ts > read_ts {
                continue;
            }
            state = Some(match (event, state.take()) {
                (Event::Created { model_id, location }, _) => {
                    Expected::Visible(*model_id, 1, location.clone())
                }
                (Event::Altered { location }, Some(Expected::Visible(id, version, _))) => {
                    Expected::Visible(id, version + 1, location.clone())
                }
                (Event::Dropped, Some(Expected::Visible(..))) => Expected::Dropped(*ts),
                (event, previous) => panic!("reference accepted {event:?} after {previous:?}"),
            });
        }
        match state {
            Some(expected) => expected,
            None if seen => Expected::NotVisible,
            None => Expected::NotFound,
        }
    }

    fn is_live(&self, name: &str, now: u64) -> bool {
        matches!(self.expect(name, now), Expected::Visible(..))
    }

    fn version_rows(&self, read_ts: u64) -> usize {
        self.events
            .iter()
            .filter(|(ts, _, e)| *ts <= read_ts && !matches!(e, Event::Dropped))
            .count()
    }
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, any::<bool>()).prop_map(|(name, if_not_exists)| Op::Create {
            name,
            if_not_exists
        }),
        (0..3usize).prop_map(|name| Op::Alter { name }),
        (0..3usize, any::<bool>()).prop_map(|(name, if_exists)| Op::Drop { name, if_exists }),
    ]
}

proptest! {
    #[test]
    fn catalog_matches_reference(
        steps in prop::collection::vec((op_strategy(), 0..3u64, prop::bool::weighted(0.1)), 1..40)
    ) {
        let mut catalog = ModelCatalog::new();
        let mut reference = Reference::default();
        let mut ts = 0u64;
        let mut counter = 0u64;

        for (op, gap, stale) in steps {
            // A stale ts must be rejected and change nothing.
            let commit_ts = if stale { ts } else { ts + gap + 1 };
            let latest = ts;
            counter += 1;
            let location = format!("s3://b/{counter}");

            match op {
                Op::Create { name, if_not_exists } => {
                    let result = catalog.create_model(
                        "db", NAMES[name], definition(&location), if_not_exists, ACTOR, commit_ts,
                    );
                    let live = reference.is_live(canonical(name), latest);
                    match result {
                        Err(ModelError::CommitTsNotIncreasing { .. }) => prop_assert!(stale),
                        Ok(CreateOutcome::Created { model_id }) => {
                            prop_assert!(!stale && !live);
                            reference.next_model_id += 1;
                            prop_assert_eq!(model_id, reference.next_model_id);
                            reference.events.push((commit_ts, canonical(name), Event::Created { model_id, location }));
                            ts = commit_ts;
                        }
                        Ok(CreateOutcome::AlreadyExists { .. }) => prop_assert!(!stale && live && if_not_exists),
                        Err(ModelError::AlreadyExists { .. }) => prop_assert!(!stale && live && !if_not_exists),
                        Err(other) => prop_assert!(false, "unexpected {}", other),
                    }
                }
                Op::Alter { name } => {
                    let result = catalog.alter_model("db", NAMES[name], &location, SUM_B, ACTOR, commit_ts);
                    let live = reference.is_live(canonical(name), latest);
                    match result {
                        Err(ModelError::CommitTsNotIncreasing { .. }) => prop_assert!(stale),
                        Ok(_) => {
                            prop_assert!(!stale && live);
                            reference.events.push((commit_ts, canonical(name), Event::Altered { location }));
                            ts = commit_ts;
                        }
                        Err(ModelError::NotFound { .. }) => prop_assert!(!stale && !live),
                        Err(other) => prop_assert!(false, "unexpected {}", other),
                    }
                }
                Op::Drop { name, if_exists } => {
                    let result = catalog.drop_model("db", NAMES[name], if_exists, ACTOR, commit_ts);
                    let live = reference.is_live(canonical(name), latest);
                    match result {
                        Err(ModelError::CommitTsNotIncreasing { .. }) => prop_assert!(stale),
                        Ok(DropOutcome::Dropped { .. }) => {
                            prop_assert!(!stale && live);
                            reference.events.push((commit_ts, canonical(name), Event::Dropped));
                            ts = commit_ts;
                        }
                        Ok(DropOutcome::NotFound) => prop_assert!(!stale && !live && if_exists),
                        Err(ModelError::NotFound { .. }) => prop_assert!(!stale && !live && !if_exists),
                        Err(other) => prop_assert!(false, "unexpected {}", other),
                    }
                }
            }
            prop_assert_eq!(catalog.last_commit_ts(), ts);
        }

        // Every read ts, every name: the catalog agrees with the replay.
        for read_ts in 0..=ts + 1 {
            for name in ["a", "b", "B"] {
                let expected = reference.expect(&name.to_ascii_lowercase(), read_ts);
                let actual = match catalog.resolve("db", name, read_ts) {
                    Ok(r) => Expected::Visible(r.model.id, r.version.version, r.version.location),
                    Err(ModelError::Dropped { deleted_at, .. }) => Expected::Dropped(deleted_at),
                    Err(ModelError::NotVisible { .. }) => Expected::NotVisible,
                    Err(ModelError::NotFound { .. }) => Expected::NotFound,
                    Err(other) => return Err(TestCaseError::fail(format!("unexpected {other}"))),
                };
                prop_assert_eq!(actual, expected, "name {} at ts {}", name, read_ts);
            }
            prop_assert_eq!(catalog.version_rows(read_ts).len(), reference.version_rows(read_ts));
        }
    }
}
