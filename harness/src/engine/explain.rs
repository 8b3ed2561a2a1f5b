//! EXPLAIN output in TiDB's layout: columns `id`, `estRows`, `task`,
//! `access object`, `operator info`, with tree prefixes in `id`.
//!
//! Row estimates are deterministic. A table scan estimates the rows
//! visible at the read timestamp, and each Selection conjunct keeps a
//! third of its input. A join with an equality condition keeps the larger
//! side, any other join the product. An aggregation gives 1 row without
//! GROUP BY and keeps its input with it. Limit and TopN cap at their
//! count.
//!
//! Conjuncts that call a model are not pushed to the storage side: they
//! form a `MODEL_PREDICATE` operator in the root task above the reader
//! and the joins, and a projection that calls a model is a
//! `MODEL_PROJECT` operator. Both list `model:<db.name>, version:<n>`
//! for each model after the expressions.

use super::expr::{BinaryOp, Expr};
use super::model_predict;
use super::query::{ReadContext, SelectPlan, TableSource};
use crate::target::{Column, ColumnType, ResultSet};

/// One operator of the plan tree.
#[derive(Debug, Clone)]
pub struct PlanNode {
    /// Operator name (`TableReader`, `Selection`, ...).
    pub name: String,
    /// Suffix after the name, such as `(Build)`.
    pub role: &'static str,
    /// Estimated rows.
    pub est_rows: f64,
    /// `root` or `cop[tikv]`.
    pub task: &'static str,
    /// `table:t` or empty.
    pub access: String,
    /// Operator details.
    pub info: String,
    /// Children, in TiDB's order (build side first).
    pub children: Vec<PlanNode>,
}

impl PlanNode {
    fn new(
        name: &str,
        est_rows: f64,
        task: &'static str,
        info: String,
        children: Vec<PlanNode>,
    ) -> PlanNode {
        PlanNode {
            name: name.into(),
            role: "",
            est_rows,
            task,
            access: String::new(),
            info,
            children,
        }
    }
}

