//! EXPLAIN ANALYZE: runs the SELECT, then prints the plan with TiDB's
//! columns `id`, `estRows`, `actRows`, `task`, `access object`,
//! `execution info`, `operator info`, `memory`, `disk`.
//!
//! The operators of FROM and WHERE (scans, readers, selections, joins
//! and `MODEL_PREDICATE`) run bottom-up as the plan tree shows them, so
//! each prints the rows it returned. The stages after WHERE run as in a
//! plain SELECT, and each operator above them prints the rows after its
//! stage.
//!
//! `execution info` of `MODEL_PREDICATE` and `MODEL_PROJECT` lists, per
//! model, `model:<db.name>, version:<n>, rows:<sent>, batches:<calls>,
//! time:<ms>ms` for the whole statement; only the time varies between
//! runs. `memory` and `disk` print `N/A`.

use super::error::{self, EngineResult};
use super::explain::{self, PlanNode, Step};
use super::expr::Expr;
use super::query::{self, FinishCounts, ReadContext, SelectPlan, TableSource};
use super::storage::Row;
use super::value::Value;
use crate::target::{Column, ColumnType, ResultSet};

/// What an EXPLAIN statement asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainMode {
    /// Not an EXPLAIN: run the statement.
    None,
    /// `EXPLAIN`: print the plan.
    Plan,
    /// `EXPLAIN ANALYZE`: run the statement and print the plan with
    /// runtime statistics.
    Analyze,
}

/// Runs a planned SELECT and renders EXPLAIN ANALYZE rows.
pub fn analyze(ctx: &ReadContext, plan: &SelectPlan) -> EngineResult<ResultSet> {
    let mut tree = explain::build(ctx, plan);
    count_rows(ctx, plan, &mut tree)?;
    let plan_rows = explain::render(&tree).rows;
    let mut annotations = Vec::new();
    annotate(ctx, &tree, &mut annotations);

    let columns = [
        "id",
        "estRows",
        "actRows",
        "task",
        "access object",
        "execution info",
        "operator info",
        "memory",
        "disk",
    ]
    .iter()
    .map(|name| Column {
        name: (*name).into(),
        column_type: ColumnType::Text,
    })
    .collect();
    let rows = plan_rows
        .into_iter()
        .zip(annotations)
        .map(|(row, (act_rows, info))| {
            let mut cells = row.into_iter();
            let id = cells.next().flatten();
            let est = cells.next().flatten();
            let task = cells.next().flatten();
            let access = cells.next().flatten();
            let operator = cells.next().flatten();
            vec![
                id,
                est,
                Some(act_rows),
                task,
                access,
                Some(info),
                operator,
                Some("N/A".into()),
                Some("N/A".into()),
            ]
        })
        .collect();
    Ok(ResultSet { columns, rows })
}

/// Reports whether a step runs after WHERE, in [`query::finish_rows_counted`].
fn is_late(step: &Step) -> bool {
    matches!(
        step,
        Step::Aggregate
            | Step::Having
            | Step::Distinct
            | Step::Sort
            | Step::Limit { .. }
            | Step::Project
    )
}

/// Runs the statement along the plan tree and sets `act_rows` of every
/// operator.
fn count_rows(ctx: &ReadContext, plan: &SelectPlan, tree: &mut PlanNode) -> EngineResult<()> {
    // The late operators form a chain above the operators of FROM and
    // WHERE, one child each.
    let mut lower = &mut *tree;
    while is_late(&lower.step) {
        let Some(child) = lower.children.first_mut() else {
            return Err(error::other(format!(
                "EXPLAIN ANALYZE: operator {} has no input",
                lower.name
            )));
        };
        lower = child;
    }
    let sources: Vec<&TableSource> = plan
        .first
        .iter()
        .chain(plan.joins.iter().map(|j| &j.source))
        .collect();
    let rows = run_early(ctx, &sources, lower)?;

    let (_, counts) = query::finish_rows_counted(ctx, plan, rows)?;
    count_late(tree, &counts);
    Ok(())
}

