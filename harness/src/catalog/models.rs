//! The model catalog: the rows of `mysql.tidb_model` and
//! `mysql.tidb_model_version`, kept as MVCC histories.
//!
//! Every write takes a `commit_ts` and every read a `read_ts`. A row
//! version committed at `c` is visible to reads at `read_ts >= c`. Writes
//! must come in strictly increasing `commit_ts` order.
//!
//! Rules:
//! - CREATE MODEL inserts a model row (status `public`) and version 1.
//! - ALTER MODEL inserts version `max + 1` with the new location and
//!   checksum. It copies the engine, schemas and options, and updates the
//!   model row's `update_time` and `updated_by`.
//! - DROP MODEL sets the model row and all its version rows to status
//!   `deleted` with `deleted_at = commit_ts`. Reads before the drop still
//!   see the old rows.
//! - CREATE after DROP inserts a new model row with a new id, and its
//!   versions restart at 1. Ids are never reused, as TiDB never reuses
//!   table ids. The dropped row keeps its history, so `(db_name,
//!   model_name)` is unique only among rows that are not deleted.
//! - Resolution at `read_ts` picks the model row with that name whose
//!   visible state is `public`, then its highest version visible at
//!   `read_ts`.
//!
//! Database and model names compare ASCII case-insensitively and are
//! stored as written, like TiDB with `lower_case_table_names = 2`.

use serde_json::{Map, Value};

use super::errors::ModelError;
use crate::backend::ModelEngine;

/// MySQL's identifier length limit, which TiDB also applies.
const MAX_IDENTIFIER_CHARS: usize = 64;

/// The declared type of an INPUT or OUTPUT column of `CREATE MODEL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelColumnType {
    /// `INT` (alias `INTEGER`).
    Int,
    /// `BIGINT`.
    Bigint,
    /// `FLOAT` (FP32).
    Float,
    /// `DOUBLE` (alias `REAL`).
    Double,
    /// `STRING`, as upstream examples declare labels. Values are FP32 at
    /// run time, so engines may reject it at DDL or inference time.
    String,
}

impl ModelColumnType {
    /// Parses a type name as written in the INPUT/OUTPUT list,
    /// case-insensitively. `column` names the column in the error.
    pub fn parse(type_name: &str, column: &str) -> Result<ModelColumnType, ModelError> {
        match type_name.to_ascii_uppercase().as_str() {
            "INT" | "INTEGER" => Ok(ModelColumnType::Int),
            "BIGINT" => Ok(ModelColumnType::Bigint),
            "FLOAT" => Ok(ModelColumnType::Float),
            "DOUBLE" | "REAL" => Ok(ModelColumnType::Double),
            "STRING" => Ok(ModelColumnType::String),
            _ => Err(ModelError::UnsupportedType {
                column: column.to_string(),
                type_name: type_name.to_string(),
            }),
        }
    }

    /// The canonical SQL name, used by SHOW CREATE MODEL and the schema
    /// JSON.
    pub fn sql_name(self) -> &'static str {
        match self {
            ModelColumnType::Int => "INT",
            ModelColumnType::Bigint => "BIGINT",
            ModelColumnType::Float => "FLOAT",
            ModelColumnType::Double => "DOUBLE",
            ModelColumnType::String => "STRING",
        }
    }
}

/// One INPUT or OUTPUT column of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelColumn {
    /// Column name as declared.
    pub name: String,
    /// Declared type.
    pub column_type: ModelColumnType,
}

impl ModelColumn {
    /// Builds a column from its name and type.
    pub fn new(name: impl Into<String>, column_type: ModelColumnType) -> ModelColumn {
        ModelColumn {
            name: name.into(),
            column_type,
        }
    }
}

