//! DDL: databases and tables. Each statement commits a new schema version.

use std::sync::Arc;

use sqlparser::ast;

use super::bind::{check_decimal, split_type, Binder, Scope};
use super::dml::coerce;
use super::error::{self, EngineResult};
use super::expr::EvalContext;
use super::schema::{Catalog, ColumnDef, ColumnDefault, Database, TableDef};
use super::storage::Store;
use super::value::{SqlType, Value};
use super::warnings::note_from;
use crate::catalog::SqlWarning;

/// Parses a column type from its SQL spelling.
pub fn parse_column_type(text: &str) -> EngineResult<SqlType> {
    let upper = text.to_ascii_uppercase();
    if upper.contains("UNSIGNED") || upper.contains("ZEROFILL") {
        return Err(error::unsupported(format!(
            "the column type {text} (UNSIGNED and ZEROFILL)"
        )));
    }
    let (base, params) = split_type(&upper);
    Ok(match base.as_str() {
        "TINYINT" => SqlType::Int(1),
        "BOOLEAN" | "BOOL" => SqlType::Int(1),
        "SMALLINT" => SqlType::Int(2),
        "INT" | "INTEGER" => SqlType::Int(4),
        "BIGINT" => SqlType::Int(8),
        "FLOAT" => match params.first() {
            Some(p) if *p > 24 => SqlType::Double,
            _ => SqlType::Float,
        },
        "DOUBLE" | "REAL" | "DOUBLE PRECISION" => SqlType::Double,
        "DECIMAL" | "NUMERIC" | "DEC" => {
            let precision = params.first().copied().unwrap_or(10);
            let scale = params.get(1).copied().unwrap_or(0);
            check_decimal(precision, scale)?;
            SqlType::Decimal(precision, scale)
        }
        "VARCHAR" | "CHARACTER VARYING" => match params.first() {
            Some(n) => SqlType::Varchar(*n),
            None => return Err(error::syntax(text)),
        },
        "CHAR" | "CHARACTER" => SqlType::Char(params.first().copied().unwrap_or(1)),
        "TEXT" => SqlType::Text,
        "DATETIME" => SqlType::DateTime(fsp(&params, text)?),
        "TIMESTAMP" => SqlType::Timestamp(fsp(&params, text)?),
        _ => return Err(error::unsupported(format!("the column type {text}"))),
    })
}

fn fsp(params: &[u32], text: &str) -> EngineResult<u8> {
    match params.first() {
        None => Ok(0),
        Some(p) if *p <= 6 => Ok(*p as u8),
        Some(_) => Err(error::SqlError::new(
            1426,
            "42000",
            format!("Too-big precision specified for '{text}'. Maximum is 6."),
        )),
    }
}

/// Builds a table definition from CREATE TABLE.
pub fn table_def(
    statement: &ast::CreateTable,
    database: &str,
    id: u64,
    eval: &EvalContext,
) -> EngineResult<TableDef> {
    if statement.or_replace
        || statement.temporary
        || statement.external
        || statement.query.is_some()
        || statement.like.is_some()
    {
        return Err(error::unsupported(
            "CREATE TABLE ... SELECT, LIKE, TEMPORARY and OR REPLACE",
        ));
    }
    let name = statement
        .name
        .0
        .last()
        .map(|p| super::ident::unquote(&p.to_string()))
        .unwrap_or_default();
    if statement.columns.is_empty() {
        return Err(error::no_columns());
    }
    let mut columns: Vec<ColumnDef> = Vec::new();
    let mut primary_key: Vec<usize> = Vec::new();
    for (position, column) in statement.columns.iter().enumerate() {
        if columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&column.name.value))
        {
            return Err(error::duplicate_column(&column.name.value));
        }
        let sql_type = parse_column_type(&column.data_type.to_string())?;
        let mut nullable = true;
        let mut default = ColumnDefault::None;
        for option in &column.options {
            match &option.option {
                ast::ColumnOption::Null => nullable = true,
                ast::ColumnOption::NotNull => nullable = false,
                ast::ColumnOption::Default(expr) => {
                    default = column_default(expr, &column.name.value, sql_type, eval)?
                }
                ast::ColumnOption::PrimaryKey(_) => {
                    if !primary_key.is_empty() {
                        return Err(error::multiple_primary_keys());
                    }
                    primary_key.push(position);
                    nullable = false;
                }
                ast::ColumnOption::Comment(_) => {}
                other => return Err(error::unsupported(format!("the column option {other}"))),
            }
        }
        if default == ColumnDefault::Value(Value::Null) && !nullable {
            return Err(error::invalid_default(&column.name.value));
        }
        columns.push(ColumnDef {
            name: column.name.value.clone(),
            sql_type,
            nullable,
            default,
        });
    }
    for constraint in &statement.constraints {
        match constraint {
            ast::TableConstraint::PrimaryKey(pk) => {
                if !primary_key.is_empty() {
                    return Err(error::multiple_primary_keys());
                }
                for index_column in &pk.columns {
                    let column = super::ident::unquote(&index_column.column.expr.to_string());
                    let position = columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(&column))
                        .ok_or_else(|| {
                            error::SqlError::new(
                                1072,
                                "42000",
                                format!("Key column '{column}' doesn't exist in table"),
                            )
                        })?;
                    primary_key.push(position);
                    columns[position].nullable = false;
                }
            }
            other => {
                return Err(error::unsupported(format!(
                    "the table constraint {other} (only PRIMARY KEY is supported)"
                )))
            }
        }
    }
    Ok(TableDef {
        id,
        database: database.to_string(),
        name,
        columns,
        primary_key,
    })
}

