//! SELECT planning and execution.
//!
//! A [`SelectPlan`] is a fixed pipeline: scan the first table, join each
//! further table (nested loops with the ON conjuncts), filter by the WHERE
//! conjuncts in cost order, aggregate, filter by HAVING, project, remove
//! duplicates, sort, and apply LIMIT. Rows move through it in batches of
//! [`BATCH_SIZE`], and every expression evaluates a whole batch at once.

use std::collections::HashMap;
use std::sync::Arc;

use sqlparser::ast::{self, SelectItem, SetExpr, TableFactor};

use super::aggregate::Accumulator;
use super::bind::{AggState, Binder, Scope, ScopeColumn};
use super::error::{self, EngineResult};
use super::expr::{BinaryOp, EvalContext, Expr};
use super::schema::{Catalog, TableDef};
use super::storage::{Row, StoreView, WriteSet};
use super::value::{group_key, sort_order, SqlType, Value};
use crate::target::{Column, ColumnType, ResultSet};

/// Rows per batch in filters and projections.
pub const BATCH_SIZE: usize = 1024;

/// Inputs of a statement's reads: the store, the snapshot and pending writes.
pub struct ReadContext<'a> {
    /// The committed data at the statement's start.
    pub store: &'a StoreView,
    /// The schema at the read timestamp.
    pub catalog: Arc<Catalog>,
    /// Read timestamp.
    pub read_ts: u64,
    /// Uncommitted writes of the current transaction, read back by it.
    pub writes: Option<&'a WriteSet>,
    /// Current database.
    pub database: Option<String>,
    /// Values for evaluation.
    pub eval: EvalContext,
    /// User variables.
    pub user_vars: &'a HashMap<String, Value>,
    /// System variable reader.
    pub system_var: &'a dyn Fn(&str) -> EngineResult<Value>,
}

impl ReadContext<'_> {
    /// Returns the same context with `writes` as the transaction's own writes.
    pub fn with_writes<'b>(&'b self, writes: Option<&'b WriteSet>) -> ReadContext<'b> {
        ReadContext {
            store: self.store,
            catalog: self.catalog.clone(),
            read_ts: self.read_ts,
            writes,
            database: self.database.clone(),
            eval: self.eval.clone(),
            user_vars: self.user_vars,
            system_var: self.system_var,
        }
    }

    /// Resolves a table name against the snapshot's schema.
    pub fn table(&self, name: &ast::ObjectName) -> EngineResult<Arc<TableDef>> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| super::ident::unquote(&p.to_string()))
            .collect();
        let (database, table) = match parts.as_slice() {
            [t] => (
                self.database.clone().ok_or_else(error::no_database)?,
                t.clone(),
            ),
            [d, t] => (d.clone(), t.clone()),
            _ => return Err(error::unsupported(format!("the table name {name}"))),
        };
        if let Some(system) = super::system_tables::lookup(&database, &table) {
            return Ok(system);
        }
        if self.catalog.database(&database).is_none() {
            return Err(error::no_such_table(&database, &table));
        }
        self.catalog
            .table(&database, &table)
            .cloned()
            .ok_or_else(|| error::no_such_table(&database, &table))
    }

    /// Creates a binder over `scope`.
    pub fn binder<'s>(&'s self, scope: &'s Scope, clause: &'static str) -> Binder<'s> {
        Binder {
            scope,
            user_vars: self.user_vars,
            system_var: self.system_var,
            clause,
            agg: None,
            saw_aggregate: false,
            allow_aggregates: false,
            has_group_by: false,
            select_position: 0,
        }
    }

    /// Reads a table's rows at the snapshot.
    pub fn scan(&self, table: &TableDef) -> Vec<Row> {
        let time_zone = self.eval.models.as_ref().map(|m| &m.time_zone);
        if let Some(rows) = super::system_tables::scan(
            self.store,
            table,
            self.read_ts,
            time_zone.unwrap_or(&super::time::TimeZone::system()),
        ) {
            return rows;
        }
        self.store
            .scan(table, self.read_ts, self.writes)
            .into_iter()
            .map(|(_, row)| row.as_ref().clone())
            .collect()
    }
}

