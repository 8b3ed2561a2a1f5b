//! SQL values and column types with MySQL conversion and comparison rules.

use std::cmp::Ordering;

use super::decimal::Decimal;
use super::time::DateTime;

/// The declared type of a column or the static type of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// Integer of the given width in bytes (1, 2, 4, 8); BOOLEAN is width 1.
    Int(u8),
    /// FP32 `FLOAT`.
    Float,
    /// FP64 `DOUBLE`.
    Double,
    /// `DECIMAL(precision, scale)`.
    Decimal(u32, u32),
    /// `VARCHAR(n)`.
    Varchar(u32),
    /// `CHAR(n)`.
    Char(u32),
    /// `TEXT`.
    Text,
    /// `DATETIME(fsp)`.
    DateTime(u8),
    /// `TIMESTAMP(fsp)`.
    Timestamp(u8),
    /// The type of a NULL literal.
    Null,
}

impl SqlType {
    /// Renders the type as `SHOW CREATE TABLE` spells it.
    pub fn sql_name(self) -> String {
        match self {
            SqlType::Int(1) => "tinyint".into(),
            SqlType::Int(2) => "smallint".into(),
            SqlType::Int(4) => "int".into(),
            SqlType::Int(_) => "bigint".into(),
            SqlType::Float => "float".into(),
            SqlType::Double => "double".into(),
            SqlType::Decimal(p, s) => format!("decimal({p},{s})"),
            SqlType::Varchar(n) => format!("varchar({n})"),
            SqlType::Char(n) => format!("char({n})"),
            SqlType::Text => "text".into(),
            SqlType::DateTime(0) => "datetime".into(),
            SqlType::DateTime(fsp) => format!("datetime({fsp})"),
            SqlType::Timestamp(0) => "timestamp".into(),
            SqlType::Timestamp(fsp) => format!("timestamp({fsp})"),
            SqlType::Null => "null".into(),
        }
    }

    /// The integer range of an integer type.
    pub fn int_range(self) -> Option<(i64, i64)> {
        match self {
            SqlType::Int(1) => Some((i8::MIN as i64, i8::MAX as i64)),
            SqlType::Int(2) => Some((i16::MIN as i64, i16::MAX as i64)),
            SqlType::Int(4) => Some((i32::MIN as i64, i32::MAX as i64)),
            SqlType::Int(_) => Some((i64::MIN, i64::MAX)),
            _ => None,
        }
    }
}

/// One SQL value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// NULL.
    Null,
    /// A signed integer.
    Int(i64),
    /// An FP32 value from a `FLOAT` column or cast.
    Float(f32),
    /// An FP64 value.
    Double(f64),
    /// An exact decimal.
    Decimal(Decimal),
    /// A character string.
    Str(String),
    /// A date and time with its fractional-second precision.
    DateTime(DateTime),
}

impl Value {
    /// Whether the value is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Converts to a double as MySQL does in numeric context: strings
    /// convert by their longest numeric prefix (0 if none).
    pub fn to_f64(&self) -> Option<f64> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f as f64),
            Value::Double(d) => Some(*d),
            Value::Decimal(d) => Some(d.to_f64()),
            Value::Str(s) => Some(string_prefix_to_f64(s)),
            Value::DateTime(dt) => Some(dt.to_number_f64()),
        }
    }

    /// Converts to an integer, rounding as MySQL does for non-integers.
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(*i),
            Value::Decimal(d) => d.rescale(0).and_then(|r| r.trunc_i64()),
            other => {
                let value = other.to_f64()?.round();
                if value >= i64::MIN as f64 && value <= i64::MAX as f64 {
                    Some(value as i64)
                } else if value > 0.0 {
                    Some(i64::MAX)
                } else {
                    Some(i64::MIN)
                }
            }
        }
    }

    /// Converts to an exact decimal where the value is numeric.
    pub fn to_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(Decimal::from_i64(*i)),
            Value::Decimal(d) => Some(*d),
            Value::Float(f) => Decimal::from_f64(*f as f64),
            Value::Double(d) => Decimal::from_f64(*d),
            Value::Str(s) => {
                Decimal::parse(numeric_prefix(s)).or_else(|| Some(Decimal::from_i64(0)))
            }
            Value::DateTime(dt) => Decimal::parse(&dt.to_number_string()),
        }
    }

    /// Truth value in a boolean context; NULL is unknown.
    pub fn truth(&self) -> Option<bool> {
        match self {
            Value::Null => None,
            Value::Int(i) => Some(*i != 0),
            Value::Decimal(d) => Some(!d.is_zero()),
            other => other.to_f64().map(|f| f != 0.0),
        }
    }

    /// The value as text, as CONCAT and string comparisons see it.
    pub fn to_text(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Str(s) => Some(s.clone()),
            other => Some(super::render::render_value(other)),
        }
    }
}

