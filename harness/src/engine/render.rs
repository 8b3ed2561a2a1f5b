//! Text-protocol rendering of values, following TiDB's rules for the MySQL
//! text protocol.
//!
//! FLOAT and DOUBLE print their shortest round-trip form. A value with
//! |v| >= 1e15, or non-zero |v| < 1e-15, prints in exponent form without
//! `+` and with trailing mantissa zeros stripped: DOUBLE with the shortest
//! mantissa (`1e20`), FLOAT with at most 5 fraction digits in the
//! mantissa (`-3.40282e38`). NaN and infinities print `0`.

use super::value::Value;

/// Renders a FLOAT (FP32) value.
pub fn render_float(value: f32) -> String {
    if !value.is_finite() {
        return "0".into();
    }
    let magnitude = value.abs();
    if magnitude >= 1e15 || (magnitude != 0.0 && magnitude < 1e-15) {
        let text = format!("{:.5e}", value);
        return strip_mantissa_zeros(&text);
    }
    format!("{}", value)
}

/// Renders a DOUBLE (FP64) value.
pub fn render_double(value: f64) -> String {
    if !value.is_finite() {
        return "0".into();
    }
    let magnitude = value.abs();
    if magnitude >= 1e15 || (magnitude != 0.0 && magnitude < 1e-15) {
        return format!("{:e}", value);
    }
    format!("{}", value)
}

/// Removes trailing zeros and a trailing point from the mantissa of an
/// exponent-form number (`-3.40282e38` stays, `1.00000e20` becomes `1e20`).
fn strip_mantissa_zeros(text: &str) -> String {
    let Some((mantissa, exponent)) = text.split_once('e') else {
        return text.to_string();
    };
    let mantissa = if mantissa.contains('.') {
        mantissa.trim_end_matches('0').trim_end_matches('.')
    } else {
        mantissa
    };
    format!("{mantissa}e{exponent}")
}

/// Renders a non-NULL value as the text protocol sends it; NULL renders as
/// the word `NULL` here, but result rows carry it as `None` instead.
pub fn render_value(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => render_float(*f),
        Value::Double(d) => render_double(*d),
        Value::Decimal(d) => d.to_string(),
        Value::Str(s) => s.clone(),
        Value::DateTime(dt) => dt.render(),
    }
}

/// Renders a value for a result row: `None` for NULL.
pub fn render_cell(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        other => Some(render_value(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_vectors() {
        let cases: [(f32, &str); 7] = [
            (0.1111111111111111, "0.11111111"),
            (-3.40282e38, "-3.40282e38"),
            (0.0, "0"),
            (1.5, "1.5"),
            (1e15, "1e15"),
            (f32::NAN, "0"),
            (f32::INFINITY, "0"),
        ];
        for (input, expected) in cases {
            assert_eq!(render_float(input), expected, "FLOAT {input:?}");
        }
    }

    #[test]
    fn double_vectors() {
        let cases: [(f64, &str); 9] = [
            (0.1111111111111111, "0.1111111111111111"),
            (1e20, "1e20"),
            (-1e16, "-1e16"),
            (9e-16, "9e-16"),
            (-1.7976931348623157e308, "-1.7976931348623157e308"),
            (900000000000000.0, "900000000000000"),
            (0.000000000000001, "0.000000000000001"),
            (0.0, "0"),
            (f64::NEG_INFINITY, "0"),
        ];
        for (input, expected) in cases {
            assert_eq!(render_double(input), expected, "DOUBLE {input:?}");
        }
    }
}
