//! Bound expressions and their evaluation over batches of rows.
//!
//! Every expression evaluates a whole batch at once: `eval` takes the
//! batch and returns one value per row. Scalar operators combine the
//! children's value vectors; a model call gathers its inputs for the
//! whole batch and sends them to the backend in batches.

use std::fmt;

use super::decimal::Decimal;
use super::error::{self, EngineResult};
use super::functions;
use super::storage::Row;
use super::time::{DateTime, IntervalUnit};
use super::type_aggregation;
use super::value::{compare, SqlType, Value};

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/` (exact decimal division for exact operands)
    Div,
    /// `DIV` (integer division)
    IntDiv,
    /// `%` / `MOD`
    Mod,
    /// `=`
    Eq,
    /// `<>` / `!=`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `<=>`
    NullSafeEq,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `XOR`
    Xor,
}

impl BinaryOp {
    /// TiDB's function name for the operator, as EXPLAIN prints it.
    pub fn tidb_name(self) -> &'static str {
        match self {
            BinaryOp::Add => "plus",
            BinaryOp::Sub => "minus",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::IntDiv => "intdiv",
            BinaryOp::Mod => "mod",
            BinaryOp::Eq => "eq",
            BinaryOp::NotEq => "ne",
            BinaryOp::Lt => "lt",
            BinaryOp::LtEq => "le",
            BinaryOp::Gt => "gt",
            BinaryOp::GtEq => "ge",
            BinaryOp::NullSafeEq => "nulleq",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Xor => "xor",
        }
    }

    fn sql_symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::IntDiv => "DIV",
            BinaryOp::Mod => "%",
            _ => self.tidb_name(),
        }
    }
}

/// Target types of `CAST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastTarget {
    /// `SIGNED [INTEGER]`
    Signed,
    /// `UNSIGNED [INTEGER]`; negative values are rejected, not wrapped.
    Unsigned,
    /// `DECIMAL(p, s)`
    Decimal(u32, u32),
    /// `DOUBLE` / `REAL`
    Double,
    /// `FLOAT`
    Float,
    /// `CHAR` / `VARCHAR`
    Char,
    /// `DATETIME(fsp)`
    DateTime(u8),
}

