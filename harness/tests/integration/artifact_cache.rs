//! The artifact cache with `file:` locations: verification, cleanup on
//! mismatch, kinds, cache hits and single flight.

use std::path::Path;
use std::sync::{Arc, Barrier};

use harness::artifact::checksum::{dir_checksum, file_checksum};
use harness::artifact::{
    ArtifactError, ArtifactKind, ArtifactLoader, DirVariant, LoaderOptions, S3Config,
};

fn loader(cache: &Path, variant: DirVariant) -> ArtifactLoader {
    ArtifactLoader::new(LoaderOptions {
        cache_dir: cache.to_path_buf(),
        dir_variant: variant,
        s3: S3Config::default(),
    })
    .expect("loader")
}

fn model_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("model");
    std::fs::create_dir_all(dir.join("data/nested")).expect("mkdir");
    std::fs::write(dir.join("MLmodel"), b"flavors: {}\n").expect("write");
    std::fs::write(dir.join("data/nested/weights.bin"), vec![7u8; 100_000]).expect("write");
    dir
}

/// Cache entries, ignoring nothing: partial copies would show up here.
fn cache_entries(cache: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cache)
        .expect("read cache")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn directory_load_copies_and_verifies() {
    let source = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let dir = model_dir(source.path());
    let checksum = dir_checksum(&dir, DirVariant::Manifest).expect("checksum");
    let loader = loader(cache.path(), DirVariant::Manifest);

    let location = format!("file://{}", dir.display());
    let artifact = loader
        .load(&location, &checksum.to_string(), ArtifactKind::Directory)
        .expect("load");
    assert_eq!(artifact.kind, ArtifactKind::Directory);
    assert_eq!(
        artifact.path,
        cache.path().join(format!("sha256-{}", checksum.hex()))
    );
    assert_eq!(
        std::fs::read(artifact.path.join("data/nested/weights.bin")).expect("read"),
        vec![7u8; 100_000]
    );
    assert_eq!(
        dir_checksum(&artifact.path, DirVariant::Manifest).expect("checksum"),
        checksum
    );
    assert_eq!(
        cache_entries(cache.path()),
        vec![format!("sha256-{}", checksum.hex())]
    );
}

#[test]
fn stream_variant_loader_uses_stream_checksum() {
    let source = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let dir = model_dir(source.path());
    let stream = dir_checksum(&dir, DirVariant::Stream).expect("checksum");
    let manifest = dir_checksum(&dir, DirVariant::Manifest).expect("checksum");
    let location = format!("file:{}", dir.display());

    let loader = loader(cache.path(), DirVariant::Stream);
    loader
        .load(&location, &stream.to_string(), ArtifactKind::Directory)
        .expect("stream checksum accepted");
    let err = loader
        .load(&location, &manifest.to_string(), ArtifactKind::Directory)
        .expect_err("manifest checksum rejected by a stream loader");
    assert!(err.to_string().contains("variant stream"), "{err}");
}

#[test]
fn file_load_and_cache_hit() {
    let source = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let file = source.path().join("m.onnx");
    std::fs::write(&file, b"onnx bytes").expect("write");
    let checksum = file_checksum(&file).expect("checksum").to_string();
    let loader = loader(cache.path(), DirVariant::Manifest);
    let location = format!("file://{}", file.display());

    let first = loader
        .load(&location, &checksum, ArtifactKind::File)
        .expect("load");
    assert_eq!(std::fs::read(&first.path).expect("read"), b"onnx bytes");
    assert_eq!(loader.fetch_count(), 1);

    let second = loader
        .load(&location, &checksum, ArtifactKind::File)
        .expect("load");
    assert_eq!(second, first);
    assert_eq!(loader.fetch_count(), 1, "second load must be a cache hit");
}

#[test]
fn mismatch_names_values_and_leaves_nothing() {
    let source = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let dir = model_dir(source.path());
    let actual = dir_checksum(&dir, DirVariant::Manifest).expect("checksum");
    let wrong = format!("sha256:{}", "0".repeat(64));
    let location = format!("file://{}", dir.display());
    let loader = loader(cache.path(), DirVariant::Manifest);

    let err = loader
        .load(&location, &wrong, ArtifactKind::Directory)
        .expect_err("mismatch");
    assert!(matches!(err, ArtifactError::Mismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&location), "{message}");
    assert!(message.contains(&wrong), "{message}");
    assert!(message.contains(&actual.to_string()), "{message}");
    assert!(
        cache_entries(cache.path()).is_empty(),
        "{:?}",
        cache_entries(cache.path())
    );
}

