//! Checks of an `.slt` file and everything it includes, for the inputs
//! that crash the sqllogictest parser and with it the whole run. Those
//! are text that is not UTF-8, an `include` that matches a directory, an
//! include cycle and an include tree too large to expand.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Maximum depth of nested includes.
const MAX_INCLUDE_DEPTH: usize = 64;

/// Most files one case may expand to, counting each inclusion.
const MAX_EXPANDED_FILES: u64 = 10_000;

/// Checks `path` and the files it includes. The error names the file and
/// the include line at fault.
pub fn check_include_tree(path: &Path) -> Result<(), String> {
    let mut walk = Walk::default();
    let expanded = walk.file(path, None)?;
    if expanded > MAX_EXPANDED_FILES {
        return Err(format!(
            "{} expands to {expanded} included files, above the limit of {MAX_EXPANDED_FILES}; \
             include each file fewer times",
            path.display()
        ));
    }
    Ok(())
}

#[derive(Default)]
struct Walk {
    /// Files on the current include chain, canonical paths.
    chain: Vec<PathBuf>,
    /// Files whose tree is checked, with the number of files it expands to.
    done: HashMap<PathBuf, u64>,
}

impl Walk {
    /// Checks one file and returns how many files it expands to, itself
    /// included. `include` is the including file and pattern, when any.
    fn file(&mut self, path: &Path, include: Option<(&Path, &str)>) -> Result<u64, String> {
        let named = || match include {
            Some((parent, pattern)) => {
                format!("{} (from `include {pattern}` in {})", path.display(), parent.display())
            }
            None => path.display().to_string(),
        };
        if path.is_dir() {
            return Err(format!(
                "{} is a directory; an include pattern must match files only",
                named()
            ));
        }
        let canonical = std::fs::canonicalize(path)
            .map_err(|err| format!("cannot read {}: {err}", named()))?;
        if let Some(&count) = self.done.get(&canonical) {
            return Ok(count);
        }
        if let Some(start) = self.chain.iter().position(|seen| *seen == canonical) {
            let cycle: Vec<String> = self.chain[start..]
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|file| file.display().to_string())
                .collect();
            return Err(format!("include cycle: {}; remove one of these includes", cycle.join(" -> ")));
        }
        if self.chain.len() >= MAX_INCLUDE_DEPTH {
            return Err(format!(
                "{} is nested {MAX_INCLUDE_DEPTH} includes deep, the limit",
                named()
            ));
        }

        let bytes = std::fs::read(path).map_err(|err| format!("cannot read {}: {err}", named()))?;
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                let offset = err.utf8_error().valid_up_to();
                return Err(format!(
                    "{} is not UTF-8 text (invalid byte at offset {offset}); save it as UTF-8",
                    named()
                ));
            }
        };

        self.chain.push(canonical.clone());
        let mut count: u64 = 1;
        for pattern in include_patterns(&text) {
            // The parser resolves a pattern against the including file's
            // directory; patterns that match nothing are its error to report.
            let full = path.parent().unwrap_or(Path::new("")).join(pattern);
            let Some(full) = full.to_str() else {
                continue;
            };
            let Ok(matches) = glob::glob(full) else {
                continue;
            };
            for entry in matches.flatten() {
                let included = self.file(&entry, Some((path, pattern)))?;
                count = count.saturating_add(included);
                if count > MAX_EXPANDED_FILES {
                    self.chain.pop();
                    return Ok(count);
                }
            }
        }
        self.chain.pop();
        self.done.insert(canonical, count);
        Ok(count)
    }
}

/// Returns the patterns of the `include` lines, split as the parser splits
/// them: a line of exactly two words whose first is `include`. A line of
/// SQL text with that shape is taken too, which can only add a check.
fn include_patterns(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["include", pattern] => Some(*pattern),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    #[test]
    fn self_include_is_a_cycle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "a.slt", b"include a.slt\n");
        let err = check_include_tree(&path).expect_err("cycle");
        assert!(err.starts_with("include cycle: "), "{err}");
        assert!(err.contains("a.slt -> "), "{err}");
    }

    #[test]
    fn indirect_cycle_names_every_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = write(dir.path(), "a.slt", b"statement ok\nselect 1\n\ninclude b.slt\n");
        write(dir.path(), "b.slt", b"include a.slt\n");
        let err = check_include_tree(&a).expect_err("cycle");
        assert!(err.contains("a.slt -> "), "{err}");
        assert!(err.contains("b.slt -> "), "{err}");
    }

    #[test]
    fn directory_match_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        let path = write(dir.path(), "a.slt", b"include sub\n");
        let err = check_include_tree(&path).expect_err("directory");
        assert!(err.contains("is a directory"), "{err}");
        assert!(err.contains("`include sub`"), "{err}");
    }

    #[test]
    fn non_utf8_include_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "a.slt", b"include b.slt\n");
        write(dir.path(), "b.slt", b"select \xff\n");
        let err = check_include_tree(&path).expect_err("not UTF-8");
        assert!(err.contains("b.slt (from `include b.slt`"), "{err}");
        assert!(err.contains("offset 7"), "{err}");
    }

    #[test]
    fn diamond_includes_are_counted_not_walked() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Each level includes the next twice: level 0 expands to 2^15 - 1.
        for level in 0..15 {
            let text = if level == 14 {
                String::new()
            } else {
                format!("include l{}.slt\n\ninclude l{}.slt\n", level + 1, level + 1)
            };
            write(dir.path(), &format!("l{level}.slt"), text.as_bytes());
        }
        let started = std::time::Instant::now();
        let err = check_include_tree(&dir.path().join("l0.slt")).expect_err("too many");
        assert!(err.contains("above the limit of 10000"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn plain_includes_pass() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(dir.path(), "a.slt", b"include b*.slt\n\ninclude missing.slt\n");
        write(dir.path(), "b1.slt", b"statement ok\nselect 1\n");
        write(dir.path(), "b2.slt", b"include b1.slt\n");
        assert_eq!(check_include_tree(&path), Ok(()));
    }
}
