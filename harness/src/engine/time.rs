//! Date and time values, session time zones and interval arithmetic.

use chrono::{Datelike, Months, NaiveDate, NaiveDateTime, Timelike};

/// A `DATETIME`/`TIMESTAMP` value: wall-clock time in the session time
/// zone as microseconds since 1970-01-01 00:00:00, and the number of
/// fractional digits to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    /// Microseconds since 1970-01-01 00:00:00 (wall clock, no zone).
    pub micros: i64,
    /// Fractional-second precision, 0 to 6.
    pub fsp: u8,
}

impl DateTime {
    /// Parses `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or with a fraction of
    /// up to 6 digits (also `T` as separator). The fsp is the number of
    /// fraction digits given.
    pub fn parse(text: &str) -> Option<DateTime> {
        let text = text.trim();
        let (date_part, time_part) = match text.find([' ', 'T']) {
            Some(position) => (&text[..position], Some(text[position + 1..].trim())),
            None => (text, None),
        };
        let mut date_fields = date_part.split('-');
        let year: i32 = date_fields.next()?.parse().ok()?;
        let month: u32 = date_fields.next()?.parse().ok()?;
        let day: u32 = date_fields.next()?.parse().ok()?;
        if date_fields.next().is_some() {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(year, month, day)?;
        let (mut hour, mut minute, mut second, mut micro, mut fsp) = (0, 0, 0, 0u32, 0u8);
        if let Some(time) = time_part {
            let (clock, fraction) = match time.find('.') {
                Some(position) => (&time[..position], &time[position + 1..]),
                None => (time, ""),
            };
            let mut clock_fields = clock.split(':');
            hour = clock_fields.next()?.parse().ok()?;
            minute = clock_fields.next().unwrap_or("0").parse().ok()?;
            second = clock_fields.next().unwrap_or("0").parse().ok()?;
            if clock_fields.next().is_some() || fraction.len() > 6 {
                return None;
            }
            if !fraction.is_empty() {
                if !fraction.chars().all(|c| c.is_ascii_digit()) {
                    return None;
                }
                fsp = fraction.len() as u8;
                micro = format!("{fraction:0<6}").parse().ok()?;
            }
        }
        let naive = date.and_hms_micro_opt(hour, minute, second, micro)?;
        Some(DateTime {
            micros: naive.and_utc().timestamp_micros(),
            fsp,
        })
    }

    /// Converts to chrono's naive type.
    pub fn naive(self) -> Option<NaiveDateTime> {
        chrono::DateTime::from_timestamp_micros(self.micros).map(|d| d.naive_utc())
    }

    /// Renders `YYYY-MM-DD HH:MM:SS[.ffffff]` with `fsp` fraction digits.
    pub fn render(self) -> String {
        let Some(naive) = self.naive() else {
            return "0000-00-00 00:00:00".into();
        };
        let base = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            naive.year(),
            naive.month(),
            naive.day(),
            naive.hour(),
            naive.minute(),
            naive.second()
        );
        if self.fsp == 0 {
            return base;
        }
        let fraction = format!("{:06}", self.micros.rem_euclid(1_000_000));
        format!("{base}.{}", &fraction[..self.fsp as usize])
    }

    /// Rounds to `fsp` fraction digits (half up, as MySQL stores values).
    pub fn round_to(self, fsp: u8) -> DateTime {
        let unit = 10i64.pow(6 - fsp.min(6) as u32);
        let rounded = (self.micros + unit / 2).div_euclid(unit) * unit;
        DateTime {
            micros: rounded,
            fsp,
        }
    }

    /// The numeric form `YYYYMMDDHHMMSS[.ffffff]` used in numeric context.
    pub fn to_number_string(self) -> String {
        let rendered = self.render();
        rendered.replace(['-', ' ', ':'], "")
    }

    /// The numeric form as a double.
    pub fn to_number_f64(self) -> f64 {
        self.to_number_string().parse().unwrap_or(0.0)
    }

    /// Adds an interval; `None` if the result is out of range.
    pub fn add_interval(self, amount: i64, unit: IntervalUnit) -> Option<DateTime> {
        let fsp = if unit == IntervalUnit::Microsecond {
            6
        } else {
            self.fsp
        };
        let micros = match unit {
            IntervalUnit::Microsecond => Some(amount),
            IntervalUnit::Second => amount.checked_mul(1_000_000),
            IntervalUnit::Minute => amount.checked_mul(60_000_000),
            IntervalUnit::Hour => amount.checked_mul(3_600_000_000),
            IntervalUnit::Day => amount.checked_mul(86_400_000_000),
            IntervalUnit::Week => amount.checked_mul(7 * 86_400_000_000),
            IntervalUnit::Month | IntervalUnit::Year => None,
        };
        if let Some(delta) = micros {
            return Some(DateTime {
                micros: self.micros.checked_add(delta)?,
                fsp,
            });
        }
        let months = if unit == IntervalUnit::Year {
            amount.checked_mul(12)?
        } else {
            amount
        };
        let naive = self.naive()?;
        let shifted = if months >= 0 {
            naive.checked_add_months(Months::new(u32::try_from(months).ok()?))?
        } else {
            naive.checked_sub_months(Months::new(u32::try_from(-months).ok()?))?
        };
        Some(DateTime {
            micros: shifted.and_utc().timestamp_micros(),
            fsp,
        })
    }
}

