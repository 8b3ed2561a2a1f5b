//! The figures of one `harness bench` run, the ratios checked against the
//! targets, the printed table and the JSON form.

use std::collections::BTreeMap;

use serde::Serialize;

use super::stats::Summary;
use crate::cli::bench::SuiteRun;

/// The machine the run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// /proc/loadavg at the start of the run.
    pub load_average_start: String,
    /// /proc/loadavg at the end of the run.
    pub load_average_end: String,
}

impl Machine {
    /// Reads the core count, CPU model and load average.
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key.trim() == "model name").then(|| value.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".to_string());
        Machine {
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            load_average_start: load_average(),
            load_average_end: String::new(),
        }
    }

    /// Records the load average at the end of the run.
    pub fn finish(mut self) -> Machine {
        self.load_average_end = load_average();
        self
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}

/// One path at one batch size.
#[derive(Debug, Clone, Serialize)]
pub struct PathFigures {
    /// Per-call latency.
    pub latency: Summary,
    /// Rows per second at the median latency.
    pub rows_per_s: f64,
    /// Bytes moved through the socket per call, both directions.
    pub bytes_per_call: Option<u64>,
    /// Bytes per second at the median latency.
    pub bytes_per_s: Option<f64>,
}

impl PathFigures {
    /// Derives the rates from a latency summary.
    pub fn new(latency: Summary, rows: usize, bytes_per_call: Option<u64>) -> PathFigures {
        PathFigures {
            latency,
            rows_per_s: rows as f64 / latency.median_s,
            bytes_per_call,
            bytes_per_s: bytes_per_call.map(|bytes| bytes as f64 / latency.median_s),
        }
    }
}

/// One ratio and its target.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    /// Stable key.
    pub name: String,
    /// The measured value; `None` when a figure behind it is missing.
    pub value: Option<f64>,
    /// The target, as text.
    pub target: String,
    /// Whether the value meets the target.
    pub met: Option<bool>,
}

/// Every figure of a run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub machine: Machine,
    pub quick: bool,
    pub sizes: Vec<usize>,
    pub rounds: usize,
    /// Path name, then batch size in rows.
    pub paths: BTreeMap<String, BTreeMap<usize, PathFigures>>,
    pub import_mlflow_pyfunc: Option<Summary>,
    pub cold_start_python: Option<Summary>,
    pub cold_start_fake: Option<Summary>,
    pub replacement_python: Option<Summary>,
    pub replacement_fake: Option<Summary>,
    /// Request timeout of the replacement measurement, in seconds.
    pub request_timeout_s: f64,
    pub suite_fake: SuiteRun,
    pub suite_python: SuiteRun,
    pub ratios: Vec<Ratio>,
    /// In-process start-up figures and pool counters.
    pub extra: serde_json::Value,
}

impl BenchReport {
    fn figure(&self, path: &str, rows: usize) -> Option<&PathFigures> {
        self.paths.get(path)?.get(&rows)
    }
}

fn at_least(name: &str, value: Option<f64>, target: f64) -> Ratio {
    Ratio {
        name: name.to_string(),
        value,
        target: format!(">= {target}"),
        met: value.map(|value| value >= target),
    }
}

fn at_most(name: &str, value: Option<f64>, target: f64) -> Ratio {
    Ratio {
        name: name.to_string(),
        value,
        target: format!("<= {target}"),
        met: value.map(|value| value <= target),
    }
}

