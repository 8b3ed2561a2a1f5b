//! Artifact locations: `file:` with an absolute path, or `s3://bucket/key`.

use std::fmt;
use std::path::PathBuf;

/// The URI forms the loader accepts, for error messages.
pub const ALLOWED_FORMS: &str =
    "file:///absolute/path (or file:/absolute/path) and s3://bucket/key";

/// A parsed artifact location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ArtifactUri {
    /// A local file or directory, by absolute path.
    File(PathBuf),
    /// An S3 object (file artifact) or prefix (directory artifact).
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key or prefix without leading or trailing `/`; empty for the
        /// whole bucket.
        key: String,
    },
}

/// A rejected artifact location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid artifact location {uri:?}: {reason}; allowed forms are {ALLOWED_FORMS}")]
pub struct UriError {
    /// The rejected URI.
    pub uri: String,
    /// Reason for the rejection.
    pub reason: String,
}

impl ArtifactUri {
    /// Parses a `LOCATION` value.
    pub fn parse(uri: &str) -> Result<ArtifactUri, UriError> {
        let reject = |reason: String| UriError {
            uri: uri.to_string(),
            reason,
        };

        if uri.is_empty() {
            return Err(reject("the location is empty".to_string()));
        }
        let Some((scheme, rest)) = uri.split_once(':') else {
            return Err(reject(
                "a bare path has no scheme; write it as a file: URI with an absolute path"
                    .to_string(),
            ));
        };
        if scheme.starts_with('/') || scheme.starts_with('.') {
            return Err(reject(
                "a bare path has no scheme; write it as a file: URI with an absolute path"
                    .to_string(),
            ));
        }

        match scheme {
            "file" => parse_file(rest).map_err(reject),
            "s3" => parse_s3(rest).map_err(reject),
            "runs" | "models" => Err(reject(format!(
                "MLflow tracking URIs ({scheme}:/) are not supported"
            ))),
            other => Err(reject(format!("unsupported scheme {other:?}"))),
        }
    }
}

/// Parses what follows `file:`: `///abs/path` or `/abs/path`.
fn parse_file(rest: &str) -> Result<ArtifactUri, String> {
    let path = if let Some(after) = rest.strip_prefix("//") {
        // `file://host/path` names a host; only the empty host is local.
        if !after.starts_with('/') {
            return Err("file:// must be followed by an absolute path (file:///path); a host name is not supported".to_string());
        }
        after
    } else if rest.starts_with('/') {
        rest
    } else {
        return Err("file: URIs need an absolute path".to_string());
    };

    if path.contains('\0') {
        return Err("the path contains a NUL byte".to_string());
    }
    if path.split('/').any(|part| part == "..") {
        return Err("the path must not contain `..` components".to_string());
    }
    if path.len() > 1 && path.ends_with('/') {
        return Ok(ArtifactUri::File(PathBuf::from(path.trim_end_matches('/'))));
    }
    Ok(ArtifactUri::File(PathBuf::from(path)))
}

/// Parses what follows `s3:`: `//bucket/key`.
fn parse_s3(rest: &str) -> Result<ArtifactUri, String> {
    let Some(after) = rest.strip_prefix("//") else {
        return Err("s3 URIs are written s3://bucket/key".to_string());
    };
    let (bucket, key) = after.split_once('/').unwrap_or((after, ""));
    if bucket.is_empty() {
        return Err("the bucket name is empty".to_string());
    }
    let valid_bucket = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid_bucket {
        return Err(format!(
            "bucket name {bucket:?} may hold only lowercase letters, digits, `-` and `.`"
        ));
    }
    if key.contains(['?', '#']) {
        return Err("query strings and fragments are not supported".to_string());
    }

    let key = key.trim_matches('/');
    if !key.is_empty() {
        super::checksum::check_relative_path(key)
            .map_err(|reason| format!("invalid key {key:?}: {reason}"))?;
    }
    Ok(ArtifactUri::S3 {
        bucket: bucket.to_string(),
        key: key.to_string(),
    })
}

impl fmt::Display for ArtifactUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArtifactUri::File(path) => write!(f, "file://{}", path.display()),
            ArtifactUri::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> Result<ArtifactUri, ()> {
        Ok(ArtifactUri::File(PathBuf::from(path)))
    }

    fn s3(bucket: &str, key: &str) -> Result<ArtifactUri, ()> {
        Ok(ArtifactUri::S3 {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    #[test]
    fn accepted_forms() {
        let cases = [
            ("file:///tmp/models/m1", file("/tmp/models/m1")),
            ("file:/tmp/models/m1", file("/tmp/models/m1")),
            ("file:///tmp/models/m1/", file("/tmp/models/m1")),
            ("file:///m.onnx", file("/m.onnx")),
            ("s3://bucket/models/m1", s3("bucket", "models/m1")),
            ("s3://bucket/models/m1/", s3("bucket", "models/m1")),
            ("s3://my-bucket.eu/m.onnx", s3("my-bucket.eu", "m.onnx")),
            ("s3://bucket", s3("bucket", "")),
        ];
        for (uri, expected) in cases {
            assert_eq!(ArtifactUri::parse(uri).map_err(|_| ()), expected, "{uri}");
        }
    }

    #[test]
    fn rejected_forms_name_the_problem() {
        let cases = [
            ("", "empty"),
            ("runs:/abc/model", "runs:/"),
            ("models:/m/1", "models:/"),
            ("http://host/m", "\"http\""),
            ("https://host/m", "\"https\""),
            ("gs://bucket/m", "\"gs\""),
            ("/tmp/models/m1", "bare path"),
            ("./models/m1", "bare path"),
            ("models/m1", "bare path"),
            ("file:relative/m1", "absolute path"),
            ("file:./m1", "absolute path"),
            ("file://host/tmp/m1", "host name"),
            ("file:///tmp/../etc", "`..`"),
            ("s3:bucket/key", "s3://bucket/key"),
            ("s3:///key", "bucket name is empty"),
            ("s3://Bucket/key", "lowercase"),
            ("s3://bucket/a/../b", "invalid key"),
            ("s3://bucket/a?x=1", "query"),
        ];
        for (uri, fragment) in cases {
            let err = ArtifactUri::parse(uri).expect_err(uri);
            let message = err.to_string();
            assert!(message.contains(fragment), "{uri}: {message}");
            assert!(
                message.contains("file:///absolute/path"),
                "{uri}: {message}"
            );
            assert!(message.contains("s3://bucket/key"), "{uri}: {message}");
        }
    }
}