/// Runs an operator of FROM or WHERE and its inputs, sets their
/// `act_rows`, and returns the operator's rows.
fn run_early(
    ctx: &ReadContext,
    sources: &[&TableSource],
    node: &mut PlanNode,
) -> EngineResult<Vec<Row>> {
    let mut inputs = Vec::with_capacity(node.children.len());
    for child in &mut node.children {
        inputs.push(run_early(ctx, sources, child)?);
    }
    let missing_input = || {
        error::other(format!(
            "EXPLAIN ANALYZE: operator {} has no input",
            node.name
        ))
    };

    let rows = match &node.step {
        Step::Dual => vec![Vec::new()],
        Step::Scan { source } => {
            let source = sources.get(*source).ok_or_else(|| {
                error::other(format!(
                    "EXPLAIN ANALYZE: no FROM table at position {source}"
                ))
            })?;
            ctx.scan(&source.table)
        }
        Step::Read => inputs.pop().ok_or_else(missing_input)?,
        Step::Filter { conjuncts, offset } => {
            let input = inputs.pop().ok_or_else(missing_input)?;
            filter_at(ctx, input, conjuncts, *offset)?
        }
        Step::Join { equal } => {
            let probe = inputs.pop().ok_or_else(missing_input)?;
            let build = inputs.pop().ok_or_else(missing_input)?;
            let mut joined = Vec::new();
            for left in &probe {
                // Filter per probe row so the intermediate product stays
                // small.
                let candidates: Vec<Row> = build
                    .iter()
                    .map(|right| {
                        let mut row = left.clone();
                        row.extend(right.iter().cloned());
                        row
                    })
                    .collect();
                joined.extend(query::filter_rows(&ctx.eval, candidates, equal)?);
            }
            joined
        }
        late => {
            return Err(error::other(format!(
                "EXPLAIN ANALYZE: operator {} ({late:?}) below the joins",
                node.name
            )))
        }
    };
    node.act_rows = Some(rows.len());
    Ok(rows)
}

/// Filters rows that hold the joined row's columns from `offset` on. The
/// conjuncts read joined-row positions, so the rows are padded in front
/// while they are evaluated.
fn filter_at(
    ctx: &ReadContext,
    rows: Vec<Row>,
    conjuncts: &[Expr],
    offset: usize,
) -> EngineResult<Vec<Row>> {
    if offset == 0 {
        return query::filter_rows(&ctx.eval, rows, conjuncts);
    }
    let padded = rows
        .into_iter()
        .map(|row| {
            let mut full = vec![Value::Null; offset];
            full.extend(row);
            full
        })
        .collect();
    let kept = query::filter_rows(&ctx.eval, padded, conjuncts)?;
    Ok(kept
        .into_iter()
        .map(|mut row| row.split_off(offset))
        .collect())
}

/// Sets `act_rows` of the operators after WHERE from the stage counts,
/// bottom-up.
fn count_late(node: &mut PlanNode, counts: &FinishCounts) -> usize {
    if !is_late(&node.step) {
        return node.act_rows.unwrap_or(0);
    }
    let input = match node.children.first_mut() {
        Some(child) => count_late(child, counts),
        None => 0,
    };
    let rows = match node.step {
        Step::Aggregate => counts.aggregated,
        Step::Having => counts.after_having,
        Step::Distinct => counts.distinct,
        Step::Limit { offset, count } => {
            let offset = usize::try_from(offset).unwrap_or(usize::MAX);
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            input.saturating_sub(offset).min(count)
        }
        _ => input,
    };
    node.act_rows = Some(rows);
    rows
}

/// Pushes `(actRows, execution info)` for `node` and its descendants in
/// the pre-order that [`explain::render`] prints.
fn annotate(ctx: &ReadContext, node: &PlanNode, out: &mut Vec<(String, String)>) {
    let info = match node.name.as_str() {
        "MODEL_PREDICATE" | "MODEL_PROJECT" => model_execution_info(ctx),
        _ => String::new(),
    };
    let act_rows = node
        .act_rows
        .map_or_else(|| "N/A".to_string(), |n| n.to_string());
    out.push((act_rows, info));
    for child in &node.children {
        annotate(ctx, child, out);
    }
}

fn model_execution_info(ctx: &ReadContext) -> String {
    let Some(models) = &ctx.eval.models else {
        return String::new();
    };
    models
        .models()
        .map(|model| {
            let stats = *model.stats.lock().unwrap_or_else(|p| p.into_inner());
            format!(
                "model:{}, version:{}, rows:{}, batches:{}, time:{:.3}ms",
                model.model_ref.name,
                model.version(),
                stats.rows,
                stats.batches,
                stats.elapsed.as_secs_f64() * 1000.0
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