/// Everything `CREATE MODEL` declares besides the name.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDefinition {
    /// INPUT columns in declaration order.
    pub inputs: Vec<ModelColumn>,
    /// OUTPUT columns in declaration order.
    pub outputs: Vec<ModelColumn>,
    /// `USING ONNX` or `USING MLFLOW`.
    pub engine: ModelEngine,
    /// Artifact URI from `LOCATION`.
    pub location: String,
    /// `sha256:<64 hex>` from `CHECKSUM`.
    pub checksum: String,
    /// `COMMENT` text; `None` when the clause is absent.
    pub comment: Option<String>,
    /// Extra settings stored in `tidb_model_version.options`; `{}` when
    /// there are none.
    pub options: Map<String, Value>,
}

/// The `status` column of both model tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelStatus {
    /// Live and resolvable.
    Public,
    /// Dropped; `deleted_at` is set.
    Deleted,
}

impl ModelStatus {
    /// The value stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelStatus::Public => "public",
            ModelStatus::Deleted => "deleted",
        }
    }
}

/// One row of `mysql.tidb_model`. Times are commit timestamps (TSO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRow {
    /// Model id, unique across all models ever created.
    pub id: u64,
    /// Database name.
    pub db_name: String,
    /// Model name.
    pub model_name: String,
    /// Account that created the model (`user@host`).
    pub owner: String,
    /// Account that created the model (`user@host`).
    pub created_by: String,
    /// Account of the last CREATE, ALTER or DROP (`user@host`).
    pub updated_by: String,
    /// `public` or `deleted`.
    pub status: ModelStatus,
    /// COMMENT text, `None` for NULL.
    pub comment: Option<String>,
    /// Commit ts of CREATE MODEL.
    pub create_time: u64,
    /// Commit ts of the last CREATE, ALTER or DROP.
    pub update_time: u64,
    /// Commit ts of DROP MODEL, `None` while live.
    pub deleted_at: Option<u64>,
}

/// One row of `mysql.tidb_model_version`. Times are commit timestamps.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelVersionRow {
    /// Row id, unique across all version rows.
    pub id: u64,
    /// The `tidb_model.id` this version belongs to.
    pub model_id: u64,
    /// Version number, from 1, unique per model.
    pub version: u64,
    /// `onnx` or `mlflow`.
    pub engine: ModelEngine,
    /// Artifact URI.
    pub location: String,
    /// `sha256:<64 hex>`.
    pub checksum: String,
    /// INPUT columns (stored as JSON in `input_schema`).
    pub inputs: Vec<ModelColumn>,
    /// OUTPUT columns (stored as JSON in `output_schema`).
    pub outputs: Vec<ModelColumn>,
    /// The `options` JSON object.
    pub options: Map<String, Value>,
    /// Account that created this version (`user@host`).
    pub created_by: String,
    /// `public` or `deleted`.
    pub status: ModelStatus,
    /// Commit ts of the CREATE or ALTER that made this version.
    pub create_time: u64,
    /// Commit ts of DROP MODEL, `None` while live.
    pub deleted_at: Option<u64>,
}

/// The model row and version a statement uses.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedModel {
    /// The model row as of the read ts.
    pub model: ModelRow,
    /// The highest version visible at the read ts.
    pub version: ModelVersionRow,
}

/// The result of CREATE MODEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new model row and version 1 were committed.
    Created {
        /// The new model id.
        model_id: u64,
    },
    /// `IF NOT EXISTS` found a live model of that name; nothing was
    /// committed. MySQL reports this case as a note-level warning.
    AlreadyExists {
        /// The existing model id.
        model_id: u64,
    },
}

/// The result of DROP MODEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropOutcome {
    /// The model was marked deleted.
    Dropped {
        /// The dropped model id.
        model_id: u64,
    },
    /// `IF EXISTS` found no live model; nothing was committed.
    NotFound,
}

/// The MVCC history of one row: `(commit_ts, value)` in commit order.
#[derive(Debug, Clone)]
struct History<T> {
    entries: Vec<(u64, T)>,
}

impl<T> History<T> {
    fn new(commit_ts: u64, value: T) -> History<T> {
        History {
            entries: vec![(commit_ts, value)],
        }
    }