fn column_default(
    expr: &ast::Expr,
    column: &str,
    sql_type: SqlType,
    eval: &EvalContext,
) -> EngineResult<ColumnDefault> {
    if let ast::Expr::Function(f) = expr {
        let name = f.name.to_string().to_ascii_lowercase();
        if matches!(
            name.as_str(),
            "current_timestamp" | "now" | "localtimestamp" | "localtime"
        ) {
            if !matches!(sql_type, SqlType::DateTime(_) | SqlType::Timestamp(_)) {
                return Err(error::invalid_default(column));
            }
            return Ok(ColumnDefault::CurrentTimestamp);
        }
    }
    let scope = Scope::default();
    let vars = Default::default();
    let no_sysvars =
        |name: &str| -> EngineResult<Value> { Err(error::unknown_system_variable(name)) };
    let mut binder = Binder {
        scope: &scope,
        user_vars: &vars,
        system_var: &no_sysvars,
        clause: "field list",
        agg: None,
        saw_aggregate: false,
        allow_aggregates: false,
        has_group_by: false,
        select_position: 0,
    };
    let bound = binder.bind(expr)?;
    let value = bound
        .eval(eval, &[Vec::new()])?
        .pop()
        .unwrap_or(Value::Null);
    if value.is_null() {
        return Ok(ColumnDefault::Value(Value::Null));
    }
    coerce(value, column, sql_type, 1)
        .map(ColumnDefault::Value)
        .map_err(|_| error::invalid_default(column))
}

/// CREATE TABLE. Returns the note 1050 when `IF NOT EXISTS` finds the
/// table.
pub fn create_table(
    store: &mut Store,
    statement: &ast::CreateTable,
    database: &str,
    eval: &EvalContext,
) -> EngineResult<Option<SqlWarning>> {
    let mut catalog: Catalog = (*store.latest_catalog()).clone();
    let Some(db) = catalog.databases.get_mut(&database.to_ascii_lowercase()) else {
        return Err(error::unknown_database(database));
    };
    let id = store.allocate_table_id();
    let table = table_def(statement, database, id, eval)?;
    if table.name.is_empty() || table.name.ends_with(' ') {
        return Err(error::SqlError::new(
            1103,
            "42000",
            format!("Incorrect table name '{}'", table.name),
        ));
    }
    let key = table.name.to_ascii_lowercase();
    if db.tables.contains_key(&key) {
        if statement.if_not_exists {
            return Ok(Some(note_from(error::table_exists(&table.name))));
        }
        return Err(error::table_exists(&table.name));
    }
    db.tables.insert(key, Arc::new(table));
    store.commit_catalog(catalog);
    Ok(None)
}

/// DROP TABLE of several tables; all must exist unless `if_exists`.
/// Returns the note 1051 for each missing table under `if_exists`.
pub fn drop_tables(
    store: &mut Store,
    names: &[(String, String)],
    if_exists: bool,
) -> EngineResult<Vec<SqlWarning>> {
    let mut catalog: Catalog = (*store.latest_catalog()).clone();
    let missing: Vec<String> = names
        .iter()
        .filter(|(db, t)| catalog.table(db, t).is_none())
        .map(|(db, t)| format!("{db}.{t}"))
        .collect();
    if !missing.is_empty() && !if_exists {
        return Err(error::SqlError::new(
            1051,
            "42S02",
            format!("Unknown table '{}'", missing.join(",")),
        ));
    }
    let notes = names
        .iter()
        .filter(|(db, t)| catalog.table(db, t).is_none())
        .map(|(db, t)| note_from(error::bad_table(db, t)))
        .collect();
    for (db, table) in names {
        if let Some(database) = catalog.databases.get_mut(&db.to_ascii_lowercase()) {
            database.tables.remove(&table.to_ascii_lowercase());
        }
    }
    store.commit_catalog(catalog);
    Ok(notes)
}

