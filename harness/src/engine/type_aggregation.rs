//! Result types of the control-flow functions IFNULL, COALESCE, IF and
//! CASE. MySQL and TiDB give their result the aggregated type of the
//! value arguments, so `IFNULL(decimal_col, 0)` returns `0.00` for a
//! `DECIMAL(10,2)` column, and every row is converted to that type.

use super::decimal::Decimal;
use super::expr::Expr;
use super::render::render_value;
use super::value::{SqlType, Value};

/// The largest DECIMAL precision MySQL allows.
const MAX_DECIMAL_PRECISION: u32 = 65;

/// Returns the type of one value argument: its static type, or for a
/// literal the type MySQL gives that literal. `None` when the type is
/// only known at run time.
pub fn operand_type(expr: &Expr) -> Option<SqlType> {
    match expr {
        Expr::Literal(value) => literal_type(value),
        other => other.static_type(),
    }
}

fn literal_type(value: &Value) -> Option<SqlType> {
    Some(match value {
        Value::Null => SqlType::Null,
        Value::Int(_) => SqlType::Int(8),
        Value::Float(_) => SqlType::Float,
        Value::Double(_) => SqlType::Double,
        Value::Decimal(d) => SqlType::Decimal(d.integer_digits() + d.scale, d.scale),
        Value::Str(s) => SqlType::Varchar(s.chars().count() as u32),
        Value::DateTime(dt) => SqlType::DateTime(dt.fsp),
    })
}

/// Returns the aggregated result type of IFNULL, COALESCE or IF, or
/// `None` for other functions or when an argument type is unknown.
pub fn call_type(name: &str, args: &[Expr]) -> Option<SqlType> {
    let values: Vec<&Expr> = match name {
        "ifnull" | "coalesce" => args.iter().collect(),
        "if" => args.iter().skip(1).collect(),
        _ => return None,
    };
    aggregate(values.into_iter().map(operand_type))
}

/// Returns the aggregated result type of the THEN and ELSE values of a
/// CASE expression.
pub fn case_type(branches: &[(Expr, Expr)], otherwise: Option<&Expr>) -> Option<SqlType> {
    let values = branches
        .iter()
        .map(|(_, then)| then)
        .chain(otherwise)
        .map(operand_type);
    aggregate(values)
}

/// Aggregates argument types as MySQL does for control-flow functions:
/// NULL arguments are ignored, any string makes a string, any DOUBLE
/// makes a DOUBLE, any DECIMAL with integers makes a DECIMAL with the
/// largest integer part and the largest scale, and integers stay integers
/// of the widest width, and FLOAT with an exact type makes a DOUBLE.
/// Datetimes stay datetimes only among themselves. `None` when an
/// argument type is unknown.
pub fn aggregate(types: impl Iterator<Item = Option<SqlType>>) -> Option<SqlType> {
    let mut result = SqlType::Null;
    for sql_type in types {
        result = merge(result, sql_type?)?;
    }
    Some(result)
}

fn merge(left: SqlType, right: SqlType) -> Option<SqlType> {
    use SqlType::*;
    Some(match (left, right) {
        (Null, other) | (other, Null) => other,
        (Varchar(a), Varchar(b)) => Varchar(a.max(b)),
        (Char(a), Char(b)) => Char(a.max(b)),
        (Varchar(_) | Char(_) | Text, _) | (_, Varchar(_) | Char(_) | Text) => Text,
        (DateTime(a), DateTime(b)) => DateTime(a.max(b)),
        (Timestamp(a), Timestamp(b)) => Timestamp(a.max(b)),
        (DateTime(a) | Timestamp(a), DateTime(b) | Timestamp(b)) => DateTime(a.max(b)),
        (DateTime(_) | Timestamp(_), _) | (_, DateTime(_) | Timestamp(_)) => Text,
        (Double, _) | (_, Double) => Double,
        (Float, Float) => Float,
        // MySQL and TiDB give DOUBLE when FLOAT meets an exact type, so a
        // FLOAT 0.1 widens to 0.10000000149011612.
        (Float, _) | (_, Float) => Double,
        (Int(a), Int(b)) => Int(a.max(b)),
        (Decimal(p, s), Int(width)) | (Int(width), Decimal(p, s)) => {
            let integer_digits = (p - s).max(int_digits(width));
            Decimal((integer_digits + s).min(MAX_DECIMAL_PRECISION), s)
        }
        (Decimal(p1, s1), Decimal(p2, s2)) => {
            let scale = s1.max(s2);
            let integer_digits = (p1 - s1).max(p2 - s2);
            Decimal((integer_digits + scale).min(MAX_DECIMAL_PRECISION), scale)
        }
    })
}