/// One table in FROM.
#[derive(Debug, Clone)]
pub struct TableSource {
    /// Definition at the read timestamp.
    pub table: Arc<TableDef>,
    /// Alias or name that qualifies its columns.
    pub alias: String,
}

/// A join step: the table and its ON conjuncts over the combined row.
#[derive(Debug, Clone)]
pub struct JoinStep {
    /// Joined table.
    pub source: TableSource,
    /// ON conjuncts.
    pub on: Vec<Expr>,
}

/// A planned SELECT.
#[derive(Debug, Clone)]
pub struct SelectPlan {
    /// First table; `None` for SELECT without FROM.
    pub first: Option<TableSource>,
    /// Further tables, inner-joined.
    pub joins: Vec<JoinStep>,
    /// WHERE conjuncts in evaluation order (cheap ones first).
    pub filters: Vec<Expr>,
    /// Aggregation, if the query aggregates.
    pub agg: Option<AggState>,
    /// HAVING conjuncts over the aggregated rows.
    pub having: Vec<Expr>,
    /// Output expressions, then hidden ORDER BY keys.
    pub projection: Vec<Expr>,
    /// Names of the visible output columns.
    pub names: Vec<String>,
    /// Number of visible output columns.
    pub visible: usize,
    /// DISTINCT.
    pub distinct: bool,
    /// ORDER BY keys as projection positions, with DESC.
    pub order: Vec<(usize, bool)>,
    /// LIMIT.
    pub limit: Option<u64>,
    /// OFFSET.
    pub offset: u64,
    /// Width of the joined input row.
    pub input_width: usize,
}

/// Splits a condition into its top-level AND conjuncts.
pub fn split_conjuncts(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::Binary {
            op: BinaryOp::And,
            left,
            right,
        } => {
            split_conjuncts(*left, out);
            split_conjuncts(*right, out);
        }
        other => out.push(other),
    }
}

fn scope_for(source: &TableSource) -> Vec<ScopeColumn> {
    source
        .table
        .columns
        .iter()
        .map(|c| ScopeColumn {
            qualifier: source.alias.clone(),
            database: source.table.database.clone(),
            name: c.name.clone(),
            sql_type: c.sql_type,
        })
        .collect()
}

fn table_source(ctx: &ReadContext, factor: &TableFactor) -> EngineResult<TableSource> {
    match factor {
        TableFactor::Table {
            name,
            alias,
            args: None,
            version: None,
            partitions,
            ..
        } if partitions.is_empty() => {
            let table = ctx.table(name)?;
            if let Some(alias) = alias {
                if !alias.columns.is_empty() {
                    return Err(error::unsupported("column aliases on tables"));
                }
            }
            let alias = alias
                .as_ref()
                .map_or_else(|| table.name.clone(), |a| a.name.value.clone());
            Ok(TableSource { table, alias })
        }
        TableFactor::Derived { .. } => {
            Err(error::unsupported("derived tables (subqueries in FROM)"))
        }
        other => Err(error::unsupported(format!("the table reference `{other}`"))),
    }
}

/// Returns the name MySQL gives an unaliased select item.
fn item_name(expr: &ast::Expr, text: Option<&String>) -> String {
    match expr {
        ast::Expr::Identifier(ident) if !ident.value.starts_with('@') => ident.value.clone(),
        ast::Expr::CompoundIdentifier(parts) if !parts[0].value.starts_with("@@") => {
            parts.last().map(|p| p.value.clone()).unwrap_or_default()
        }
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => s.clone(),
            _ => text.cloned().unwrap_or_else(|| expr.to_string()),
        },
        _ => text.cloned().unwrap_or_else(|| expr.to_string()),
    }
}

