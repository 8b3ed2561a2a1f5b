//! The local content-addressed artifact cache.
//!
//! A verified artifact lives at `<cache dir>/sha256-<hex>`, a file or a
//! directory. It gets there by a copy or download to
//! `<cache dir>/.partial-<hex>-<pid>-<n>`, a checksum check of that copy, and
//! a rename, so the final path never contains unverified bytes. A failed load
//! removes its partial copy.
//!
//! Each `(location, checksum)` pair is fetched and verified once per
//! loader: later loads of the same pair return the cached path, and
//! concurrent loads of one pair wait for the first one (single flight). A
//! new location with a checksum already in the cache is still fetched and
//! verified, so a wrong `LOCATION` is never hidden by an earlier load.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use object_store::ObjectStore;
use tokio::runtime::{Handle, Runtime};

use super::checksum::{self, Checksum, DirVariant};
use super::s3::{self, S3Config, S3Shape};
use super::uri::ArtifactUri;
use super::ArtifactError;

/// Whether an artifact is one file or a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// A single file (ONNX).
    File,
    /// A directory (MLflow).
    Directory,
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArtifactKind::File => "file",
            ArtifactKind::Directory => "directory",
        })
    }
}

/// Settings of an [`ArtifactLoader`].
#[derive(Debug, Clone)]
pub struct LoaderOptions {
    /// Cache directory, created if missing.
    pub cache_dir: PathBuf,
    /// Hashing variant for directory artifacts.
    pub dir_variant: DirVariant,
    /// S3 settings; unset fields fall back to the AWS environment variables.
    pub s3: S3Config,
}

impl Default for LoaderOptions {
    fn default() -> LoaderOptions {
        LoaderOptions {
            cache_dir: default_cache_dir(),
            dir_variant: DirVariant::default(),
            s3: S3Config::default(),
        }
    }
}

/// `<system temp dir>/tidb-model-cache`.
pub fn default_cache_dir() -> PathBuf {
    std::env::temp_dir().join("tidb-model-cache")
}

/// A verified artifact in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Local path: a file or a directory, per `kind`.
    pub path: PathBuf,
    /// File or directory.
    pub kind: ArtifactKind,
    /// The verified checksum.
    pub checksum: Checksum,
}

/// The runtime S3 downloads run on.
enum RuntimeSlot {
    /// Created on the first S3 load.
    Owned(OnceLock<Runtime>),
    /// Handed in by the caller.
    Handle(Handle),
}

/// One `(location, checksum)` pair.
type FlightKey = (String, Checksum);

/// Loads artifacts into the cache. Blocking: call it from plain threads,
/// never from inside an async task, because S3 loads block on the runtime.
pub struct ArtifactLoader {
    /// Settings, with S3 fields already merged with the environment.
    options: LoaderOptions,
    /// Runtime for S3 requests.
    runtime: RuntimeSlot,
    /// One lock per pair; a load holds it while fetching.
    flights: Mutex<HashMap<FlightKey, Arc<Mutex<()>>>>,
    /// Pairs fetched and verified by this loader.
    verified: Mutex<HashSet<FlightKey>>,
    /// S3 clients by bucket.
    stores: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
    /// Number of fetches (copies or downloads) started.
    fetches: AtomicU64,
    /// Suffix for partial paths, unique within the process.
    partial_counter: AtomicU64,
}

impl ArtifactLoader {
    /// Creates a loader that starts its own runtime on the first S3 load.
    pub fn new(options: LoaderOptions) -> Result<ArtifactLoader, ArtifactError> {
        ArtifactLoader::build(options, RuntimeSlot::Owned(OnceLock::new()))
    }

    /// Creates a loader that runs S3 requests on `handle`.
    pub fn with_runtime(
        options: LoaderOptions,
        handle: Handle,
    ) -> Result<ArtifactLoader, ArtifactError> {
        ArtifactLoader::build(options, RuntimeSlot::Handle(handle))
    }

