//! Scalar functions. [`call`] is the single dispatch point for function
//! calls, so a resolver for further functions (model functions) plugs in
//! here.

use super::decimal::Decimal;
use super::error::{self, EngineResult};
use super::expr::EvalContext;
use super::value::{compare, Value};

/// The TiDB version string `TIDB_VERSION()` and `VERSION()` report.
pub const TIDB_VERSION: &str = "Release Version: v8.5.0-reference\nEdition: Community\nGit Commit Hash: None\nGit Branch: None\nUTC Build Time: None\nStore: reference";

/// The MySQL-compatible `VERSION()` string.
pub const VERSION: &str = "8.0.11-TiDB-v8.5.0-reference";

/// Scalar functions the engine knows, with their allowed argument counts
/// (min, max). Binding rejects other names and counts before execution.
pub fn arity(name: &str) -> Option<(usize, usize)> {
    Some(match name {
        "abs" | "lower" | "lcase" | "upper" | "ucase" | "length" | "char_length"
        | "character_length" | "floor" | "ceil" | "ceiling" | "sign" | "sqrt" | "sleep" => (1, 1),
        "round" | "truncate_num" => (1, 2),
        "concat" | "coalesce" | "greatest" | "least" => (1, usize::MAX),
        "concat_ws" => (2, usize::MAX),
        "if" => (3, 3),
        "ifnull" | "nullif" | "mod" | "pow" | "power" => (2, 2),
        "now" | "current_timestamp" | "sysdate" | "localtime" | "localtimestamp" => (0, 1),
        "tidb_version" | "version" | "database" | "schema" | "user" | "current_user"
        | "session_user" | "system_user" | "connection_id" | "pi" => (0, 0),
        _ => return None,
    })
}

/// Calls scalar function `name` on `args` (one value vector per argument,
/// each `rows` long).
pub fn call(
    name: &str,
    args: &[Vec<Value>],
    rows: usize,
    ctx: &EvalContext,
) -> EngineResult<Vec<Value>> {
    let mut out = Vec::with_capacity(rows);
    let mut row_args = Vec::with_capacity(args.len());
    for i in 0..rows {
        row_args.clear();
        row_args.extend(args.iter().map(|a| a[i].clone()));
        out.push(call_row(name, &row_args, ctx)?);
    }
    Ok(out)
}

fn call_row(name: &str, args: &[Value], ctx: &EvalContext) -> EngineResult<Value> {
    let first = args.first().cloned().unwrap_or(Value::Null);
    Ok(match name {
        "abs" => match first {
            Value::Null => Value::Null,
            Value::Int(i) => match i.checked_abs() {
                Some(a) => Value::Int(a),
                None => return Err(error::value_out_of_range("BIGINT", &format!("abs({i})"))),
            },
            Value::Decimal(d) => Value::Decimal(if d.coefficient < 0 { d.negate() } else { d }),
            other => Value::Double(other.to_f64().unwrap_or(0.0).abs()),
        },
        "round" => round(&first, args.get(1))?,
        "floor" | "ceil" | "ceiling" => match first {
            Value::Null => Value::Null,
            Value::Int(i) => Value::Int(i),
            Value::Decimal(d) => {
                let truncated = Decimal {
                    coefficient: d.coefficient / 10i128.pow(d.scale),
                    scale: 0,
                };
                let exact = truncated.rescale(d.scale).is_some_and(|t| t == d);
                let adjust = if exact {
                    0
                } else if name == "floor" && d.coefficient < 0 {
                    -1
                } else if name != "floor" && d.coefficient > 0 {
                    1
                } else {
                    0
                };
                match truncated.trunc_i64().and_then(|t| t.checked_add(adjust)) {
                    Some(v) => Value::Int(v),
                    None => Value::Decimal(truncated),
                }
            }
            other => {
                let v = other.to_f64().unwrap_or(0.0);
                Value::Double(if name == "floor" { v.floor() } else { v.ceil() })
            }
        },
        "sign" => match first.to_f64() {
            None => Value::Null,
            Some(v) => Value::Int(if v > 0.0 {
                1
            } else if v < 0.0 {
                -1
            } else {
                0
            }),
        },
        "sqrt" => match first.to_f64() {
            Some(v) if v >= 0.0 => Value::Double(v.sqrt()),
            _ => Value::Null,
        },
        "pow" | "power" => match (first.to_f64(), args[1].to_f64()) {
            (Some(x), Some(y)) => {
                let r = x.powf(y);
                if !r.is_finite() {
                    return Err(error::value_out_of_range(
                        "DOUBLE",
                        &format!("pow({x}, {y})"),
                    ));
                }
                Value::Double(r)
            }
            _ => Value::Null,
        },
        "pi" => Value::Double(std::f64::consts::PI),
        "mod" => {
            if first.is_null() || args[1].is_null() {
                Value::Null
            } else if args[1].to_f64() == Some(0.0) {
                if ctx.strict_division {
                    return Err(error::division_by_zero());
                }
                Value::Null
            } else {
                match (&first, &args[1]) {
                    (Value::Int(a), Value::Int(b)) => Value::Int(a.checked_rem(*b).unwrap_or(0)),
                    (a, b) => Value::Double(a.to_f64().unwrap_or(0.0) % b.to_f64().unwrap_or(1.0)),
                }
            }
        }
        "concat" => {
            let mut text = String::new();
            for arg in args {
                match arg.to_text() {
                    Some(t) => text.push_str(&t),
                    None => return Ok(Value::Null),
                }
            }
            Value::Str(text)
        }
        "concat_ws" => match first.to_text() {
            None => Value::Null,
            Some(separator) => {
                let parts: Vec<String> = args[1..].iter().filter_map(|a| a.to_text()).collect();
                Value::Str(parts.join(&separator))
            }
        },
        "lower" | "lcase" => first
            .to_text()
            .map_or(Value::Null, |t| Value::Str(t.to_lowercase())),
        "upper" | "ucase" => first
            .to_text()
            .map_or(Value::Null, |t| Value::Str(t.to_uppercase())),
        "length" => first
            .to_text()
            .map_or(Value::Null, |t| Value::Int(t.len() as i64)),
        "char_length" | "character_length" => first
            .to_text()
            .map_or(Value::Null, |t| Value::Int(t.chars().count() as i64)),
        "if" => {
            if first.truth() == Some(true) {
                args[1].clone()
            } else {
                args[2].clone()
            }
        }
        "ifnull" => {
            if first.is_null() {
                args[1].clone()
            } else {
                first
            }
        }
        "nullif" => {
            if compare(&first, &args[1]) == Some(std::cmp::Ordering::Equal) {
                Value::Null
            } else {
                first
            }
        }
        "coalesce" => args
            .iter()
            .find(|a| !a.is_null())
            .cloned()
            .unwrap_or(Value::Null),
        "greatest" | "least" => {
            if args.iter().any(Value::is_null) {
                Value::Null
            } else {
                let mut best = first;
                for arg in &args[1..] {
                    let ordering = compare(arg, &best).unwrap_or(std::cmp::Ordering::Equal);
                    let better = if name == "greatest" {
                        ordering.is_gt()
                    } else {
                        ordering.is_lt()
                    };
                    if better {
                        best = arg.clone();
                    }
                }
                best
            }
        }
        "now" | "current_timestamp" | "sysdate" | "localtime" | "localtimestamp" => {
            let fsp = match args.first() {
                None => 0,
                Some(v) => match v.to_i64() {
                    Some(f) if (0..=6).contains(&f) => f as u8,
                    _ => {
                        return Err(error::other(format!(
                            "Too-big precision {} specified for '{name}'. Maximum is 6.",
                            super::render::render_value(v)
                        )))
                    }
                },
            };
            let unit = 10i64.pow(6 - fsp as u32);
            Value::DateTime(super::time::DateTime {
                micros: ctx.now.micros.div_euclid(unit) * unit,
                fsp,
            })
        }
        "tidb_version" => Value::Str(TIDB_VERSION.into()),
        "version" => Value::Str(VERSION.into()),
        "database" | "schema" => ctx.database.clone().map_or(Value::Null, Value::Str),
        "user" | "session_user" | "system_user" => Value::Str(format!("{}@127.0.0.1", ctx.user)),
        "current_user" => Value::Str(format!("{}@%", ctx.user)),
        "connection_id" => Value::Int(1),
        "sleep" => sleep(&first)?,
        other => return Err(error::unsupported(format!("the function {other}"))),
    })
}