/// TRUNCATE TABLE: the table gets a new id, so old data stays readable at
/// earlier timestamps.
pub fn truncate(store: &mut Store, db: &str, table: &str) -> EngineResult<()> {
    let mut catalog: Catalog = (*store.latest_catalog()).clone();
    let id = store.allocate_table_id();
    let Some(def) = catalog
        .databases
        .get_mut(&db.to_ascii_lowercase())
        .and_then(|d| d.tables.get_mut(&table.to_ascii_lowercase()))
    else {
        return Err(error::no_such_table(db, table));
    };
    let mut new_def = (**def).clone();
    new_def.id = id;
    *def = Arc::new(new_def);
    store.commit_catalog(catalog);
    Ok(())
}

/// CREATE DATABASE. Returns the note 1007 when `IF NOT EXISTS` finds the
/// database.
pub fn create_database(
    store: &mut Store,
    name: &str,
    if_not_exists: bool,
) -> EngineResult<Option<SqlWarning>> {
    let mut catalog: Catalog = (*store.latest_catalog()).clone();
    let key = name.to_ascii_lowercase();
    if catalog.databases.contains_key(&key) {
        return if if_not_exists {
            Ok(Some(note_from(error::database_exists(name))))
        } else {
            Err(error::database_exists(name))
        };
    }
    catalog.databases.insert(
        key,
        Database {
            name: name.to_string(),
            tables: Default::default(),
        },
    );
    store.commit_catalog(catalog);
    Ok(None)
}

/// DROP DATABASE. Returns the note 1008 when `IF EXISTS` finds no
/// database.
pub fn drop_database(
    store: &mut Store,
    name: &str,
    if_exists: bool,
) -> EngineResult<Option<SqlWarning>> {
    let mut catalog: Catalog = (*store.latest_catalog()).clone();
    if catalog
        .databases
        .remove(&name.to_ascii_lowercase())
        .is_none()
    {
        return if if_exists {
            Ok(Some(note_from(error::database_missing_on_drop(name))))
        } else {
            Err(error::database_missing_on_drop(name))
        };
    }
    store.commit_catalog(catalog);
    Ok(None)
}

fn tidb_type_name(sql_type: SqlType) -> String {
    match sql_type {
        SqlType::Int(1) => "tinyint(4)".into(),
        SqlType::Int(2) => "smallint(6)".into(),
        SqlType::Int(4) => "int(11)".into(),
        SqlType::Int(_) => "bigint(20)".into(),
        other => other.sql_name(),
    }
}

/// Renders the text of SHOW CREATE TABLE in TiDB's layout.
pub fn show_create_table(table: &TableDef) -> String {
    let mut lines = Vec::new();
    for column in &table.columns {
        let mut line = format!("  `{}` {}", column.name, tidb_type_name(column.sql_type));
        if !column.nullable {
            line.push_str(" NOT NULL");
        }
        match &column.default {
            ColumnDefault::Value(Value::Null) | ColumnDefault::None if column.nullable => {
                line.push_str(" DEFAULT NULL")
            }
            ColumnDefault::Value(v) if !v.is_null() => {
                line.push_str(&format!(" DEFAULT '{}'", super::render::render_value(v)));
            }
            ColumnDefault::CurrentTimestamp => line.push_str(" DEFAULT CURRENT_TIMESTAMP"),
            _ => {}
        }
        lines.push(line);
    }
    if !table.primary_key.is_empty() {
        let columns: Vec<String> = table
            .primary_key
            .iter()
            .map(|&i| format!("`{}`", table.columns[i].name))
            .collect();
        let clustered = if table.int_handle().is_some() {
            "CLUSTERED"
        } else {
            "NONCLUSTERED"
        };
        lines.push(format!(
            "  PRIMARY KEY ({}) /*T![clustered_index] {clustered} */",
            columns.join(",")
        ));
    }
    format!(
        "CREATE TABLE `{}` (\n{}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        table.name,
        lines.join(",\n")
    )
}