    /// The value visible at `read_ts`, if the row existed then.
    fn at(&self, read_ts: u64) -> Option<&T> {
        let visible = self.entries.partition_point(|(ts, _)| *ts <= read_ts);
        visible.checked_sub(1).map(|i| &self.entries[i].1)
    }

    fn latest(&self) -> &T {
        // A history is created with one entry and never shrinks.
        &self.entries[self.entries.len() - 1].1
    }

    fn push(&mut self, commit_ts: u64, value: T) {
        self.entries.push((commit_ts, value));
    }
}

/// One model id: its `tidb_model` row and its `tidb_model_version` rows.
#[derive(Debug, Clone)]
struct ModelEntry {
    row: History<ModelRow>,
    versions: Vec<History<ModelVersionRow>>,
}

impl ModelEntry {
    fn has_name(&self, db: &str, name: &str) -> bool {
        let row = self.row.latest();
        row.db_name.eq_ignore_ascii_case(db) && row.model_name.eq_ignore_ascii_case(name)
    }

    fn is_live(&self) -> bool {
        self.row.latest().status == ModelStatus::Public
    }
}

/// The model catalog of one server.
#[derive(Debug, Clone, Default)]
pub struct ModelCatalog {
    /// Highest commit ts applied so far; 0 before the first write.
    last_commit_ts: u64,
    /// Entry `i` has model id `i + 1`.
    models: Vec<ModelEntry>,
    /// Number of version rows ever created; the next row id is this + 1.
    version_rows: u64,
}

impl ModelCatalog {
    /// An empty catalog.
    pub fn new() -> ModelCatalog {
        ModelCatalog::default()
    }

    /// The highest commit ts applied so far (0 before any write).
    pub fn last_commit_ts(&self) -> u64 {
        self.last_commit_ts
    }

    /// Runs CREATE MODEL `db`.`name` at `commit_ts` as `actor`
    /// (`user@host`).
    ///
    /// With `if_not_exists`, an existing live model is not an error and
    /// nothing is committed.
    pub fn create_model(
        &mut self,
        db: &str,
        name: &str,
        definition: ModelDefinition,
        if_not_exists: bool,
        actor: &str,
        commit_ts: u64,
    ) -> Result<CreateOutcome, ModelError> {
        self.check_commit_ts(commit_ts)?;
        validate_identifier(name)?;
        validate_definition(db, name, &definition)?;

        // Uniqueness among live rows.
        if let Some(existing) = self.live_index(db, name) {
            let model_id = self.models[existing].row.latest().id;
            if if_not_exists {
                return Ok(CreateOutcome::AlreadyExists { model_id });
            }
            return Err(ModelError::AlreadyExists {
                db: db.to_string(),
                name: name.to_string(),
            });
        }

        // The model row and version 1 commit together.
        let model_id = self.models.len() as u64 + 1;
        let row = ModelRow {
            id: model_id,
            db_name: db.to_string(),
            model_name: name.to_string(),
            owner: actor.to_string(),
            created_by: actor.to_string(),
            updated_by: actor.to_string(),
            status: ModelStatus::Public,
            comment: definition.comment,
            create_time: commit_ts,
            update_time: commit_ts,
            deleted_at: None,
        };
        self.version_rows += 1;
        let version = ModelVersionRow {
            id: self.version_rows,
            model_id,
            version: 1,
            engine: definition.engine,
            location: definition.location,
            checksum: definition.checksum,
            inputs: definition.inputs,
            outputs: definition.outputs,
            options: definition.options,
            created_by: actor.to_string(),
            status: ModelStatus::Public,
            create_time: commit_ts,
            deleted_at: None,
        };
        self.models.push(ModelEntry {
            row: History::new(commit_ts, row),
            versions: vec![History::new(commit_ts, version)],
        });
        self.last_commit_ts = commit_ts;
        Ok(CreateOutcome::Created { model_id })
    }