#[test]
fn new_location_with_cached_checksum_is_verified() {
    let source = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let good = source.path().join("good.onnx");
    let other = source.path().join("other.onnx");
    std::fs::write(&good, b"good").expect("write");
    std::fs::write(&other, b"other").expect("write");
    let checksum = file_checksum(&good).expect("checksum").to_string();
    let loader = loader(cache.path(), DirVariant::Manifest);

    loader
        .load(
            &format!("file://{}", good.display()),
            &checksum,
            ArtifactKind::File,
        )
        .expect("load");
    let err = loader
        .load(
            &format!("file://{}", other.display()),
            &checksum,
            ArtifactKind::File,
        )
        .expect_err("other content must not pass as the cached checksum");
    assert!(matches!(err, ArtifactError::Mismatch { .. }), "{err}");
    assert_eq!(loader.fetch_count(), 2);
}

#[test]
fn missing_location_is_not_found() {
    let cache = tempfile::tempdir().expect("tempdir");
    let loader = loader(cache.path(), DirVariant::Manifest);
    let location = "file:///nonexistent/tidb-model-test/model";
    let err = loader
        .load(
            location,
            &format!("sha256:{}", "a".repeat(64)),
            ArtifactKind::Directory,
        )
        .expect_err("missing");
    assert!(matches!(err, ArtifactError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(location), "{err}");
    assert!(cache_entries(cache.path()).is_empty());
}

#[test]
fn wrong_kind_is_rejected() {
    let source = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let dir = model_dir(source.path());
    let checksum = dir_checksum(&dir, DirVariant::Manifest)
        .expect("checksum")
        .to_string();
    let loader = loader(cache.path(), DirVariant::Manifest);

    let err = loader
        .load(
            &format!("file://{}", dir.display()),
            &checksum,
            ArtifactKind::File,
        )
        .expect_err("a directory is not a file artifact");
    assert!(matches!(err, ArtifactError::WrongKind { .. }), "{err}");
    assert!(err.to_string().contains("is a directory"), "{err}");
    assert!(cache_entries(cache.path()).is_empty());
}

#[test]
fn bad_location_and_checksum_are_rejected_before_fetching() {
    let cache = tempfile::tempdir().expect("tempdir");
    let loader = loader(cache.path(), DirVariant::Manifest);
    let good_checksum = format!("sha256:{}", "a".repeat(64));

    let err = loader
        .load("runs:/0123/model", &good_checksum, ArtifactKind::Directory)
        .expect_err("runs:/");
    assert!(matches!(err, ArtifactError::Uri(_)), "{err}");

    let err = loader
        .load("file:///tmp/m", "sha256:ABC", ArtifactKind::Directory)
        .expect_err("bad checksum");
    assert!(
        err.to_string().contains("sha256:<64 lowercase hex digits>"),
        "{err}"
    );
    assert_eq!(loader.fetch_count(), 0);
}

#[test]
fn concurrent_loads_fetch_once() {
    const THREADS: usize = 8;
    let source = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let dir = source.path().join("big");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for index in 0..20 {
        std::fs::write(
            dir.join(format!("part-{index}")),
            vec![index as u8; 400_000],
        )
        .expect("write");
    }
    let checksum = dir_checksum(&dir, DirVariant::Manifest)
        .expect("checksum")
        .to_string();
    let location = format!("file://{}", dir.display());
    let loader = Arc::new(loader(cache.path(), DirVariant::Manifest));
    let barrier = Arc::new(Barrier::new(THREADS));

    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let loader = Arc::clone(&loader);
            let barrier = Arc::clone(&barrier);
            let location = location.clone();
            let checksum = checksum.clone();
            std::thread::spawn(move || {
                barrier.wait();
                loader.load(&location, &checksum, ArtifactKind::Directory)
            })
        })
        .collect();
    let paths: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread").expect("load").path)
        .collect();

    assert_eq!(loader.fetch_count(), 1);
    assert!(paths.iter().all(|p| p == &paths[0]));
    assert_eq!(cache_entries(cache.path()).len(), 1);
}
