//! Model artifacts: locations, checksums and the local content-addressed
//! cache.
//!
//! [`ArtifactLoader::load`] turns a `LOCATION` and `CHECKSUM` pair into a
//! verified local path: it copies or downloads the artifact into a
//! temporary path inside the cache directory, checks the checksum, then
//! renames it to a path named after the checksum.

pub mod cache;
pub mod checksum;
pub mod s3;
pub mod uri;

use std::path::{Path, PathBuf};

pub use cache::{default_cache_dir, Artifact, ArtifactKind, ArtifactLoader, LoaderOptions};
pub use checksum::{Checksum, ChecksumError, DirVariant};
pub use s3::S3Config;
pub use uri::{ArtifactUri, UriError};

/// A failure to load an artifact. Every message names the location.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The `LOCATION` is not an accepted URI.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// The `CHECKSUM` is malformed, or the artifact cannot be hashed.
    #[error(transparent)]
    Checksum(#[from] ChecksumError),
    /// Nothing exists at the location.
    #[error("artifact not found at {uri}: {detail}")]
    NotFound {
        /// The location.
        uri: String,
        /// Description of the missing object or path.
        detail: String,
    },
    /// The artifact's checksum differs from the declared one.
    #[error("checksum mismatch for {uri}: expected {expected}, actual {actual}{variant_note}")]
    Mismatch {
        /// The location.
        uri: String,
        /// The declared checksum.
        expected: String,
        /// The checksum of the fetched bytes.
        actual: String,
        /// For directories, which variant computed `actual`.
        variant_note: String,
    },
    /// The artifact is a file where a directory is required, or the reverse.
    #[error("artifact at {uri} is a {found}, but this engine needs a {expected}")]
    WrongKind {
        /// The location.
        uri: String,
        /// Kind the engine needs.
        expected: ArtifactKind,
        /// Kind found at the location.
        found: ArtifactKind,
    },
    /// An S3 request failed or the S3 configuration is invalid.
    #[error("S3 error for {uri}: {message}")]
    S3 {
        /// The location.
        uri: String,
        /// What failed.
        message: String,
    },
    /// A local file operation in the cache failed.
    #[error("artifact cache I/O error on {path}: {cause}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// The async runtime for S3 downloads could not start.
    #[error("cannot start the runtime for S3 downloads: {0}")]
    Runtime(std::io::Error),
}

impl ArtifactError {
    pub(crate) fn io(path: &Path, cause: std::io::Error) -> ArtifactError {
        ArtifactError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }
}
