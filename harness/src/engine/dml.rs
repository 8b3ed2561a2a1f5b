//! INSERT, UPDATE and DELETE into a transaction's write set, with strict
//! SQL mode conversions and primary-key checks.

use std::sync::Arc;

use sqlparser::ast;

use super::bind::Scope;
use super::error::{self, EngineResult};
use super::expr::Expr;
use super::query::{self, filter_rows, split_conjuncts, ReadContext};
use super::schema::{ColumnDefault, TableDef};
use super::storage::{Handle, Row, StoreView, WriteSet};

use super::time::DateTime;
use super::value::{group_key, numeric_prefix, SqlType, Value};

/// Converts a value to a column's type with strict-mode checks; `row` is
/// 1-based for messages.
pub fn coerce(value: Value, column: &str, sql_type: SqlType, row: usize) -> EngineResult<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let invalid_number = |kind: &str, v: &Value| {
        if let Value::Str(s) = v {
            if numeric_prefix(s).len() != s.trim().len() || s.trim().is_empty() {
                return Err(error::incorrect_value(kind, s, column, row));
            }
        }
        Ok(())
    };
    match sql_type {
        SqlType::Int(_) => {
            invalid_number("integer", &value)?;
            let (min, max) = sql_type.int_range().unwrap_or((i64::MIN, i64::MAX));
            let wide = match &value {
                Value::Int(i) => *i as f64,
                other => other.to_f64().unwrap_or(0.0).round(),
            };
            let exact = value.to_i64().unwrap_or(0);
            if wide < min as f64 || wide > max as f64 || exact < min || exact > max {
                return Err(error::out_of_range(column, row));
            }
            Ok(Value::Int(exact))
        }
        SqlType::Float => {
            invalid_number("float", &value)?;
            let v = value.to_f64().unwrap_or(0.0);
            if v.abs() > f32::MAX as f64 {
                return Err(error::out_of_range(column, row));
            }
            Ok(Value::Float(v as f32))
        }
        SqlType::Double => {
            invalid_number("double", &value)?;
            Ok(Value::Double(value.to_f64().unwrap_or(0.0)))
        }
        SqlType::Decimal(precision, scale) => {
            invalid_number("decimal", &value)?;
            let decimal = value
                .to_decimal()
                .ok_or_else(|| error::out_of_range(column, row))?;
            decimal
                .fit(precision, scale)
                .map(Value::Decimal)
                .ok_or_else(|| error::out_of_range(column, row))
        }
        SqlType::Varchar(n) | SqlType::Char(n) => {
            let mut text = value.to_text().unwrap_or_default();
            if matches!(sql_type, SqlType::Char(_)) {
                text = text.trim_end_matches(' ').to_string();
            }
            if text.chars().count() > n as usize {
                return Err(error::data_too_long(column, row));
            }
            Ok(Value::Str(text))
        }
        SqlType::Text => {
            let text = value.to_text().unwrap_or_default();
            if text.len() > 65_535 {
                return Err(error::data_too_long(column, row));
            }
            Ok(Value::Str(text))
        }
        SqlType::DateTime(fsp) | SqlType::Timestamp(fsp) => match &value {
            Value::DateTime(dt) => Ok(Value::DateTime(dt.round_to(fsp))),
            Value::Str(s) => match DateTime::parse(s) {
                Some(dt) => Ok(Value::DateTime(dt.round_to(fsp))),
                None => Err(error::SqlError::new(
                    1292,
                    "22007",
                    format!("Incorrect datetime value: '{s}' for column '{column}' at row {row}"),
                )),
            },
            other => Err(error::unsupported(format!(
                "storing the value {} in the datetime column '{column}'",
                super::render::render_value(other)
            ))),
        },
        SqlType::Null => Ok(value),
    }
}

/// Encodes the primary key of a row, returning the key and its text for 1062 messages.
fn primary_key(table: &TableDef, row: &Row) -> Option<(String, String)> {
    if table.primary_key.is_empty() {
        return None;
    }
    let key = table
        .primary_key
        .iter()
        .map(|&i| group_key(&row[i]))
        .collect::<Vec<_>>()
        .join("\u{1}");
    let text = table
        .primary_key
        .iter()
        .map(|&i| super::render::render_value(&row[i]))
        .collect::<Vec<_>>()
        .join("-");
    Some((key, text))
}