    fn build(
        mut options: LoaderOptions,
        runtime: RuntimeSlot,
    ) -> Result<ArtifactLoader, ArtifactError> {
        std::fs::create_dir_all(&options.cache_dir)
            .map_err(|e| ArtifactError::io(&options.cache_dir, e))?;
        options.s3 = options.s3.or(S3Config::from_env());
        Ok(ArtifactLoader {
            options,
            runtime,
            flights: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashSet::new()),
            stores: Mutex::new(HashMap::new()),
            fetches: AtomicU64::new(0),
            partial_counter: AtomicU64::new(0),
        })
    }

    /// Returns the cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.options.cache_dir
    }

    /// Returns the directory checksum variant in use.
    pub fn dir_variant(&self) -> DirVariant {
        self.options.dir_variant
    }

    /// Returns the number of fetches this loader has started, cache hits excluded.
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Materializes the artifact at `location`, verified against
    /// `checksum` (`sha256:<hex>`), and returns its cache path. `kind` is
    /// what the engine needs: a file for ONNX, a directory for MLflow.
    pub fn load(
        &self,
        location: &str,
        checksum: &str,
        kind: ArtifactKind,
    ) -> Result<Artifact, ArtifactError> {
        let uri = ArtifactUri::parse(location)?;
        let expected = Checksum::parse(checksum)?;
        let final_path = self
            .options
            .cache_dir
            .join(format!("sha256-{}", expected.hex()));
        let key: FlightKey = (uri.to_string(), expected.clone());

        // Single flight: one load per pair at a time.
        let flight = {
            let mut flights = lock(&self.flights);
            Arc::clone(flights.entry(key.clone()).or_default())
        };
        let _in_flight = lock(&flight);

        if lock(&self.verified).contains(&key) && path_kind(&final_path) == Some(kind) {
            tracing::debug!(%uri, path = %final_path.display(), "artifact cache hit");
            return Ok(Artifact {
                path: final_path,
                kind,
                checksum: expected,
            });
        }

        self.fetch_and_verify(&uri, &expected, kind, &final_path)?;
        lock(&self.verified).insert(key);
        Ok(Artifact {
            path: final_path,
            kind,
            checksum: expected,
        })
    }

    /// Fetches to a partial path, verifies and renames it to `final_path`.
    fn fetch_and_verify(
        &self,
        uri: &ArtifactUri,
        expected: &Checksum,
        kind: ArtifactKind,
        final_path: &Path,
    ) -> Result<(), ArtifactError> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        // NOTE: a process killed mid-fetch leaves its `.partial-*` path
        // behind; nothing removes such leftovers yet.
        let partial = PartialPath::new(self.options.cache_dir.join(format!(
            ".partial-{}-{}-{}",
            expected.hex(),
            std::process::id(),
            self.partial_counter.fetch_add(1, Ordering::SeqCst)
        )));
        tracing::debug!(%uri, partial = %partial.path.display(), "fetching artifact");

        // Fetch.
        let found = match uri {
            ArtifactUri::File(source) => copy_local(uri, source, &partial.path)?,
            ArtifactUri::S3 { bucket, key } => {
                let store = self.store(bucket)?;
                let uri_text = uri.to_string();
                let download = s3::download(store, &uri_text, key, &partial.path);
                let shape = self.block_on(download)??;
                match shape {
                    S3Shape::File => ArtifactKind::File,
                    S3Shape::Directory => ArtifactKind::Directory,
                }
            }
        };
        if found != kind {
            return Err(ArtifactError::WrongKind {
                uri: uri.to_string(),
                expected: kind,
                found,
            });
        }

        // Verify the copy, not the source, so the cache contains what was hashed.
        let (actual, variant_note) = match kind {
            ArtifactKind::File => (checksum::file_checksum(&partial.path)?, String::new()),
            ArtifactKind::Directory => {
                let variant = self.options.dir_variant;
                let actual = checksum::dir_checksum(&partial.path, variant)?;
                (
                    actual,
                    format!(" (directory checksum variant {})", variant.as_str()),
                )
            }
        };
        if &actual != expected {
            return Err(ArtifactError::Mismatch {
                uri: uri.to_string(),
                expected: expected.to_string(),
                actual: actual.to_string(),
                variant_note,
            });
        }

        // Publish. Another process may have published the same content
        // first; its copy is equally verified, so keep it.
        if let Err(err) = std::fs::rename(&partial.path, final_path) {
            if path_kind(final_path) != Some(kind) {
                return Err(ArtifactError::io(final_path, err));
            }
        } else {
            partial.disarm();
        }
        tracing::info!(%uri, path = %final_path.display(), "artifact verified and cached");
        Ok(())
    }

    /// Returns the S3 client for `bucket`, building it on first use.
    fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, ArtifactError> {
        let mut stores = lock(&self.stores);
        if let Some(store) = stores.get(bucket) {
            return Ok(Arc::clone(store));
        }
        let store: Arc<dyn ObjectStore> = Arc::new(self.options.s3.build_store(bucket)?);
        stores.insert(bucket.to_string(), Arc::clone(&store));
        Ok(store)
    }

    /// Runs a future to completion on the loader's runtime.
    fn block_on<F: std::future::Future>(&self, future: F) -> Result<F::Output, ArtifactError> {
        match &self.runtime {
            RuntimeSlot::Handle(handle) => Ok(handle.block_on(future)),
            RuntimeSlot::Owned(cell) => {
                if cell.get().is_none() {
                    let runtime = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .thread_name("artifact-s3")
                        .enable_all()
                        .build()
                        .map_err(ArtifactError::Runtime)?;
                    // A concurrent first load may win the race; its runtime is kept.
                    let _ = cell.set(runtime);
                }
                let runtime = cell.get().ok_or_else(|| {
                    ArtifactError::Runtime(std::io::Error::other(
                        "runtime cell is empty after initialization",
                    ))
                })?;
                Ok(runtime.block_on(future))
            }
        }
    }
}

