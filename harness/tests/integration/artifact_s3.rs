//! `s3://` artifacts against a real S3-protocol server: moto in server
//! mode from the repository's `.venv`, started on 127.0.0.1 once for this
//! test binary and stopped when the test ends.

use std::path::Path;
use std::sync::{Arc, Barrier};

use crate::support::moto::MotoServer;

use harness::artifact::checksum::{dir_checksum, file_checksum};
use harness::artifact::{
    ArtifactError, ArtifactKind, ArtifactLoader, DirVariant, LoaderOptions, S3Config,
};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

const BUCKET: &str = "models";

/// Uploads every file under `dir` to `prefix/<relative path>`.
fn upload_dir(
    runtime: &tokio::runtime::Runtime,
    store: &dyn ObjectStore,
    dir: &Path,
    prefix: &str,
) {
    let files = harness::artifact::checksum::list_files(dir).expect("list");
    for file in files {
        let bytes = std::fs::read(&file.path).expect("read");
        let key = ObjectPath::from(format!("{prefix}/{}", file.relative));
        runtime
            .block_on(store.put(&key, PutPayload::from(bytes)))
            .expect("upload");
    }
}

fn write(root: &Path, relative: &str, bytes: &[u8]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

fn loader(cache: &Path, config: S3Config, variant: DirVariant) -> ArtifactLoader {
    ArtifactLoader::new(LoaderOptions {
        cache_dir: cache.to_path_buf(),
        dir_variant: variant,
        s3: config,
    })
    .expect("loader")
}

fn cache_is_empty(cache: &Path) -> bool {
    std::fs::read_dir(cache)
        .expect("read cache")
        .next()
        .is_none()
}

/// Shared state for the cases below.
struct Fixture {
    server: MotoServer,
    model: tempfile::TempDir,
    onnx_checksum: String,
}

#[test]
fn s3_artifacts_against_moto() {
    let server = MotoServer::start();
    server.create_bucket(BUCKET);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = server.config().build_store(BUCKET).expect("store");

    // A model directory with nested prefixes, a decoy sharing its name as a
    // string prefix, and a single-object artifact.
    let model = tempfile::tempdir().expect("tempdir");
    write(
        model.path(),
        "MLmodel",
        b"flavors:\n  python_function: {loader_module: m}\n",
    );
    write(model.path(), "data/weights.bin", &vec![3u8; 200_000]);
    write(model.path(), "data/deep/er/config.json", b"{}");
    write(model.path(), "code/module.py", b"x = 1\n");
    upload_dir(&runtime, &store, model.path(), "models/m1");
    runtime
        .block_on(store.put(
            &ObjectPath::from("models/m1-decoy/MLmodel"),
            PutPayload::from_static(b"decoy"),
        ))
        .expect("upload decoy");
    runtime
        .block_on(store.put(
            &ObjectPath::from("models/m1.onnx"),
            PutPayload::from_static(b"onnx bytes"),
        ))
        .expect("upload onnx");
    let onnx_local = model.path().join("..").join("onnx-copy");
    std::fs::write(&onnx_local, b"onnx bytes").expect("write");
    let onnx_checksum = file_checksum(&onnx_local).expect("checksum").to_string();
    std::fs::remove_file(&onnx_local).expect("remove");

    let fixture = Fixture {
        server,
        model,
        onnx_checksum,
    };
    nested_prefix_loads_as_directory(&fixture);
    stream_variant_on_handed_runtime(&fixture);
    single_object_is_a_file(&fixture);
    missing_key_is_not_found(&fixture);
    mismatch_leaves_nothing(&fixture);
    concurrent_loads_download_once(&fixture);
}

fn nested_prefix_loads_as_directory(fixture: &Fixture) {
    let cache = tempfile::tempdir().expect("tempdir");
    let expected = dir_checksum(fixture.model.path(), DirVariant::Manifest).expect("checksum");
    let loader = loader(cache.path(), fixture.server.config(), DirVariant::Manifest);

    let artifact = loader
        .load(
            "s3://models/models/m1",
            &expected.to_string(),
            ArtifactKind::Directory,
        )
        .expect("load nested prefix");
    assert_eq!(artifact.kind, ArtifactKind::Directory);
    assert_eq!(
        std::fs::read(artifact.path.join("data/deep/er/config.json")).expect("nested file"),
        b"{}"
    );
    assert!(!artifact.path.join("MLmodel-decoy").exists());
    assert_eq!(
        dir_checksum(&artifact.path, DirVariant::Manifest).expect("checksum"),
        expected
    );

    let again = loader
        .load(
            "s3://models/models/m1/",
            &expected.to_string(),
            ArtifactKind::Directory,
        )
        .expect("trailing slash is the same prefix");
    assert_eq!(again.path, artifact.path);
    assert_eq!(
        loader.fetch_count(),
        1,
        "the second load must hit the cache"
    );
}

fn stream_variant_on_handed_runtime(fixture: &Fixture) {
    let cache = tempfile::tempdir().expect("tempdir");
    let expected = dir_checksum(fixture.model.path(), DirVariant::Stream).expect("checksum");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let loader = ArtifactLoader::with_runtime(
        LoaderOptions {
            cache_dir: cache.path().to_path_buf(),
            dir_variant: DirVariant::Stream,
            s3: fixture.server.config(),
        },
        runtime.handle().clone(),
    )
    .expect("loader");

    loader
        .load(
            "s3://models/models/m1",
            &expected.to_string(),
            ArtifactKind::Directory,
        )
        .expect("stream variant load");
}

fn single_object_is_a_file(fixture: &Fixture) {
    let cache = tempfile::tempdir().expect("tempdir");
    let loader = loader(cache.path(), fixture.server.config(), DirVariant::Manifest);

    let artifact = loader
        .load(
            "s3://models/models/m1.onnx",
            &fixture.onnx_checksum,
            ArtifactKind::File,
        )
        .expect("load single object");
    assert_eq!(artifact.kind, ArtifactKind::File);
    assert_eq!(std::fs::read(&artifact.path).expect("read"), b"onnx bytes");

    let err = loader
        .load(
            "s3://models/models/m1.onnx",
            &fixture.onnx_checksum,
            ArtifactKind::Directory,
        )
        .expect_err("a single object is not a directory artifact");
    assert!(matches!(err, ArtifactError::WrongKind { .. }), "{err}");
}

fn missing_key_is_not_found(fixture: &Fixture) {
    let cache = tempfile::tempdir().expect("tempdir");
    let loader = loader(cache.path(), fixture.server.config(), DirVariant::Manifest);

    for location in ["s3://models/models/absent", "s3://models/models/m"] {
        let err = loader
            .load(location, &fixture.onnx_checksum, ArtifactKind::Directory)
            .expect_err(location);
        assert!(
            matches!(err, ArtifactError::NotFound { .. }),
            "{location}: {err}"
        );
        assert!(err.to_string().contains(location), "{err}");
    }
    assert!(cache_is_empty(cache.path()));

    let err = loader
        .load(
            "s3://no-such-bucket/m1",
            &fixture.onnx_checksum,
            ArtifactKind::Directory,
        )
        .expect_err("missing bucket");
    assert!(err.to_string().contains("s3://no-such-bucket/m1"), "{err}");
}

fn mismatch_leaves_nothing(fixture: &Fixture) {
    let cache = tempfile::tempdir().expect("tempdir");
    let loader = loader(cache.path(), fixture.server.config(), DirVariant::Manifest);
    let wrong = format!("sha256:{}", "f".repeat(64));
    let actual = dir_checksum(fixture.model.path(), DirVariant::Manifest).expect("checksum");

    let err = loader
        .load("s3://models/models/m1", &wrong, ArtifactKind::Directory)
        .expect_err("mismatch");
    assert!(matches!(err, ArtifactError::Mismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("s3://models/models/m1"), "{message}");
    assert!(message.contains(&wrong), "{message}");
    assert!(message.contains(&actual.to_string()), "{message}");
    assert!(
        cache_is_empty(cache.path()),
        "a failed load left files in the cache"
    );
}

fn concurrent_loads_download_once(fixture: &Fixture) {
    const THREADS: usize = 6;
    let cache = tempfile::tempdir().expect("tempdir");
    let expected = dir_checksum(fixture.model.path(), DirVariant::Manifest)
        .expect("checksum")
        .to_string();
    let loader = Arc::new(loader(
        cache.path(),
        fixture.server.config(),
        DirVariant::Manifest,
    ));
    let barrier = Arc::new(Barrier::new(THREADS));

    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let loader = Arc::clone(&loader);
            let barrier = Arc::clone(&barrier);
            let expected = expected.clone();
            std::thread::spawn(move || {
                barrier.wait();
                loader.load("s3://models/models/m1", &expected, ArtifactKind::Directory)
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("thread").expect("load");
    }
    assert_eq!(loader.fetch_count(), 1);
}
