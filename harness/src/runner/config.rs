//! Run settings: record mode, schemas, fixtures, checksums and requirements.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Computes the digest that `${CHECKSUM:<path>}` expands to. It receives the
/// absolute path of a file or directory under the fixtures directory and
/// returns the digest text, or a message saying why it could not.
pub type ChecksumFn = Box<dyn Fn(&Path) -> Result<String, String> + Send + Sync>;

/// Settings of one run over many cases.
pub struct RunnerConfig {
    /// Rewrite `.result` files (and `.slt` expectations) with the actual
    /// output instead of comparing.
    pub record: bool,
    /// Keep the per-case database and any database the case created.
    pub reserve_schema: bool,
    /// Absolute path of the local fixtures directory: `${FIXTURES_DIR}`
    /// expands to it (unless `server_fixtures_dir` is set) and
    /// `${CHECKSUM:...}` reads from it. `None` makes any placeholder that
    /// needs it fail the case.
    pub fixtures_dir: Option<PathBuf>,
    /// The fixtures directory as the target's server sees it, when that
    /// differs from `fixtures_dir` (a server on another host). Checksums
    /// are still computed from `fixtures_dir`.
    pub server_fixtures_dir: Option<PathBuf>,
    /// Digest function behind `${CHECKSUM:<path>}`.
    pub checksum: ChecksumFn,
    /// Status of each `# requires:` name in this run.
    pub requirements: Requirements,
    /// Label for `skipif`/`onlyif` in `.slt` files; the target name is used
    /// when `None`.
    pub engine_label: Option<String>,
    /// Print a progress line per case on stderr when it is a terminal.
    pub progress: bool,
}

impl RunnerConfig {
    /// A configuration that compares (no record), drops databases, has no
    /// fixtures directory, no requirement met and no checksum function.
    pub fn new() -> RunnerConfig {
        RunnerConfig {
            record: false,
            reserve_schema: false,
            fixtures_dir: None,
            server_fixtures_dir: None,
            checksum: Box::new(|path| {
                Err(format!(
                    "no checksum function is configured to compute the digest of {}",
                    path.display()
                ))
            }),
            requirements: Requirements::default(),
            engine_label: None,
            progress: false,
        }
    }
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig::new()
    }
}

/// The requirement names a case may declare, each met or unmet with the
/// reason. A name missing from the map is unknown, and a case that declares
/// it fails, so a misspelt requirement is never silently skipped.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    /// Requirement name to `Ok(())` when met, `Err(reason)` when unmet.
    entries: BTreeMap<String, Result<(), String>>,
}

impl Requirements {
    /// Declares `name` as met.
    pub fn met(&mut self, name: &str) -> &mut Self {
        self.entries.insert(name.to_string(), Ok(()));
        self
    }

    /// Declares `name` as unmet, with the reason shown for skipped cases.
    pub fn unmet(&mut self, name: &str, reason: impl Into<String>) -> &mut Self {
        self.entries.insert(name.to_string(), Err(reason.into()));
        self
    }

    /// Returns `Some(Ok(()))` when met, `Some(Err(reason))` when unmet and
    /// `None` when `name` is unknown.
    pub fn status(&self, name: &str) -> Option<Result<(), &str>> {
        self.entries
            .get(name)
            .map(|status| status.as_ref().map(|_| ()).map_err(String::as_str))
    }

    /// Names of the met requirements, used as `.slt` labels.
    pub fn met_names(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|(_, status)| status.is_ok())
            .map(|(name, _)| name.as_str())
    }

    /// Returns all known names, for error messages.
    pub fn known_names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }
}
