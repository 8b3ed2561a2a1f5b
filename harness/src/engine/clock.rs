//! The commit clock: strictly increasing timestamps in microseconds since
//! the Unix epoch (UTC).
//!
//! Each tick is `max(wall clock, last + 1)`, so every commit, statement
//! start and `NOW()` gets a distinct timestamp. A snapshot taken with
//! `SET @t = NOW(6)` therefore separates the commits before it from the
//! commits after it without any sleep.

use std::time::{SystemTime, UNIX_EPOCH};

/// A strictly increasing microsecond clock.
#[derive(Debug, Default)]
pub struct Clock {
    last: u64,
}

fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

impl Clock {
    /// A clock that has issued no timestamp yet.
    pub fn new() -> Clock {
        Clock { last: 0 }
    }

    /// Issues the next timestamp, greater than every earlier one.
    pub fn tick(&mut self) -> u64 {
        self.last = wall_micros().max(self.last + 1);
        self.last
    }

    /// The current time without issuing a timestamp: never less than the
    /// last issued one.
    pub fn now(&self) -> u64 {
        wall_micros().max(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_strictly_increase() {
        let mut clock = Clock::new();
        let mut previous = clock.tick();
        for _ in 0..10_000 {
            let next = clock.tick();
            assert!(next > previous, "{next} after {previous}");
            previous = next;
        }
        assert!(clock.now() >= previous);
    }
}