/// Adds a new row to `writes`, checking NOT NULL and the primary key.
pub fn insert_row(
    store: &StoreView,
    read_ts: u64,
    writes: &mut WriteSet,
    table: &TableDef,
    row: Row,
) -> EngineResult<()> {
    writes.table_names.insert(table.id, table.name.clone());
    let handle: Handle = match table.int_handle() {
        Some(position) => match row[position] {
            Value::Int(i) => {
                if store.handle_exists(table, i, read_ts, Some(writes)) {
                    return Err(error::duplicate_entry(
                        &i.to_string(),
                        &format!("{}.PRIMARY", table.name),
                    ));
                }
                i
            }
            _ => return Err(error::column_not_null(&table.columns[position].name)),
        },
        None => {
            if let Some((key, text)) = primary_key(table, &row) {
                if store
                    .key_handle(table, &key, read_ts, Some(writes))
                    .is_some()
                {
                    return Err(error::duplicate_entry(
                        &text,
                        &format!("{}.PRIMARY", table.name),
                    ));
                }
                let handle = store.allocate_row_id();
                writes.keys.insert((table.id, key), Some(handle));
                handle
            } else {
                store.allocate_row_id()
            }
        }
    };
    writes.rows.insert((table.id, handle), Some(Arc::new(row)));
    Ok(())
}

fn delete_row(writes: &mut WriteSet, table: &TableDef, handle: Handle, row: &Row) {
    writes.table_names.insert(table.id, table.name.clone());
    writes.rows.insert((table.id, handle), None);
    if table.int_handle().is_none() {
        if let Some((key, _)) = primary_key(table, row) {
            writes.keys.insert((table.id, key), None);
        }
    }
}

fn check_not_null(table: &TableDef, row: &Row) -> EngineResult<()> {
    for (column, value) in table.columns.iter().zip(row) {
        if !column.nullable && value.is_null() {
            return Err(error::column_not_null(&column.name));
        }
    }
    Ok(())
}

fn default_value(
    ctx: &ReadContext,
    table: &TableDef,
    position: usize,
    row: usize,
) -> EngineResult<Value> {
    let column = &table.columns[position];
    match &column.default {
        ColumnDefault::Value(v) => Ok(v.clone()),
        ColumnDefault::CurrentTimestamp => coerce(
            Value::DateTime(ctx.eval.now),
            &column.name,
            column.sql_type,
            row,
        ),
        ColumnDefault::None if column.nullable => Ok(Value::Null),
        ColumnDefault::None => Err(error::no_default(&column.name)),
    }
}

fn table_scope(table: &TableDef, alias: &str) -> Scope {
    Scope {
        columns: table
            .columns
            .iter()
            .map(|c| super::bind::ScopeColumn {
                qualifier: alias.to_string(),
                database: table.database.clone(),
                name: c.name.clone(),
                sql_type: c.sql_type,
            })
            .collect(),
    }
}

