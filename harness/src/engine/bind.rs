//! Name resolution: turns parsed expressions into bound [`Expr`]s over a
//! [`Scope`] of input columns, collecting aggregate calls when binding an
//! aggregated query.

use std::collections::HashMap;

use sqlparser::ast::{
    self, BinaryOperator, CastKind, FunctionArg, FunctionArgExpr, FunctionArguments, UnaryOperator,
};

use super::aggregate::{AggCall, AggFunc};
use super::decimal::Decimal;
use super::error::{self, EngineResult};
use super::expr::{BinaryOp, CastTarget, Expr};
use super::functions;
use super::time::{DateTime, IntervalUnit};
use super::value::{SqlType, Value};

/// One input column visible to expressions.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeColumn {
    /// Table alias or name that qualifies the column, as written.
    pub qualifier: String,
    /// Database of the table.
    pub database: String,
    /// Column name as declared.
    pub name: String,
    /// Declared type.
    pub sql_type: SqlType,
}

impl ScopeColumn {
    /// `db.t.c`, as EXPLAIN prints it.
    pub fn qualified(&self) -> String {
        format!("{}.{}.{}", self.database, self.qualifier, self.name)
    }
}

/// The columns an expression can reference, in input-row order.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Columns.
    pub columns: Vec<ScopeColumn>,
}

impl Scope {
    /// Resolves `[db.][table.]column`, case-insensitively.
    pub fn resolve(&self, parts: &[String], clause: &str) -> EngineResult<usize> {
        let (database, table, column) = match parts {
            [c] => (None, None, c),
            [t, c] => (None, Some(t), c),
            [d, t, c] => (Some(d), Some(t), c),
            _ => return Err(error::unknown_column(&parts.join("."), clause)),
        };
        let matches: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .filter(|(_, col)| {
                col.name.eq_ignore_ascii_case(column)
                    && table.is_none_or(|t| col.qualifier.eq_ignore_ascii_case(t))
                    && database.is_none_or(|d| col.database.eq_ignore_ascii_case(d))
            })
            .map(|(i, _)| i)
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(error::unknown_column(&parts.join("."), clause)),
            _ => Err(error::ambiguous_column(&parts.join("."), clause)),
        }
    }
}

/// The aggregation layout of an aggregated query: output rows hold the
/// GROUP BY values, then one value per aggregate call.
#[derive(Debug, Clone, Default)]
pub struct AggState {
    /// GROUP BY expressions bound over the input scope.
    pub group_by: Vec<Expr>,
    /// Aggregate calls collected so far.
    pub calls: Vec<AggCall>,
}

/// Binds expressions over one scope.
pub struct Binder<'a> {
    /// Input columns.
    pub scope: &'a Scope,
    /// User variables by lowercase name.
    pub user_vars: &'a HashMap<String, Value>,
    /// Reads a system variable (`@@name`).
    pub system_var: &'a dyn Fn(&str) -> EngineResult<Value>,
    /// Clause name for unknown-column errors (`field list`, ...).
    pub clause: &'static str,
    /// Aggregation state when binding an aggregated query.
    pub agg: Option<AggState>,
    /// Set when an aggregate call was seen outside aggregation mode.
    pub saw_aggregate: bool,
    /// Whether an aggregate call is allowed here (false in WHERE).
    pub allow_aggregates: bool,
    /// Whether GROUP BY was written (for the 1055 versus 1140 message).
    pub has_group_by: bool,
    /// Select-list position for 1055 messages.
    pub select_position: usize,
}

fn ident_name(ident: &ast::Ident) -> String {
    ident.value.clone()
}

/// Deepest expression nesting the binder accepts. Binding, evaluation and
/// dropping all recurse once per level, so a statement such as `1+1+...`
/// with many thousands of terms would otherwise overflow the thread's
/// stack and abort the process.
pub const MAX_EXPR_DEPTH: usize = 1000;

/// Stack size for threads that run statements: room for
/// [`MAX_EXPR_DEPTH`] levels in a debug build, and for dropping the deeper
/// parse trees that the binder rejects.
pub const STATEMENT_STACK_BYTES: usize = 64 << 20;

