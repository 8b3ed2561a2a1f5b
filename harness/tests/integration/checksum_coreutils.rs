//! Checksums compared with coreutils on real directories, and the
//! rejection of entries that cannot be hashed unambiguously.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use harness::artifact::checksum::{
    dir_checksum, file_checksum, path_checksum, ChecksumError, DirVariant,
};

/// The documented manifest one-liner.
const MANIFEST_SHELL: &str =
    r#"(cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum"#;

/// An independent shell rendering of the stream variant: path, newline,
/// bytes, newline per file in bytewise path order.
const STREAM_SHELL: &str = r#"(cd "$1" && find . -type f | sed 's|^\./||' | LC_ALL=C sort | while IFS= read -r f; do printf '%s\n' "$f"; cat "$f"; printf '\n'; done) | sha256sum"#;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("harness crate sits in the workspace root")
        .to_path_buf()
}

/// Runs `script` with `sh -c` and `$1 = path`, returning `sha256:<hex>`.
fn shell_digest(script: &str, path: &Path) -> String {
    let output = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("sh")
        .arg(path)
        .output()
        .expect("sh runs");
    assert!(
        output.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("sha256sum prints ASCII");
    let hex = stdout
        .split_whitespace()
        .next()
        .expect("sha256sum prints a digest");
    format!("sha256:{hex}")
}

fn write(root: &Path, relative: &str, bytes: &[u8]) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().expect("relative path has a parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

/// Creates a model-like tree with nesting, names that sort differently per byte
/// order (`a-c` before `a/b`), spaces, UTF-8, an empty file, binary data
/// and an empty directory.
fn nested_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "MLmodel",
        b"flavors:\n  python_function:\n    loader_module: m\n",
    );
    write(root, "a/b", b"inner");
    write(root, "a-c", b"dash");
    write(root, "A", b"upper");
    write(
        root,
        "data/deep/er/weights.bin",
        &(0..=255u8).cycle().take(300_000).collect::<Vec<_>>(),
    );
    write(root, "code/my module.py", b"def f():\n    return 1\n");
    write(root, "code/caf\u{e9}.txt", "é".as_bytes());
    write(root, "empty.txt", b"");
    std::fs::create_dir_all(root.join("unused/empty")).expect("mkdir");
    dir
}

#[test]
fn manifest_matches_coreutils_on_nested_tree() {
    let dir = nested_tree();
    let ours = dir_checksum(dir.path(), DirVariant::Manifest).expect("checksum");
    assert_eq!(ours.to_string(), shell_digest(MANIFEST_SHELL, dir.path()));
}

#[test]
fn stream_matches_shell_on_nested_tree() {
    let dir = nested_tree();
    let ours = dir_checksum(dir.path(), DirVariant::Stream).expect("checksum");
    assert_eq!(ours.to_string(), shell_digest(STREAM_SHELL, dir.path()));
}

#[test]
fn variants_differ_and_content_matters() {
    let dir = nested_tree();
    let manifest = dir_checksum(dir.path(), DirVariant::Manifest).expect("checksum");
    let stream = dir_checksum(dir.path(), DirVariant::Stream).expect("checksum");
    assert_ne!(manifest, stream);

    write(dir.path(), "a/b", b"inneR");
    let changed = dir_checksum(dir.path(), DirVariant::Manifest).expect("checksum");
    assert_ne!(manifest, changed);
}

#[test]
fn empty_directories_are_ignored() {
    let dir = nested_tree();
    let before = dir_checksum(dir.path(), DirVariant::Manifest).expect("checksum");
    std::fs::create_dir_all(dir.path().join("more/empty/dirs")).expect("mkdir");
    let after = dir_checksum(dir.path(), DirVariant::Manifest).expect("checksum");
    assert_eq!(before, after);
}

#[test]
fn directory_without_files_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("only/dirs")).expect("mkdir");
    let err = dir_checksum(dir.path(), DirVariant::Manifest).expect_err("no files");
    assert!(matches!(err, ChecksumError::EmptyDirectory { .. }), "{err}");
}

#[test]
fn file_checksum_matches_sha256sum() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.onnx");
    std::fs::write(
        &path,
        (0..200_000u32)
            .flat_map(|i| i.to_le_bytes())
            .collect::<Vec<_>>(),
    )
    .expect("write");
    let ours = file_checksum(&path).expect("checksum");
    assert_eq!(ours.to_string(), shell_digest(r#"sha256sum < "$1""#, &path));
    assert_eq!(
        path_checksum(&path, DirVariant::Stream).expect("checksum"),
        ours
    );
}

#[test]
fn repository_fixtures_match_coreutils() {
    let root = repo_root().join("fixtures");

    // Every MLflow model directory that exists, valid or not.
    let mut checked = 0;
    for group in ["mlflow", "invalid"] {
        let Ok(entries) = std::fs::read_dir(root.join(group)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if !path.is_dir() {
                continue;
            }
            let ours = dir_checksum(&path, DirVariant::Manifest).expect("checksum");
            assert_eq!(
                ours.to_string(),
                shell_digest(MANIFEST_SHELL, &path),
                "{}",
                path.display()
            );
            let ours = dir_checksum(&path, DirVariant::Stream).expect("checksum");
            assert_eq!(
                ours.to_string(),
                shell_digest(STREAM_SHELL, &path),
                "{}",
                path.display()
            );
            checked += 1;
        }
    }

    // Every .onnx file anywhere under fixtures/.
    let mut pending = vec![root];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension() == Some(OsStr::new("onnx")) {
                let ours = file_checksum(&path).expect("checksum");
                assert_eq!(
                    ours.to_string(),
                    shell_digest(r#"sha256sum < "$1""#, &path),
                    "{}",
                    path.display()
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 0,
        "no fixture artifacts found under {}",
        repo_root().join("fixtures").display()
    );
}

/// Asserts that hashing `root` fails naming `offender`.
fn assert_rejected(root: &Path, offender: &Path, what: &str) {
    for variant in [DirVariant::Manifest, DirVariant::Stream] {
        let err = dir_checksum(root, variant).expect_err(what);
        let message = err.to_string();
        let shown = format!("{}", offender.display());
        let debug_shown = format!("{offender:?}");
        assert!(
            message.contains(&shown) || message.contains(&debug_shown),
            "{what}: message does not name {shown}: {message}"
        );
    }
}

#[test]
fn symlink_is_rejected() {
    let dir = nested_tree();
    let link = dir.path().join("a/link");
    std::os::unix::fs::symlink(dir.path().join("a-c"), &link).expect("symlink");
    assert_rejected(dir.path(), &link, "symlink");
}

#[test]
fn dangling_symlink_to_outside_is_rejected() {
    let dir = nested_tree();
    let link = dir.path().join("escape");
    std::os::unix::fs::symlink("/etc", &link).expect("symlink");
    assert_rejected(dir.path(), &link, "symlink to a directory outside");
}

#[test]
fn fifo_is_rejected() {
    let dir = nested_tree();
    let fifo = dir.path().join("data/pipe");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    assert_rejected(dir.path(), &fifo, "fifo");
}

#[test]
fn unhashable_names_are_rejected() {
    let names: [&[u8]; 4] = [
        b"new\nline",
        b"back\\slash",
        b"carriage\rreturn",
        b"latin1-\xe9",
    ];
    for name in names {
        let dir = nested_tree();
        let path = dir.path().join("data").join(OsStr::from_bytes(name));
        std::fs::write(&path, b"x").expect("write");
        assert_rejected(dir.path(), &path, &String::from_utf8_lossy(name));
    }
}
