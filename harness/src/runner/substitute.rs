//! Placeholders that keep machine paths and digests out of case files.
//!
//! - `${FIXTURES_DIR}` expands to the absolute path of the fixtures
//!   directory.
//! - `${CHECKSUM:<path>}` expands to the digest of `<path>`, a relative
//!   path under the fixtures directory, computed by the configured
//!   [`ChecksumFn`](super::config::ChecksumFn).
//!
//! Only SQL that is sent to the target is expanded. The statement text
//! echoed into a `.result` file stays as written, so result files are the
//! same on every machine. Any other `${...}` text is left alone.

use std::path::{Component, Path, PathBuf};

use super::config::RunnerConfig;

/// Errors while expanding placeholders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubstituteError {
    /// Occurs when `${FIXTURES_DIR}` or `${CHECKSUM:...}` is used and no
    /// fixtures directory is configured.
    #[error("{placeholder} is used but no fixtures directory was found; pass --local-fixtures-dir DIR")]
    NoFixturesDir {
        /// The placeholder as written.
        placeholder: String,
    },
    /// Occurs when `${CHECKSUM:` has no closing `}`.
    #[error("unterminated placeholder starting at {0:?}; close it with }}")]
    Unterminated(String),
    /// Occurs when a `${CHECKSUM:...}` path is absolute or leaves the
    /// fixtures directory.
    #[error("invalid path {0:?} in ${{CHECKSUM:...}}; give a relative path inside the fixtures directory, without ..")]
    InvalidPath(String),
    /// Occurs when the checksum function fails.
    #[error("cannot compute ${{CHECKSUM:{path}}}: {message}")]
    Checksum {
        /// The relative path as written.
        path: String,
        /// The checksum function's message.
        message: String,
    },
}

const FIXTURES_DIR: &str = "${FIXTURES_DIR}";
const CHECKSUM_OPEN: &str = "${CHECKSUM:";

/// Expands the placeholders in `sql`.
pub fn expand(sql: &str, config: &RunnerConfig) -> Result<String, SubstituteError> {
    if !sql.contains("${") {
        return Ok(sql.to_string());
    }

    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;

    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];

        if let Some(after) = tail.strip_prefix(FIXTURES_DIR) {
            let dir = match &config.server_fixtures_dir {
                Some(dir) => dir.as_path(),
                None => fixtures_dir(config, FIXTURES_DIR)?,
            };
            out.push_str(&dir.to_string_lossy());
            rest = after;
        } else if let Some(after) = tail.strip_prefix(CHECKSUM_OPEN) {
            let end = after
                .find('}')
                .ok_or_else(|| SubstituteError::Unterminated(preview(tail)))?;
            let relative = &after[..end];
            out.push_str(&checksum(config, relative)?);
            rest = &after[end + 1..];
        } else {
            out.push_str("${");
            rest = &tail[2..];
        }
    }

    out.push_str(rest);
    Ok(out)
}

fn fixtures_dir<'a>(
    config: &'a RunnerConfig,
    placeholder: &str,
) -> Result<&'a Path, SubstituteError> {
    config
        .fixtures_dir
        .as_deref()
        .ok_or_else(|| SubstituteError::NoFixturesDir {
            placeholder: placeholder.to_string(),
        })
}

fn checksum(config: &RunnerConfig, relative: &str) -> Result<String, SubstituteError> {
    let relative_path = Path::new(relative);
    let inside = !relative.is_empty()
        && relative_path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !inside {
        return Err(SubstituteError::InvalidPath(relative.to_string()));
    }

    let placeholder = format!("{CHECKSUM_OPEN}{relative}}}");
    let full: PathBuf = fixtures_dir(config, &placeholder)?.join(relative_path);
    (config.checksum)(&full).map_err(|message| SubstituteError::Checksum {
        path: relative.to_string(),
        message,
    })
}

fn preview(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_with_fixtures() -> RunnerConfig {
        let mut config = RunnerConfig::new();
        config.fixtures_dir = Some(PathBuf::from("/abs/fixtures"));
        config.checksum = Box::new(|path| Ok(format!("sha256:{}", path.display())));
        config
    }

    #[test]
    fn expands_both_placeholders() {
        let config = config_with_fixtures();
        let sql = "create model m using onnx location '${FIXTURES_DIR}/a.onnx' checksum '${CHECKSUM:a.onnx}'";
        let expanded = expand(sql, &config).unwrap();
        assert_eq!(
            expanded,
            "create model m using onnx location '/abs/fixtures/a.onnx' checksum 'sha256:/abs/fixtures/a.onnx'"
        );
    }

    #[test]
    fn leaves_other_text_alone() {
        let config = RunnerConfig::new();
        assert_eq!(
            expand("select '${OTHER}', '$x'", &config).unwrap(),
            "select '${OTHER}', '$x'"
        );
    }

    #[test]
    fn missing_fixtures_dir_is_an_error() {
        let config = RunnerConfig::new();
        let err = expand("select '${FIXTURES_DIR}'", &config).unwrap_err();
        assert!(
            matches!(err, SubstituteError::NoFixturesDir { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("--local-fixtures-dir"));
    }

    #[test]
    fn checksum_path_must_stay_inside() {
        let config = config_with_fixtures();
        for bad in [
            "${CHECKSUM:../x}",
            "${CHECKSUM:/etc/passwd}",
            "${CHECKSUM:}",
        ] {
            let err = expand(bad, &config).unwrap_err();
            assert!(
                matches!(err, SubstituteError::InvalidPath(_)),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn checksum_errors_carry_message() {
        let mut config = config_with_fixtures();
        config.checksum = Box::new(|_| Err("no such file".to_string()));
        let err = expand("${CHECKSUM:m/model.onnx}", &config).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot compute ${CHECKSUM:m/model.onnx}: no such file"
        );
    }

    #[test]
    fn unterminated_checksum() {
        let config = config_with_fixtures();
        assert!(matches!(
            expand("x ${CHECKSUM:abc", &config),
            Err(SubstituteError::Unterminated(_))
        ));
    }
}