    /// Runs ALTER MODEL `db`.`name` SET LOCATION ... CHECKSUM ... at
    /// `commit_ts`, returning the new version number.
    pub fn alter_model(
        &mut self,
        db: &str,
        name: &str,
        location: &str,
        checksum: &str,
        actor: &str,
        commit_ts: u64,
    ) -> Result<u64, ModelError> {
        self.check_commit_ts(commit_ts)?;
        let index = self
            .live_index(db, name)
            .ok_or_else(|| ModelError::NotFound {
                db: db.to_string(),
                name: name.to_string(),
            })?;
        validate_location(db, name, location)?;
        validate_checksum(db, name, checksum)?;

        // The new version copies everything but location and checksum from
        // the current one.
        let entry = &mut self.models[index];
        let current = entry
            .versions
            .iter()
            .map(History::latest)
            .max_by_key(|row| row.version)
            .cloned()
            .ok_or_else(|| ModelError::Internal(format!("model '{db}.{name}' has no versions")))?;
        self.version_rows += 1;
        let new_version = ModelVersionRow {
            id: self.version_rows,
            version: current.version + 1,
            location: location.to_string(),
            checksum: checksum.to_string(),
            created_by: actor.to_string(),
            create_time: commit_ts,
            ..current
        };
        let number = new_version.version;
        entry.versions.push(History::new(commit_ts, new_version));

        let mut row = entry.row.latest().clone();
        row.update_time = commit_ts;
        row.updated_by = actor.to_string();
        entry.row.push(commit_ts, row);

        self.last_commit_ts = commit_ts;
        Ok(number)
    }

    /// Runs DROP MODEL `db`.`name` at `commit_ts`.
    ///
    /// With `if_exists`, a missing model is not an error and nothing is
    /// committed.
    pub fn drop_model(
        &mut self,
        db: &str,
        name: &str,
        if_exists: bool,
        actor: &str,
        commit_ts: u64,
    ) -> Result<DropOutcome, ModelError> {
        self.check_commit_ts(commit_ts)?;
        let Some(index) = self.live_index(db, name) else {
            if if_exists {
                return Ok(DropOutcome::NotFound);
            }
            return Err(ModelError::NotFound {
                db: db.to_string(),
                name: name.to_string(),
            });
        };
        let model_id = self.mark_deleted(index, actor, commit_ts);
        self.last_commit_ts = commit_ts;
        Ok(DropOutcome::Dropped { model_id })
    }

    /// Drops every live model of database `db` at `commit_ts`, as DROP
    /// DATABASE does, and returns their names. Commits nothing when there
    /// are none.
    pub fn drop_database_models(
        &mut self,
        db: &str,
        actor: &str,
        commit_ts: u64,
    ) -> Result<Vec<String>, ModelError> {
        self.check_commit_ts(commit_ts)?;
        let live: Vec<usize> = (0..self.models.len())
            .filter(|&i| {
                let entry = &self.models[i];
                entry.is_live() && entry.row.latest().db_name.eq_ignore_ascii_case(db)
            })
            .collect();
        let mut names = Vec::with_capacity(live.len());
        for index in live {
            names.push(self.models[index].row.latest().model_name.clone());
            self.mark_deleted(index, actor, commit_ts);
        }
        if !names.is_empty() {
            self.last_commit_ts = commit_ts;
        }
        Ok(names)
    }

