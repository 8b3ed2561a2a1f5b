//! The model system tables as read-only tables of the query engine:
//! `mysql.tidb_model`, `mysql.tidb_model_version`,
//! `INFORMATION_SCHEMA.TIDB_MODEL_VERSIONS` and
//! `INFORMATION_SCHEMA.TIDB_MODEL_CACHE`.
//!
//! Their rows are built from the model catalog at the statement's read ts
//! when a scan asks for them, so WHERE, ORDER BY, joins and aggregates
//! work as on ordinary tables. Catalog timestamps are engine timestamps
//! (microseconds since the epoch) and render as `TIMESTAMP` values in the
//! session time zone.

use std::sync::Arc;

use crate::catalog::rows::{
    self, SystemColumn, SystemTable, SystemValue, TIDB_MODEL_CACHE_COLUMNS, TIDB_MODEL_COLUMNS,
    TIDB_MODEL_VERSIONS_COLUMNS, TIDB_MODEL_VERSION_COLUMNS,
};
use crate::catalog::ModelCacheRow;
use crate::target::ColumnType;

use super::schema::{ColumnDef, ColumnDefault, TableDef};
use super::storage::{Row, StoreView};
use super::time::TimeZone;
use super::value::{SqlType, Value};

/// Storage ids of the system tables, far above any allocated table id.
const FIRST_ID: u64 = u64::MAX - 16;

const TABLES: [(&str, &str, u64); 4] = [
    ("mysql", "tidb_model", FIRST_ID),
    ("mysql", "tidb_model_version", FIRST_ID + 1),
    ("INFORMATION_SCHEMA", "TIDB_MODEL_VERSIONS", FIRST_ID + 2),
    ("INFORMATION_SCHEMA", "TIDB_MODEL_CACHE", FIRST_ID + 3),
];

fn columns_of(id: u64) -> &'static [SystemColumn] {
    match id - FIRST_ID {
        0 => &TIDB_MODEL_COLUMNS,
        1 => &TIDB_MODEL_VERSION_COLUMNS,
        2 => &TIDB_MODEL_VERSIONS_COLUMNS,
        _ => &TIDB_MODEL_CACHE_COLUMNS,
    }
}

/// The definition of a model system table, if `db`.`table` names one.
pub fn lookup(db: &str, table: &str) -> Option<Arc<TableDef>> {
    let (schema, name, id) = TABLES
        .iter()
        .find(|(s, n, _)| s.eq_ignore_ascii_case(db) && n.eq_ignore_ascii_case(table))?;
    let columns = columns_of(*id)
        .iter()
        .map(|c| ColumnDef {
            name: c.name.to_string(),
            sql_type: match c.column_type {
                ColumnType::Int => SqlType::Int(8),
                ColumnType::DateTime => SqlType::Timestamp(0),
                _ => SqlType::Text,
            },
            nullable: true,
            default: ColumnDefault::None,
        })
        .collect();
    Some(Arc::new(TableDef {
        id: *id,
        database: schema.to_string(),
        name: name.to_string(),
        columns,
        primary_key: Vec::new(),
    }))
}

/// Whether a table definition is a model system table.
pub fn is_system_table(table: &TableDef) -> bool {
    table.id >= FIRST_ID && table.id < FIRST_ID + TABLES.len() as u64
}

/// The rows of a model system table at `read_ts`, or `None` for other
/// tables.
pub fn scan(
    store: &StoreView,
    table: &TableDef,
    read_ts: u64,
    time_zone: &TimeZone,
) -> Option<Vec<Row>> {
    if !is_system_table(table) {
        return None;
    }
    let catalog = &store.models.catalog;
    let system: SystemTable = match table.id - FIRST_ID {
        0 => rows::tidb_model_table(catalog, read_ts),
        1 => rows::tidb_model_version_table(catalog, read_ts),
        2 => rows::tidb_model_versions_view(catalog, read_ts),
        _ => rows::tidb_model_cache_view(&cache_rows(store)),
    };
    Some(
        system
            .rows
            .iter()
            .map(|row| row.iter().map(|v| to_value(v, time_zone)).collect())
            .collect(),
    )
}

fn to_value(value: &SystemValue, time_zone: &TimeZone) -> Value {
    match value {
        SystemValue::Null => Value::Null,
        SystemValue::UInt(n) => Value::Int(i64::try_from(*n).unwrap_or(i64::MAX)),
        SystemValue::Text(text) => Value::Str(text.clone()),
        SystemValue::Json(json) => Value::Str(json.to_string()),
        SystemValue::Timestamp(ts) => {
            Value::DateTime(time_zone.from_utc_micros(i64::try_from(*ts).unwrap_or(i64::MAX), 0))
        }
    }
}

/// One row per model the backends have loaded: ONNX entries still in the
/// backend's cache, and every MLflow model sent to the sidecar pool. Hits
/// and misses count backend calls.
fn cache_rows(store: &StoreView) -> Vec<ModelCacheRow> {
    let Some(runtime) = &store.models.runtime else {
        return Vec::new();
    };
    let cached_onnx = runtime.onnx.cached_checksums();
    let usage = runtime
        .cache_usage
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let mut entries: Vec<ModelCacheRow> = usage
        .iter()
        .filter(|((engine, checksum), _)| {
            *engine != crate::backend::ModelEngine::Onnx || cached_onnx.contains(checksum)
        })
        .map(|((engine, checksum), use_counts)| ModelCacheRow {
            engine: *engine,
            model_schema: Some(use_counts.model_schema.clone()),
            model_name: Some(use_counts.model_name.clone()),
            version: Some(use_counts.version),
            checksum: checksum.clone(),
            hits: use_counts.hits,
            misses: use_counts.misses,
            load_time: Some(use_counts.load_time),
            last_used_time: Some(use_counts.last_used_time),
        })
        .collect();
    entries.sort_by(|a, b| {
        (a.engine.as_str(), &a.model_schema, &a.model_name, a.version).cmp(&(
            b.engine.as_str(),
            &b.model_schema,
            &b.model_name,
            b.version,
        ))
    });
    entries
}
