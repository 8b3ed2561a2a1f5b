//! Artifact checksums, written `sha256:<64 lowercase hex digits>`.
//!
//! A file artifact (ONNX) hashes as the SHA-256 of its bytes. A directory
//! artifact (MLflow) hashes in one of two variants:
//!
//! - [`DirVariant::Manifest`] (default): the SHA-256 of the text that
//!   `sha256sum` prints for every regular file, named `./<relative path>`,
//!   with the lines sorted bytewise by path. This equals
//!   `(cd DIR && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum`.
//! - [`DirVariant::Stream`]: one SHA-256 over, for each file in bytewise
//!   path order, the relative path (no `./`), `\n`, the file bytes, `\n`.
//!
//! Both variants reject symlinks, special files and file names that
//! `sha256sum` would escape (control characters such as newline, and
//! backslash) or that are not UTF-8. Empty directories add nothing.

use std::fmt;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// The prefix of every checksum value.
pub const CHECKSUM_PREFIX: &str = "sha256:";

/// The form a checksum value must have, for error messages.
pub const CHECKSUM_FORM: &str = "sha256:<64 lowercase hex digits>";

/// Read buffer size when hashing files.
const READ_CHUNK: usize = 64 * 1024;

/// A parsed `sha256:<hex>` checksum.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Checksum {
    /// 64 lowercase hex digits.
    hex: String,
}

impl Checksum {
    /// Parses `sha256:<64 lowercase hex>`, rejecting any other form.
    pub fn parse(value: &str) -> Result<Checksum, ChecksumError> {
        let invalid = || ChecksumError::InvalidFormat {
            value: value.to_string(),
        };
        let hex = value.strip_prefix(CHECKSUM_PREFIX).ok_or_else(invalid)?;
        let well_formed = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !well_formed {
            return Err(invalid());
        }
        Ok(Checksum {
            hex: hex.to_string(),
        })
    }

    /// Finishes a SHA-256 state into a checksum.
    fn from_hasher(hasher: Sha256) -> Checksum {
        Checksum {
            hex: hex::encode(hasher.finalize()),
        }
    }

    /// Returns the 64 hex digits without the `sha256:` prefix.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CHECKSUM_PREFIX}{}", self.hex)
    }
}

impl FromStr for Checksum {
    type Err = ChecksumError;

    fn from_str(value: &str) -> Result<Checksum, ChecksumError> {
        Checksum::parse(value)
    }
}

/// Hashing variant for directory artifacts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DirVariant {
    /// SHA-256 of the sorted `sha256sum` manifest of every file.
    #[default]
    Manifest,
    /// SHA-256 of each sorted path, `\n`, file bytes, `\n`, concatenated.
    Stream,
}

impl DirVariant {
    /// Returns the lowercase name used on the command line and in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            DirVariant::Manifest => "manifest",
            DirVariant::Stream => "stream",
        }
    }
}

impl FromStr for DirVariant {
    type Err = ChecksumError;

    fn from_str(value: &str) -> Result<DirVariant, ChecksumError> {
        match value {
            "manifest" => Ok(DirVariant::Manifest),
            "stream" => Ok(DirVariant::Stream),
            other => Err(ChecksumError::InvalidVariant {
                value: other.to_string(),
            }),
        }
    }
}

/// A regular file inside a directory artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntryFile {
    /// Path relative to the root, `/`-separated, validated UTF-8.
    pub relative: String,
    /// Full path on disk.
    pub path: PathBuf,
}

