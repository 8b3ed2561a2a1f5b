//! The model system tables and views as generic rows, so the engine can
//! serve SELECT on them like any table.
//!
//! Timestamps stay commit timestamps ([`SystemValue::Timestamp`]) until
//! rendering, because their text depends on the session time zone.

use chrono::FixedOffset;
use serde_json::{json, Map, Value};

use super::models::{ModelCatalog, ModelColumn, ModelRow, ModelVersionRow};
use super::tso::format_tso;
use crate::backend::ModelEngine;
use crate::target::ColumnType;

/// One cell of a system table.
#[derive(Debug, Clone, PartialEq)]
pub enum SystemValue {
    /// SQL NULL.
    Null,
    /// An unsigned integer.
    UInt(u64),
    /// Text.
    Text(String),
    /// A JSON document.
    Json(Value),
    /// A `TIMESTAMP` held as a commit ts (TSO).
    Timestamp(u64),
}

impl SystemValue {
    /// The text-protocol form of the cell; `None` for NULL. Timestamps are
    /// rendered in `offset`; JSON is compact.
    pub fn to_text(&self, offset: FixedOffset) -> Option<String> {
        match self {
            SystemValue::Null => None,
            SystemValue::UInt(n) => Some(n.to_string()),
            SystemValue::Text(text) => Some(text.clone()),
            SystemValue::Json(value) => Some(value.to_string()),
            SystemValue::Timestamp(ts) => Some(format_tso(*ts, offset)),
        }
    }
}

/// One column of a system table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemColumn {
    /// Column name as SELECT * prints it.
    pub name: &'static str,
    /// Type for the result header.
    pub column_type: ColumnType,
}

/// A system table or view as of one read ts.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemTable {
    /// Schema: `mysql` or `INFORMATION_SCHEMA`.
    pub schema: &'static str,
    /// Table name.
    pub name: &'static str,
    /// Columns.
    pub columns: Vec<SystemColumn>,
    /// Rows, each with one value per column.
    pub rows: Vec<Vec<SystemValue>>,
}

const fn column(name: &'static str, column_type: ColumnType) -> SystemColumn {
    SystemColumn { name, column_type }
}

/// Columns of `mysql.tidb_model`.
pub const TIDB_MODEL_COLUMNS: [SystemColumn; 11] = [
    column("id", ColumnType::Int),
    column("db_name", ColumnType::Text),
    column("model_name", ColumnType::Text),
    column("owner", ColumnType::Text),
    column("created_by", ColumnType::Text),
    column("updated_by", ColumnType::Text),
    column("status", ColumnType::Text),
    column("comment", ColumnType::Text),
    column("create_time", ColumnType::DateTime),
    column("update_time", ColumnType::DateTime),
    column("deleted_at", ColumnType::DateTime),
];

/// Columns of `mysql.tidb_model_version`.
pub const TIDB_MODEL_VERSION_COLUMNS: [SystemColumn; 13] = [
    column("id", ColumnType::Int),
    column("model_id", ColumnType::Int),
    column("version", ColumnType::Int),
    column("engine", ColumnType::Text),
    column("location", ColumnType::Text),
    column("checksum", ColumnType::Text),
    column("input_schema", ColumnType::Json),
    column("output_schema", ColumnType::Json),
    column("options", ColumnType::Json),
    column("created_by", ColumnType::Text),
    column("status", ColumnType::Text),
    column("create_time", ColumnType::DateTime),
    column("deleted_at", ColumnType::DateTime),
];

/// Columns of `INFORMATION_SCHEMA.TIDB_MODEL_VERSIONS`.
pub const TIDB_MODEL_VERSIONS_COLUMNS: [SystemColumn; 13] = [
    column("MODEL_SCHEMA", ColumnType::Text),
    column("MODEL_NAME", ColumnType::Text),
    column("MODEL_ID", ColumnType::Int),
    column("VERSION", ColumnType::Int),
    column("ENGINE", ColumnType::Text),
    column("LOCATION", ColumnType::Text),
    column("CHECKSUM", ColumnType::Text),
    column("INPUT_SCHEMA", ColumnType::Json),
    column("OUTPUT_SCHEMA", ColumnType::Json),
    column("STATUS", ColumnType::Text),
    column("CREATED_BY", ColumnType::Text),
    column("CREATE_TIME", ColumnType::DateTime),
    column("DELETED_AT", ColumnType::DateTime),
];

/// Columns of `INFORMATION_SCHEMA.TIDB_MODEL_CACHE`.
pub const TIDB_MODEL_CACHE_COLUMNS: [SystemColumn; 9] = [
    column("ENGINE", ColumnType::Text),
    column("MODEL_SCHEMA", ColumnType::Text),
    column("MODEL_NAME", ColumnType::Text),
    column("VERSION", ColumnType::Int),
    column("CHECKSUM", ColumnType::Text),
    column("HITS", ColumnType::Int),
    column("MISSES", ColumnType::Int),
    column("LOAD_TIME", ColumnType::DateTime),
    column("LAST_USED_TIME", ColumnType::DateTime),
];

/// One entry of a backend's model cache, filled by the engine from the
/// backend's cache statistics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCacheRow {
    /// Engine of the cached model.
    pub engine: ModelEngine,
    /// Database of the model, `None` when the cache keys only by checksum.
    pub model_schema: Option<String>,
    /// Model name, `None` when unknown.
    pub model_name: Option<String>,
    /// Version number, `None` when unknown.
    pub version: Option<u64>,
    /// `sha256:<hex>` of the cached artifact.
    pub checksum: String,
    /// Lookups served from the cache.
    pub hits: u64,
    /// Lookups that had to load the artifact.
    pub misses: u64,
    /// Commit-clock ts (TSO) when the entry was loaded.
    pub load_time: Option<u64>,
    /// Commit-clock ts (TSO) of the last use.
    pub last_used_time: Option<u64>,
}

