//! Finding case files and putting them in a fixed order.
//!
//! A path argument may be:
//! - a `.slt` file;
//! - a `.test` file somewhere under a directory named `t`, whose parent is
//!   the suite root holding `t/` and `r/`;
//! - a directory, searched recursively for `.slt` files and for `.test`
//!   files under a `t` directory. Directories whose names start with `.`
//!   and symbolic links to directories are not entered.
//!
//! Cases are sorted by path, byte by byte, and duplicates are removed, so
//! the order does not depend on the file system or on argument order.

use std::path::{Component, Path, PathBuf};

/// Upper bound on directory depth, so a pathological tree cannot exhaust the
/// stack.
const MAX_DEPTH: usize = 64;

/// One case file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Case {
    /// Path of the `.test` or `.slt` file, as found.
    pub path: PathBuf,
    /// Format, which selects the runner.
    pub kind: CaseKind,
}

/// The format of a case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum CaseKind {
    /// mysql-tester: `<suite_root>/t/<name>.test` against
    /// `<suite_root>/r/<name>.result`.
    MysqlTest {
        /// Directory holding `t/` and `r/`.
        suite_root: PathBuf,
        /// Test name: the path under `t/` without `.test`, with `/`
        /// separators; it may contain subdirectories.
        name: String,
    },
    /// sqllogictest.
    Slt,
    /// A sidecar fault case (`.toml` under a `faults` directory), run
    /// against the fake sidecar through the batching client; see
    /// docs/faults.md.
    Fault,
}

impl Case {
    /// Creates a `.slt` case.
    pub fn slt(path: PathBuf) -> Case {
        Case {
            path,
            kind: CaseKind::Slt,
        }
    }

    /// Returns the `.result` file of a mysql-tester case.
    pub fn result_path(&self) -> Option<PathBuf> {
        match &self.kind {
            CaseKind::MysqlTest { suite_root, name } => {
                Some(suite_root.join("r").join(format!("{name}.result")))
            }
            CaseKind::Slt | CaseKind::Fault => None,
        }
    }

    /// Returns the database the case runs in: the test name with `/` replaced by
    /// `__`, as mysql-tester names it; for `.slt` files, the file stem.
    pub fn database_name(&self) -> String {
        match &self.kind {
            CaseKind::MysqlTest { name, .. } => name.replace('/', "__"),
            CaseKind::Slt | CaseKind::Fault => {
                let stem = self
                    .path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                stem.chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '_' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect()
            }
        }
    }
}

/// Errors from [`discover`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// Occurs when a path argument does not exist or cannot be read.
    #[error("cannot read {path}: {cause}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// Occurs when a `.test` file is not under a `t` directory.
    #[error("{0} is not under a directory named t; mysql-tester cases live in <suite>/t/<name>.test with results in <suite>/r/<name>.result")]
    NotInSuite(PathBuf),
    /// Occurs when a file argument is neither `.test` nor `.slt`.
    #[error("{0} is not a case file; pass a .test file, an .slt file or a directory")]
    NotACase(PathBuf),
    /// Occurs when a directory argument contains no case file.
    #[error("no .test or .slt case found under {0}")]
    Empty(PathBuf),
    /// Occurs when a directory tree is nested deeper than the limit.
    #[error("{0} is nested more than {MAX_DEPTH} directories deep")]
    TooDeep(PathBuf),
}

/// Finds every case under `paths`, sorted and without duplicates.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<Case>, DiscoverError> {
    let mut cases = Vec::new();

    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|cause| DiscoverError::Io {
            path: path.clone(),
            cause,
        })?;
        if metadata.is_dir() {
            let before = cases.len();
            walk(path, 0, &mut cases)?;
            if cases.len() == before {
                return Err(DiscoverError::Empty(path.clone()));
            }
        } else {
            match classify(path)? {
                Some(case) => cases.push(case),
                None => return Err(DiscoverError::NotACase(path.clone())),
            }
        }
    }

    cases.sort();
    cases.dedup();
    Ok(cases)
}