/// A failure to parse or compute a checksum.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChecksumError {
    /// The value is not `sha256:<64 lowercase hex>`.
    #[error("invalid checksum {value:?}: expected {CHECKSUM_FORM}")]
    InvalidFormat {
        /// The rejected value.
        value: String,
    },
    /// The directory variant name is unknown.
    #[error("invalid directory checksum variant {value:?}: expected manifest or stream")]
    InvalidVariant {
        /// The rejected value.
        value: String,
    },
    /// Reading the artifact failed.
    #[error("cannot read {path}: {cause}")]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// A symlink inside a directory artifact.
    #[error("symlink {path} in artifact: artifacts must hold regular files only; replace the link with the file it points to")]
    Symlink {
        /// The symlink.
        path: PathBuf,
    },
    /// A FIFO, socket or device inside an artifact.
    #[error(
        "special file {path} in artifact: artifacts must hold regular files and directories only"
    )]
    SpecialFile {
        /// The special file.
        path: PathBuf,
    },
    /// A file name that cannot be hashed unambiguously.
    #[error("invalid file name {path:?} in artifact: {reason}; rename it")]
    InvalidName {
        /// The offending path, lossily printed.
        path: PathBuf,
        /// Reason for the rejection.
        reason: &'static str,
    },
    /// A directory artifact without any regular file.
    #[error("directory artifact {path} holds no regular files")]
    EmptyDirectory {
        /// The directory.
        path: PathBuf,
    },
}

impl ChecksumError {
    fn io(path: &Path, cause: std::io::Error) -> ChecksumError {
        ChecksumError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// Hashes a file or directory: a file by its bytes, a directory by
/// `variant`. A symlink given as `path` itself is followed.
pub fn path_checksum(path: &Path, variant: DirVariant) -> Result<Checksum, ChecksumError> {
    let meta = std::fs::metadata(path).map_err(|e| ChecksumError::io(path, e))?;
    if meta.is_dir() {
        dir_checksum(path, variant)
    } else if meta.is_file() {
        file_checksum(path)
    } else {
        Err(ChecksumError::SpecialFile {
            path: path.to_path_buf(),
        })
    }
}

/// Hashes the bytes of one file, streaming it.
pub fn file_checksum(path: &Path) -> Result<Checksum, ChecksumError> {
    let mut hasher = Sha256::new();
    hash_file_into(path, &mut hasher)?;
    Ok(Checksum::from_hasher(hasher))
}

/// Hashes a directory artifact with the given variant.
pub fn dir_checksum(root: &Path, variant: DirVariant) -> Result<Checksum, ChecksumError> {
    let files = list_files(root)?;
    let mut outer = Sha256::new();
    for file in &files {
        match variant {
            DirVariant::Manifest => {
                // One `sha256sum` line: digest, two spaces, `./path`, newline.
                let digest = file_checksum(&file.path)?;
                outer.update(digest.hex().as_bytes());
                outer.update(b"  ./");
                outer.update(file.relative.as_bytes());
                outer.update(b"\n");
            }
            DirVariant::Stream => {
                outer.update(file.relative.as_bytes());
                outer.update(b"\n");
                hash_file_into(&file.path, &mut outer)?;
                outer.update(b"\n");
            }
        }
    }
    Ok(Checksum::from_hasher(outer))
}

/// Lists the regular files under `root`, sorted bytewise by relative path,
/// rejecting symlinks, special files and names [`check_name`] rejects.
/// A directory with no regular file anywhere below it is an error.
pub fn list_files(root: &Path) -> Result<Vec<DirEntryFile>, ChecksumError> {
    let mut files = Vec::new();
    let mut pending: Vec<(PathBuf, String)> = vec![(root.to_path_buf(), String::new())];

    // Walk without recursion, never following symlinks, so no path leaves
    // the root.
    while let Some((dir, prefix)) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| ChecksumError::io(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ChecksumError::io(&dir, e))?;
            let path = entry.path();
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                return Err(ChecksumError::InvalidName {
                    path,
                    reason: "the name is not valid UTF-8",
                });
            };
            check_name(name).map_err(|reason| ChecksumError::InvalidName {
                path: path.clone(),
                reason,
            })?;
            let relative = format!("{prefix}{name}");

            let kind = entry.file_type().map_err(|e| ChecksumError::io(&path, e))?;
            if kind.is_symlink() {
                return Err(ChecksumError::Symlink { path });
            } else if kind.is_dir() {
                pending.push((path, format!("{relative}/")));
            } else if kind.is_file() {
                files.push(DirEntryFile { relative, path });
            } else {
                return Err(ChecksumError::SpecialFile { path });
            }
        }
    }

    if files.is_empty() {
        return Err(ChecksumError::EmptyDirectory {
            path: root.to_path_buf(),
        });
    }
    files.sort_by(|a, b| a.relative.as_bytes().cmp(b.relative.as_bytes()));
    Ok(files)
}

