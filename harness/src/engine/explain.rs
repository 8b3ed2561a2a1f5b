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
use super::query::{self, ReadContext, SelectPlan, TableSource};
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
    /// Operation on rows, for EXPLAIN ANALYZE.
    pub step: Step,
    /// Rows the operator returned; set by EXPLAIN ANALYZE.
    pub act_rows: Option<usize>,
}

/// Operation of an operator on rows. EXPLAIN ANALYZE runs the steps below
/// the aggregation bottom-up to count the rows of each operator.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// `TableDual`: one row without columns.
    Dual,
    /// `TableFullScan` of the FROM table at this position.
    Scan {
        /// Position of the table in FROM, joined tables included.
        source: usize,
    },
    /// `TableReader`: returns the rows of its child.
    Read,
    /// `Selection` below the aggregation, or `MODEL_PREDICATE`: keeps the
    /// rows for which every conjunct is true.
    Filter {
        /// Conjuncts over positions of the joined row.
        conjuncts: Vec<Expr>,
        /// Position in the joined row of the input's first column.
        offset: usize,
    },
    /// `HashJoin`: each probe row (second child) followed by each build
    /// row (first child), kept when every `equal` conjunct is true.
    Join {
        /// Equality conjuncts over positions of the joined row.
        equal: Vec<Expr>,
    },
    /// `HashAgg` of GROUP BY or aggregate functions.
    Aggregate,
    /// `Selection` of HAVING.
    Having,
    /// `HashAgg` of DISTINCT.
    Distinct,
    /// `Sort`.
    Sort,
    /// `TopN` or `Limit`: skips `offset` rows and keeps at most `count`.
    Limit {
        /// Rows skipped.
        offset: u64,
        /// Maximum rows returned.
        count: u64,
    },
    /// `Projection` or `MODEL_PROJECT`.
    Project,
}

impl PlanNode {
    fn new(
        name: &str,
        est_rows: f64,
        task: &'static str,
        info: String,
        step: Step,
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
            step,
            act_rows: None,
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

/// Builds the reader subtree of the FROM table at `position`, whose
/// columns start at `offset` of the joined row, with the pushed-down
/// conjuncts.
fn reader(
    ctx: &ReadContext,
    source: &TableSource,
    position: usize,
    offset: usize,
    pushed: &[Expr],
) -> PlanNode {
    let rows = ctx.store.count(&source.table, ctx.read_ts, ctx.writes) as f64;
    let mut scan = PlanNode::new(
        "TableFullScan",
        rows,
        "cop[tikv]",
        "keep order:false, stats:pseudo".into(),
        Step::Scan { source: position },
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
            Step::Filter {
                conjuncts: pushed.to_vec(),
                offset,
            },
            vec![scan],
        )
    };
    PlanNode::new(
        "TableReader",
        top.est_rows,
        "root",
        format!("data:{}", top.name),
        Step::Read,
        vec![top],
    )
}

/// Returns true when a conjunct is `column = column`, the form a hash
/// join uses.
fn is_column_equality(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Binary { op: BinaryOp::Eq, left, right }
            if matches!(**left, Expr::Column { .. }) && matches!(**right, Expr::Column { .. })
    )
}