fn join_list(exprs: &[Expr]) -> String {
    exprs
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Builds the reader subtree of one table, with the pushed-down conjuncts.
fn reader(ctx: &ReadContext, source: &TableSource, pushed: &[Expr]) -> PlanNode {
    let rows = ctx.store.count(&source.table, ctx.read_ts, ctx.writes) as f64;
    let mut scan = PlanNode::new(
        "TableFullScan",
        rows,
        "cop[tikv]",
        "keep order:false, stats:pseudo".into(),
        Vec::new(),
    );
    let access = if source.alias.eq_ignore_ascii_case(&source.table.name) {
        format!("table:{}", source.table.name)
    } else {
        format!("table:{}, alias:{}", source.table.name, source.alias)
    };
    scan.access = access;
    let top = if pushed.is_empty() {
        scan
    } else {
        let estimate = rows * (1.0f64 / 3.0).powi(pushed.len() as i32);
        PlanNode::new(
            "Selection",
            estimate,
            "cop[tikv]",
            join_list(pushed),
            vec![scan],
        )
    };
    PlanNode::new(
        "TableReader",
        top.est_rows,
        "root",
        format!("data:{}", top.name),
        vec![top],
    )
}

/// Lists the input columns an expression reads.
fn columns_of(expr: &Expr) -> Vec<usize> {
    let mut out = Vec::new();
    expr.visit(&mut |e| {
        if let Expr::Column { index, .. } = e {
            out.push(*index);
        }
    });
    out
}

/// Builds the operator tree of a planned SELECT.
pub fn build(ctx: &ReadContext, plan: &SelectPlan) -> PlanNode {
    // Model conjuncts of WHERE and ON run in one root operator above the
    // joins; for inner joins that gives the same rows.
    let (plain, model): (Vec<Expr>, Vec<Expr>) = plan
        .filters
        .iter()
        .chain(plan.joins.iter().flat_map(|j| j.on.iter()))
        .cloned()
        .partition(|e| !e.has_model_call());
    let plain: Vec<Expr> = plain
        .into_iter()
        .filter(|e| plan.filters.contains(e))
        .collect();

    let mut node = match &plan.first {
        None => PlanNode::new("TableDual", 1.0, "root", "rows:1".into(), Vec::new()),
        Some(first) => {
            let mut sources = vec![first.clone()];
            sources.extend(plan.joins.iter().map(|j| j.source.clone()));
            let mut bounds = Vec::new();
            let mut start = 0;
            for source in &sources {
                bounds.push((start, start + source.table.columns.len()));
                start += source.table.columns.len();
            }
            let table_of = |expr: &Expr| -> Option<usize> {
                let columns = columns_of(expr);
                let first_column = *columns.first()?;
                let table = bounds
                    .iter()
                    .position(|(lo, hi)| first_column >= *lo && first_column < *hi)?;
                let (lo, hi) = bounds[table];
                columns.iter().all(|c| *c >= lo && *c < hi).then_some(table)
            };
            let mut pushed: Vec<Vec<Expr>> = vec![Vec::new(); sources.len()];
            let mut remaining = Vec::new();
            for conjunct in plain.iter().chain(
                plan.joins
                    .iter()
                    .flat_map(|j| j.on.iter())
                    .filter(|e| !e.has_model_call()),
            ) {
                match table_of(conjunct) {
                    Some(table)
                        if sources.len() > 1
                            || !plan.joins.iter().any(|j| j.on.contains(conjunct)) =>
                    {
                        pushed[table].push(conjunct.clone())
                    }
                    _ => remaining.push(conjunct.clone()),
                }
            }
            let mut node = reader(ctx, &sources[0], &pushed[0]);
            for (k, source) in sources.iter().enumerate().skip(1) {
                let right = reader(ctx, source, &pushed[k]);
                let (equal, other): (Vec<Expr>, Vec<Expr>) = remaining
                    .drain(..)
                    .partition(|e| matches!(e, Expr::Binary { op: BinaryOp::Eq, left, right } if matches!(**left, Expr::Column{..}) && matches!(**right, Expr::Column{..})));
                remaining = other;
                let estimate = if equal.is_empty() {
                    node.est_rows * right.est_rows
                } else {
                    node.est_rows.max(right.est_rows)
                };
                let info = if equal.is_empty() {
                    "CARTESIAN inner join".to_string()
                } else {
                    format!("inner join, equal:[{}]", join_list(&equal))
                };
                let mut build = right;
                build.role = "(Build)";
                let mut probe = node;
                probe.role = "(Probe)";
                node = PlanNode::new("HashJoin", estimate, "root", info, vec![build, probe]);
            }
            if !remaining.is_empty() {
                let estimate = node.est_rows * (1.0f64 / 3.0).powi(remaining.len() as i32);
                node = PlanNode::new(
                    "Selection",
                    estimate,
                    "root",
                    join_list(&remaining),
                    vec![node],
                );
            }
            node
        }
    };

    if !model.is_empty() {
        let estimate = node.est_rows * (1.0f64 / 3.0).powi(model.len() as i32);
        let info = format!(
            "{}, {}",
            join_list(&model),
            model_predict::explain_models(&ctx.eval, &model)
        );
        node = PlanNode::new("MODEL_PREDICATE", estimate, "root", info, vec![node]);
    }

    if let Some(state) = &plan.agg {
        let estimate = if state.group_by.is_empty() {
            1.0
        } else {
            node.est_rows
        };
        let mut info = Vec::new();
        if !state.group_by.is_empty() {
            info.push(format!("group by:{}", join_list(&state.group_by)));
        }
        let funcs: Vec<String> = state.calls.iter().map(|c| c.to_string()).collect();
        if !funcs.is_empty() {
            info.push(format!("funcs:{}", funcs.join(", ")));
        }
        node = PlanNode::new("HashAgg", estimate, "root", info.join(", "), vec![node]);
        if !plan.having.is_empty() {
            let estimate = node.est_rows * (1.0f64 / 3.0).powi(plan.having.len() as i32);
            node = PlanNode::new(
                "Selection",
                estimate,
                "root",
                join_list(&plan.having),
                vec![node],
            );
        }
    }

    let sort_keys: Vec<String> = plan
        .order
        .iter()
        .map(|(position, descending)| {
            let key = plan.projection[*position].to_string();
            if *descending {
                format!("{key}:desc")
            } else {
                key
            }
        })
        .collect();
    let trivial_projection = plan.agg.is_none()
        && plan.projection.len() == plan.input_width
        && plan
            .projection
            .iter()
            .enumerate()
            .all(|(i, e)| matches!(e, Expr::Column { index, .. } if *index == i));
    let projection = |node: PlanNode| -> PlanNode {
        if trivial_projection {
            return node;
        }
        let visible = &plan.projection[..plan.visible];
        let (name, info) = if visible.iter().any(Expr::has_model_call) {
            let models = model_predict::explain_models(&ctx.eval, visible);
            ("MODEL_PROJECT", format!("{}, {models}", join_list(visible)))
        } else {
            ("Projection", join_list(visible))
        };
        PlanNode::new(name, node.est_rows, "root", info, vec![node])
    };

    match (plan.order.is_empty(), plan.limit) {
        (false, Some(limit)) => {
            let estimate = node.est_rows.min(limit as f64);
            let info = format!(
                "{}, offset:{}, count:{}",
                sort_keys.join(", "),
                plan.offset,
                limit
            );
            node = projection(PlanNode::new("TopN", estimate, "root", info, vec![node]));
        }
        (false, None) => {
            let estimate = node.est_rows;
            node = projection(PlanNode::new(
                "Sort",
                estimate,
                "root",
                sort_keys.join(", "),
                vec![node],
            ));
        }
        (true, Some(limit)) => {
            let estimate = node.est_rows.min(limit as f64);
            let info = format!("offset:{}, count:{}", plan.offset, limit);
            node = projection(PlanNode::new("Limit", estimate, "root", info, vec![node]));
        }
        (true, None) => node = projection(node),
    }
    if plan.distinct {
        node = PlanNode::new(
            "HashAgg",
            node.est_rows,
            "root",
            format!("group by:{}", join_list(&plan.projection[..plan.visible])),
            vec![node],
        );
    }
    node
}

/// Renders the tree as EXPLAIN rows. `brief` drops the `_<id>` suffixes
/// (this engine never prints them; FORMAT='row' output matches brief).
pub fn render(root: &PlanNode) -> ResultSet {
    let mut rows = Vec::new();
    walk(root, "", true, true, &mut rows);
    let columns = ["id", "estRows", "task", "access object", "operator info"]
        .iter()
        .map(|name| Column {
            name: (*name).into(),
            column_type: ColumnType::Text,
        })
        .collect();
    ResultSet { columns, rows }
}

fn walk(
    node: &PlanNode,
    indent: &str,
    last: bool,
    root: bool,
    rows: &mut Vec<Vec<Option<String>>>,
) {
    let prefix = if root {
        String::new()
    } else if last {
        format!("{indent}└─")
    } else {
        format!("{indent}├─")
    };
    rows.push(vec![
        Some(format!("{prefix}{}{}", node.name, node.role)),
        Some(format!("{:.2}", node.est_rows)),
        Some(node.task.to_string()),
        Some(node.access.clone()),
        Some(node.info.clone()),
    ]);
    let child_indent = if root {
        String::new()
    } else if last {
        format!("{indent}  ")
    } else {
        format!("{indent}│ ")
    };
    for (i, child) in node.children.iter().enumerate() {
        walk(
            child,
            &child_indent,
            i + 1 == node.children.len(),
            false,
            rows,
        );
    }
}