    /// Returns the model and version that `db`.`name` names at `read_ts`.
    ///
    /// Errors: [`ModelError::NotFound`] when no model of that name was ever
    /// created, [`ModelError::Dropped`] when the name was dropped at or
    /// before `read_ts` and not created again, and
    /// [`ModelError::NotVisible`] when the model was created after
    /// `read_ts`.
    pub fn resolve(&self, db: &str, name: &str, read_ts: u64) -> Result<ResolvedModel, ModelError> {
        let mut dropped_at: Option<u64> = None;
        let mut seen = false;

        for entry in self.models.iter().filter(|e| e.has_name(db, name)) {
            seen = true;
            let Some(row) = entry.row.at(read_ts) else {
                continue;
            };
            match row.status {
                ModelStatus::Public => {
                    let version = entry
                        .versions
                        .iter()
                        .filter_map(|history| history.at(read_ts))
                        .max_by_key(|version| version.version)
                        .cloned()
                        .ok_or_else(|| ModelError::NotVisible {
                            db: db.to_string(),
                            name: name.to_string(),
                            read_ts,
                        })?;
                    return Ok(ResolvedModel {
                        model: row.clone(),
                        version,
                    });
                }
                ModelStatus::Deleted => {
                    dropped_at = dropped_at.max(row.deleted_at);
                }
            }
        }

        if let Some(deleted_at) = dropped_at {
            return Err(ModelError::Dropped {
                db: db.to_string(),
                name: name.to_string(),
                deleted_at,
                read_ts,
            });
        }
        if seen {
            return Err(ModelError::NotVisible {
                db: db.to_string(),
                name: name.to_string(),
                read_ts,
            });
        }
        Err(ModelError::NotFound {
            db: db.to_string(),
            name: name.to_string(),
        })
    }

    /// Renders SHOW CREATE MODEL for the version visible at `read_ts`.
    ///
    /// The form is one line:
    /// ``CREATE MODEL `m` (INPUT (`a` DOUBLE, `b` INT) OUTPUT (`s` FLOAT)) USING MLFLOW LOCATION '<uri>' CHECKSUM 'sha256:<hex>' COMMENT '<text>'``.
    /// Identifiers are quoted with backticks (a backtick inside is doubled),
    /// strings with single quotes (a quote inside is doubled, a backslash is
    /// escaped). The COMMENT clause is omitted when the model has none.
    pub fn show_create(&self, db: &str, name: &str, read_ts: u64) -> Result<String, ModelError> {
        let resolved = self.resolve(db, name, read_ts)?;
        Ok(render_create_model(&resolved))
    }

    /// The rows of `mysql.tidb_model` visible at `read_ts`, by id.
    pub fn model_rows(&self, read_ts: u64) -> Vec<ModelRow> {
        self.models
            .iter()
            .filter_map(|entry| entry.row.at(read_ts).cloned())
            .collect()
    }

    /// The rows of `mysql.tidb_model_version` visible at `read_ts`, by
    /// model id then version.
    pub fn version_rows(&self, read_ts: u64) -> Vec<ModelVersionRow> {
        self.models
            .iter()
            .flat_map(|entry| entry.versions.iter())
            .filter_map(|history| history.at(read_ts).cloned())
            .collect()
    }

    /// Pairs each version row visible at `read_ts` with its model row, for
    /// views that show both.
    pub fn versions_with_models(&self, read_ts: u64) -> Vec<(ModelRow, ModelVersionRow)> {
        let mut out = Vec::new();
        for entry in &self.models {
            let Some(model) = entry.row.at(read_ts) else {
                continue;
            };
            for history in &entry.versions {
                if let Some(version) = history.at(read_ts) {
                    out.push((model.clone(), version.clone()));
                }
            }
        }
        out
    }

    /// Rejects a write whose ts does not follow the last commit. This is a
    /// bug in the caller's clock, never a user error.
    fn check_commit_ts(&self, commit_ts: u64) -> Result<(), ModelError> {
        if commit_ts <= self.last_commit_ts {
            return Err(ModelError::CommitTsNotIncreasing {
                commit_ts,
                last_commit_ts: self.last_commit_ts,
            });
        }
        Ok(())
    }

    /// The index of the live model named `db`.`name`, if any.
    fn live_index(&self, db: &str, name: &str) -> Option<usize> {
        self.models
            .iter()
            .position(|entry| entry.is_live() && entry.has_name(db, name))
    }