/// The JSON stored in `input_schema` and `output_schema`: an array of
/// `{"name": ..., "type": ...}` in declaration order, with the canonical
/// SQL type name.
pub fn schema_json(columns: &[ModelColumn]) -> Value {
    Value::Array(
        columns
            .iter()
            .map(|c| json!({"name": c.name, "type": c.column_type.sql_name()}))
            .collect(),
    )
}

fn text(value: &str) -> SystemValue {
    SystemValue::Text(value.to_string())
}

fn optional_text(value: Option<&str>) -> SystemValue {
    value.map_or(SystemValue::Null, text)
}

fn optional_ts(value: Option<u64>) -> SystemValue {
    value.map_or(SystemValue::Null, SystemValue::Timestamp)
}

fn options_json(options: &Map<String, Value>) -> SystemValue {
    SystemValue::Json(Value::Object(options.clone()))
}

/// The values of one `mysql.tidb_model` row, in column order.
pub fn model_row_values(row: &ModelRow) -> Vec<SystemValue> {
    vec![
        SystemValue::UInt(row.id),
        text(&row.db_name),
        text(&row.model_name),
        text(&row.owner),
        text(&row.created_by),
        text(&row.updated_by),
        text(row.status.as_str()),
        optional_text(row.comment.as_deref()),
        SystemValue::Timestamp(row.create_time),
        SystemValue::Timestamp(row.update_time),
        optional_ts(row.deleted_at),
    ]
}

/// The values of one `mysql.tidb_model_version` row, in column order.
pub fn version_row_values(row: &ModelVersionRow) -> Vec<SystemValue> {
    vec![
        SystemValue::UInt(row.id),
        SystemValue::UInt(row.model_id),
        SystemValue::UInt(row.version),
        text(row.engine.as_str()),
        text(&row.location),
        text(&row.checksum),
        SystemValue::Json(schema_json(&row.inputs)),
        SystemValue::Json(schema_json(&row.outputs)),
        options_json(&row.options),
        text(&row.created_by),
        text(row.status.as_str()),
        SystemValue::Timestamp(row.create_time),
        optional_ts(row.deleted_at),
    ]
}

/// `mysql.tidb_model` as of `read_ts`, by id.
pub fn tidb_model_table(catalog: &ModelCatalog, read_ts: u64) -> SystemTable {
    SystemTable {
        schema: "mysql",
        name: "tidb_model",
        columns: TIDB_MODEL_COLUMNS.to_vec(),
        rows: catalog
            .model_rows(read_ts)
            .iter()
            .map(model_row_values)
            .collect(),
    }
}

/// `mysql.tidb_model_version` as of `read_ts`, by model id then version.
pub fn tidb_model_version_table(catalog: &ModelCatalog, read_ts: u64) -> SystemTable {
    SystemTable {
        schema: "mysql",
        name: "tidb_model_version",
        columns: TIDB_MODEL_VERSION_COLUMNS.to_vec(),
        rows: catalog
            .version_rows(read_ts)
            .iter()
            .map(version_row_values)
            .collect(),
    }
}

/// `INFORMATION_SCHEMA.TIDB_MODEL_VERSIONS` as of `read_ts`: one row per
/// version row, with the model's schema and name joined in, including
/// versions of dropped models (status `deleted`).
///
/// NOTE: rows are not filtered by privilege; an engine that hides models
/// the user cannot see must filter by MODEL_SCHEMA.
pub fn tidb_model_versions_view(catalog: &ModelCatalog, read_ts: u64) -> SystemTable {
    let rows = catalog
        .versions_with_models(read_ts)
        .into_iter()
        .map(|(model, version)| {
            vec![
                text(&model.db_name),
                text(&model.model_name),
                SystemValue::UInt(model.id),
                SystemValue::UInt(version.version),
                text(version.engine.as_str()),
                text(&version.location),
                text(&version.checksum),
                SystemValue::Json(schema_json(&version.inputs)),
                SystemValue::Json(schema_json(&version.outputs)),
                text(version.status.as_str()),
                text(&version.created_by),
                SystemValue::Timestamp(version.create_time),
                optional_ts(version.deleted_at),
            ]
        })
        .collect();
    SystemTable {
        schema: "INFORMATION_SCHEMA",
        name: "TIDB_MODEL_VERSIONS",
        columns: TIDB_MODEL_VERSIONS_COLUMNS.to_vec(),
        rows,
    }
}

/// `INFORMATION_SCHEMA.TIDB_MODEL_CACHE` from cache entries, in the given
/// order.
pub fn tidb_model_cache_view(entries: &[ModelCacheRow]) -> SystemTable {
    let rows = entries
        .iter()
        .map(|entry| {
            vec![
                text(entry.engine.as_str()),
                optional_text(entry.model_schema.as_deref()),
                optional_text(entry.model_name.as_deref()),
                entry.version.map_or(SystemValue::Null, SystemValue::UInt),
                text(&entry.checksum),
                SystemValue::UInt(entry.hits),
                SystemValue::UInt(entry.misses),
                optional_ts(entry.load_time),
                optional_ts(entry.last_used_time),
            ]
        })
        .collect();
    SystemTable {
        schema: "INFORMATION_SCHEMA",
        name: "TIDB_MODEL_CACHE",
        columns: TIDB_MODEL_CACHE_COLUMNS.to_vec(),
        rows,
    }
}
