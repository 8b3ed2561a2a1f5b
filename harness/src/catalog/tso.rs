//! Commit timestamps in TiDB's TSO layout.
//!
//! The catalog orders events by the raw `u64` the engine hands in and never
//! looks inside it, except to render `create_time`, `update_time` and
//! `deleted_at`. For that it reads the value as a TSO: physical Unix
//! milliseconds shifted left by 18 bits, plus an 18-bit logical counter.
//! This is the format `@@tidb_snapshot` accepts as an integer.

use chrono::{DateTime, FixedOffset, Utc};

/// Bits of the logical counter below the physical milliseconds.
pub const LOGICAL_BITS: u32 = 18;

/// Builds a TSO from Unix milliseconds and a logical counter.
///
/// The counter is masked to its 18 bits; physical times past year 10889
/// (2^46 ms) wrap.
pub fn compose_tso(physical_millis: u64, logical: u64) -> u64 {
    (physical_millis << LOGICAL_BITS) | (logical & ((1 << LOGICAL_BITS) - 1))
}

/// The physical part of a TSO in Unix milliseconds.
pub fn tso_physical_millis(ts: u64) -> u64 {
    ts >> LOGICAL_BITS
}

/// The wall-clock time of a TSO, in UTC.
pub fn tso_to_utc(ts: u64) -> DateTime<Utc> {
    let millis = i64::try_from(tso_physical_millis(ts)).unwrap_or(i64::MAX);
    DateTime::<Utc>::from_timestamp_millis(millis).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Renders a TSO as a MySQL `TIMESTAMP` value (`YYYY-MM-DD HH:MM:SS`) in
/// the given session time-zone offset.
pub fn format_tso(ts: u64, offset: FixedOffset) -> String {
    tso_to_utc(ts)
        .with_timezone(&offset)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The next commit timestamp: the TSO of `now_millis`, or `last + 1` when
/// the wall clock has not moved past `last`, so commits stay strictly
/// increasing.
pub fn next_commit_ts(last: u64, now_millis: u64) -> u64 {
    compose_tso(now_millis, 0).max(last.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tso_round_trips_millis() {
        let ts = compose_tso(1_700_000_000_123, 5);
        assert_eq!(tso_physical_millis(ts), 1_700_000_000_123);
        assert_eq!(ts & 0x3ffff, 5);
    }

    #[test]
    fn tso_formats_in_offset() {
        let ts = compose_tso(0, 0);
        let utc = FixedOffset::east_opt(0).expect("zero offset");
        let shanghai = FixedOffset::east_opt(8 * 3600).expect("+08:00");
        assert_eq!(format_tso(ts, utc), "1970-01-01 00:00:00");
        assert_eq!(format_tso(ts, shanghai), "1970-01-01 08:00:00");
    }

    #[test]
    fn next_commit_ts_increases() {
        let first = next_commit_ts(0, 1_000);
        assert_eq!(first, compose_tso(1_000, 0));
        assert_eq!(next_commit_ts(first, 1_000), first + 1);
        assert_eq!(next_commit_ts(first, 999), first + 1);
        assert_eq!(next_commit_ts(first, 2_000), compose_tso(2_000, 0));
    }
}