thread_local! {
    static BIND_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One level of binder recursion, counted on this thread until dropped.
struct DepthGuard;

impl DepthGuard {
    fn enter() -> EngineResult<DepthGuard> {
        let depth = BIND_DEPTH.with(|depth| {
            depth.set(depth.get() + 1);
            depth.get()
        });
        let guard = DepthGuard;
        if depth > MAX_EXPR_DEPTH {
            return Err(super::depth::too_deep());
        }
        Ok(guard)
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        BIND_DEPTH.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

impl<'a> Binder<'a> {
    /// Binds one expression.
    pub fn bind(&mut self, expr: &ast::Expr) -> EngineResult<Expr> {
        let _depth = DepthGuard::enter()?;
        if self.agg.is_some() {
            if let Some(index) = self.match_group_by(expr) {
                let column = &self.agg.as_ref().map(|a| a.group_by[index].clone());
                let (name, sql_type) = match column {
                    Some(Expr::Column { name, sql_type, .. }) => (name.clone(), *sql_type),
                    Some(other) => (
                        other.to_string(),
                        other.static_type().unwrap_or(SqlType::Null),
                    ),
                    None => (String::new(), SqlType::Null),
                };
                return Ok(Expr::Column {
                    index,
                    name,
                    sql_type,
                });
            }
        }
        self.bind_node(expr)
    }

    /// Finds a GROUP BY expression equal to `expr` bound over the input.
    fn match_group_by(&self, expr: &ast::Expr) -> Option<usize> {
        let state = self.agg.as_ref()?;
        let mut probe = Binder {
            scope: self.scope,
            user_vars: self.user_vars,
            system_var: self.system_var,
            clause: self.clause,
            agg: None,
            saw_aggregate: false,
            allow_aggregates: true,
            has_group_by: false,
            select_position: 0,
        };
        let bound = probe.bind_node(expr).ok()?;
        if probe.saw_aggregate || bound.is_constant() {
            return None;
        }
        state.group_by.iter().position(|g| *g == bound)
    }

    fn column(&self, parts: Vec<String>) -> EngineResult<Expr> {
        let index = self.scope.resolve(&parts, self.clause)?;
        let column = &self.scope.columns[index];
        if self.agg.is_some() {
            // Reached only when the column matched no GROUP BY expression.
            let name = column.qualified();
            return Err(if self.has_group_by {
                error::not_in_group_by(self.select_position, &name)
            } else {
                error::SqlError::new(
                    1140,
                    "42000",
                    format!(
                        "In aggregated query without GROUP BY, expression #{} of SELECT list contains nonaggregated column '{name}'; this is incompatible with sql_mode=only_full_group_by",
                        self.select_position
                    ),
                )
            });
        }
        Ok(Expr::Column {
            index,
            name: column.qualified(),
            sql_type: column.sql_type,
        })
    }

    fn bind_node(&mut self, expr: &ast::Expr) -> EngineResult<Expr> {
        use ast::Expr as E;
        Ok(match expr {
            E::Identifier(ident) => {
                let name = ident_name(ident);
                if ident.quote_style.is_none() {
                    if let Some(var) = name.strip_prefix("@@") {
                        return Ok(Expr::Literal((self.system_var)(var)?));
                    }
                    if let Some(var) = name.strip_prefix('@') {
                        return Ok(Expr::Literal(
                            self.user_vars
                                .get(&var.to_ascii_lowercase())
                                .cloned()
                                .unwrap_or(Value::Null),
                        ));
                    }
                }
                self.column(vec![name])?
            }
            E::CompoundIdentifier(parts) => {
                let names: Vec<String> = parts.iter().map(ident_name).collect();
                if let Some(scope) = names[0].strip_prefix("@@") {
                    if names.len() == 2
                        && matches!(
                            scope.to_ascii_lowercase().as_str(),
                            "session" | "global" | "local"
                        )
                    {
                        let reference = format!("{scope}.{}", names[1]);
                        return Ok(Expr::Literal((self.system_var)(&reference)?));
                    }
                }
                self.column(names)?
            }
            E::Value(v) => Expr::Literal(literal(&v.value)?),
            E::Nested(inner) => self.bind(inner)?,
            E::UnaryOp { op, expr } => {
                let inner = self.bind(expr)?;
                match op {
                    UnaryOperator::Not | UnaryOperator::BangNot => Expr::Not(Box::new(inner)),
                    UnaryOperator::Minus => match inner {
                        Expr::Literal(Value::Int(i)) if i != i64::MIN => {
                            Expr::Literal(Value::Int(-i))
                        }
                        Expr::Literal(Value::Decimal(d)) => {
                            Expr::Literal(Value::Decimal(d.negate()))
                        }
                        Expr::Literal(Value::Double(d)) => Expr::Literal(Value::Double(-d)),
                        other => Expr::Negate(Box::new(other)),
                    },
                    UnaryOperator::Plus => inner,
                    other => return Err(error::unsupported(format!("the operator {other}"))),
                }
            }
            E::BinaryOp { left, op, right } => {
                if let (Some(subtract), ast::Expr::Interval(interval)) =
                    (interval_sign(op), right.as_ref())
                {
                    let (amount, unit) = self.interval(interval)?;
                    return Ok(Expr::DateArith {
                        expr: Box::new(self.bind(left)?),
                        amount: Box::new(amount),
                        unit,
                        subtract,
                    });
                }
                if let (BinaryOperator::Plus, ast::Expr::Interval(interval)) = (op, left.as_ref()) {
                    let (amount, unit) = self.interval(interval)?;
                    return Ok(Expr::DateArith {
                        expr: Box::new(self.bind(right)?),
                        amount: Box::new(amount),
                        unit,
                        subtract: false,
                    });
                }
                let op = match op {
                    BinaryOperator::Plus => BinaryOp::Add,
                    BinaryOperator::Minus => BinaryOp::Sub,
                    BinaryOperator::Multiply => BinaryOp::Mul,
                    BinaryOperator::Divide => BinaryOp::Div,
                    BinaryOperator::MyIntegerDivide => BinaryOp::IntDiv,
                    BinaryOperator::Modulo => BinaryOp::Mod,
                    BinaryOperator::Eq => BinaryOp::Eq,
                    BinaryOperator::NotEq => BinaryOp::NotEq,
                    BinaryOperator::Lt => BinaryOp::Lt,
                    BinaryOperator::LtEq => BinaryOp::LtEq,
                    BinaryOperator::Gt => BinaryOp::Gt,
                    BinaryOperator::GtEq => BinaryOp::GtEq,
                    BinaryOperator::Spaceship => BinaryOp::NullSafeEq,
                    BinaryOperator::And => BinaryOp::And,
                    BinaryOperator::Or => BinaryOp::Or,
                    BinaryOperator::Xor => BinaryOp::Xor,
                    other => return Err(error::unsupported(format!("the operator {other}"))),
                };
                Expr::Binary {
                    op,
                    left: Box::new(self.bind(left)?),
                    right: Box::new(self.bind(right)?),
                }
            }
            E::IsNull(e) => Expr::IsNull {
                expr: Box::new(self.bind(e)?),
                negated: false,
            },
            E::IsNotNull(e) => Expr::IsNull {
                expr: Box::new(self.bind(e)?),
                negated: true,
            },
            E::IsTrue(e) => Expr::IsBool {
                expr: Box::new(self.bind(e)?),
                value: true,
                negated: false,
            },
            E::IsNotTrue(e) => Expr::IsBool {
                expr: Box::new(self.bind(e)?),
                value: true,
                negated: true,
            },
            E::IsFalse(e) => Expr::IsBool {
                expr: Box::new(self.bind(e)?),
                value: false,
                negated: false,
            },
            E::IsNotFalse(e) => Expr::IsBool {
                expr: Box::new(self.bind(e)?),
                value: false,
                negated: true,
            },
            E::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                ..
            } => Expr::In {
                expr: Box::new(self.bind(expr)?),
                list: list
                    .iter()
                    .map(|e| self.bind(e))
                    .collect::<EngineResult<_>>()?,
                negated: *negated,
            },
            E::Between {
                expr,
                negated,
                low,
                high,
            } => Expr::Between {
                expr: Box::new(self.bind(expr)?),
                low: Box::new(self.bind(low)?),
                high: Box::new(self.bind(high)?),
                negated: *negated,
            },
            E::Like {
                negated,
                any: false,
                expr,
                pattern,
                escape_char: None,
            } => Expr::Like {
                expr: Box::new(self.bind(expr)?),
                pattern: Box::new(self.bind(pattern)?),
                negated: *negated,
            },
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => Expr::Case {
                operand: operand
                    .as_ref()
                    .map(|o| self.bind(o).map(Box::new))
                    .transpose()?,
                branches: conditions
                    .iter()
                    .map(|w| Ok((self.bind(&w.condition)?, self.bind(&w.result)?)))
                    .collect::<EngineResult<_>>()?,
                otherwise: else_result
                    .as_ref()
                    .map(|o| self.bind(o).map(Box::new))
                    .transpose()?,
            },
            E::Cast {
                kind: CastKind::Cast,
                expr,
                data_type,
                format: None,
            } => Expr::Cast {
                expr: Box::new(self.bind(expr)?),
                target: cast_target(&data_type.to_string())?,
            },
            E::Floor { expr, .. } => Expr::Call {
                name: "floor".into(),
                args: vec![self.bind(expr)?],
            },
            E::Ceil { expr, .. } => Expr::Call {
                name: "ceil".into(),
                args: vec![self.bind(expr)?],
            },
            E::TypedString(typed) => {
                let type_name = typed.data_type.to_string().to_ascii_uppercase();
                let text = match &typed.value.value {
                    ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => {
                        s.clone()
                    }
                    other => other.to_string(),
                };
                if type_name.starts_with("TIMESTAMP")
                    || type_name.starts_with("DATETIME")
                    || type_name == "DATE"
                {
                    match DateTime::parse(&text) {
                        Some(dt) => Expr::Literal(Value::DateTime(dt)),
                        None => return Err(error::truncated_datetime(&text)),
                    }
                } else {
                    return Err(error::unsupported(format!(
                        "typed literals of type {type_name}"
                    )));
                }
            }
            E::Function(function) => self.function(function)?,
            E::Subquery(_) | E::Exists { .. } | E::In { .. } => {
                return Err(error::unsupported("subqueries"))
            }
            other => return Err(error::unsupported(format!("the expression `{other}`"))),
        })
    }

    fn interval(&mut self, interval: &ast::Interval) -> EngineResult<(Expr, IntervalUnit)> {
        let unit_text = interval
            .leading_field
            .as_ref()
            .map(|f| f.to_string())
            .unwrap_or_default();
        let unit = IntervalUnit::parse(&unit_text)
            .ok_or_else(|| error::unsupported(format!("the interval unit `{unit_text}`")))?;
        if interval.last_field.is_some() {
            return Err(error::unsupported("compound interval units"));
        }
        Ok((self.bind(&interval.value)?, unit))
    }

    fn function(&mut self, function: &ast::Function) -> EngineResult<Expr> {
        let name = function.name.to_string().to_ascii_lowercase();
        let (args, distinct) = match &function.args {
            FunctionArguments::None => (Vec::new(), false),
            FunctionArguments::List(list) => {
                if !list.clauses.is_empty() {
                    return Err(error::unsupported(format!(
                        "clauses in the arguments of {name}"
                    )));
                }
                let distinct = matches!(
                    list.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                (list.args.clone(), distinct)
            }
            FunctionArguments::Subquery(_) => return Err(error::unsupported("subqueries")),
        };
        if function.over.is_some() || function.filter.is_some() || !function.within_group.is_empty()
        {
            return Err(error::unsupported("window functions"));
        }

        if let Some(agg) = AggFunc::parse(&name) {
            return self.aggregate(agg, &name, &args, distinct);
        }
        if distinct {
            return Err(error::syntax(&name));
        }

        let mut exprs = Vec::with_capacity(args.len());
        for arg in &args {
            match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => exprs.push(e),
                _ => return Err(error::unsupported(format!("the arguments of {name}"))),
            }
        }

        if name == "model_predict" || name == super::preparse::MODEL_PREDICT_OUTPUT {
            return self.model_predict(&name, &exprs);
        }
        if name == "date_add" || name == "date_sub" || name == "adddate" || name == "subdate" {
            let [base, ast::Expr::Interval(interval)] = exprs.as_slice() else {
                return Err(error::unsupported(format!(
                    "{name} without an INTERVAL argument"
                )));
            };
            let (amount, unit) = self.interval(interval)?;
            return Ok(Expr::DateArith {
                expr: Box::new(self.bind(base)?),
                amount: Box::new(amount),
                unit,
                subtract: name == "date_sub" || name == "subdate",
            });
        }

        let Some((min, max)) = functions::arity(&name) else {
            return Err(error::unsupported(format!("the function {name}")));
        };
        if exprs.len() < min || exprs.len() > max {
            return Err(error::wrong_argument_count(&name));
        }
        let bound = exprs
            .iter()
            .map(|e| self.bind(e))
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Expr::Call { name, args: bound })
    }

    fn aggregate(
        &mut self,
        func: AggFunc,
        name: &str,
        args: &[FunctionArg],
        distinct: bool,
    ) -> EngineResult<Expr> {
        if !self.allow_aggregates {
            return Err(error::invalid_group_use());
        }
        let argument = match (func, args) {
            (AggFunc::Count, [FunctionArg::Unnamed(FunctionArgExpr::Wildcard)]) if !distinct => {
                None
            }
            (_, [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))]) => Some(e.clone()),
            _ => return Err(error::wrong_argument_count(name)),
        };
        let Some(state) = self.agg.take() else {
            self.saw_aggregate = true;
            return Ok(Expr::Literal(Value::Null));
        };
        let mut inner = Binder {
            scope: self.scope,
            user_vars: self.user_vars,
            system_var: self.system_var,
            clause: self.clause,
            agg: None,
            saw_aggregate: false,
            allow_aggregates: false,
            has_group_by: false,
            select_position: 0,
        };
        let bound_argument = argument.as_ref().map(|a| inner.bind(a)).transpose();
        let mut state = state;
        let bound_argument = match bound_argument {
            Ok(a) => a,
            Err(e) => {
                self.agg = Some(state);
                return Err(e);
            }
        };
        let call = AggCall {
            func,
            argument: bound_argument,
            distinct,
        };
        let group_width = state.group_by.len();
        let position = match state.calls.iter().position(|c| *c == call) {
            Some(p) => p,
            None => {
                state.calls.push(call.clone());
                state.calls.len() - 1
            }
        };
        self.agg = Some(state);
        Ok(Expr::Column {
            index: group_width + position,
            name: call.to_string(),
            sql_type: call.result_type(),
        })
    }

    fn model_predict(&mut self, name: &str, exprs: &[&ast::Expr]) -> EngineResult<Expr> {
        let mut rest: Vec<&ast::Expr> = exprs.to_vec();
        let output = if name == super::preparse::MODEL_PREDICT_OUTPUT {
            match rest.pop() {
                Some(ast::Expr::Value(v)) => match &v.value {
                    ast::Value::SingleQuotedString(s) => Some(s.clone()),
                    _ => None,
                },
                _ => None,
            }
        } else {
            None
        };
        let Some((model, inputs)) = rest.split_first() else {
            return Err(error::wrong_argument_count("MODEL_PREDICT"));
        };
        let model = match model {
            ast::Expr::Identifier(ident) => ident.value.clone(),
            ast::Expr::CompoundIdentifier(parts) => parts
                .iter()
                .map(|p| p.value.clone())
                .collect::<Vec<_>>()
                .join("."),
            other => {
                return Err(error::other(format!(
                    "MODEL_PREDICT expects a model name, got `{other}`"
                )))
            }
        };
        let args = inputs
            .iter()
            .map(|e| self.bind(e))
            .collect::<EngineResult<Vec<_>>>()?;
        Ok(Expr::ModelPredict {
            model,
            args,
            output,
        })
    }
}

