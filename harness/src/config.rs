//! The kit's TOML configuration file.
//!
//! The `[model-mlflow]` block mirrors the one TiDB's `tidb.toml` gains for
//! the MLflow sidecar. The seed design spells its keys with underscores;
//! TiDB's operator manual spells them with dashes. Both spellings are
//! accepted with one meaning, and giving both for one key is an error.
//!
//! ```toml
//! [model-mlflow]
//! python = "/usr/bin/python3"   # default "python3"
//! sidecar_workers = 2           # or sidecar-workers; default 2
//! request_timeout = "2s"        # or request-timeout; Go duration, default 2s
//! model_cache_entries = 64      # or cache-entries; default 64
//!
//! [s3]                          # for s3:// model locations; each key
//! endpoint = "http://127.0.0.1:9000"  # falls back to its AWS_* variable
//! region = "us-east-1"
//! access_key_id = "..."
//! secret_access_key = "..."
//! allow_http = true
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::artifact::S3Config;
use crate::duration::parse_go_duration;

/// Default number of sidecar processes in the pool.
pub const DEFAULT_SIDECAR_WORKERS: usize = 2;
/// Default per-request timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// Default number of models each sidecar keeps loaded.
pub const DEFAULT_MODEL_CACHE_ENTRIES: usize = 64;
/// Largest accepted `sidecar_workers`.
pub const MAX_SIDECAR_WORKERS: usize = 64;
/// Largest accepted `model_cache_entries`, as the launch contract allows.
pub const MAX_MODEL_CACHE_ENTRIES: usize = 65_536;

/// A configuration file or value that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config file {path}: {cause}")]
    Read {
        path: String,
        cause: std::io::Error,
    },
    /// The file is not valid TOML or has keys of the wrong type.
    #[error("invalid config file {path}: {message}")]
    Parse { path: String, message: String },
    /// A value is out of range or malformed.
    #[error("invalid value for {key}: {message}")]
    Value { key: String, message: String },
}

/// Settings of the MLflow sidecar pool (`[model-mlflow]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlflowConfig {
    /// Python interpreter that runs the sidecar.
    pub python: String,
    /// Number of sidecar processes.
    pub sidecar_workers: usize,
    /// Time one request may take before the worker is replaced.
    pub request_timeout: Duration,
    /// Models each sidecar keeps loaded (its LRU capacity).
    pub model_cache_entries: usize,
}

impl Default for MlflowConfig {
    fn default() -> Self {
        MlflowConfig {
            python: "python3".to_string(),
            sidecar_workers: DEFAULT_SIDECAR_WORKERS,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            model_cache_entries: DEFAULT_MODEL_CACHE_ENTRIES,
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    /// `[model-mlflow]`.
    pub model_mlflow: MlflowConfig,
    /// `[s3]`: endpoint, region and credentials for `s3://` locations.
    pub s3: S3Config,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(rename = "model-mlflow", default)]
    model_mlflow: Option<RawMlflow>,
    #[serde(default)]
    s3: Option<S3Config>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMlflow {
    python: Option<String>,
    sidecar_workers: Option<i64>,
    #[serde(rename = "sidecar-workers")]
    sidecar_workers_dashed: Option<i64>,
    request_timeout: Option<String>,
    #[serde(rename = "request-timeout")]
    request_timeout_dashed: Option<String>,
    model_cache_entries: Option<i64>,
    #[serde(rename = "cache-entries")]
    cache_entries_dashed: Option<i64>,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: path.display().to_string(),
            cause,
        })?;
        Config::parse(&text).map_err(|err| match err {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.display().to_string(),
                message,
            },
            other => other,
        })
    }

    /// Parses and validates configuration text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: "<text>".to_string(),
            message: err.message().to_string(),
        })?;
        let mut config = Config {
            s3: raw.s3.unwrap_or_default(),
            ..Config::default()
        };
        let Some(block) = raw.model_mlflow else {
            return Ok(config);
        };
        let mlflow = &mut config.model_mlflow;

        if let Some(python) = block.python {
            if python.trim().is_empty() {
                return Err(value_error("model-mlflow.python", "must not be empty"));
            }
            mlflow.python = python;
        }

        let workers = one_of(
            "sidecar_workers",
            block.sidecar_workers,
            "sidecar-workers",
            block.sidecar_workers_dashed,
        )?;
        if let Some(workers) = workers {
            mlflow.sidecar_workers = in_range("model-mlflow.sidecar_workers", workers, 1, MAX_SIDECAR_WORKERS)?;
        }

        let timeout = one_of(
            "request_timeout",
            block.request_timeout,
            "request-timeout",
            block.request_timeout_dashed,
        )?;
        if let Some(timeout) = timeout {
            let parsed = parse_go_duration(&timeout)
                .map_err(|err| value_error("model-mlflow.request_timeout", &err.to_string()))?;
            if parsed.is_zero() {
                return Err(value_error("model-mlflow.request_timeout", "must be greater than 0"));
            }
            mlflow.request_timeout = parsed;
        }

        let entries = one_of(
            "model_cache_entries",
            block.model_cache_entries,
            "cache-entries",
            block.cache_entries_dashed,
        )?;
        if let Some(entries) = entries {
            mlflow.model_cache_entries =
                in_range("model-mlflow.model_cache_entries", entries, 1, MAX_MODEL_CACHE_ENTRIES)?;
        }

        Ok(config)
    }
}

