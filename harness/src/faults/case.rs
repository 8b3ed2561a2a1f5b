//! The fault case file format (docs/faults.md): a TOML file naming a
//! fixture model, a fault script, and steps with their expectations.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::FaultCaseError;
use crate::duration::parse_go_duration;

/// Largest case file read, in bytes.
const MAX_CASE_BYTES: u64 = 1 << 20;

/// Largest number of steps in one case; each step may wait for a timeout.
const MAX_STEPS: usize = 32;

/// Largest number of rows in one step.
const MAX_ROWS: usize = 100_000;

/// A parsed fault case.
#[derive(Debug, Clone)]
pub struct FaultCase {
    /// File stem, used as the case name.
    pub name: String,
    /// What the case shows.
    pub description: String,
    /// Fixture model directory, relative to `fixtures/`.
    pub model: String,
    /// SQL model name used in error messages.
    pub model_name: String,
    /// Model version used in error messages.
    pub model_version: u64,
    /// The pool's request timeout.
    pub request_timeout: Duration,
    /// The pool's start timeout.
    pub start_timeout: Duration,
    /// The fault script as JSON, the format of `fake-sidecar --faults`.
    pub faults: serde_json::Value,
    /// The calls, in order.
    pub steps: Vec<Step>,
}

/// What a step's call must return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Success with the values the model spec computes.
    Ok,
    /// An error whose message matches `error_regex`.
    Error,
}

/// One predict call through the MLflow backend and its expectations.
#[derive(Debug, Clone)]
pub struct Step {
    /// Input rows, one value per model input in spec order.
    pub rows: Vec<Vec<f32>>,
    /// Success or error.
    pub expect: Expect,
    /// Regular expression the whole error message must match.
    pub error_regex: Option<regex::Regex>,
    /// Whether the call must kill and drop its worker.
    pub worker_replaced: Option<bool>,
    /// Workers the call must start.
    pub launches: Option<u64>,
    /// Upper bound on the call's duration.
    pub max_wait: Option<Duration>,
    /// Lower bound on the call's duration, for delays.
    pub min_wait: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    description: String,
    model: String,
    model_name: Option<String>,
    model_version: Option<u64>,
    request_timeout: Option<String>,
    start_timeout: Option<String>,
    faults: Option<toml::Value>,
    faults_file: Option<PathBuf>,
    #[serde(rename = "step")]
    steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    rows: Vec<Vec<f32>>,
    expect: Expect,
    error_regex: Option<String>,
    worker_replaced: Option<bool>,
    launches: Option<u64>,
    max_wait: Option<String>,
    min_wait: Option<String>,
}

impl FaultCase {
    /// Reads and validates the case at `path`.
    pub fn load(path: &Path) -> Result<FaultCase, FaultCaseError> {
        let invalid = |message: String| FaultCaseError::Invalid {
            path: path.to_owned(),
            message,
        };
        let size = std::fs::metadata(path)
            .map_err(|err| invalid(format!("cannot read it: {err}")))?
            .len();
        if size > MAX_CASE_BYTES {
            return Err(invalid(format!("it is {size} bytes, over the limit of {MAX_CASE_BYTES}")));
        }
        let text = std::fs::read_to_string(path).map_err(|err| invalid(format!("cannot read it: {err}")))?;
        let raw: RawCase = toml::from_str(&text).map_err(|err| invalid(err.to_string()))?;

        let name = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let model_name = raw.model_name.clone().unwrap_or_else(|| {
            raw.model.rsplit('/').next().unwrap_or(&raw.model).to_owned()
        });
        let duration = |field: &str, text: &Option<String>, default: Duration| match text {
            None => Ok(default),
            Some(text) => parse_go_duration(text)
                .map_err(|err| invalid(format!("field {field} = {text:?}: {err}"))),
        };
        let request_timeout = duration("request_timeout", &raw.request_timeout, Duration::from_secs(2))?;
        let start_timeout = duration("start_timeout", &raw.start_timeout, Duration::from_secs(5))?;

        // The fault script: inline, from a JSON file beside the case, or none.
        let faults = match (&raw.faults, &raw.faults_file) {
            (Some(_), Some(_)) => {
                return Err(invalid("set either faults or faults_file, not both".into()))
            }
            (Some(table), None) => serde_json::to_value(table)
                .map_err(|err| invalid(format!("field faults cannot be converted to JSON: {err}")))?,
            (None, Some(file)) => {
                let full = path.parent().unwrap_or(Path::new(".")).join(file);
                let text = std::fs::read_to_string(&full)
                    .map_err(|err| invalid(format!("faults_file {}: {err}", full.display())))?;
                serde_json::from_str(&text)
                    .map_err(|err| invalid(format!("faults_file {}: not valid JSON: {err}", full.display())))?
            }
            (None, None) => serde_json::json!({}),
        };

        if raw.steps.is_empty() || raw.steps.len() > MAX_STEPS {
            return Err(invalid(format!(
                "it has {} [[step]] tables; a case needs 1 to {MAX_STEPS}",
                raw.steps.len()
            )));
        }
        let mut steps = Vec::with_capacity(raw.steps.len());
        for (index, step) in raw.steps.into_iter().enumerate() {
            let number = index + 1;
            let at = |message: String| invalid(format!("step {number}: {message}"));
            if step.rows.is_empty() || step.rows.len() > MAX_ROWS {
                return Err(at(format!("rows has {} rows; a step needs 1 to {MAX_ROWS}", step.rows.len())));
            }
            let error_regex = match (&step.expect, &step.error_regex) {
                (Expect::Error, None) => return Err(at("expect = \"error\" needs error_regex".into())),
                (Expect::Ok, Some(_)) => return Err(at("error_regex is only for expect = \"error\"".into())),
                (_, Some(pattern)) => Some(
                    regex::Regex::new(pattern).map_err(|err| at(format!("error_regex is invalid: {err}")))?,
                ),
                (_, None) => None,
            };
            let wait = |field: &str, text: &Option<String>| match text {
                None => Ok(None),
                Some(text) => parse_go_duration(text)
                    .map(Some)
                    .map_err(|err| at(format!("{field} = {text:?}: {err}"))),
            };
            steps.push(Step {
                rows: step.rows,
                expect: step.expect,
                error_regex,
                worker_replaced: step.worker_replaced,
                launches: step.launches,
                max_wait: wait("max_wait", &step.max_wait)?,
                min_wait: wait("min_wait", &step.min_wait)?,
            });
        }

        Ok(FaultCase {
            name,
            description: raw.description,
            model: raw.model,
            model_name,
            model_version: raw.model_version.unwrap_or(1),
            request_timeout,
            start_timeout,
            faults,
            steps,
        })
    }
}