fn interval_sign(op: &BinaryOperator) -> Option<bool> {
    match op {
        BinaryOperator::Plus => Some(false),
        BinaryOperator::Minus => Some(true),
        _ => None,
    }
}

/// Converts a parsed literal: integers that fit i64 stay integers, other
/// numbers with a point are exact decimals, numbers with an exponent are
/// doubles (as MySQL types literals).
pub fn literal(value: &ast::Value) -> EngineResult<Value> {
    use ast::Value as V;
    Ok(match value {
        V::Number(text, _) => number_literal(text)?,
        V::SingleQuotedString(s) | V::DoubleQuotedString(s) => Value::Str(s.clone()),
        V::Boolean(b) => Value::Int(*b as i64),
        V::Null => Value::Null,
        other => return Err(error::unsupported(format!("the literal {other}"))),
    })
}

fn number_literal(text: &str) -> EngineResult<Value> {
    if text.contains(['e', 'E']) {
        return text
            .parse::<f64>()
            .map(Value::Double)
            .map_err(|_| error::syntax(text));
    }
    if !text.contains('.') {
        if let Ok(i) = text.parse::<i64>() {
            return Ok(Value::Int(i));
        }
    }
    Decimal::parse(text).map(Value::Decimal).ok_or_else(|| {
        error::unsupported(format!("the number literal {text} (more than 38 digits)"))
    })
}