    /// Marks a model row and its versions deleted at `commit_ts` and
    /// returns the model id.
    fn mark_deleted(&mut self, index: usize, actor: &str, commit_ts: u64) -> u64 {
        let entry = &mut self.models[index];

        let mut row = entry.row.latest().clone();
        row.status = ModelStatus::Deleted;
        row.deleted_at = Some(commit_ts);
        row.update_time = commit_ts;
        row.updated_by = actor.to_string();
        let model_id = row.id;
        entry.row.push(commit_ts, row);

        for history in &mut entry.versions {
            let mut version = history.latest().clone();
            version.status = ModelStatus::Deleted;
            version.deleted_at = Some(commit_ts);
            history.push(commit_ts, version);
        }
        model_id
    }
}

/// Renders the CREATE MODEL text of a resolved version.
pub fn render_create_model(resolved: &ResolvedModel) -> String {
    let version = &resolved.version;
    let mut text = format!(
        "CREATE MODEL {} (INPUT ({}) OUTPUT ({})) USING {} LOCATION {} CHECKSUM {}",
        quote_identifier(&resolved.model.model_name),
        render_columns(&version.inputs),
        render_columns(&version.outputs),
        version.engine.as_str().to_ascii_uppercase(),
        quote_string(&version.location),
        quote_string(&version.checksum),
    );
    if let Some(comment) = &resolved.model.comment {
        text.push_str(" COMMENT ");
        text.push_str(&quote_string(comment));
    }
    text
}

fn render_columns(columns: &[ModelColumn]) -> String {
    columns
        .iter()
        .map(|c| format!("{} {}", quote_identifier(&c.name), c.column_type.sql_name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Quotes an identifier with backticks, doubling any backtick inside.
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// Quotes a string literal with single quotes, escaping `\` and `'` as
/// MySQL's SHOW CREATE output does.
pub fn quote_string(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

fn validate_identifier(name: &str) -> Result<(), ModelError> {
    if name.is_empty() {
        return Err(ModelError::InvalidDefinition(
            "the model name is empty".to_string(),
        ));
    }
    if name.chars().count() > MAX_IDENTIFIER_CHARS {
        return Err(ModelError::IdentifierTooLong {
            name: name.to_string(),
        });
    }
    Ok(())
}

fn validate_definition(
    db: &str,
    name: &str,
    definition: &ModelDefinition,
) -> Result<(), ModelError> {
    for (kind, columns) in [
        ("INPUT", &definition.inputs),
        ("OUTPUT", &definition.outputs),
    ] {
        if columns.is_empty() {
            return Err(ModelError::InvalidDefinition(format!(
                "model '{db}.{name}' declares no {kind} columns; list at least one"
            )));
        }
        for (i, column) in columns.iter().enumerate() {
            validate_identifier(&column.name).map_err(|_| {
                ModelError::InvalidDefinition(format!(
                    "model '{db}.{name}' has an {kind} column with an empty or too long name"
                ))
            })?;
            let duplicate = columns[..i]
                .iter()
                .any(|earlier| earlier.name.eq_ignore_ascii_case(&column.name));
            if duplicate {
                return Err(ModelError::DuplicateColumn {
                    column: column.name.clone(),
                });
            }
        }
    }
    validate_location(db, name, &definition.location)?;
    validate_checksum(db, name, &definition.checksum)
}

fn validate_location(db: &str, name: &str, location: &str) -> Result<(), ModelError> {
    if location.trim().is_empty() {
        return Err(ModelError::InvalidDefinition(format!(
            "model '{db}.{name}' has an empty LOCATION; give the artifact URI"
        )));
    }
    Ok(())
}

/// Checks the `sha256:<64 hex>` form; hex digits may be either case.
fn validate_checksum(db: &str, name: &str, checksum: &str) -> Result<(), ModelError> {
    let valid = checksum
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
    if !valid {
        return Err(ModelError::InvalidChecksum {
            db: db.to_string(),
            name: name.to_string(),
            checksum: checksum.to_string(),
        });
    }
    Ok(())
}