/// Checks one path component, returning why it is rejected. Control
/// characters (newline, carriage return, ...) and backslashes make
/// `sha256sum` escape its output line, so the manifest would no longer be
/// plain `digest  ./path` lines.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("empty, `.` and `..` path components are not allowed");
    }
    if name.contains('/') {
        return Err("a path component must not contain `/`");
    }
    if name.contains('\\') {
        return Err("the name contains a backslash");
    }
    if name.chars().any(|c| c.is_control()) {
        return Err("the name contains a control character such as a newline");
    }
    Ok(())
}

/// Validates a `/`-separated relative path (as in an S3 key below a
/// prefix): every component must pass [`check_name`], so it cannot be
/// absolute or climb out with `..`.
pub fn check_relative_path(relative: &str) -> Result<(), &'static str> {
    relative.split('/').try_for_each(check_name)
}

/// Streams a file's bytes into `hasher`.
fn hash_file_into(path: &Path, hasher: &mut Sha256) -> Result<(), ChecksumError> {
    let mut file = File::open(path).map_err(|e| ChecksumError::io(path, e))?;
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|e| ChecksumError::io(path, e))?;
        if read == 0 {
            return Ok(());
        }
        hasher.update(&buffer[..read]);
    }
}

/// Copies a directory artifact, file by file, to `dest` (which must not
/// exist), with the same checks as [`list_files`].
pub fn copy_dir(root: &Path, dest: &Path) -> Result<(), ChecksumError> {
    let files = list_files(root)?;
    for file in files {
        let target = dest.join(&file.relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| ChecksumError::io(parent, e))?;
        }
        copy_file(&file.path, &target)?;
    }
    Ok(())
}

/// Copies one regular file to `dest`, streaming it.
pub fn copy_file(source: &Path, dest: &Path) -> Result<(), ChecksumError> {
    let mut input = File::open(source).map_err(|e| ChecksumError::io(source, e))?;
    let output = File::create(dest).map_err(|e| ChecksumError::io(dest, e))?;
    let mut output = BufWriter::new(output);
    std::io::copy(&mut input, &mut output).map_err(|e| ChecksumError::io(source, e))?;
    output.flush().map_err(|e| ChecksumError::io(dest, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_lowercase_hex() {
        let value = format!("sha256:{}", "0123456789abcdef".repeat(4));
        let checksum = Checksum::parse(&value).expect("valid checksum");
        assert_eq!(checksum.to_string(), value);
    }

    #[test]
    fn parse_rejects_other_forms() {
        let good_hex = "ab".repeat(32);
        let cases = [
            String::new(),
            good_hex.clone(),
            format!("sha256:{}", good_hex.to_uppercase()),
            format!("SHA256:{good_hex}"),
            format!("sha256:{}", &good_hex[..63]),
            format!("sha256:{good_hex}0"),
            format!("sha256:{}g", &good_hex[..63]),
            format!("md5:{good_hex}"),
            format!("sha256: {good_hex}"),
        ];
        for value in cases {
            let err = Checksum::parse(&value).expect_err(&value);
            let message = err.to_string();
            assert!(message.contains(CHECKSUM_FORM), "{message}");
        }
    }

    #[test]
    fn check_name_rules() {
        assert!(check_name("model.pkl").is_ok());
        assert!(check_name("a b").is_ok());
        for bad in ["", ".", "..", "a\nb", "a\rb", "a\\b", "a/b", "a\tb"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_relative_path("a/b/c").is_ok());
        assert!(check_relative_path("a/../b").is_err());
        assert!(check_relative_path("/a").is_err());
        assert!(check_relative_path("a//b").is_err());
    }
}
