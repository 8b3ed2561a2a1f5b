//! Guard against deeply nested expressions.
//!
//! The parser builds a chain of infix operators (`1+1+...`, `a OR b OR
//! ...`) in a loop, so its recursion limit does not bound such a chain.
//! Everything after it recurses once per level: cloning, binding,
//! evaluating and dropping the tree. A chain of many thousands of terms
//! would overflow the thread's stack and abort the whole process, so a
//! statement is checked right after parsing, and a rejected tree is taken
//! apart without recursion.

use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Statement, Value, VisitMut, VisitorMut};

use super::bind::MAX_EXPR_DEPTH;
use super::error::{self, EngineResult};

/// Rejects `statement` when an expression in it nests deeper than
/// [`MAX_EXPR_DEPTH`] levels.
pub fn check_statement(mut statement: Statement) -> EngineResult<Statement> {
    let mut cut = DeepCut::default();
    let _ = statement.visit(&mut cut);
    if cut.subtrees.is_empty() {
        return Ok(statement);
    }

    drop(statement);
    for expr in cut.subtrees {
        drop_iteratively(expr);
    }
    Err(too_deep())
}

/// Returns the error for an expression over the depth limit.
pub fn too_deep() -> error::SqlError {
    error::SqlError::new(
        1105,
        "HY000",
        format!(
            "expression nesting is deeper than {MAX_EXPR_DEPTH} levels, which the reference engine does not support; split the expression"
        ),
    )
}

/// Visitor that replaces every subtree starting at the depth limit with a
/// NULL literal and keeps the subtree, so the visit never goes deeper.
#[derive(Default)]
struct DeepCut {
    depth: usize,
    subtrees: Vec<Expr>,
}

impl VisitorMut for DeepCut {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > MAX_EXPR_DEPTH {
            let null = Expr::Value(Value::Null.into());
            self.subtrees.push(std::mem::replace(expr, null));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _expr: &mut Expr) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// Drops an expression tree with an explicit stack along the operator
/// chains that can grow without a parser limit.
/// NOTE: other node kinds are dropped recursively; the parser's recursion
/// limit bounds their depth.
fn drop_iteratively(expr: Expr) {
    let mut pending = vec![expr];
    while let Some(expr) = pending.pop() {
        match expr {
            Expr::BinaryOp { left, right, .. } => {
                pending.push(*left);
                pending.push(*right);
            }
            Expr::UnaryOp { expr, .. }
            | Expr::Nested(expr)
            | Expr::IsNull(expr)
            | Expr::IsNotNull(expr)
            | Expr::IsTrue(expr)
            | Expr::IsFalse(expr) => pending.push(*expr),
            other => drop(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    use super::*;

    fn parse(sql: &str) -> Statement {
        Parser::parse_sql(&MySqlDialect {}, sql).unwrap().remove(0)
    }

    #[test]
    fn shallow_statement_passes() {
        let sql = format!("select 1{}", "+1".repeat(MAX_EXPR_DEPTH - 2));
        assert!(check_statement(parse(&sql)).is_ok());
    }

    #[test]
    fn deep_chain_is_rejected() {
        for terms in [MAX_EXPR_DEPTH + 1, 200_000] {
            let sql = format!("select 1{}", "+1".repeat(terms));
            let err = check_statement(parse(&sql)).unwrap_err();
            assert_eq!(err.code, 1105);
            assert!(err.message.contains("deeper than 1000"), "{}", err.message);
        }
    }
}