/// Runs INSERT, returning the affected row count.
pub fn insert(
    ctx: &ReadContext,
    writes: &mut WriteSet,
    statement: &ast::Insert,
) -> EngineResult<u64> {
    if statement.ignore
        || statement.replace_into
        || statement.on.is_some()
        || statement.returning.is_some()
        || !statement.assignments.is_empty()
    {
        return Err(error::unsupported(
            "INSERT IGNORE, REPLACE, ON DUPLICATE KEY UPDATE and INSERT ... SET",
        ));
    }
    let ast::TableObject::TableName(name) = &statement.table else {
        return Err(error::unsupported("INSERT into a table function"));
    };
    let table = ctx.table(name)?;
    let positions: Vec<usize> = if statement.columns.is_empty() {
        (0..table.columns.len()).collect()
    } else {
        let mut positions = Vec::new();
        for column in &statement.columns {
            let name = super::ident::unquote(&column.to_string());
            let position = table
                .column_index(&name)
                .ok_or_else(|| error::unknown_column(&name, "field list"))?;
            positions.push(position);
        }
        positions
    };
    let Some(source) = &statement.source else {
        return Err(error::unsupported("INSERT without VALUES or SELECT"));
    };

    let input_rows: Vec<Vec<Option<Value>>> = match source.body.as_ref() {
        ast::SetExpr::Values(values) => {
            let scope = Scope::default();
            let mut rows = Vec::new();
            for (index, row) in values.rows.iter().enumerate() {
                let row = &row.content;
                if row.len() != positions.len() {
                    return Err(error::column_count_mismatch(index + 1));
                }
                let mut values = Vec::new();
                for expr in row {
                    if matches!(expr, ast::Expr::Identifier(i) if i.value.eq_ignore_ascii_case("DEFAULT") && i.quote_style.is_none())
                    {
                        values.push(None);
                        continue;
                    }
                    let mut binder = ctx.binder(&scope, "field list");
                    let bound = binder.bind(expr)?;
                    let mut strict = ctx.eval.clone();
                    strict.strict_division = true;
                    values.push(Some(
                        bound
                            .eval(&strict, &[Vec::new()])?
                            .pop()
                            .unwrap_or(Value::Null),
                    ));
                }
                rows.push(values);
            }
            rows
        }
        _ => {
            let reader = ctx.with_writes(Some(&*writes));
            let plan = query::plan_query(&reader, source, &[])?;
            if plan.visible != positions.len() {
                return Err(error::column_count_mismatch(1));
            }
            query::execute_plan(&reader, &plan)?
                .into_iter()
                .map(|row| row.into_iter().map(Some).collect())
                .collect()
        }
    };

    let mut count = 0;
    for (index, values) in input_rows.into_iter().enumerate() {
        let row_number = index + 1;
        let mut row: Row = vec![Value::Null; table.columns.len()];
        let mut given = vec![false; table.columns.len()];
        for (value, &position) in values.into_iter().zip(&positions) {
            let column = &table.columns[position];
            row[position] = match value {
                Some(v) => coerce(v, &column.name, column.sql_type, row_number)?,
                None => default_value(ctx, &table, position, row_number)?,
            };
            given[position] = true;
        }
        for position in 0..table.columns.len() {
            if !given[position] {
                row[position] = default_value(ctx, &table, position, row_number)?;
            }
        }
        check_not_null(&table, &row)?;
        insert_row(ctx.store, ctx.read_ts, writes, &table, row)?;
        count += 1;
    }
    Ok(count)
}

fn single_table(
    ctx: &ReadContext,
    from: &[ast::TableWithJoins],
) -> EngineResult<(Arc<TableDef>, String)> {
    let [only] = from else {
        return Err(error::unsupported("multi-table UPDATE and DELETE"));
    };
    if !only.joins.is_empty() {
        return Err(error::unsupported("multi-table UPDATE and DELETE"));
    }
    match &only.relation {
        ast::TableFactor::Table { name, alias, .. } => {
            let table = ctx.table(name)?;
            let alias = alias
                .as_ref()
                .map_or_else(|| table.name.clone(), |a| a.name.value.clone());
            Ok((table, alias))
        }
        other => Err(error::unsupported(format!("the table reference `{other}`"))),
    }
}

fn matching_rows(
    ctx: &ReadContext,
    table: &TableDef,
    scope: &Scope,
    selection: Option<&ast::Expr>,
    writes: &WriteSet,
) -> EngineResult<Vec<(Handle, Row)>> {
    let all: Vec<(Handle, Row)> = ctx
        .store
        .scan(table, ctx.read_ts, Some(writes))
        .into_iter()
        .map(|(h, r)| (h, r.as_ref().clone()))
        .collect();
    let Some(selection) = selection else {
        return Ok(all);
    };
    let mut binder = ctx.binder(scope, "where clause");
    let mut conjuncts: Vec<Expr> = Vec::new();
    split_conjuncts(binder.bind(selection)?, &mut conjuncts);
    // Tag each row with its handle in an extra trailing column.
    let width = table.columns.len();
    let tagged: Vec<Row> = all
        .into_iter()
        .map(|(h, mut r)| {
            r.push(Value::Int(h));
            r
        })
        .collect();
    let kept = filter_rows(&ctx.eval, tagged, &conjuncts)?;
    Ok(kept
        .into_iter()
        .map(|mut r| {
            let handle = match r.pop() {
                Some(Value::Int(h)) => h,
                _ => 0,
            };
            r.truncate(width);
            (handle, r)
        })
        .collect())
}