/// The longest prefix of `text` that reads as a number, after leading
/// spaces, as MySQL converts strings in numeric context.
pub fn numeric_prefix(text: &str) -> &str {
    let trimmed = text.trim_start();
    let bytes = trimmed.as_bytes();
    let mut end = 0;
    if end < bytes.len() && (bytes[end] == b'-' || bytes[end] == b'+') {
        end += 1;
    }
    let digits_start = end;
    while end < bytes.len() && bytes[end].is_ascii_digit() {
        end += 1;
    }
    if end < bytes.len() && bytes[end] == b'.' {
        end += 1;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
    }
    if end == digits_start || &trimmed[digits_start..end] == "." {
        return "";
    }
    if end < bytes.len() && (bytes[end] == b'e' || bytes[end] == b'E') {
        let mut exponent_end = end + 1;
        if exponent_end < bytes.len()
            && (bytes[exponent_end] == b'-' || bytes[exponent_end] == b'+')
        {
            exponent_end += 1;
        }
        let exponent_digits = exponent_end;
        while exponent_end < bytes.len() && bytes[exponent_end].is_ascii_digit() {
            exponent_end += 1;
        }
        if exponent_end > exponent_digits {
            end = exponent_end;
        }
    }
    &trimmed[..end]
}

fn string_prefix_to_f64(text: &str) -> f64 {
    numeric_prefix(text).parse().unwrap_or(0.0)
}

/// Compares two non-NULL values with MySQL's rules: two strings compare as
/// binary strings (the `utf8mb4_bin` collation, TiDB's default), a
/// datetime with a string compares as datetimes when the string parses,
/// exact numbers compare exactly, and anything else compares as doubles.
/// Returns `None` if either side is NULL.
pub fn compare(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Str(a), Value::Str(b)) => Some(a.as_bytes().cmp(b.as_bytes())),
        (Value::DateTime(a), Value::DateTime(b)) => Some(a.micros.cmp(&b.micros)),
        (Value::DateTime(a), Value::Str(b)) => match DateTime::parse(b) {
            Some(parsed) => Some(a.micros.cmp(&parsed.micros)),
            None => Some(render_cmp(left, right)),
        },
        (Value::Str(_), Value::DateTime(_)) => compare(right, left).map(Ordering::reverse),
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Int(_) | Value::Decimal(_), Value::Int(_) | Value::Decimal(_)) => {
            Some(left.to_decimal()?.cmp(&right.to_decimal()?))
        }
        _ => {
            let a = left.to_f64()?;
            let b = right.to_f64()?;
            Some(a.partial_cmp(&b).unwrap_or(Ordering::Equal))
        }
    }
}

fn render_cmp(left: &Value, right: &Value) -> Ordering {
    let a = left.to_text().unwrap_or_default();
    let b = right.to_text().unwrap_or_default();
    a.as_bytes().cmp(b.as_bytes())
}

/// Orders values for ORDER BY and grouping: NULL first, then by
/// [`compare`].
pub fn sort_order(left: &Value, right: &Value) -> Ordering {
    match (left.is_null(), right.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => compare(left, right).unwrap_or(Ordering::Equal),
    }
}

/// A key that groups equal values together (GROUP BY, DISTINCT, primary
/// keys): equal numbers of any type give the same key.
pub fn group_key(value: &Value) -> String {
    match value {
        Value::Null => "N".into(),
        Value::Int(i) => format!("n{}", Decimal::from_i64(*i)),
        Value::Decimal(d) => format!("n{}", normalize_decimal(*d)),
        Value::Float(f) => float_key(*f as f64),
        Value::Double(d) => float_key(*d),
        Value::Str(s) => format!("s{s}"),
        Value::DateTime(dt) => format!("t{}", dt.micros),
    }
}

fn float_key(value: f64) -> String {
    match Decimal::from_f64(value) {
        Some(d) if value.fract() == 0.0 || d.scale > 0 => format!("n{}", normalize_decimal(d)),
        _ => format!("f{value}"),
    }
}

fn normalize_decimal(mut d: Decimal) -> Decimal {
    while d.scale > 0 && d.coefficient % 10 == 0 {
        d.coefficient /= 10;
        d.scale -= 1;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_number_comparison() {
        let cases = [
            (Value::Str("10".into()), Value::Int(9), Ordering::Greater),
            (Value::Str("abc".into()), Value::Int(0), Ordering::Equal),
            (
                Value::Str("1.5x".into()),
                Value::Double(1.5),
                Ordering::Equal,
            ),
            (
                Value::Str("b".into()),
                Value::Str("a".into()),
                Ordering::Greater,
            ),
            (
                Value::Str("A".into()),
                Value::Str("a".into()),
                Ordering::Less,
            ),
        ];
        for (left, right, expected) in cases {
            assert_eq!(
                compare(&left, &right),
                Some(expected),
                "{left:?} vs {right:?}"
            );
        }
        assert_eq!(compare(&Value::Null, &Value::Int(1)), None);
    }

    #[test]
    fn group_keys_unify_numbers() {
        assert_eq!(
            group_key(&Value::Int(1)),
            group_key(&Value::Decimal(Decimal::parse("1.00").unwrap()))
        );
        assert_eq!(group_key(&Value::Int(2)), group_key(&Value::Double(2.0)));
        assert_ne!(
            group_key(&Value::Int(1)),
            group_key(&Value::Str("1".into()))
        );
    }
}