/// Parses a `CAST` target from its SQL spelling.
pub fn cast_target(type_text: &str) -> EngineResult<CastTarget> {
    let upper = type_text.to_ascii_uppercase();
    let (base, params) = split_type(&upper);
    Ok(match base.as_str() {
        "SIGNED" | "SIGNED INTEGER" | "INT" | "INTEGER" | "BIGINT" => CastTarget::Signed,
        "UNSIGNED" | "UNSIGNED INTEGER" => CastTarget::Unsigned,
        "DECIMAL" | "NUMERIC" => {
            let precision = params.first().copied().unwrap_or(10);
            let scale = params.get(1).copied().unwrap_or(0);
            check_decimal(precision, scale)?;
            CastTarget::Decimal(precision, scale)
        }
        "DOUBLE" | "REAL" | "DOUBLE PRECISION" => CastTarget::Double,
        "FLOAT" => CastTarget::Float,
        "CHAR" | "VARCHAR" | "NCHAR" | "BINARY" => CastTarget::Char,
        "DATETIME" | "TIMESTAMP" => {
            CastTarget::DateTime(params.first().copied().unwrap_or(0).min(6) as u8)
        }
        _ => return Err(error::unsupported(format!("CAST to {type_text}"))),
    })
}

/// Splits `DECIMAL(10,2)` into `DECIMAL` and `[10, 2]`.
pub fn split_type(text: &str) -> (String, Vec<u32>) {
    match text.find('(') {
        Some(open) => {
            let base = text[..open].trim().to_string();
            let inner = text[open + 1..].trim_end().trim_end_matches(')');
            let params = inner
                .split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect();
            let rest = text[text.find(')').map_or(text.len(), |c| c + 1)..].trim();
            if rest.is_empty() {
                (base, params)
            } else {
                (format!("{base} {rest}"), params)
            }
        }
        None => (text.trim().to_string(), Vec::new()),
    }
}

/// Checks DECIMAL(p, s) bounds.
pub fn check_decimal(precision: u32, scale: u32) -> EngineResult<()> {
    if precision == 0 || precision > super::decimal::MAX_PRECISION {
        return Err(error::SqlError::new(
            1426,
            "42000",
            format!(
                "Too-big precision {precision} specified for column. Maximum is {} in the reference engine.",
                super::decimal::MAX_PRECISION
            ),
        ));
    }
    if scale > precision || scale > super::decimal::MAX_SCALE {
        return Err(error::SqlError::new(
            1427,
            "42000",
            "For float(M,D), double(M,D) or decimal(M,D), M must be >= D.",
        ));
    }
    Ok(())
}