/// Plans a query. `item_texts` contains the original text of each select item.
pub fn plan_query(
    ctx: &ReadContext,
    query: &ast::Query,
    item_texts: &[String],
) -> EngineResult<SelectPlan> {
    if query.with.is_some() {
        return Err(error::unsupported("WITH (common table expressions)"));
    }
    if query.fetch.is_some() || !query.locks.is_empty() || query.for_clause.is_some() {
        return Err(error::unsupported("FETCH, FOR UPDATE and locking clauses"));
    }
    let select = match query.body.as_ref() {
        SetExpr::Select(select) => select,
        SetExpr::SetOperation { .. } => {
            return Err(error::unsupported("UNION, EXCEPT and INTERSECT"))
        }
        SetExpr::Values(_) => return Err(error::unsupported("VALUES as a query")),
        SetExpr::Query(_) => return Err(error::unsupported("parenthesized queries")),
        other => return Err(error::unsupported(format!("the query `{other}`"))),
    };
    if select.into.is_some()
        || !select.lateral_views.is_empty()
        || select.top.is_some()
        || select.qualify.is_some()
    {
        return Err(error::unsupported(
            "SELECT INTO, TOP, LATERAL VIEW and QUALIFY",
        ));
    }

    // FROM: the first table, then inner joins (comma joins are inner
    // joins without ON).
    let mut scope = Scope::default();
    let mut first = None;
    let mut joins = Vec::new();
    let mut pending_on: Vec<(usize, ast::Expr, usize)> = Vec::new();
    for (position, table_with_joins) in select.from.iter().enumerate() {
        let mut factors = vec![(&table_with_joins.relation, None)];
        for join in &table_with_joins.joins {
            let on = match &join.join_operator {
                ast::JoinOperator::Join(c)
                | ast::JoinOperator::Inner(c)
                | ast::JoinOperator::CrossJoin(c) => match c {
                    ast::JoinConstraint::On(e) => Some(e),
                    ast::JoinConstraint::None => None,
                    _ => return Err(error::unsupported("USING and NATURAL joins")),
                },
                _ => {
                    return Err(error::unsupported(
                        "outer joins (LEFT, RIGHT, FULL) and semi joins",
                    ))
                }
            };
            factors.push((&join.relation, on));
        }
        for (index, (factor, on)) in factors.into_iter().enumerate() {
            let source = table_source(ctx, factor)?;
            scope.columns.extend(scope_for(&source));
            if position == 0 && index == 0 {
                first = Some(source);
            } else {
                joins.push(JoinStep {
                    source,
                    on: Vec::new(),
                });
            }
            if let Some(on) = on {
                pending_on.push((joins.len() - 1, on.clone(), scope.columns.len()));
            }
        }
    }
    for (join_index, on, width) in pending_on {
        let partial = Scope {
            columns: scope.columns[..width].to_vec(),
        };
        let mut binder = ctx.binder(&partial, "on clause");
        let bound = binder.bind(&on)?;
        let mut conjuncts = Vec::new();
        split_conjuncts(bound, &mut conjuncts);
        super::model_predict::order_conjuncts(&ctx.eval, &mut conjuncts);
        joins[join_index].on = conjuncts;
    }

    // WHERE.
    let mut filters = Vec::new();
    if let Some(selection) = &select.selection {
        let mut binder = ctx.binder(&scope, "where clause");
        split_conjuncts(binder.bind(selection)?, &mut filters);
        super::model_predict::order_conjuncts(&ctx.eval, &mut filters);
    }

    // Select items, with wildcards expanded.
    let mut items: Vec<(Option<ast::Expr>, String, Option<Expr>)> = Vec::new();
    for (position, item) in select.projection.iter().enumerate() {
        let text = item_texts.get(position);
        match item {
            SelectItem::UnnamedExpr(e) => items.push((Some(e.clone()), item_name(e, text), None)),
            SelectItem::ExprWithAlias { expr, alias } => {
                items.push((Some(expr.clone()), alias.value.clone(), None))
            }
            SelectItem::Wildcard(_) => {
                if scope.columns.is_empty() {
                    return Err(error::SqlError::new(1096, "HY000", "No tables used"));
                }
                for (index, column) in scope.columns.iter().enumerate() {
                    items.push((None, column.name.clone(), Some(column_expr(index, column))));
                }
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let qualifier = kind.to_string();
                let qualifier = super::ident::unquote(qualifier.rsplit('.').next().unwrap_or(""));
                let mut any = false;
                for (index, column) in scope.columns.iter().enumerate() {
                    if column.qualifier.eq_ignore_ascii_case(&qualifier) {
                        any = true;
                        items.push((None, column.name.clone(), Some(column_expr(index, column))));
                    }
                }
                if !any {
                    return Err(error::SqlError::new(
                        1051,
                        "42S02",
                        format!("Unknown table '{qualifier}'"),
                    ));
                }
            }
            other => return Err(error::unsupported(format!("the select item `{other}`"))),
        }
    }

    let group_by_exprs: Vec<ast::Expr> = match &select.group_by {
        ast::GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => exprs.clone(),
        _ => return Err(error::unsupported("GROUP BY ALL, ROLLUP and CUBE")),
    };
    let order_exprs: Vec<ast::OrderByExpr> = match &query.order_by {
        None => Vec::new(),
        Some(order) => match &order.kind {
            ast::OrderByKind::Expressions(exprs) => exprs.clone(),
            ast::OrderByKind::All(_) => return Err(error::unsupported("ORDER BY ALL")),
        },
    };

    // Decide whether the query aggregates: GROUP BY, HAVING, or an
    // aggregate call in the select list or ORDER BY.
    let mut probe = ctx.binder(&scope, "field list");
    probe.allow_aggregates = true;
    for (expr, _, _) in &items {
        if let Some(expr) = expr {
            probe.bind(expr)?;
        }
    }
    for order in &order_exprs {
        // Aliases are unknown to the probe; only the aggregate flag matters.
        let _ = probe.bind(&order.expr);
    }
    let aggregated = !group_by_exprs.is_empty() || select.having.is_some() || probe.saw_aggregate;

    let mut binder = ctx.binder(&scope, "field list");
    if aggregated {
        let mut group_by = Vec::new();
        for expr in &group_by_exprs {
            group_by.push(bind_group_item(ctx, &scope, expr, &items)?);
        }
        binder.agg = Some(AggState {
            group_by,
            calls: Vec::new(),
        });
        binder.allow_aggregates = true;
        binder.has_group_by = !group_by_exprs.is_empty();
    }

    let mut projection = Vec::new();
    let mut names = Vec::new();
    for (position, (expr, name, prebound)) in items.iter().enumerate() {
        binder.select_position = position + 1;
        let bound = match (expr, prebound) {
            (Some(expr), _) => binder.bind(expr)?,
            (None, Some(column)) => {
                if binder.agg.is_some() {
                    let ast_column = column_ast(&scope.columns[column_index(column)]);
                    binder.bind(&ast_column)?
                } else {
                    column.clone()
                }
            }
            (None, None) => unreachable!("select items carry an expression or a bound column"),
        };
        projection.push(bound);
        names.push(name.clone());
    }
    let visible = projection.len();

    let mut having = Vec::new();
    if let Some(expr) = &select.having {
        binder.clause = "having clause";
        let bound = bind_with_aliases(&mut binder, expr, &items, &projection)?;
        split_conjuncts(bound, &mut having);
    }

    let mut order = Vec::new();
    binder.clause = "order clause";
    for item in &order_exprs {
        let descending = matches!(item.options.sort, Some(ast::OrderBySort::Desc));
        if matches!(item.options.sort, Some(ast::OrderBySort::Using(_)))
            || item.options.nulls_first.is_some()
        {
            return Err(error::unsupported(
                "ORDER BY ... USING and NULLS FIRST/LAST",
            ));
        }
        if let ast::Expr::Value(v) = &item.expr {
            if let ast::Value::Number(n, _) = &v.value {
                let position: usize = n
                    .parse()
                    .map_err(|_| error::unknown_column(n, "order clause"))?;
                if position == 0 || position > visible {
                    return Err(error::unknown_column(n, "order clause"));
                }
                order.push((position - 1, descending));
                continue;
            }
        }
        if let ast::Expr::Identifier(ident) = &item.expr {
            if let Some(position) = names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(&ident.value))
            {
                if items[position].0.is_some() || items[position].2.is_some() {
                    order.push((position, descending));
                    continue;
                }
            }
        }
        let bound = binder.bind(&item.expr)?;
        projection.push(bound);
        order.push((projection.len() - 1, descending));
    }
    let agg = binder.agg.take();

    let (limit, offset) = match &query.limit_clause {
        None => (None, 0),
        Some(ast::LimitClause::LimitOffset {
            limit,
            offset,
            limit_by,
        }) => {
            if !limit_by.is_empty() {
                return Err(error::unsupported("LIMIT BY"));
            }
            let limit = limit.as_ref().map(|e| constant_u64(ctx, e)).transpose()?;
            let offset = offset
                .as_ref()
                .map(|o| constant_u64(ctx, &o.value))
                .transpose()?
                .unwrap_or(0);
            (limit, offset)
        }
        Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
            (Some(constant_u64(ctx, limit)?), constant_u64(ctx, offset)?)
        }
    };

    Ok(SelectPlan {
        first,
        joins,
        filters,
        agg,
        having,
        projection,
        names,
        visible,
        distinct: matches!(select.distinct, Some(ast::Distinct::Distinct)),
        order,
        limit,
        offset,
        input_width: scope.columns.len(),
    })
}