/// Computes the ratios the targets are stated in.
pub fn ratios(report: &BenchReport) -> Vec<Ratio> {
    let rows_ratio = |a: &str, b: &str, rows: usize| -> Option<f64> {
        Some(report.figure(a, rows)?.rows_per_s / report.figure(b, rows)?.rows_per_s)
    };
    let latency_ratio = |a: &str, b: &str, rows: usize| -> Option<f64> {
        Some(report.figure(a, rows)?.latency.median_s / report.figure(b, rows)?.latency.median_s)
    };
    let bytes_ratio = |a: &str, b: &str, rows: usize| -> Option<f64> {
        Some(report.figure(a, rows)?.bytes_per_s? / report.figure(b, rows)?.bytes_per_s?)
    };
    let largest = report.sizes.iter().copied().max().unwrap_or(1);
    let large = if report.sizes.contains(&8192) {
        8192
    } else {
        largest
    };
    let cold_over_import = match (report.cold_start_python, report.import_mlflow_pyfunc) {
        (Some(cold), Some(import)) => Some((cold.median_s - import.median_s) * 1000.0),
        _ => None,
    };
    let mut ratios = vec![
        at_least(
            &format!("python_vs_inprocess_rows_per_s_at_{large}"),
            rows_ratio("python", "inprocess", large),
            1.0,
        ),
        at_least(
            &format!("python_vs_inprocess_rows_per_s_at_{largest}"),
            rows_ratio("python", "inprocess", largest),
            1.0,
        ),
        at_least(
            &format!("python_vs_rest_rows_per_s_at_{large}"),
            rows_ratio("python", "rest", large),
            50.0,
        ),
        at_most(
            "python_vs_rest_latency_at_1",
            latency_ratio("python", "rest", 1),
            0.3,
        ),
        at_most(
            "fake_vs_echo_latency_at_1",
            latency_ratio("fake", "echo", 1),
            1.3,
        ),
        at_least(
            &format!("fake_vs_echo_bytes_per_s_at_{largest}"),
            bytes_ratio("fake", "echo", largest),
            0.5,
        ),
        at_most("cold_start_minus_import_ms", cold_over_import, 150.0),
        at_most(
            "replacement_after_timeout_ms",
            report.replacement_python.map(|s| s.median_s * 1000.0),
            100.0,
        ),
        at_most("suite_fake_s", passed_suite_seconds(&report.suite_fake), 10.0),
        at_most("suite_python_s", passed_suite_seconds(&report.suite_python), 60.0),
    ];
    // Without 8192 among the sizes both throughput ratios are taken at the
    // largest size, so one line reports it.
    if large == largest {
        ratios.remove(1);
    }
    ratios
}

/// Wall time of a suite run that passed; a failed or empty suite has no
/// figure to hold against the target.
fn passed_suite_seconds(suite: &SuiteRun) -> Option<f64> {
    if suite.exit_code == Some(0) {
        suite.seconds
    } else {
        None
    }
}

/// Prints the machine, the table and the ratios.
pub fn print_report(report: &BenchReport) {
    let machine = &report.machine;
    println!(
        "machine: {} cores, {}; load average {} at start, {} at end",
        machine.cores, machine.cpu_model, machine.load_average_start, machine.load_average_end
    );
    println!(
        "{} run: {} rounds; median per call, spread p10..p90",
        if report.quick { "quick" } else { "full" },
        report.rounds
    );
    println!();
    println!("| path | rows | median ms | p10..p90 ms | calls | rows/s | MB/s |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for path in ["inprocess", "python", "fake", "rest", "echo"] {
        let Some(by_size) = report.paths.get(path) else {
            continue;
        };
        for (rows, figures) in by_size {
            let latency = &figures.latency;
            let megabytes = figures
                .bytes_per_s
                .map_or("-".to_string(), |rate| format!("{:.0}", rate / 1e6));
            println!(
                "| {path} | {rows} | {:.3} | {:.3}..{:.3} | {} | {:.0} | {megabytes} |",
                latency.median_s * 1e3,
                latency.p10_s * 1e3,
                latency.p90_s * 1e3,
                latency.samples,
                figures.rows_per_s
            );
        }
    }
    println!();
    let seconds = |summary: Option<Summary>| {
        summary.map_or("-".to_string(), |s| {
            format!(
                "{:.3} s (p10..p90 {:.3}..{:.3}, n={})",
                s.median_s, s.p10_s, s.p90_s, s.samples
            )
        })
    };
    println!(
        "import mlflow.pyfunc (new interpreter): {}",
        seconds(report.import_mlflow_pyfunc)
    );
    println!(
        "cold start to first prediction, python: {}",
        seconds(report.cold_start_python)
    );
    println!(
        "cold start to first prediction, fake: {}",
        seconds(report.cold_start_fake)
    );
    println!(
        "replacement after a timeout, python: {}",
        seconds(report.replacement_python)
    );
    println!(
        "replacement after a timeout, fake: {}",
        seconds(report.replacement_fake)
    );
    for (name, suite) in [
        ("fake", &report.suite_fake),
        ("python", &report.suite_python),
    ] {
        let wall = suite
            .seconds
            .map_or("-".to_string(), |s| format!("{s:.2} s"));
        let exit = match (suite.exit_code, suite.seconds) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(_)) => "killed by a signal".to_string(),
            (None, None) => "not run".to_string(),
        };
        println!("suite, {name} sidecar: {wall}, {exit}: {}", suite.summary);
    }
    println!();
    println!("| ratio | value | target | met |");
    println!("| --- | ---: | --- | --- |");
    for ratio in &report.ratios {
        let value = ratio.value.map_or("-".to_string(), |v| format!("{v:.3}"));
        let met = match ratio.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        println!("| {} | {value} | {} | {met} |", ratio.name, ratio.target);
    }
}