/// Copies a local artifact to `dest`, returning what it is.
fn copy_local(
    uri: &ArtifactUri,
    source: &Path,
    dest: &Path,
) -> Result<ArtifactKind, ArtifactError> {
    let meta = match std::fs::metadata(source) {
        Ok(meta) => meta,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(ArtifactError::NotFound {
                uri: uri.to_string(),
                detail: format!("{} does not exist", source.display()),
            })
        }
        Err(err) => return Err(ArtifactError::io(source, err)),
    };

    if meta.is_dir() {
        std::fs::create_dir(dest).map_err(|e| ArtifactError::io(dest, e))?;
        checksum::copy_dir(source, dest)?;
        Ok(ArtifactKind::Directory)
    } else if meta.is_file() {
        checksum::copy_file(source, dest)?;
        Ok(ArtifactKind::File)
    } else {
        Err(checksum::ChecksumError::SpecialFile {
            path: source.to_path_buf(),
        }
        .into())
    }
}

/// Returns the kind of `path`, or `None` for a missing path or a special file.
fn path_kind(path: &Path) -> Option<ArtifactKind> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    if meta.is_dir() {
        Some(ArtifactKind::Directory)
    } else if meta.is_file() {
        Some(ArtifactKind::File)
    } else {
        None
    }
}

/// Locks a mutex, recovering the data if a panicking thread poisoned it;
/// the guarded maps stay consistent because each update is one insert.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A partial download path, removed on drop unless published.
struct PartialPath {
    path: PathBuf,
    armed: bool,
}

impl PartialPath {
    fn new(path: PathBuf) -> PartialPath {
        PartialPath { path, armed: true }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for PartialPath {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let result = match path_kind(&self.path) {
            Some(ArtifactKind::Directory) => std::fs::remove_dir_all(&self.path),
            Some(ArtifactKind::File) => std::fs::remove_file(&self.path),
            None => std::fs::remove_file(&self.path).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            }),
        };
        if let Err(err) = result {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot remove partial artifact");
        }
    }
}
