//! Go duration strings (`time.ParseDuration` syntax), used by sysvars such
//! as `tidb_model_timeout` and by the sidecar configuration.
//!
//! A duration is an optional `+` followed by one or more `<number><unit>`
//! terms, e.g. `200ms`, `2s`, `1h2m3.5s`. Numbers are decimal with an
//! optional fraction (`1.5h`, `.5s`). Units are `ns`, `us`, `µs` (U+00B5),
//! `μs` (U+03BC), `ms`, `s`, `m` and `h`. The single string `0` needs no
//! unit. Go also accepts a leading `-`; [`std::time::Duration`] cannot hold
//! a negative value, so a negative duration is rejected here.

use std::time::Duration;

/// The largest duration Go can represent: `i64::MAX` nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// A string that is not a valid non-negative Go duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration '{input}': {reason}; use Go duration syntax such as '200ms', '2s' or '1h30m'"
)]
pub struct DurationError {
    /// The rejected input.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a Go duration string such as `200ms` or `1h2m3.5s`.
///
/// Fractions finer than a nanosecond are truncated, as Go does. Errors name
/// the input and the problem (empty, missing unit, unknown unit, negative,
/// overflow).
pub fn parse_go_duration(input: &str) -> Result<Duration, DurationError> {
    let fail = |reason: &str| DurationError {
        input: input.to_string(),
        reason: reason.to_string(),
    };

    // Sign: only `+` yields a representable value.
    let mut rest = input;
    if let Some(stripped) = rest.strip_prefix('-') {
        if stripped == "0" {
            return Ok(Duration::ZERO);
        }
        return Err(fail("negative durations are not allowed"));
    }
    if let Some(stripped) = rest.strip_prefix('+') {
        rest = stripped;
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(fail("the string is empty"));
    }

    // Terms: number, optional fraction, unit.
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after_int) = rest.split_at(int_len);
        let (frac_digits, after_number) = match after_int.strip_prefix('.') {
            Some(after_dot) => {
                let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
                after_dot.split_at(frac_len)
            }
            None => ("", after_int),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(fail("expected a number"));
        }

        let unit_len = after_number
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after_number.len(), |(i, _)| i);
        let (unit, after_unit) = after_number.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "" => return Err(fail("missing unit after a number")),
            _ => {
                return Err(fail(&format!(
                    "unknown unit '{unit}' (valid units are ns, us, µs, ms, s, m, h)"
                )))
            }
        };

        // The integer part; more digits than fit in u128 is an overflow.
        let whole: u128 = if int_digits.is_empty() {
            0
        } else {
            int_digits
                .parse::<u128>()
                .map_err(|_| fail("the value is too large"))?
        };
        let mut term = whole
            .checked_mul(unit_nanos)
            .ok_or_else(|| fail("the value is too large"))?;

        // The fraction, scaled by the unit; digits past nanosecond
        // precision of the largest unit cannot change the result.
        let mut scale: u128 = 1;
        let mut fraction: u128 = 0;
        for digit in frac_digits.bytes().take(20) {
            fraction = fraction * 10 + u128::from(digit - b'0');
            scale *= 10;
        }
        term += fraction * unit_nanos / scale;

        total = total
            .checked_add(term)
            .filter(|sum| *sum <= MAX_NANOS)
            .ok_or_else(|| fail("the value is too large (the maximum is about 292 years)"))?;
        rest = after_unit;
    }

    let secs = (total / 1_000_000_000) as u64;
    let nanos = (total % 1_000_000_000) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Formats a duration the way Go's `Duration.String` does (`1h2m3.5s`,
/// `200ms`, `1.5µs`, `0s`), so values round-trip through
/// [`parse_go_duration`].
pub fn format_go_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }

    // Under one second: a single unit with a fraction.
    if nanos < 1_000_000_000 {
        let (unit, size) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", decimal(nanos, size));
    }

    // Hours and minutes as integers, seconds with a fraction.
    let hours = nanos / 3_600_000_000_000;
    let minutes = (nanos / 60_000_000_000) % 60;
    let seconds = nanos % 60_000_000_000;
    let mut out = String::new();
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if hours > 0 || minutes > 0 {
        out.push_str(&format!("{minutes}m"));
    }
    out.push_str(&format!("{}s", decimal(seconds, 1_000_000_000)));
    out
}

/// `value / size` as a decimal without trailing zeros.
fn decimal(value: u128, size: u128) -> String {
    let whole = value / size;
    let fraction = value % size;
    if fraction == 0 {
        return whole.to_string();
    }
    let width = size.to_string().len() - 1;
    let digits = format!("{fraction:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_durations_parse() {
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("200ms", Duration::from_millis(200)),
            ("2s", Duration::from_secs(2)),
            ("1us", Duration::from_micros(1)),
            ("1\u{b5}s", Duration::from_micros(1)),
            ("1\u{3bc}s", Duration::from_micros(1)),
            ("7ns", Duration::from_nanos(7)),
            ("1h2m3.5s", Duration::from_millis(3_723_500)),
            ("1.5h", Duration::from_secs(5_400)),
            (".5s", Duration::from_millis(500)),
            ("5.s", Duration::from_secs(5)),
            ("+3m", Duration::from_secs(180)),
            ("1m1m", Duration::from_secs(120)),
            ("0.000000001s", Duration::from_nanos(1)),
            ("0.0000000019s", Duration::from_nanos(1)),
            ("2562047h", Duration::from_secs(2_562_047 * 3_600)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_go_duration(input).as_ref(),
                Ok(expected),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn invalid_durations_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("", "empty"),
            ("+", "empty"),
            ("1", "missing unit"),
            ("10", "missing unit"),
            ("1.5", "missing unit"),
            ("s", "expected a number"),
            (".s", "expected a number"),
            ("1x", "unknown unit 'x'"),
            ("1sec", "unknown unit 'sec'"),
            ("1 s", "unknown unit ' s'"),
            (" 1s", "expected a number"),
            ("-1s", "negative"),
            ("2562048h", "too large"),
            ("99999999999999999999999999999999999999999h", "too large"),
        ];
        for (input, fragment) in cases {
            let err = parse_go_duration(input).expect_err(input);
            assert!(
                err.to_string().contains(fragment),
                "input {input:?}: message {err} lacks {fragment:?}"
            );
            assert!(err.to_string().contains(&format!("'{input}'")), "{err}");
        }
    }

    #[test]
    fn formatting_matches_go() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(5), "5ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_millis(200), "200ms"),
            (Duration::from_secs(2), "2s"),
            (Duration::from_millis(3_723_500), "1h2m3.5s"),
            (Duration::from_secs(600), "10m0s"),
            (Duration::from_secs(3_600), "1h0m0s"),
        ];
        for (duration, expected) in cases {
            assert_eq!(format_go_duration(*duration), *expected);
            assert_eq!(parse_go_duration(expected).as_ref(), Ok(duration));
        }
    }
}
