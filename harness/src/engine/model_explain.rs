//! EXPLAIN ANALYZE: runs the SELECT, then prints the plan with TiDB's
//! columns `id`, `estRows`, `actRows`, `task`, `access object`,
//! `execution info`, `operator info`, `memory`, `disk`.
//!
//! `actRows` comes from one real run split at the plan's stages: the
//! joined rows, the rows after the plain WHERE conjuncts, the rows after
//! the model conjuncts, and the final rows. Operators whose count those
//! stages do not give (inside a join with a root Selection, or an
//! aggregation below a HAVING or LIMIT) print `N/A`.
//!
//! `execution info` of `MODEL_PREDICATE` and `MODEL_PROJECT` lists, per
//! model, `model:<db.name>, version:<n>, rows:<sent>, batches:<calls>,
//! time:<ms>ms` for the whole statement; only the time varies between
//! runs. `memory` and `disk` print `N/A`.

use super::error::EngineResult;
use super::explain::{self, PlanNode};
use super::expr::Expr;
use super::query::{self, ReadContext, SelectPlan};
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

/// Row counts of one run.
struct StageCounts {
    /// Rows of each table by name and alias, as TableFullScan reads them.
    tables: Vec<(String, usize)>,
    /// Rows after the joins and the plain WHERE conjuncts.
    after_plain: usize,
    /// Rows after every WHERE conjunct.
    after_model: usize,
    /// Rows the statement returned.
    final_rows: usize,
}

/// Runs a planned SELECT and renders EXPLAIN ANALYZE rows.
pub fn analyze(ctx: &ReadContext, plan: &SelectPlan) -> EngineResult<ResultSet> {
    // Run the plan stage by stage; model conjuncts run once, on the rows
    // that passed the plain ones.
    let (model, plain): (Vec<Expr>, Vec<Expr>) =
        plan.filters.iter().cloned().partition(Expr::has_model_call);
    let mut unfiltered = plan.clone();
    unfiltered.filters = Vec::new();
    let joined = query::source_rows(ctx, &unfiltered)?;
    let after_plain = query::filter_rows(&ctx.eval, joined, &plain)?;
    let after_plain_count = after_plain.len();
    let after_model = query::filter_rows(&ctx.eval, after_plain, &model)?;
    let after_model_count = after_model.len();
    let output = query::finish_rows(ctx, plan, after_model)?;

    let mut tables = Vec::new();
    let sources = plan
        .first
        .iter()
        .chain(plan.joins.iter().map(|j| &j.source));
    for source in sources {
        tables.push((source.alias.clone(), ctx.scan(&source.table).len()));
    }
    let counts = StageCounts {
        tables,
        after_plain: after_plain_count,
        after_model: after_model_count,
        final_rows: output.len(),
    };

    // Annotate the plan tree in the order render() prints it.
    let tree = explain::build(ctx, plan);
    let mut annotations = Vec::new();
    annotate(ctx, plan, &tree, &counts, true, &mut annotations);
    let plan_rows = explain::render(&tree).rows;

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

/// Pushes `(actRows, execution info)` for `node` and its descendants in
/// pre-order.
fn annotate(
    ctx: &ReadContext,
    plan: &SelectPlan,
    node: &PlanNode,
    counts: &StageCounts,
    is_root: bool,
    out: &mut Vec<(String, String)>,
) {
    let single_table = plan.joins.is_empty();
    let act = match node.name.as_str() {
        _ if is_root => Some(counts.final_rows),
        "MODEL_PREDICATE" => Some(counts.after_model),
        "TableFullScan" => {
            let alias = node
                .access
                .rsplit_once("alias:")
                .map(|(_, a)| a)
                .unwrap_or_else(|| node.access.trim_start_matches("table:"));
            counts
                .tables
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(alias))
                .map(|(_, n)| *n)
        }
        "TableReader" if single_table => Some(counts.after_plain),
        "Selection" if single_table && node.task != "root" => Some(counts.after_plain),
        "Selection" if plan.agg.is_none() => Some(counts.after_plain),
        "Projection" | "MODEL_PROJECT" | "Sort" | "TopN" | "Limit"
            if plan.agg.is_none() && !plan.distinct =>
        {
            Some(counts.final_rows)
        }
        _ => None,
    };
    let info = match node.name.as_str() {
        "MODEL_PREDICATE" | "MODEL_PROJECT" => model_execution_info(ctx),
        _ => String::new(),
    };
    out.push((
        act.map_or_else(|| "N/A".to_string(), |n| n.to_string()),
        info,
    ));
    for child in &node.children {
        // The direct input of MODEL_PREDICATE is the plain part of WHERE.
        if node.name == "MODEL_PREDICATE" {
            annotate_source(ctx, plan, child, counts, out);
        } else {
            annotate(ctx, plan, child, counts, false, out);
        }
    }
}

fn annotate_source(
    ctx: &ReadContext,
    plan: &SelectPlan,
    node: &PlanNode,
    counts: &StageCounts,
    out: &mut Vec<(String, String)>,
) {
    let start = out.len();
    annotate(ctx, plan, node, counts, false, out);
    out[start].0 = counts.after_plain.to_string();
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
