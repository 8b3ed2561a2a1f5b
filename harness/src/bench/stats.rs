//! Timing samples and their summary: median and the 10th to 90th
//! percentile spread, because single runs on a shared machine vary by up to
//! 2x and a median over many calls is the figure that repeats.

use std::time::{Duration, Instant};

use serde::Serialize;

/// How many calls one measurement makes, bounded in count and in time.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Calls made at most.
    pub max_samples: usize,
    /// Calls made at least, unless `hard_limit` passes first.
    pub min_samples: usize,
    /// Time after which no new call starts once `min_samples` are taken.
    pub soft_limit: Duration,
    /// Time after which no new call starts at all.
    pub hard_limit: Duration,
}

impl Budget {
    /// Whether another call may start after `taken` calls since `started`.
    pub fn allows(&self, taken: usize, started: Instant) -> bool {
        let elapsed = started.elapsed();
        if taken >= self.max_samples || elapsed >= self.hard_limit {
            return false;
        }
        taken < self.min_samples || elapsed < self.soft_limit
    }
}

/// Times `call` repeatedly within `budget` and returns one duration per
/// call, in seconds. The first error stops the measurement.
pub fn measure<E>(budget: Budget, mut call: impl FnMut() -> Result<(), E>) -> Result<Vec<f64>, E> {
    let started = Instant::now();
    let mut samples = Vec::new();
    while budget.allows(samples.len(), started) {
        let begin = Instant::now();
        call()?;
        samples.push(begin.elapsed().as_secs_f64());
    }
    Ok(samples)
}

/// Summary of a set of durations in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of samples.
    pub samples: usize,
    /// Median, in seconds.
    pub median_s: f64,
    /// 10th percentile, in seconds.
    pub p10_s: f64,
    /// 90th percentile, in seconds.
    pub p90_s: f64,
    /// Fastest sample, in seconds.
    pub min_s: f64,
    /// Slowest sample, in seconds.
    pub max_s: f64,
}

impl Summary {
    /// Summarizes `samples`; `None` when there are none or one is not finite.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() || samples.iter().any(|value| !value.is_finite()) {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            samples: sorted.len(),
            median_s: percentile(&sorted, 0.5),
            p10_s: percentile(&sorted, 0.1),
            p90_s: percentile(&sorted, 0.9),
            min_s: sorted[0],
            max_s: sorted[sorted.len() - 1],
        })
    }
}

/// Linear-interpolated percentile of sorted, non-empty values.
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    let position = fraction * (sorted.len() - 1) as f64;
    let lower = position.floor() as usize;
    let upper = position.ceil() as usize;
    let weight = position - lower as f64;
    sorted[lower] * (1.0 - weight) + sorted[upper] * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_median_and_spread() {
        let summary = Summary::of(&[5.0, 1.0, 3.0, 2.0, 4.0]).expect("summary");
        assert_eq!(summary.samples, 5);
        assert_eq!(summary.median_s, 3.0);
        assert_eq!(summary.min_s, 1.0);
        assert_eq!(summary.max_s, 5.0);
        assert!((summary.p10_s - 1.4).abs() < 1e-12, "{}", summary.p10_s);
        assert!((summary.p90_s - 4.6).abs() < 1e-12, "{}", summary.p90_s);
    }

    #[test]
    fn summary_even_count_interpolates() {
        let summary = Summary::of(&[1.0, 2.0, 3.0, 4.0]).expect("summary");
        assert_eq!(summary.median_s, 2.5);
    }

    #[test]
    fn summary_rejects_empty_and_nan() {
        assert!(Summary::of(&[]).is_none());
        assert!(Summary::of(&[1.0, f64::NAN]).is_none());
    }

    #[test]
    fn budget_stops_at_max_samples() {
        let budget = Budget {
            max_samples: 7,
            min_samples: 1,
            soft_limit: Duration::from_secs(60),
            hard_limit: Duration::from_secs(60),
        };
        let samples = measure::<()>(budget, || Ok(())).expect("no error");
        assert_eq!(samples.len(), 7);
    }

    #[test]
    fn budget_takes_min_samples_past_soft_limit() {
        let budget = Budget {
            max_samples: 100,
            min_samples: 3,
            soft_limit: Duration::ZERO,
            hard_limit: Duration::from_secs(60),
        };
        let samples = measure::<()>(budget, || Ok(())).expect("no error");
        assert_eq!(samples.len(), 3);
    }

    #[test]
    fn measure_stops_on_error() {
        let budget = Budget {
            max_samples: 100,
            min_samples: 100,
            soft_limit: Duration::from_secs(60),
            hard_limit: Duration::from_secs(60),
        };
        let mut calls = 0;
        let result = measure(budget, || {
            calls += 1;
            if calls == 4 {
                Err("boom")
            } else {
                Ok(())
            }
        });
        assert_eq!(result, Err("boom"));
        assert_eq!(calls, 4);
    }
}