fn check_no_order_limit(
    order_by: &[ast::OrderByExpr],
    limit: &Option<ast::Expr>,
) -> EngineResult<()> {
    if !order_by.is_empty() || limit.is_some() {
        return Err(error::unsupported(
            "ORDER BY and LIMIT in UPDATE and DELETE",
        ));
    }
    Ok(())
}

/// Runs UPDATE, returning (matched, changed) row counts.
pub fn update(
    ctx: &ReadContext,
    writes: &mut WriteSet,
    statement: &ast::Update,
) -> EngineResult<(u64, u64)> {
    check_no_order_limit(&statement.order_by, &statement.limit)?;
    if statement.from.is_some() || statement.returning.is_some() {
        return Err(error::unsupported("UPDATE ... FROM and RETURNING"));
    }
    let (table, alias) = single_table(ctx, std::slice::from_ref(&statement.table))?;
    let scope = table_scope(&table, &alias);
    let mut assignments = Vec::new();
    for assignment in &statement.assignments {
        let ast::AssignmentTarget::ColumnName(name) = &assignment.target else {
            return Err(error::unsupported("tuple assignments"));
        };
        let column = name
            .0
            .last()
            .map(|p| super::ident::unquote(&p.to_string()))
            .unwrap_or_default();
        let position = table
            .column_index(&column)
            .ok_or_else(|| error::unknown_column(&column, "field list"))?;
        let mut binder = ctx.binder(&scope, "field list");
        assignments.push((position, binder.bind(&assignment.value)?));
    }
    let rows = matching_rows(ctx, &table, &scope, statement.selection.as_ref(), writes)?;
    let mut strict = ctx.eval.clone();
    strict.strict_division = true;

    let mut changed = 0;
    let matched = rows.len() as u64;
    for (index, (handle, old)) in rows.into_iter().enumerate() {
        let mut new = old.clone();
        // MySQL evaluates assignments left to right, each seeing the
        // values assigned before it.
        for (position, expr) in &assignments {
            let value = expr
                .eval(&strict, std::slice::from_ref(&new))?
                .pop()
                .unwrap_or(Value::Null);
            let column = &table.columns[*position];
            new[*position] = coerce(value, &column.name, column.sql_type, index + 1)?;
        }
        if new == old {
            continue;
        }
        check_not_null(&table, &new)?;
        let key_changed = primary_key(&table, &old) != primary_key(&table, &new)
            || table.int_handle().is_some_and(|p| old[p] != new[p]);
        if key_changed {
            delete_row(writes, &table, handle, &old);
            insert_row(ctx.store, ctx.read_ts, writes, &table, new)?;
        } else {
            writes.table_names.insert(table.id, table.name.clone());
            writes.rows.insert((table.id, handle), Some(Arc::new(new)));
        }
        changed += 1;
    }
    Ok((matched, changed))
}

/// Runs DELETE, returning the affected row count.
pub fn delete(
    ctx: &ReadContext,
    writes: &mut WriteSet,
    statement: &ast::Delete,
) -> EngineResult<u64> {
    check_no_order_limit(&statement.order_by, &statement.limit)?;
    if !statement.tables.is_empty() || statement.using.is_some() || statement.returning.is_some() {
        return Err(error::unsupported(
            "multi-table DELETE, USING and RETURNING",
        ));
    }
    let from = match &statement.from {
        ast::FromTable::WithFromKeyword(from) | ast::FromTable::WithoutKeyword(from) => from,
    };
    let (table, alias) = single_table(ctx, from)?;
    let scope = table_scope(&table, &alias);
    let rows = matching_rows(ctx, &table, &scope, statement.selection.as_ref(), writes)?;
    for (handle, row) in &rows {
        delete_row(writes, &table, *handle, row);
    }
    Ok(rows.len() as u64)
}
