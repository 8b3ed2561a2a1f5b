//! Aggregate functions: COUNT, SUM, AVG, MIN, MAX, with MySQL result types.
//!
//! SUM and AVG of exact values are exact DECIMALs (AVG adds 4 digits of
//! scale, as `div_precision_increment`); of anything else they are
//! DOUBLEs. COUNT is an integer. MIN and MAX keep the argument's type.

use std::collections::HashSet;
use std::fmt;

use super::decimal::{Decimal, DIV_PRECISION_INCREMENT};
use super::error::{self, EngineResult};
use super::expr::Expr;
use super::value::{compare, group_key, SqlType, Value};

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFunc {
    /// COUNT
    Count,
    /// SUM
    Sum,
    /// AVG
    Avg,
    /// MIN
    Min,
    /// MAX
    Max,
}

impl AggFunc {
    /// Recognizes an aggregate by lowercase name.
    pub fn parse(name: &str) -> Option<AggFunc> {
        Some(match name {
            "count" => AggFunc::Count,
            "sum" => AggFunc::Sum,
            "avg" => AggFunc::Avg,
            "min" => AggFunc::Min,
            "max" => AggFunc::Max,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            AggFunc::Count => "count",
            AggFunc::Sum => "sum",
            AggFunc::Avg => "avg",
            AggFunc::Min => "min",
            AggFunc::Max => "max",
        }
    }
}

/// One aggregate call; `argument` is `None` for `COUNT(*)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggCall {
    /// Function.
    pub func: AggFunc,
    /// Argument bound over the input rows.
    pub argument: Option<Expr>,
    /// `DISTINCT`.
    pub distinct: bool,
}

impl AggCall {
    /// Result type where known statically.
    pub fn result_type(&self) -> SqlType {
        match self.func {
            AggFunc::Count => SqlType::Int(8),
            _ => match self.argument.as_ref().and_then(Expr::static_type) {
                Some(SqlType::Int(_)) if self.func == AggFunc::Sum => SqlType::Decimal(38, 0),
                Some(t) if matches!(self.func, AggFunc::Min | AggFunc::Max) => t,
                Some(SqlType::Float | SqlType::Double) => SqlType::Double,
                _ => SqlType::Null,
            },
        }
    }
}

impl fmt::Display for AggCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let distinct = if self.distinct { "distinct " } else { "" };
        match &self.argument {
            Some(argument) => write!(f, "{}({distinct}{argument})", self.func.name()),
            None => write!(f, "{}(1)", self.func.name()),
        }
    }
}

/// The running state of one aggregate call within one group.
#[derive(Debug, Clone)]
pub struct Accumulator {
    count: i64,
    exact_sum: Option<Decimal>,
    double_sum: f64,
    all_exact: bool,
    extreme: Value,
    seen: HashSet<String>,
}

impl Default for Accumulator {
    fn default() -> Accumulator {
        Accumulator {
            count: 0,
            exact_sum: Some(Decimal::from_i64(0)),
            double_sum: 0.0,
            all_exact: true,
            extreme: Value::Null,
            seen: HashSet::new(),
        }
    }
}

impl Accumulator {
    /// Adds one input value (`Value::Int(1)` for `COUNT(*)` rows).
    pub fn add(&mut self, call: &AggCall, value: &Value) -> EngineResult<()> {
        if call.argument.is_some() && value.is_null() {
            return Ok(());
        }
        if call.distinct && !self.seen.insert(group_key(value)) {
            return Ok(());
        }
        self.count += 1;
        match call.func {
            AggFunc::Count => {}
            AggFunc::Sum | AggFunc::Avg => {
                if matches!(value, Value::Int(_) | Value::Decimal(_)) {
                    if let Some(sum) = self.exact_sum {
                        self.exact_sum = Some(
                            value
                                .to_decimal()
                                .and_then(|d| sum.checked_add(d))
                                .ok_or_else(|| {
                                    error::value_out_of_range("DECIMAL", &call.to_string())
                                })?,
                        );
                    }
                } else {
                    self.all_exact = false;
                }
                self.double_sum += value.to_f64().unwrap_or(0.0);
            }
            AggFunc::Min | AggFunc::Max => {
                let replace = match compare(value, &self.extreme) {
                    None => true,
                    Some(ordering) => {
                        if call.func == AggFunc::Min {
                            ordering.is_lt()
                        } else {
                            ordering.is_gt()
                        }
                    }
                };
                if replace {
                    self.extreme = value.clone();
                }
            }
        }
        Ok(())
    }

    /// The final value.
    pub fn finish(&self, call: &AggCall) -> Value {
        match call.func {
            AggFunc::Count => Value::Int(self.count),
            _ if self.count == 0 => Value::Null,
            AggFunc::Sum => match (self.all_exact, self.exact_sum) {
                (true, Some(sum)) => Value::Decimal(sum),
                _ => Value::Double(self.double_sum),
            },
            AggFunc::Avg => match (self.all_exact, self.exact_sum) {
                (true, Some(sum)) => {
                    let count = Decimal::from_i64(self.count);
                    match sum.checked_div(count) {
                        Some(avg) => Value::Decimal(
                            avg.rescale(sum.scale + DIV_PRECISION_INCREMENT)
                                .unwrap_or(avg),
                        ),
                        None => Value::Null,
                    }
                }
                _ => Value::Double(self.double_sum / self.count as f64),
            },
            AggFunc::Min | AggFunc::Max => self.extreme.clone(),
        }
    }
}