/// Adds the cases in `dir` and below.
fn walk(dir: &Path, depth: usize, cases: &mut Vec<Case>) -> Result<(), DiscoverError> {
    if depth > MAX_DEPTH {
        return Err(DiscoverError::TooDeep(dir.to_path_buf()));
    }
    let io_error = |cause| DiscoverError::Io {
        path: dir.to_path_buf(),
        cause,
    };

    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        entries.push(entry.map_err(io_error)?);
    }

    for entry in entries {
        let path = entry.path();
        let file_type = entry.file_type().map_err(|cause| DiscoverError::Io {
            path: path.clone(),
            cause,
        })?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');

        if file_type.is_dir() {
            if !hidden {
                walk(&path, depth + 1, cases)?;
            }
            continue;
        }

        // A .test file outside any t/ directory is not a mysql-tester case
        // (for example a Go test fixture), so a tree walk passes over it.
        match classify(&path) {
            Ok(Some(case)) => cases.push(case),
            Ok(None) | Err(DiscoverError::NotInSuite(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Classifies one file by extension; `None` for other files.
fn classify(path: &Path) -> Result<Option<Case>, DiscoverError> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("slt") => Ok(Some(Case::slt(path.to_path_buf()))),
        Some("test") => mysql_test_case(path).map(Some),
        Some("toml") if in_faults_directory(path) => Ok(Some(Case {
            path: path.to_path_buf(),
            kind: CaseKind::Fault,
        })),
        _ => Ok(None),
    }
}

/// Whether a file lies below a directory named `faults`, where `.toml`
/// files are fault cases (elsewhere a `.toml` file is not a case).
fn in_faults_directory(path: &Path) -> bool {
    path.parent()
        .map(|dir| dir.components().any(|c| c.as_os_str() == "faults"))
        .unwrap_or(false)
}

/// Builds the case for a `.test` file from its nearest `t` ancestor.
fn mysql_test_case(path: &Path) -> Result<Case, DiscoverError> {
    let components: Vec<Component> = path.components().collect();

    // The nearest ancestor named `t`, excluding the file itself.
    let t_index = components[..components.len().saturating_sub(1)]
        .iter()
        .rposition(|c| c.as_os_str() == "t")
        .ok_or_else(|| DiscoverError::NotInSuite(path.to_path_buf()))?;

    let suite_root: PathBuf = components[..t_index].iter().collect();
    let suite_root = if suite_root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        suite_root
    };

    let under_t: Vec<String> = components[t_index + 1..]
        .iter()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let joined = under_t.join("/");
    let name = joined.strip_suffix(".test").unwrap_or(&joined).to_string();

    Ok(Case {
        path: path.to_path_buf(),
        kind: CaseKind::MysqlTest { suite_root, name },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, relative: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "").unwrap();
    }

    #[test]
    fn tree_is_sorted_and_classified() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "suite/t/b.test");
        touch(root, "suite/t/a/nested.test");
        touch(root, "suite/r/b.result");
        touch(root, "cases/z.slt");
        touch(root, "cases/a.slt");
        touch(root, "loose/x.test");
        touch(root, ".hidden/h.slt");

        let cases = discover(&[root.to_path_buf()]).unwrap();
        let relative: Vec<String> = cases
            .iter()
            .map(|c| {
                c.path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(
            relative,
            [
                "cases/a.slt",
                "cases/z.slt",
                "suite/t/a/nested.test",
                "suite/t/b.test"
            ]
        );

        let nested = &cases[2];
        assert_eq!(nested.database_name(), "a__nested");
        assert_eq!(
            nested.result_path().unwrap(),
            root.join("suite/r/a/nested.result")
        );
    }

    #[test]
    fn order_ignores_argument_order() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "b.slt");
        touch(dir.path(), "a.slt");
        let a = dir.path().join("a.slt");
        let b = dir.path().join("b.slt");
        let forward = discover(&[a.clone(), b.clone()]).unwrap();
        let backward = discover(&[b, a.clone(), a]).unwrap();
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), 2);
    }

    #[test]
    fn test_file_outside_t_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "x/a.test");
        let err = discover(&[dir.path().join("x/a.test")]).unwrap_err();
        assert!(matches!(err, DiscoverError::NotInSuite(_)), "{err}");
    }

    #[test]
    fn missing_and_empty_paths_fail() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            discover(&[dir.path().join("nope")]),
            Err(DiscoverError::Io { .. })
        ));
        assert!(matches!(
            discover(&[dir.path().to_path_buf()]),
            Err(DiscoverError::Empty(_))
        ));
    }

    #[test]
    fn suite_directory_with_relative_path() {
        let dir = tempfile::tempdir().unwrap();
        touch(dir.path(), "t/one.test");
        let case = mysql_test_case(Path::new("t/one.test")).unwrap();
        assert_eq!(case.result_path().unwrap(), Path::new("./r/one.result"));
        assert_eq!(case.database_name(), "one");
    }
}