/// A bound expression: names are resolved to column positions of the
/// input row.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A constant.
    Literal(Value),
    /// An input column.
    Column {
        /// Position in the input row.
        index: usize,
        /// Qualified name for EXPLAIN (`db.t.c`).
        name: String,
        /// Declared type.
        sql_type: SqlType,
    },
    /// `NOT e`
    Not(Box<Expr>),
    /// `-e`
    Negate(Box<Expr>),
    /// A binary operator.
    Binary {
        /// Operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
    },
    /// `e IS [NOT] NULL`
    IsNull {
        /// Operand.
        expr: Box<Expr>,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// `e IS [NOT] TRUE|FALSE`
    IsBool {
        /// Operand.
        expr: Box<Expr>,
        /// TRUE or FALSE.
        value: bool,
        /// `IS NOT`.
        negated: bool,
    },
    /// `e [NOT] IN (list)`
    In {
        /// Operand.
        expr: Box<Expr>,
        /// Candidates.
        list: Vec<Expr>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `e [NOT] BETWEEN low AND high`
    Between {
        /// Operand.
        expr: Box<Expr>,
        /// Lower bound.
        low: Box<Expr>,
        /// Upper bound.
        high: Box<Expr>,
        /// `NOT BETWEEN`.
        negated: bool,
    },
    /// `e [NOT] LIKE pattern` with `\` as the escape character.
    Like {
        /// Operand.
        expr: Box<Expr>,
        /// Pattern.
        pattern: Box<Expr>,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`
    Case {
        /// Operand of the simple form.
        operand: Option<Box<Expr>>,
        /// WHEN/THEN pairs.
        branches: Vec<(Expr, Expr)>,
        /// ELSE.
        otherwise: Option<Box<Expr>>,
    },
    /// A scalar function call, dispatched by [`functions::call`].
    Call {
        /// Lowercase function name.
        name: String,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `CAST(e AS type)`
    Cast {
        /// Operand.
        expr: Box<Expr>,
        /// Target type.
        target: CastTarget,
    },
    /// `e ± INTERVAL n unit`, `DATE_ADD`, `DATE_SUB`
    DateArith {
        /// Datetime operand.
        expr: Box<Expr>,
        /// Interval amount.
        amount: Box<Expr>,
        /// Interval unit.
        unit: IntervalUnit,
        /// Subtract instead of add.
        subtract: bool,
    },
    /// `MODEL_PREDICT(model, args...)[.output]`, evaluated by
    /// [`super::model_predict::evaluate`].
    ModelPredict {
        /// Model name.
        model: String,
        /// Input expressions.
        args: Vec<Expr>,
        /// Selected output name, if any.
        output: Option<String>,
    },
}

/// Inputs of evaluation besides the rows.
#[derive(Debug, Clone)]
pub struct EvalContext {
    /// Statement time in the session time zone (for `NOW()`).
    pub now: DateTime,
    /// Current database, for `DATABASE()`.
    pub database: Option<String>,
    /// `user@host` for `USER()`/`CURRENT_USER()`.
    pub user: String,
    /// Whether division by zero is an error (strict-mode writes) instead
    /// of NULL.
    pub strict_division: bool,
    /// The statement's resolved models and session time zone; `None`
    /// outside statements that read tables.
    pub models: Option<std::sync::Arc<super::model_predict::ModelContext>>,
}

impl Expr {
    /// Whether the expression reads no column (it can be evaluated
    /// without a row).
    pub fn is_constant(&self) -> bool {
        let mut constant = true;
        self.visit(&mut |e| {
            if matches!(e, Expr::Column { .. }) {
                constant = false;
            }
        });
        constant
    }

    /// Whether the expression calls a model.
    pub fn has_model_call(&self) -> bool {
        let mut found = false;
        self.visit(&mut |e| {
            if matches!(e, Expr::ModelPredict { .. }) {
                found = true;
            }
        });
        found
    }

    /// Calls `f` on this node and every descendant.
    pub fn visit(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Literal(_) | Expr::Column { .. } => {}
            Expr::Not(e) | Expr::Negate(e) => e.visit(f),
            Expr::IsNull { expr, .. } | Expr::IsBool { expr, .. } | Expr::Cast { expr, .. } => {
                expr.visit(f)
            }
            Expr::Binary { left, right, .. } => {
                left.visit(f);
                right.visit(f);
            }
            Expr::In { expr, list, .. } => {
                expr.visit(f);
                list.iter().for_each(|e| e.visit(f));
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                expr.visit(f);
                low.visit(f);
                high.visit(f);
            }
            Expr::Like { expr, pattern, .. } => {
                expr.visit(f);
                pattern.visit(f);
            }
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                if let Some(o) = operand {
                    o.visit(f);
                }
                for (when, then) in branches {
                    when.visit(f);
                    then.visit(f);
                }
                if let Some(o) = otherwise {
                    o.visit(f);
                }
            }
            Expr::Call { args, .. } | Expr::ModelPredict { args, .. } => {
                args.iter().for_each(|e| e.visit(f))
            }
            Expr::DateArith { expr, amount, .. } => {
                expr.visit(f);
                amount.visit(f);
            }
        }
    }

    /// The static type where it is known without evaluating.
    pub fn static_type(&self) -> Option<SqlType> {
        match self {
            Expr::Column { sql_type, .. } => Some(*sql_type),
            Expr::Literal(Value::Null) => Some(SqlType::Null),
            Expr::Cast {
                target: CastTarget::Double,
                ..
            } => Some(SqlType::Double),
            Expr::Cast {
                target: CastTarget::Float,
                ..
            } => Some(SqlType::Float),
            Expr::Cast {
                target: CastTarget::Decimal(p, s),
                ..
            } => Some(SqlType::Decimal(*p, *s)),
            Expr::ModelPredict {
                output: Some(_), ..
            } => Some(SqlType::Float),
            Expr::Call { name, args } => type_aggregation::call_type(name, args),
            Expr::Case {
                branches,
                otherwise,
                ..
            } => type_aggregation::case_type(branches, otherwise.as_deref()),
            _ => None,
        }
    }

    /// Evaluates the expression once per row of `rows`.
    pub fn eval(&self, ctx: &EvalContext, rows: &[Row]) -> EngineResult<Vec<Value>> {
        let n = rows.len();
        match self {
            Expr::Literal(v) => Ok(vec![v.clone(); n]),
            Expr::Column { index, .. } => Ok(rows
                .iter()
                .map(|r| r.get(*index).cloned().unwrap_or(Value::Null))
                .collect()),
            Expr::Not(e) => Ok(e
                .eval(ctx, rows)?
                .iter()
                .map(|v| bool_value(v.truth().map(|b| !b)))
                .collect()),
            Expr::Negate(e) => e.eval(ctx, rows)?.iter().map(negate).collect(),
            Expr::Binary { op, left, right } => {
                let l = left.eval(ctx, rows)?;
                let r = right.eval(ctx, rows)?;
                l.iter()
                    .zip(r.iter())
                    .map(|(a, b)| binary(*op, a, b, ctx, self))
                    .collect()
            }
            Expr::IsNull { expr, negated } => Ok(expr
                .eval(ctx, rows)?
                .iter()
                .map(|v| Value::Int((v.is_null() != *negated) as i64))
                .collect()),
            Expr::IsBool {
                expr,
                value,
                negated,
            } => Ok(expr
                .eval(ctx, rows)?
                .iter()
                .map(|v| Value::Int(((v.truth() == Some(*value)) != *negated) as i64))
                .collect()),
            Expr::In {
                expr,
                list,
                negated,
            } => {
                let operand = expr.eval(ctx, rows)?;
                let candidates: Vec<Vec<Value>> = list
                    .iter()
                    .map(|e| e.eval(ctx, rows))
                    .collect::<EngineResult<_>>()?;
                Ok((0..n)
                    .map(|i| {
                        let result = in_list(&operand[i], candidates.iter().map(|c| &c[i]));
                        bool_value(result.map(|b| b != *negated))
                    })
                    .collect())
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let v = expr.eval(ctx, rows)?;
                let lo = low.eval(ctx, rows)?;
                let hi = high.eval(ctx, rows)?;
                Ok((0..n)
                    .map(|i| {
                        let ge = compare(&v[i], &lo[i]).map(|o| o.is_ge());
                        let le = compare(&v[i], &hi[i]).map(|o| o.is_le());
                        bool_value(and3(ge, le).map(|b| b != *negated))
                    })
                    .collect())
            }
            Expr::Like {
                expr,
                pattern,
                negated,
            } => {
                let v = expr.eval(ctx, rows)?;
                let p = pattern.eval(ctx, rows)?;
                Ok(v.iter()
                    .zip(p.iter())
                    .map(
                        |(value, pattern)| match (value.to_text(), pattern.to_text()) {
                            (Some(value), Some(pattern)) => {
                                Value::Int((like_match(&value, &pattern) != *negated) as i64)
                            }
                            _ => Value::Null,
                        },
                    )
                    .collect())
            }
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                let operand = operand.as_ref().map(|o| o.eval(ctx, rows)).transpose()?;
                let mut result = match otherwise {
                    Some(o) => o.eval(ctx, rows)?,
                    None => vec![Value::Null; n],
                };
                let mut decided = vec![false; n];
                for (when, then) in branches {
                    let conditions = when.eval(ctx, rows)?;
                    let values = then.eval(ctx, rows)?;
                    for i in 0..n {
                        if decided[i] {
                            continue;
                        }
                        let hit = match &operand {
                            Some(o) => {
                                compare(&o[i], &conditions[i]) == Some(std::cmp::Ordering::Equal)
                            }
                            None => conditions[i].truth() == Some(true),
                        };
                        if hit {
                            decided[i] = true;
                            result[i] = values[i].clone();
                        }
                    }
                }
                let result_type = type_aggregation::case_type(branches, otherwise.as_deref());
                Ok(type_aggregation::convert_all(result, result_type))
            }
            Expr::Call { name, args } => {
                let evaluated: Vec<Vec<Value>> = args
                    .iter()
                    .map(|a| a.eval(ctx, rows))
                    .collect::<EngineResult<_>>()?;
                let values = functions::call(name, &evaluated, n, ctx)?;
                let result_type = type_aggregation::call_type(name, args);
                Ok(type_aggregation::convert_all(values, result_type))
            }
            Expr::Cast { expr, target } => expr
                .eval(ctx, rows)?
                .iter()
                .map(|v| cast(v, *target))
                .collect(),
            Expr::DateArith {
                expr,
                amount,
                unit,
                subtract,
            } => {
                let base = expr.eval(ctx, rows)?;
                let amounts = amount.eval(ctx, rows)?;
                Ok(base
                    .iter()
                    .zip(amounts.iter())
                    .map(|(b, a)| date_arith(b, a, *unit, *subtract))
                    .collect())
            }
            Expr::ModelPredict {
                model,
                args,
                output,
            } => {
                let evaluated: Vec<Vec<Value>> = args
                    .iter()
                    .map(|a| a.eval(ctx, rows))
                    .collect::<EngineResult<_>>()?;
                super::model_predict::evaluate(ctx, model, output.as_deref(), &evaluated, n)
            }
        }
    }
}

/// Converts a three-valued truth value to an SQL value.
pub fn bool_value(value: Option<bool>) -> Value {
    match value {
        Some(b) => Value::Int(b as i64),
        None => Value::Null,
    }
}

fn and3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or3(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

fn in_list<'a>(value: &Value, candidates: impl Iterator<Item = &'a Value>) -> Option<bool> {
    if value.is_null() {
        return None;
    }
    let mut saw_null = false;
    for candidate in candidates {
        match compare(value, candidate) {
            Some(std::cmp::Ordering::Equal) => return Some(true),
            None => saw_null = true,
            _ => {}
        }
    }
    if saw_null {
        None
    } else {
        Some(false)
    }
}

/// Matches MySQL `LIKE`: `%` any sequence, `_` one character, `\` escapes.
pub fn like_match(value: &str, pattern: &str) -> bool {
    let value: Vec<char> = value.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    like_from(&value, &pattern)
}

fn like_from(value: &[char], pattern: &[char]) -> bool {
    let Some((&first, rest)) = pattern.split_first() else {
        return value.is_empty();
    };
    match first {
        '%' => (0..=value.len()).any(|skip| like_from(&value[skip..], rest)),
        '_' => !value.is_empty() && like_from(&value[1..], rest),
        '\\' if !rest.is_empty() => {
            !value.is_empty() && value[0] == rest[0] && like_from(&value[1..], &rest[1..])
        }
        c => !value.is_empty() && value[0] == c && like_from(&value[1..], rest),
    }
}

fn negate(value: &Value) -> EngineResult<Value> {
    Ok(match value {
        Value::Null => Value::Null,
        Value::Int(i) => match i.checked_neg() {
            Some(n) => Value::Int(n),
            None => Value::Decimal(Decimal::from_i64(*i).negate()),
        },
        Value::Decimal(d) => Value::Decimal(d.negate()),
        other => Value::Double(-other.to_f64().unwrap_or(0.0)),
    })
}

/// The numeric class of an arithmetic operand, as MySQL picks the result
/// type: any approximate or string operand makes the result DOUBLE.
fn is_exact(value: &Value) -> bool {
    matches!(value, Value::Int(_) | Value::Decimal(_))
}

fn binary(
    op: BinaryOp,
    a: &Value,
    b: &Value,
    ctx: &EvalContext,
    expr: &Expr,
) -> EngineResult<Value> {
    match op {
        BinaryOp::And => return Ok(bool_value(and3(a.truth(), b.truth()))),
        BinaryOp::Or => return Ok(bool_value(or3(a.truth(), b.truth()))),
        BinaryOp::Xor => {
            return Ok(match (a.truth(), b.truth()) {
                (Some(x), Some(y)) => Value::Int((x != y) as i64),
                _ => Value::Null,
            })
        }
        BinaryOp::NullSafeEq => {
            return Ok(Value::Int(match (a.is_null(), b.is_null()) {
                (true, true) => 1,
                (true, false) | (false, true) => 0,
                _ => (compare(a, b) == Some(std::cmp::Ordering::Equal)) as i64,
            }))
        }
        BinaryOp::Eq
        | BinaryOp::NotEq
        | BinaryOp::Lt
        | BinaryOp::LtEq
        | BinaryOp::Gt
        | BinaryOp::GtEq => {
            let ordering = compare(a, b);
            return Ok(bool_value(ordering.map(|o| match op {
                BinaryOp::Eq => o.is_eq(),
                BinaryOp::NotEq => o.is_ne(),
                BinaryOp::Lt => o.is_lt(),
                BinaryOp::LtEq => o.is_le(),
                BinaryOp::Gt => o.is_gt(),
                _ => o.is_ge(),
            })));
        }
        _ => {}
    }

    if a.is_null() || b.is_null() {
        return Ok(Value::Null);
    }
    let a = datetime_as_number(a);
    let b = datetime_as_number(b);
    let overflow = || {
        let kind = if is_exact(&a) && is_exact(&b) {
            "BIGINT"
        } else {
            "DOUBLE"
        };
        let text = match expr {
            Expr::Binary { left, right, .. } => format!("({left} {} {right})", op.sql_symbol()),
            other => other.to_string(),
        };
        error::value_out_of_range(kind, &text)
    };

    if op == BinaryOp::Div || op == BinaryOp::Mod || op == BinaryOp::IntDiv {
        let zero = b.to_f64() == Some(0.0) && b.truth() == Some(false);
        if zero {
            return if ctx.strict_division {
                Err(error::division_by_zero())
            } else {
                Ok(Value::Null)
            };
        }
    }

    if is_exact(&a) && is_exact(&b) {
        if let (Value::Int(x), Value::Int(y)) = (&a, &b) {
            let result = match op {
                BinaryOp::Add => x.checked_add(*y),
                BinaryOp::Sub => x.checked_sub(*y),
                BinaryOp::Mul => x.checked_mul(*y),
                BinaryOp::IntDiv => x.checked_div(*y),
                BinaryOp::Mod => x.checked_rem(*y),
                _ => Some(0),
            };
            if op != BinaryOp::Div {
                return result.map(Value::Int).ok_or_else(overflow);
            }
        }
        let x = a.to_decimal().ok_or_else(overflow)?;
        let y = b.to_decimal().ok_or_else(overflow)?;
        let result = match op {
            BinaryOp::Add => x.checked_add(y),
            BinaryOp::Sub => x.checked_sub(y),
            BinaryOp::Mul => x.checked_mul(y),
            BinaryOp::Div => x.checked_div(y),
            BinaryOp::IntDiv => x.checked_div(y),
            BinaryOp::Mod => {
                let scale = x.scale.max(y.scale);
                let (xs, ys) = (x.rescale(scale), y.rescale(scale));
                match (xs, ys) {
                    (Some(xs), Some(ys)) => Some(Decimal {
                        coefficient: xs.coefficient % ys.coefficient,
                        scale,
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        let result = result.ok_or_else(overflow)?;
        if op == BinaryOp::IntDiv {
            return result.trunc_i64().map(Value::Int).ok_or_else(overflow);
        }
        return Ok(Value::Decimal(result));
    }

    let x = a.to_f64().unwrap_or(0.0);
    let y = b.to_f64().unwrap_or(0.0);
    let result = match op {
        BinaryOp::Add => x + y,
        BinaryOp::Sub => x - y,
        BinaryOp::Mul => x * y,
        BinaryOp::Div => x / y,
        BinaryOp::Mod => x % y,
        BinaryOp::IntDiv => {
            let q = (x / y).trunc();
            if q.abs() > i64::MAX as f64 {
                return Err(overflow());
            }
            return Ok(Value::Int(q as i64));
        }
        _ => 0.0,
    };
    if !result.is_finite() {
        return Err(overflow());
    }
    Ok(Value::Double(result))
}

fn datetime_as_number(value: &Value) -> Value {
    match value {
        Value::DateTime(dt) => {
            Value::Decimal(Decimal::parse(&dt.to_number_string()).unwrap_or(Decimal::from_i64(0)))
        }
        other => other.clone(),
    }
}

fn date_arith(base: &Value, amount: &Value, unit: IntervalUnit, subtract: bool) -> Value {
    let datetime = match base {
        Value::Null => return Value::Null,
        Value::DateTime(dt) => *dt,
        other => match other.to_text().and_then(|t| DateTime::parse(&t)) {
            Some(dt) => dt,
            None => return Value::Null,
        },
    };
    let Some(amount) = amount.to_i64() else {
        return Value::Null;
    };
    let amount = if subtract {
        amount.checked_neg()
    } else {
        Some(amount)
    };
    match amount.and_then(|a| datetime.add_interval(a, unit)) {
        Some(result) => Value::DateTime(result),
        None => Value::Null,
    }
}

/// Converts a value for `CAST`.
pub fn cast(value: &Value, target: CastTarget) -> EngineResult<Value> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    Ok(match target {
        CastTarget::Signed => Value::Int(value.to_i64().unwrap_or(0)),
        CastTarget::Unsigned => {
            let v = value.to_i64().unwrap_or(0);
            if v < 0 {
                return Err(error::unsupported("CAST of a negative value AS UNSIGNED"));
            }
            Value::Int(v)
        }
        CastTarget::Decimal(p, s) => match value.to_decimal() {
            Some(d) => match d.fit(p, s) {
                Some(fitted) => Value::Decimal(fitted),
                None => {
                    // MySQL clips to the largest value of the type.
                    let nines = "9".repeat((p - s) as usize)
                        + if s > 0 { "." } else { "" }
                        + &"9".repeat(s as usize);
                    let max = Decimal::parse(&nines).unwrap_or(Decimal::from_i64(0));
                    Value::Decimal(if d.coefficient < 0 { max.negate() } else { max })
                }
            },
            None => Value::Null,
        },
        CastTarget::Double => Value::Double(value.to_f64().unwrap_or(0.0)),
        CastTarget::Float => Value::Float(value.to_f64().unwrap_or(0.0) as f32),
        CastTarget::Char => Value::Str(value.to_text().unwrap_or_default()),
        CastTarget::DateTime(fsp) => match value {
            Value::DateTime(dt) => Value::DateTime(dt.round_to(fsp)),
            other => match other.to_text().and_then(|t| DateTime::parse(&t)) {
                Some(dt) => Value::DateTime(dt.round_to(fsp)),
                None => Value::Null,
            },
        },
    })
}

/// Renders in TiDB's function form for EXPLAIN: `gt(test.t.a, 1)`.
impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(Value::Str(s)) => write!(f, "\"{s}\""),
            Expr::Literal(Value::Null) => write!(f, "NULL"),
            Expr::Literal(v) => write!(f, "{}", super::render::render_value(v)),
            Expr::Column { name, .. } => write!(f, "{name}"),
            Expr::Not(e) => write!(f, "not({e})"),
            Expr::Negate(e) => write!(f, "unaryminus({e})"),
            Expr::Binary { op, left, right } => {
                write!(f, "{}({left}, {right})", op.tidb_name())
            }
            Expr::IsNull {
                expr,
                negated: false,
            } => write!(f, "isnull({expr})"),
            Expr::IsNull {
                expr,
                negated: true,
            } => write!(f, "not(isnull({expr}))"),
            Expr::IsBool {
                expr,
                value,
                negated,
            } => {
                let name = if *value { "istrue" } else { "isfalse" };
                if *negated {
                    write!(f, "not({name}({expr}))")
                } else {
                    write!(f, "{name}({expr})")
                }
            }
            Expr::In {
                expr,
                list,
                negated,
            } => {
                let items: Vec<String> = list.iter().map(|e| e.to_string()).collect();
                if *negated {
                    write!(f, "not(in({expr}, {}))", items.join(", "))
                } else {
                    write!(f, "in({expr}, {})", items.join(", "))
                }
            }
            Expr::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let inner = format!("and(ge({expr}, {low}), le({expr}, {high}))");
                if *negated {
                    write!(f, "not({inner})")
                } else {
                    write!(f, "{inner}")
                }
            }
            Expr::Like {
                expr,
                pattern,
                negated,
            } => {
                if *negated {
                    write!(f, "not(like({expr}, {pattern}, 92))")
                } else {
                    write!(f, "like({expr}, {pattern}, 92)")
                }
            }
            Expr::Case {
                operand,
                branches,
                otherwise,
            } => {
                let mut parts = Vec::new();
                for (when, then) in branches {
                    match operand {
                        Some(o) => parts.push(format!("eq({o}, {when})")),
                        None => parts.push(when.to_string()),
                    }
                    parts.push(then.to_string());
                }
                if let Some(o) = otherwise {
                    parts.push(o.to_string());
                }
                write!(f, "case({})", parts.join(", "))
            }
            Expr::Call { name, args } => {
                let items: Vec<String> = args.iter().map(|e| e.to_string()).collect();
                write!(f, "{name}({})", items.join(", "))
            }
            Expr::Cast { expr, target } => write!(f, "cast({expr}, {target:?})"),
            Expr::DateArith {
                expr,
                amount,
                unit,
                subtract,
            } => {
                let name = if *subtract { "date_sub" } else { "date_add" };
                write!(
                    f,
                    "{name}({expr}, {amount}, \"{}\")",
                    format!("{unit:?}").to_uppercase()
                )
            }
            Expr::ModelPredict {
                model,
                args,
                output,
            } => {
                let items: Vec<String> = args.iter().map(|e| e.to_string()).collect();
                write!(f, "model_predict({model}, {})", items.join(", "))?;
                if let Some(output) = output {
                    write!(f, ".{output}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        for (value, pattern, expected) in [
            ("abc", "a%", true),
            ("abc", "a_c", true),
            ("abc", "A%", false),
            ("a%c", "a\\%c", true),
            ("abc", "a\\%c", false),
            ("", "%", true),
            ("abc", "%b", false),
        ] {
            assert_eq!(
                like_match(value, pattern),
                expected,
                "{value} LIKE {pattern}"
            );
        }
    }
}
