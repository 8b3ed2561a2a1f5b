//! Downloads of `s3://` artifacts through object_store.
//!
//! A key naming one object is a file artifact. A key naming a prefix is a
//! directory artifact: every object below `key/`, stored at its path
//! relative to the prefix.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};
use tokio::io::AsyncWriteExt;

use super::checksum::check_relative_path;
use super::ArtifactError;

/// S3 connection settings. Each unset field falls back to the standard AWS
/// environment variable; the harness config file carries them in `[s3]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    /// Endpoint URL, e.g. `http://127.0.0.1:9000`
    /// (`AWS_ENDPOINT_URL`, then `AWS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// Region (`AWS_REGION`, then `AWS_DEFAULT_REGION`; default `us-east-1`).
    pub region: Option<String>,
    /// Access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// Allows plain-HTTP endpoints (`AWS_ALLOW_HTTP=true`).
    pub allow_http: Option<bool>,
}

/// Region used when neither the config nor the environment sets one.
const DEFAULT_REGION: &str = "us-east-1";

/// Bounds on S3 retries, so an unreachable endpoint fails in seconds.
const MAX_RETRIES: usize = 3;
const RETRY_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl S3Config {
    /// Reads the standard AWS environment variables.
    pub fn from_env() -> S3Config {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        S3Config {
            endpoint: var("AWS_ENDPOINT_URL").or_else(|| var("AWS_ENDPOINT")),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            access_key_id: var("AWS_ACCESS_KEY_ID"),
            secret_access_key: var("AWS_SECRET_ACCESS_KEY"),
            allow_http: var("AWS_ALLOW_HTTP").map(|v| v.eq_ignore_ascii_case("true") || v == "1"),
        }
    }

    /// Fills every unset field of `self` from `fallback`.
    pub fn or(self, fallback: S3Config) -> S3Config {
        S3Config {
            endpoint: self.endpoint.or(fallback.endpoint),
            region: self.region.or(fallback.region),
            access_key_id: self.access_key_id.or(fallback.access_key_id),
            secret_access_key: self.secret_access_key.or(fallback.secret_access_key),
            allow_http: self.allow_http.or(fallback.allow_http),
        }
    }

    /// Builds a client for one bucket. Requests use path style, which
    /// S3-compatible servers on a plain endpoint expect.
    pub fn build_store(&self, bucket: &str) -> Result<AmazonS3, ArtifactError> {
        let client_options = ClientOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_allow_http(self.allow_http.unwrap_or(false));
        let retry = RetryConfig {
            max_retries: MAX_RETRIES,
            retry_timeout: RETRY_TIMEOUT,
            ..RetryConfig::default()
        };
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region(self.region.as_deref().unwrap_or(DEFAULT_REGION))
            .with_client_options(client_options)
            .with_retry(retry)
            .with_virtual_hosted_style_request(false);
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = &self.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &self.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        // Without configured credentials the client would ask the cloud
        // instance metadata service for them, a host outside the test
        // setup. Unsigned requests go only to the endpoint.
        if self.access_key_id.is_none() || self.secret_access_key.is_none() {
            builder = builder.with_skip_signature(true);
        }
        builder.build().map_err(|e| ArtifactError::S3 {
            uri: format!("s3://{bucket}"),
            message: format!("invalid S3 configuration: {e}"),
        })
    }
}

/// Shape of a downloaded S3 artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Shape {
    /// One object: written to the destination path as a file.
    File,
    /// A prefix: its objects were written below the destination directory.
    Directory,
}

/// Downloads `key` of `store` to `dest` (which must not exist), as a file
/// if `key` names an object, or as a directory of every object below
/// `key/`. `uri` is used in error messages.
pub async fn download(
    store: Arc<dyn ObjectStore>,
    uri: &str,
    key: &str,
    dest: &Path,
) -> Result<S3Shape, ArtifactError> {
    let s3_error = |message: String| ArtifactError::S3 {
        uri: uri.to_string(),
        message,
    };

    // List the prefix first: a non-empty listing is a directory artifact.
    let prefix = ObjectPath::from(key);
    let list_prefix = (!key.is_empty()).then_some(&prefix);
    let objects: Vec<_> = store
        .list(list_prefix)
        .try_collect()
        .await
        .map_err(|e| s3_error(format!("listing failed: {e}")))?;

    let single = if key.is_empty() {
        None
    } else {
        match store.head(&prefix).await {
            Ok(meta) => Some(meta),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(s3_error(format!("reading object metadata failed: {e}"))),
        }
    };

    match (single, objects.is_empty()) {
        (None, true) => Err(ArtifactError::NotFound {
            uri: uri.to_string(),
            detail: "no object with this key and no objects below this prefix".to_string(),
        }),
        (Some(_), false) => Err(s3_error(
            "the key is both an object and a prefix of other objects; remove one of them"
                .to_string(),
        )),
        (Some(meta), true) => {
            fetch_object(store.as_ref(), uri, &meta.location, dest).await?;
            Ok(S3Shape::File)
        }
        (None, false) => {
            tokio::fs::create_dir(dest)
                .await
                .map_err(|e| ArtifactError::io(dest, e))?;
            for meta in objects {
                let relative =
                    relative_key(&meta.location, &prefix, key.is_empty()).ok_or_else(|| {
                        s3_error(format!(
                            "listed object {} is outside the prefix",
                            meta.location
                        ))
                    })?;
                check_relative_path(&relative).map_err(|reason| {
                    s3_error(format!("invalid object key {}: {reason}", meta.location))
                })?;
                let target = dest.join(&relative);
                if let Some(parent) = target.parent() {
                    tokio::fs::create_dir_all(parent)
                        .await
                        .map_err(|e| ArtifactError::io(parent, e))?;
                }
                fetch_object(store.as_ref(), uri, &meta.location, &target).await?;
            }
            Ok(S3Shape::Directory)
        }
    }
}

/// Returns the key of `location` relative to `prefix`, `/`-joined.
fn relative_key(location: &ObjectPath, prefix: &ObjectPath, whole_bucket: bool) -> Option<String> {
    let parts: Vec<String> = if whole_bucket {
        location.parts().map(|p| p.as_ref().to_string()).collect()
    } else {
        location
            .prefix_match(prefix)?
            .map(|p| p.as_ref().to_string())
            .collect()
    };
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Streams one object to a new file at `dest`.
async fn fetch_object(
    store: &dyn ObjectStore,
    uri: &str,
    location: &ObjectPath,
    dest: &Path,
) -> Result<(), ArtifactError> {
    let s3_error = |message: String| ArtifactError::S3 {
        uri: uri.to_string(),
        message,
    };
    let result = store.get(location).await.map_err(|e| match e {
        object_store::Error::NotFound { .. } => ArtifactError::NotFound {
            uri: uri.to_string(),
            detail: format!("object {location} disappeared while downloading"),
        },
        other => s3_error(format!("downloading {location} failed: {other}")),
    })?;

    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| ArtifactError::io(dest, e))?;
    let mut chunks = result.into_stream();
    while let Some(chunk) = chunks
        .try_next()
        .await
        .map_err(|e| s3_error(format!("downloading {location} failed: {e}")))?
    {
        file.write_all(&chunk)
            .await
            .map_err(|e| ArtifactError::io(dest, e))?;
    }
    file.flush().await.map_err(|e| ArtifactError::io(dest, e))?;
    Ok(())
}