/// A unit of `INTERVAL n <unit>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalUnit {
    /// MICROSECOND.
    Microsecond,
    /// SECOND.
    Second,
    /// MINUTE.
    Minute,
    /// HOUR.
    Hour,
    /// DAY.
    Day,
    /// WEEK.
    Week,
    /// MONTH.
    Month,
    /// YEAR.
    Year,
}

impl IntervalUnit {
    /// Parses a unit keyword, case-insensitively.
    pub fn parse(word: &str) -> Option<IntervalUnit> {
        Some(match word.to_ascii_uppercase().as_str() {
            "MICROSECOND" => IntervalUnit::Microsecond,
            "SECOND" => IntervalUnit::Second,
            "MINUTE" => IntervalUnit::Minute,
            "HOUR" => IntervalUnit::Hour,
            "DAY" => IntervalUnit::Day,
            "WEEK" => IntervalUnit::Week,
            "MONTH" => IntervalUnit::Month,
            "YEAR" => IntervalUnit::Year,
            _ => return None,
        })
    }
}

/// A session time zone as a fixed offset from UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    /// The name as the user set it (`+08:00`, `Asia/Shanghai`, `SYSTEM`).
    pub name: String,
    /// Seconds east of UTC.
    pub offset_seconds: i64,
}

impl TimeZone {
    /// UTC, which `SYSTEM` means here.
    pub fn system() -> TimeZone {
        TimeZone {
            name: "SYSTEM".into(),
            offset_seconds: 0,
        }
    }

    /// Parses `SYSTEM`, `UTC`, `+HH:MM`/`-HH:MM`, or one of the named
    /// zones with a fixed offset known here.
    pub fn parse(name: &str) -> Option<TimeZone> {
        let offset_seconds = match name.to_ascii_uppercase().as_str() {
            "SYSTEM" | "UTC" | "GMT" | "ETC/UTC" => 0,
            // These zones have had no daylight saving time since 1991.
            "ASIA/SHANGHAI" | "ASIA/HONG_KONG" | "ASIA/SINGAPORE" | "PRC" => 8 * 3600,
            "ASIA/TOKYO" => 9 * 3600,
            _ => parse_offset(name)?,
        };
        Some(TimeZone {
            name: name.to_string(),
            offset_seconds,
        })
    }

    /// Converts UTC microseconds since the epoch to wall-clock time here.
    pub fn from_utc_micros(&self, utc_micros: i64, fsp: u8) -> DateTime {
        DateTime {
            micros: utc_micros + self.offset_seconds * 1_000_000,
            fsp,
        }
    }

    /// Converts wall-clock time here to UTC microseconds since the epoch.
    pub fn to_utc_micros(&self, local: DateTime) -> i64 {
        local.micros - self.offset_seconds * 1_000_000
    }
}

fn parse_offset(text: &str) -> Option<i64> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':')?;
    let hours: i64 = hours.parse().ok()?;
    let minutes: i64 = minutes.parse().ok()?;
    if hours > 14 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_render_round_trip() {
        for (input, expected) in [
            ("2016-10-08 16:45:26.999", "2016-10-08 16:45:26.999"),
            ("2016-10-08", "2016-10-08 00:00:00"),
            ("2024-02-29 23:59:59", "2024-02-29 23:59:59"),
            ("2024-01-01 00:00:00.000001", "2024-01-01 00:00:00.000001"),
        ] {
            let parsed = DateTime::parse(input).expect(input);
            assert_eq!(parsed.render(), expected);
        }
        assert!(DateTime::parse("2023-02-29").is_none());
        assert!(DateTime::parse("not a date").is_none());
    }

    #[test]
    fn intervals_and_zones() {
        let base = DateTime::parse("2024-01-31 10:00:00").unwrap();
        assert_eq!(
            base.add_interval(1, IntervalUnit::Month).unwrap().render(),
            "2024-02-29 10:00:00"
        );
        assert_eq!(
            base.add_interval(-1, IntervalUnit::Microsecond)
                .unwrap()
                .render(),
            "2024-01-31 09:59:59.999999"
        );
        let zone = TimeZone::parse("+08:00").unwrap();
        assert_eq!(zone.offset_seconds, 28800);
        assert_eq!(
            TimeZone::parse("Asia/Shanghai").unwrap().offset_seconds,
            28800
        );
        assert!(TimeZone::parse("Mars/Base").is_none());
        let local = zone.from_utc_micros(0, 0);
        assert_eq!(local.render(), "1970-01-01 08:00:00");
        assert_eq!(zone.to_utc_micros(local), 0);
    }
}