/// Builds a root `Selection` over `node`.
fn root_selection(node: PlanNode, conjuncts: Vec<Expr>) -> PlanNode {
    let estimate = node.est_rows * (1.0f64 / 3.0).powi(conjuncts.len() as i32);
    PlanNode::new(
        "Selection",
        estimate,
        "root",
        join_list(&conjuncts),
        Step::Filter {
            conjuncts,
            offset: 0,
        },
        vec![node],
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

/// Builds the readers and joins of FROM with the plain WHERE and ON
/// conjuncts: a conjunct over one table goes to that table's reader, a
/// `column = column` conjunct to the first join that has both tables,
/// and the rest to a root `Selection` above the joins.
fn source_tree(ctx: &ReadContext, plan: &SelectPlan, plain: Vec<Expr>) -> PlanNode {
    let Some(first) = &plan.first else {
        let dual = PlanNode::new(
            "TableDual",
            1.0,
            "root",
            "rows:1".into(),
            Step::Dual,
            Vec::new(),
        );
        return if plain.is_empty() {
            dual
        } else {
            root_selection(dual, plain)
        };
    };

    let mut sources = vec![first];
    sources.extend(plan.joins.iter().map(|j| &j.source));
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
    for conjunct in plain {
        match table_of(&conjunct) {
            Some(table) => pushed[table].push(conjunct),
            None => remaining.push(conjunct),
        }
    }

    let mut node = reader(ctx, sources[0], 0, 0, &pushed[0]);
    for (k, source) in sources.iter().enumerate().skip(1) {
        let (lo, hi) = bounds[k];
        let right = reader(ctx, source, k, lo, &pushed[k]);
        // A join takes the equalities whose columns it has; an equality
        // with a later table waits for that table's join.
        let (equal, other): (Vec<Expr>, Vec<Expr>) = remaining
            .drain(..)
            .partition(|e| is_column_equality(e) && columns_of(e).iter().all(|c| *c < hi));
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
        node = PlanNode::new(
            "HashJoin",
            estimate,
            "root",
            info,
            Step::Join { equal },
            vec![build, probe],
        );
    }
    if !remaining.is_empty() {
        node = root_selection(node, remaining);
    }
    node
}

/// Builds the operator tree of a planned SELECT.
pub fn build(ctx: &ReadContext, plan: &SelectPlan) -> PlanNode {
    // Model conjuncts of WHERE and ON run in one root operator above the
    // joins; for inner joins that gives the same rows.
    let model = query::model_conjuncts(&ctx.eval, plan);
    let plain: Vec<Expr> = plan
        .filters
        .iter()
        .chain(plan.joins.iter().flat_map(|j| j.on.iter()))
        .filter(|e| !e.has_model_call())
        .cloned()
        .collect();
    let mut node = source_tree(ctx, plan, plain);

    if !model.is_empty() {
        let estimate = node.est_rows * (1.0f64 / 3.0).powi(model.len() as i32);
        let info = format!(
            "{}, {}",
            join_list(&model),
            model_predict::explain_models(&ctx.eval, &model)
        );
        node = PlanNode::new(
            "MODEL_PREDICATE",
            estimate,
            "root",
            info,
            Step::Filter {
                conjuncts: model,
                offset: 0,
            },
            vec![node],
        );
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
        node = PlanNode::new(
            "HashAgg",
            estimate,
            "root",
            info.join(", "),
            Step::Aggregate,
            vec![node],
        );
        if !plan.having.is_empty() {
            let estimate = node.est_rows * (1.0f64 / 3.0).powi(plan.having.len() as i32);
            node = PlanNode::new(
                "Selection",
                estimate,
                "root",
                join_list(&plan.having),
                Step::Having,
                vec![node],
            );
        }
    }

    // DISTINCT runs before ORDER BY and LIMIT, as in TiDB's plans.
    if plan.distinct {
        node = PlanNode::new(
            "HashAgg",
            node.est_rows,
            "root",
            format!("group by:{}", join_list(&plan.projection[..plan.visible])),
            Step::Distinct,
            vec![node],
        );
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
    match (plan.order.is_empty(), plan.limit) {
        (false, Some(limit)) => {
            let estimate = node.est_rows.min(limit as f64);
            let info = format!(
                "{}, offset:{}, count:{}",
                sort_keys.join(", "),
                plan.offset,
                limit
            );
            let step = Step::Limit {
                offset: plan.offset,
                count: limit,
            };
            node = PlanNode::new("TopN", estimate, "root", info, step, vec![node]);
        }
        (false, None) => {
            let estimate = node.est_rows;
            let info = sort_keys.join(", ");
            node = PlanNode::new("Sort", estimate, "root", info, Step::Sort, vec![node]);
        }
        (true, Some(limit)) => {
            let estimate = node.est_rows.min(limit as f64);
            let info = format!("offset:{}, count:{}", plan.offset, limit);
            let step = Step::Limit {
                offset: plan.offset,
                count: limit,
            };
            node = PlanNode::new("Limit", estimate, "root", info, step, vec![node]);
        }
        (true, None) => {}
    }

    let trivial_projection = plan.agg.is_none()
        && plan.projection.len() == plan.input_width
        && plan
            .projection
            .iter()
            .enumerate()
            .all(|(i, e)| matches!(e, Expr::Column { index, .. } if *index == i));
    if !trivial_projection {
        let visible = &plan.projection[..plan.visible];
        let (name, info) = if visible.iter().any(Expr::has_model_call) {
            let models = model_predict::explain_models(&ctx.eval, visible);
            ("MODEL_PROJECT", format!("{}, {models}", join_list(visible)))
        } else {
            ("Projection", join_list(visible))
        };
        node = PlanNode::new(name, node.est_rows, "root", info, Step::Project, vec![node]);
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