fn value_error(key: &str, message: &str) -> ConfigError {
    ConfigError::Value {
        key: key.to_string(),
        message: message.to_string(),
    }
}

fn one_of<T>(
    name: &str,
    value: Option<T>,
    dashed: &str,
    dashed_value: Option<T>,
) -> Result<Option<T>, ConfigError> {
    match (value, dashed_value) {
        (Some(_), Some(_)) => Err(value_error(
            &format!("model-mlflow.{name}"),
            &format!("set as both `{name}` and `{dashed}`; keep one spelling"),
        )),
        (value, dashed_value) => Ok(value.or(dashed_value)),
    }
}

fn in_range(key: &str, value: i64, min: usize, max: usize) -> Result<usize, ConfigError> {
    match usize::try_from(value) {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(value_error(key, &format!("{value} is outside {min}..={max}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_block() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn underscore_spelling() {
        let config = Config::parse(
            "[model-mlflow]\npython = \"/usr/bin/python3\"\nsidecar_workers = 3\nrequest_timeout = \"250ms\"\nmodel_cache_entries = 8\n",
        )
        .unwrap();
        let mlflow = config.model_mlflow;
        assert_eq!(mlflow.python, "/usr/bin/python3");
        assert_eq!(mlflow.sidecar_workers, 3);
        assert_eq!(mlflow.request_timeout, Duration::from_millis(250));
        assert_eq!(mlflow.model_cache_entries, 8);
    }

    #[test]
    fn dashed_spelling_has_same_meaning() {
        let dashed = Config::parse(
            "[model-mlflow]\nsidecar-workers = 3\nrequest-timeout = \"250ms\"\ncache-entries = 8\n",
        )
        .unwrap();
        let underscored = Config::parse(
            "[model-mlflow]\nsidecar_workers = 3\nrequest_timeout = \"250ms\"\nmodel_cache_entries = 8\n",
        )
        .unwrap();
        assert_eq!(dashed, underscored);
    }

    #[test]
    fn s3_table_read() {
        let config = Config::parse(
            "[s3]\nendpoint = \"http://127.0.0.1:9000\"\nregion = \"eu-west-1\"\nallow_http = true\n",
        )
        .unwrap();
        assert_eq!(config.s3.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(config.s3.region.as_deref(), Some("eu-west-1"));
        assert_eq!(config.s3.allow_http, Some(true));
        assert!(Config::parse("[s3]\nbucket = \"x\"\n").is_err(), "unknown key rejected");
    }

    #[test]
    fn both_spellings_rejected() {
        let err = Config::parse("[model-mlflow]\nsidecar_workers = 3\nsidecar-workers = 4\n").unwrap_err();
        assert!(err.to_string().contains("both `sidecar_workers` and `sidecar-workers`"), "{err}");
    }

    #[test]
    fn invalid_values_rejected() {
        let cases = [
            ("sidecar_workers = 0", "sidecar_workers"),
            ("sidecar_workers = -2", "sidecar_workers"),
            ("request_timeout = \"2\"", "missing unit"),
            ("request_timeout = \"0s\"", "greater than 0"),
            ("model_cache_entries = 100000", "model_cache_entries"),
            ("python = \"\"", "python"),
            ("workers = 2", "unknown field"),
        ];
        for (line, needle) in cases {
            let err = Config::parse(&format!("[model-mlflow]\n{line}\n")).unwrap_err();
            assert!(err.to_string().contains(needle), "{line}: {err}");
        }
    }
}