/// Decimal digits of the largest value of an integer type.
fn int_digits(width: u8) -> u32 {
    match width {
        1 => 3,
        2 => 5,
        3 => 8,
        4 => 10,
        _ => 19,
    }
}

/// Converts one result value to the aggregated type. NULL stays NULL,
/// and a value that does not convert (a decimal overflow) is kept as is.
pub fn convert(value: Value, target: SqlType) -> Value {
    match (target, value) {
        (_, Value::Null) => Value::Null,
        (SqlType::Decimal(_, scale), value) => {
            match value.to_decimal().and_then(|d: Decimal| d.rescale(scale)) {
                Some(d) => Value::Decimal(d),
                None => value,
            }
        }
        (SqlType::Double, value) => match value.to_f64() {
            Some(f) => Value::Double(f),
            None => value,
        },
        (SqlType::Varchar(_) | SqlType::Char(_) | SqlType::Text, Value::Str(s)) => Value::Str(s),
        (SqlType::Varchar(_) | SqlType::Char(_) | SqlType::Text, value) => {
            Value::Str(render_value(&value))
        }
        (_, value) => value,
    }
}

/// Converts every value of an evaluated column to `target`, when known.
pub fn convert_all(values: Vec<Value>, target: Option<SqlType>) -> Vec<Value> {
    match target {
        Some(target) => values.into_iter().map(|v| convert(v, target)).collect(),
        None => values,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decimal(text: &str) -> Value {
        Value::Decimal(Decimal::parse(text).expect("valid decimal literal"))
    }

    #[test]
    fn int_and_decimal_make_decimal() {
        let merged = aggregate([Some(SqlType::Decimal(10, 2)), Some(SqlType::Int(8))].into_iter());
        assert_eq!(merged, Some(SqlType::Decimal(21, 2)));
    }

    #[test]
    fn decimals_take_max_scale() {
        let merged =
            aggregate([Some(SqlType::Decimal(5, 1)), Some(SqlType::Decimal(10, 4))].into_iter());
        assert_eq!(merged, Some(SqlType::Decimal(10, 4)));
    }

    #[test]
    fn decimal_and_double_make_double() {
        let merged = aggregate([Some(SqlType::Decimal(10, 2)), Some(SqlType::Double)].into_iter());
        assert_eq!(merged, Some(SqlType::Double));
    }

    #[test]
    fn string_wins_over_numbers() {
        let merged = aggregate(
            [
                Some(SqlType::Int(4)),
                Some(SqlType::Varchar(3)),
                Some(SqlType::Decimal(4, 2)),
            ]
            .into_iter(),
        );
        assert_eq!(merged, Some(SqlType::Text));
    }

    #[test]
    fn nulls_are_ignored() {
        let merged = aggregate([Some(SqlType::Null), Some(SqlType::Int(4))].into_iter());
        assert_eq!(merged, Some(SqlType::Int(4)));
        assert_eq!(
            aggregate([Some(SqlType::Null)].into_iter()),
            Some(SqlType::Null)
        );
    }

    #[test]
    fn unknown_type_is_none() {
        assert_eq!(aggregate([None, Some(SqlType::Int(4))].into_iter()), None);
    }

    #[test]
    fn float_with_exact_is_double() {
        for exact in [SqlType::Int(4), SqlType::Decimal(10, 2)] {
            assert_eq!(
                aggregate([Some(SqlType::Float), Some(exact)].into_iter()),
                Some(SqlType::Double),
                "FLOAT with {exact:?}"
            );
        }
        assert_eq!(
            aggregate([Some(SqlType::Float), Some(SqlType::Float)].into_iter()),
            Some(SqlType::Float)
        );
    }

    #[test]
    fn convert_rescales_to_decimal() {
        assert_eq!(
            render_value(&convert(Value::Int(0), SqlType::Decimal(12, 2))),
            "0.00"
        );
        assert_eq!(
            render_value(&convert(decimal("1.5"), SqlType::Decimal(12, 3))),
            "1.500"
        );
        assert_eq!(convert(Value::Null, SqlType::Decimal(12, 2)), Value::Null);
    }

    #[test]
    fn convert_to_double_and_text() {
        assert_eq!(
            convert(decimal("2.25"), SqlType::Double),
            Value::Double(2.25)
        );
        assert_eq!(
            convert(decimal("2.50"), SqlType::Text),
            Value::Str("2.50".into())
        );
        assert_eq!(
            convert(Value::Int(7), SqlType::Text),
            Value::Str("7".into())
        );
    }
}
