//! Exact decimal numbers for `DECIMAL(p,s)` columns and decimal literals.
//!
//! A value is an `i128` coefficient and a scale (digits after the point),
//! so up to 38 significant digits are exact, like MySQL's `DECIMAL(38,s)`.

use std::cmp::Ordering;
use std::fmt;

/// The largest precision a `DECIMAL` may declare here.
pub const MAX_PRECISION: u32 = 38;

/// The largest scale a `DECIMAL` may declare (MySQL allows 30).
pub const MAX_SCALE: u32 = 30;

/// Digits added to the scale of the dividend by `/`, as MySQL's
/// `div_precision_increment` default of 4.
pub const DIV_PRECISION_INCREMENT: u32 = 4;

/// An exact decimal: `coefficient / 10^scale`.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    /// Coefficient.
    pub coefficient: i128,
    /// Digits after the decimal point.
    pub scale: u32,
}

fn pow10(exponent: u32) -> Option<i128> {
    10i128.checked_pow(exponent)
}

impl Decimal {
    /// Builds a decimal from an integer.
    pub fn from_i64(value: i64) -> Decimal {
        Decimal {
            coefficient: value as i128,
            scale: 0,
        }
    }

    /// Parses a literal such as `-12.345` or `1e3`; `None` if it is not a
    /// number or does not fit.
    pub fn parse(text: &str) -> Option<Decimal> {
        let text = text.trim();
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(position) => (&text[..position], text[position + 1..].parse::<i32>().ok()?),
            None => (text, 0),
        };
        let (negative, digits) = match mantissa.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
        };
        let (integer, fraction) = match digits.find('.') {
            Some(position) => (&digits[..position], &digits[position + 1..]),
            None => (digits, ""),
        };
        if integer.is_empty() && fraction.is_empty() {
            return None;
        }
        if !integer
            .chars()
            .chain(fraction.chars())
            .all(|c| c.is_ascii_digit())
        {
            return None;
        }
        let mut coefficient: i128 = 0;
        for c in integer.chars().chain(fraction.chars()) {
            coefficient = coefficient
                .checked_mul(10)?
                .checked_add((c as u8 - b'0') as i128)?;
        }
        let mut scale = fraction.len() as i32 - exponent;
        if scale < 0 {
            coefficient = coefficient.checked_mul(pow10((-scale) as u32)?)?;
            scale = 0;
        }
        if scale as u32 > MAX_SCALE + 10 {
            return None;
        }
        if negative {
            coefficient = -coefficient;
        }
        Some(Decimal {
            coefficient,
            scale: scale as u32,
        })
    }

    /// Converts to a double (may round).
    pub fn to_f64(self) -> f64 {
        let text = self.to_string();
        text.parse().unwrap_or(0.0)
    }

    /// Builds a decimal from a double, keeping the shortest digits that
    /// round-trip; `None` for NaN, infinities and values out of range.
    pub fn from_f64(value: f64) -> Option<Decimal> {
        if !value.is_finite() {
            return None;
        }
        Decimal::parse(&format!("{value}"))
    }

    /// Rescales to `scale` digits, rounding half away from zero as MySQL
    /// does; `None` on overflow.
    pub fn rescale(self, scale: u32) -> Option<Decimal> {
        match scale.cmp(&self.scale) {
            Ordering::Equal => Some(self),
            Ordering::Greater => Some(Decimal {
                coefficient: self.coefficient.checked_mul(pow10(scale - self.scale)?)?,
                scale,
            }),
            Ordering::Less => {
                let divisor = pow10(self.scale - scale)?;
                let quotient = self.coefficient / divisor;
                let remainder = self.coefficient % divisor;
                let rounded = if remainder.abs() * 2 >= divisor {
                    quotient + self.coefficient.signum()
                } else {
                    quotient
                };
                Some(Decimal {
                    coefficient: rounded,
                    scale,
                })
            }
        }
    }

    /// Number of digits before the decimal point (at least 1).
    pub fn integer_digits(self) -> u32 {
        let divisor = pow10(self.scale).unwrap_or(1);
        let integer = (self.coefficient / divisor).unsigned_abs();
        if integer == 0 {
            1
        } else {
            integer.ilog10() + 1
        }
    }

    /// Checks that the value fits `DECIMAL(precision, scale)` after
    /// rounding to `scale`, returning the rounded value.
    pub fn fit(self, precision: u32, scale: u32) -> Option<Decimal> {
        let rounded = self.rescale(scale)?;
        if rounded.coefficient != 0 && rounded.integer_digits() > precision - scale {
            return None;
        }
        Some(rounded)
    }

    fn aligned(self, other: Decimal) -> Option<(i128, i128, u32)> {
        let scale = self.scale.max(other.scale);
        Some((
            self.rescale(scale)?.coefficient,
            other.rescale(scale)?.coefficient,
            scale,
        ))
    }

    /// Sum; `None` on overflow.
    pub fn checked_add(self, other: Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        Some(Decimal {
            coefficient: a.checked_add(b)?,
            scale,
        })
    }

    /// Difference; `None` on overflow.
    pub fn checked_sub(self, other: Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        Some(Decimal {
            coefficient: a.checked_sub(b)?,
            scale,
        })
    }

    /// Product with the sum of the scales; `None` on overflow.
    pub fn checked_mul(self, other: Decimal) -> Option<Decimal> {
        Some(Decimal {
            coefficient: self.coefficient.checked_mul(other.coefficient)?,
            scale: self.scale + other.scale,
        })
    }

    /// Quotient with the dividend's scale plus
    /// [`DIV_PRECISION_INCREMENT`], rounded half away from zero; `None`
    /// for a zero divisor or on overflow.
    pub fn checked_div(self, other: Decimal) -> Option<Decimal> {
        if other.coefficient == 0 {
            return None;
        }
        let scale = (self.scale + DIV_PRECISION_INCREMENT).min(MAX_SCALE);
        // self/other = (a/10^sa)/(b/10^sb); compute with one extra digit
        // for rounding: a * 10^(scale + 1 + sb - sa) / b.
        let shift = scale as i64 + 1 + other.scale as i64 - self.scale as i64;
        let numerator = if shift >= 0 {
            self.coefficient.checked_mul(pow10(shift as u32)?)?
        } else {
            self.coefficient / pow10((-shift) as u32)?
        };
        let raw = numerator / other.coefficient;
        let rounded = if raw % 10 != 0 && raw.abs() % 10 >= 5 {
            raw / 10 + raw.signum()
        } else {
            raw / 10
        };
        Some(Decimal {
            coefficient: rounded,
            scale,
        })
    }

    /// Negation.
    pub fn negate(self) -> Decimal {
        Decimal {
            coefficient: -self.coefficient,
            scale: self.scale,
        }
    }

    /// Whether the value is zero.
    pub fn is_zero(self) -> bool {
        self.coefficient == 0
    }

    /// Truncates toward zero to an integer; `None` if it does not fit.
    pub fn trunc_i64(self) -> Option<i64> {
        let divisor = pow10(self.scale)?;
        i64::try_from(self.coefficient / divisor).ok()
    }
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        match self.aligned(*other) {
            Some((a, b, _)) => a.cmp(&b),
            None => self.to_f64().total_cmp(&other.to_f64()),
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.coefficient.unsigned_abs().to_string();
        let sign = if self.coefficient < 0 { "-" } else { "" };
        if self.scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let scale = self.scale as usize;
        let padded = if digits.len() <= scale {
            format!("{}{}", "0".repeat(scale + 1 - digits.len()), digits)
        } else {
            digits
        };
        let split = padded.len() - scale;
        write!(f, "{sign}{}.{}", &padded[..split], &padded[split..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        for (input, expected) in [
            ("1.50", "1.50"),
            ("-0.05", "-0.05"),
            ("12", "12"),
            ("1e3", "1000"),
            ("1.5e-2", "0.015"),
            (".5", "0.5"),
        ] {
            let parsed = Decimal::parse(input).expect(input);
            assert_eq!(parsed.to_string(), expected, "input {input}");
        }
        assert!(Decimal::parse("abc").is_none());
        assert!(Decimal::parse("").is_none());
    }

    #[test]
    fn division_scale_and_rounding() {
        let one = Decimal::from_i64(1);
        let three = Decimal::from_i64(3);
        assert_eq!(
            one.checked_div(three).map(|d| d.to_string()),
            Some("0.3333".into())
        );
        let two = Decimal::from_i64(2);
        assert_eq!(
            two.checked_div(three).map(|d| d.to_string()),
            Some("0.6667".into())
        );
        assert!(one.checked_div(Decimal::from_i64(0)).is_none());
        let x = Decimal::parse("-7.5").unwrap();
        assert_eq!(
            x.checked_div(two).map(|d| d.to_string()),
            Some("-3.75000".into())
        );
    }

    #[test]
    fn fit_checks_precision() {
        let value = Decimal::parse("123.456").unwrap();
        assert_eq!(
            value.fit(5, 2).map(|d| d.to_string()),
            Some("123.46".into())
        );
        assert!(value.fit(4, 2).is_none());
        assert_eq!(
            Decimal::parse("-2.5")
                .unwrap()
                .rescale(0)
                .unwrap()
                .to_string(),
            "-3"
        );
    }
}