/// `ROUND(x[, d])`: exact values round half away from zero with scale
/// `max(d, 0)`; doubles round half away from zero too.
fn round(value: &Value, digits: Option<&Value>) -> EngineResult<Value> {
    let digits = match digits {
        None => 0,
        Some(d) => match d.to_i64() {
            Some(d) => d.clamp(-30, 30),
            None => return Ok(Value::Null),
        },
    };
    Ok(match value {
        Value::Null => Value::Null,
        Value::Int(i) => {
            if digits >= 0 {
                Value::Int(*i)
            } else {
                let unit = 10i128.pow((-digits) as u32);
                let v = *i as i128;
                let rounded = (v + v.signum() * unit / 2) / unit * unit;
                Value::Int(i64::try_from(rounded).unwrap_or(0))
            }
        }
        Value::Decimal(d) => {
            let scale = digits.max(0) as u32;
            if digits >= 0 {
                Value::Decimal(d.rescale(scale).unwrap_or(*d))
            } else {
                let unit = 10i128.pow((-digits) as u32 + d.scale);
                let c = d.coefficient;
                let rounded = (c + c.signum() * unit / 2) / unit * 10i128.pow((-digits) as u32);
                Value::Decimal(Decimal {
                    coefficient: rounded,
                    scale: 0,
                })
            }
        }
        other => {
            let v = other.to_f64().unwrap_or(0.0);
            let factor = 10f64.powi(digits as i32);
            Value::Double((v * factor).round() / factor)
        }
    })
}

/// Longest `SLEEP` the engine accepts, in seconds. MySQL has no limit;
/// this one keeps a mistyped case from stalling a suite run.
const MAX_SLEEP_SECONDS: f64 = 60.0;

/// `SLEEP(seconds)`: waits, then returns 0. NULL and negative durations
/// are TiDB's error 1210 in strict mode.
fn sleep(seconds: &Value) -> EngineResult<Value> {
    let seconds = match seconds.to_f64() {
        Some(s) if s >= 0.0 => s,
        _ => {
            return Err(error::SqlError::new(
                1210,
                "HY000",
                "Incorrect arguments to sleep",
            ))
        }
    };
    if seconds > MAX_SLEEP_SECONDS {
        return Err(error::unsupported(format!(
            "SLEEP({seconds}) longer than {MAX_SLEEP_SECONDS} seconds"
        )));
    }
    std::thread::sleep(std::time::Duration::from_secs_f64(seconds));
    Ok(Value::Int(0))
}