fn column_expr(index: usize, column: &ScopeColumn) -> Expr {
    Expr::Column {
        index,
        name: column.qualified(),
        sql_type: column.sql_type,
    }
}

fn column_index(expr: &Expr) -> usize {
    match expr {
        Expr::Column { index, .. } => *index,
        _ => 0,
    }
}

fn column_ast(column: &ScopeColumn) -> ast::Expr {
    ast::Expr::CompoundIdentifier(vec![
        ast::Ident::new(&column.qualifier),
        ast::Ident::new(&column.name),
    ])
}

/// Binds a GROUP BY item: a column of FROM first, then a select alias or
/// position, as MySQL resolves GROUP BY.
fn bind_group_item(
    ctx: &ReadContext,
    scope: &Scope,
    expr: &ast::Expr,
    items: &[(Option<ast::Expr>, String, Option<Expr>)],
) -> EngineResult<Expr> {
    if let ast::Expr::Value(v) = expr {
        if let ast::Value::Number(n, _) = &v.value {
            let position: usize = n
                .parse()
                .map_err(|_| error::unknown_column(n, "group statement"))?;
            return match items.get(position.wrapping_sub(1)) {
                Some((Some(item), _, _)) => ctx.binder(scope, "group statement").bind(item),
                Some((None, _, Some(column))) => Ok(column.clone()),
                _ => Err(error::unknown_column(n, "group statement")),
            };
        }
    }
    let mut binder = ctx.binder(scope, "group statement");
    match binder.bind(expr) {
        Ok(bound) => Ok(bound),
        Err(e) if e.code == 1054 => {
            if let ast::Expr::Identifier(ident) = expr {
                if let Some((Some(item), _, _)) = items
                    .iter()
                    .find(|(_, name, _)| name.eq_ignore_ascii_case(&ident.value))
                {
                    return ctx.binder(scope, "group statement").bind(item);
                }
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Binds a HAVING expression, where a bare name may refer to a select
/// alias.
fn bind_with_aliases(
    binder: &mut Binder,
    expr: &ast::Expr,
    items: &[(Option<ast::Expr>, String, Option<Expr>)],
    projection: &[Expr],
) -> EngineResult<Expr> {
    match binder.bind(expr) {
        Ok(bound) => Ok(bound),
        Err(e) if e.code == 1054 || e.code == 1055 => {
            if let ast::Expr::Identifier(ident) = expr {
                if let Some(position) = items
                    .iter()
                    .position(|(_, name, _)| name.eq_ignore_ascii_case(&ident.value))
                {
                    return Ok(projection[position].clone());
                }
            }
            // Rebind the parts so that aliases inside larger expressions
            // resolve too.
            if let ast::Expr::BinaryOp { left, op, right } = expr {
                let l = bind_with_aliases(binder, left, items, projection)?;
                let r = bind_with_aliases(binder, right, items, projection)?;
                let combined = ast::Expr::BinaryOp {
                    left: Box::new(ast::Expr::Value(ast::Value::Null.into())),
                    op: op.clone(),
                    right: Box::new(ast::Expr::Value(ast::Value::Null.into())),
                };
                if let Expr::Binary { op, .. } = binder.bind(&combined)? {
                    return Ok(Expr::Binary {
                        op,
                        left: Box::new(l),
                        right: Box::new(r),
                    });
                }
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

fn constant_u64(ctx: &ReadContext, expr: &ast::Expr) -> EngineResult<u64> {
    let scope = Scope::default();
    let bound = ctx.binder(&scope, "field list").bind(expr)?;
    let value = bound
        .eval(&ctx.eval, &[Vec::new()])?
        .pop()
        .unwrap_or(Value::Null);
    match value {
        Value::Int(i) if i >= 0 => Ok(i as u64),
        other => Err(error::syntax(&super::render::render_value(&other))),
    }
}

/// Keeps the rows for which every conjunct is true, evaluating each
/// conjunct in order on the rows that passed the earlier ones.
pub fn filter_rows(
    ctx: &EvalContext,
    rows: Vec<Row>,
    conjuncts: &[Expr],
) -> EngineResult<Vec<Row>> {
    let mut rows = rows;
    for conjunct in conjuncts {
        let mut kept = Vec::with_capacity(rows.len());
        for batch in rows.chunks(BATCH_SIZE) {
            let values = conjunct.eval(ctx, batch)?;
            for (row, value) in batch.iter().zip(values) {
                if value.truth() == Some(true) {
                    kept.push(row.clone());
                }
            }
        }
        rows = kept;
    }
    Ok(rows)
}

/// Evaluates expressions over rows in batches, returning output rows.
pub fn project_rows(ctx: &EvalContext, rows: &[Row], exprs: &[Expr]) -> EngineResult<Vec<Row>> {
    let mut out = Vec::with_capacity(rows.len());
    for batch in rows.chunks(BATCH_SIZE) {
        let columns: Vec<Vec<Value>> = exprs
            .iter()
            .map(|e| e.eval(ctx, batch))
            .collect::<EngineResult<_>>()?;
        for i in 0..batch.len() {
            out.push(columns.iter().map(|c| c[i].clone()).collect());
        }
    }
    Ok(out)
}

/// Returns the WHERE and ON conjuncts that call a model, in the order they
/// run: after the joins and the plain WHERE conjuncts, cheapest model first.
/// For inner joins, moving an ON conjunct above the joins keeps the rows.
pub fn model_conjuncts(ctx: &EvalContext, plan: &SelectPlan) -> Vec<Expr> {
    let mut model: Vec<Expr> = plan
        .filters
        .iter()
        .chain(plan.joins.iter().flat_map(|j| j.on.iter()))
        .filter(|e| e.has_model_call())
        .cloned()
        .collect();
    super::model_predict::order_conjuncts(ctx, &mut model);
    model
}

/// Returns the rows produced by FROM, the joins and WHERE. The plain
/// conjuncts of ON and WHERE run first, so a model receives only the rows
/// that pass them, as EXPLAIN shows.
pub fn source_rows(ctx: &ReadContext, plan: &SelectPlan) -> EngineResult<Vec<Row>> {
    let mut rows = match &plan.first {
        None => vec![Vec::new()],
        Some(source) => ctx.scan(&source.table),
    };
    for join in &plan.joins {
        let plain_on: Vec<Expr> = join
            .on
            .iter()
            .filter(|e| !e.has_model_call())
            .cloned()
            .collect();
        let right = ctx.scan(&join.source.table);
        let mut joined = Vec::new();
        for left in &rows {
            // Filter per left row so the intermediate product stays small.
            let candidates: Vec<Row> = right
                .iter()
                .map(|r| {
                    let mut row = left.clone();
                    row.extend(r.iter().cloned());
                    row
                })
                .collect();
            joined.extend(filter_rows(&ctx.eval, candidates, &plain_on)?);
        }
        rows = joined;
    }

    let plain_where: Vec<Expr> = plan
        .filters
        .iter()
        .filter(|e| !e.has_model_call())
        .cloned()
        .collect();
    let rows = filter_rows(&ctx.eval, rows, &plain_where)?;
    filter_rows(&ctx.eval, rows, &model_conjuncts(&ctx.eval, plan))
}

pub fn aggregate_rows(
    ctx: &EvalContext,
    rows: Vec<Row>,
    state: &AggState,
) -> EngineResult<Vec<Row>> {
    let mut groups: Vec<(Vec<Value>, Vec<Accumulator>)> = Vec::new();
    let mut index: HashMap<Vec<String>, usize> = HashMap::new();
    for batch in rows.chunks(BATCH_SIZE) {
        let keys: Vec<Vec<Value>> = state
            .group_by
            .iter()
            .map(|e| e.eval(ctx, batch))
            .collect::<EngineResult<_>>()?;
        let arguments: Vec<Option<Vec<Value>>> = state
            .calls
            .iter()
            .map(|c| c.argument.as_ref().map(|a| a.eval(ctx, batch)).transpose())
            .collect::<EngineResult<_>>()?;
        for i in 0..batch.len() {
            let key_values: Vec<Value> = keys.iter().map(|k| k[i].clone()).collect();
            let key: Vec<String> = key_values.iter().map(group_key).collect();
            let position = *index.entry(key).or_insert_with(|| {
                groups.push((key_values, vec![Accumulator::default(); state.calls.len()]));
                groups.len() - 1
            });
            for (k, call) in state.calls.iter().enumerate() {
                let value = match &arguments[k] {
                    Some(values) => values[i].clone(),
                    None => Value::Int(1),
                };
                groups[position].1[k].add(call, &value)?;
            }
        }
    }
    if groups.is_empty() && state.group_by.is_empty() {
        groups.push((Vec::new(), vec![Accumulator::default(); state.calls.len()]));
    }
    Ok(groups
        .into_iter()
        .map(|(mut key, accumulators)| {
            key.extend(
                accumulators
                    .iter()
                    .zip(&state.calls)
                    .map(|(a, c)| a.finish(c)),
            );
            key
        })
        .collect())
}

/// Runs a planned SELECT, returning all output rows (hidden columns
/// removed).
pub fn execute_plan(ctx: &ReadContext, plan: &SelectPlan) -> EngineResult<Vec<Row>> {
    let rows = source_rows(ctx, plan)?;
    finish_rows(ctx, plan, rows)
}

/// Row counts after the stages of [`finish_rows`] that can change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinishCounts {
    /// Groups after aggregation; the input count without aggregation.
    pub aggregated: usize,
    /// Rows after HAVING.
    pub after_having: usize,
    /// Rows after DISTINCT.
    pub distinct: usize,
}

/// Runs the stages after WHERE (aggregation, HAVING, projection,
/// DISTINCT, ORDER BY, LIMIT) on the rows that passed WHERE.
pub fn finish_rows(ctx: &ReadContext, plan: &SelectPlan, rows: Vec<Row>) -> EngineResult<Vec<Row>> {
    finish_rows_counted(ctx, plan, rows).map(|(rows, _)| rows)
}

/// Runs [`finish_rows`] and also returns the row counts between stages.
pub fn finish_rows_counted(
    ctx: &ReadContext,
    plan: &SelectPlan,
    rows: Vec<Row>,
) -> EngineResult<(Vec<Row>, FinishCounts)> {
    let mut rows = rows;
    let mut aggregated = rows.len();
    if let Some(state) = &plan.agg {
        rows = aggregate_rows(&ctx.eval, rows, state)?;
        aggregated = rows.len();
        rows = filter_rows(&ctx.eval, rows, &plan.having)?;
    }
    let after_having = rows.len();
    let mut output = project_rows(&ctx.eval, &rows, &plan.projection)?;

    if plan.distinct {
        let mut seen = std::collections::HashSet::new();
        output.retain(|row| {
            seen.insert(
                row[..plan.visible]
                    .iter()
                    .map(group_key)
                    .collect::<Vec<_>>(),
            )
        });
    }
    let distinct = output.len();
    if !plan.order.is_empty() {
        output.sort_by(|a, b| {
            for (position, descending) in &plan.order {
                let ordering = sort_order(&a[*position], &b[*position]);
                let ordering = if *descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering.is_ne() {
                    return ordering;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let start = (plan.offset as usize).min(output.len());
    let end = match plan.limit {
        Some(limit) => start.saturating_add(limit as usize).min(output.len()),
        None => output.len(),
    };
    let mut output: Vec<Row> = output.drain(start..end).collect();
    for row in &mut output {
        row.truncate(plan.visible);
    }
    let counts = FinishCounts {
        aggregated,
        after_having,
        distinct,
    };
    Ok((output, counts))
}

/// Returns the text-protocol type of a result column.
pub fn column_type(
    static_type: Option<SqlType>,
    values: impl Iterator<Item = Value>,
) -> ColumnType {
    let from_sql = |t: SqlType| match t {
        SqlType::Int(_) => ColumnType::Int,
        SqlType::Float => ColumnType::Float,
        SqlType::Double => ColumnType::Double,
        SqlType::Decimal(..) => ColumnType::Decimal,
        SqlType::Varchar(_) | SqlType::Char(_) | SqlType::Text => ColumnType::Text,
        SqlType::DateTime(_) | SqlType::Timestamp(_) => ColumnType::DateTime,
        SqlType::Null => ColumnType::Null,
    };
    if let Some(t) = static_type.filter(|t| *t != SqlType::Null) {
        return from_sql(t);
    }
    for value in values {
        return match value {
            Value::Null => continue,
            Value::Int(_) => ColumnType::Int,
            Value::Float(_) => ColumnType::Float,
            Value::Double(_) => ColumnType::Double,
            Value::Decimal(_) => ColumnType::Decimal,
            Value::Str(_) => ColumnType::Text,
            Value::DateTime(_) => ColumnType::DateTime,
        };
    }
    ColumnType::Null
}

/// Runs a SELECT and renders its result set.
pub fn run_select(
    ctx: &ReadContext,
    query: &ast::Query,
    item_texts: &[String],
) -> EngineResult<ResultSet> {
    let plan = plan_query(ctx, query, item_texts)?;
    let rows = execute_plan(ctx, &plan)?;
    let columns = plan
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| Column {
            name: name.clone(),
            column_type: column_type(
                plan.projection[i].static_type(),
                rows.iter().map(|r| r[i].clone()),
            ),
        })
        .collect();
    let rows = rows
        .iter()
        .map(|row| row.iter().map(super::render::render_cell).collect())
        .collect();
    Ok(ResultSet { columns, rows })
}
