//! Shared test fixtures: copies of the example workspace in temporary directories, and running imgs in them.

pub mod chaos;
pub mod ebs;
pub mod fanout;

use std::path::{Path, PathBuf};

use imgs_cache::{BuildArtifact, Cache, CacheRecord};

/// The repository (this binary belongs to `crates/imgs`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The `imgs` executable cargo built for these tests, from the same sources as the library they call.
pub fn imgs_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_imgs"))
}

/// A private copy of the example workspace (Images.toml, images/, scripts/) with the build key that its
/// templates reference, so tests can change files freely.
pub fn example_workspace() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("imgs-test-")
        .tempdir()
        .unwrap();
    let root = repo_root();
    std::fs::copy(root.join("Images.toml"), dir.path().join("Images.toml")).unwrap();
    copy_dir(&root.join("images"), &dir.path().join("images"));
    copy_dir(&root.join("scripts"), &dir.path().join("scripts"));
    build_key(&dir.path().join("cache/base-image/id_ed25519"));
    dir
}

/// An empty workspace in a temporary directory (named `prefix…`) whose members are `images/*`.
pub fn new_workspace(prefix: &str) -> tempfile::TempDir {
    new_workspace_with(prefix, "")
}

/// [`new_workspace`] with `more` after the `members` line of its Images.toml (workspace variables,
/// `[images.NAME]` tables).
pub fn new_workspace_with(prefix: &str, more: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    write(
        dir.path(),
        "Images.toml",
        &format!("[workspace]\nmembers = [\"images/*\"]\n{more}"),
    );
    dir
}

/// A fresh SSH key where the example templates expect one (as Packer, imgs checks it is a usable key).
pub fn build_key(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    imgs_test_peers::sshd::keygen(path).unwrap_or_else(|why| panic!("{why}"));
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

pub fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Writes `template` as `images/<image>/template.json`, pretty-printed (errors point at its lines).
pub fn write_template(root: &Path, image: &str, template: &serde_json::Value) {
    write(
        root,
        &format!("images/{image}/template.json"),
        &serde_json::to_string_pretty(template).unwrap(),
    );
}

pub fn append(root: &Path, rel: &str, text: &str) {
    let mut current = std::fs::read_to_string(root.join(rel)).unwrap();
    current.push_str(text);
    std::fs::write(root.join(rel), current).unwrap();
}

/// `packer build -color=false TEMPLATE` in `dir`, as the comparisons with Packer run it: no update
/// check, its plugin cache inside `dir`. It must succeed; its output.
pub fn packer_build(packer: &Path, dir: &Path, template: &str) -> std::process::Output {
    let out = std::process::Command::new(packer)
        .args(["build", "-color=false", template])
        .current_dir(dir)
        .env("CHECKPOINT_DISABLE", "1")
        .env("PACKER_CACHE_DIR", dir.join("packer_cache"))
        .output()
        .unwrap();
    assert!(out.status.success(), "packer build: {out:?}");
    out
}

/// Run `imgs ARGS` in `dir`, in-process.
pub fn imgs(dir: &Path, args: &[&str]) -> imgs::Outcome {
    imgs::run(
        std::iter::once("imgs")
            .chain(args.iter().copied())
            .map(Into::into),
        dir.to_path_buf(),
    )
}

/// `imgs ARGS` must succeed; its stdout.
pub fn imgs_ok(dir: &Path, args: &[&str]) -> String {
    let out = imgs(dir, args);
    assert_eq!(
        out.code, 0,
        "imgs {args:?} failed:\n{}{}",
        out.stdout, out.stderr
    );
    out.stdout
}

/// `imgs ARGS` must fail with bad-input exit code 2; its stderr.
pub fn imgs_input_error(dir: &Path, args: &[&str]) -> String {
    let out = imgs(dir, args);
    assert_eq!(
        out.code, 2,
        "imgs {args:?} should fail with code 2:\n{}{}",
        out.stdout, out.stderr
    );
    out.stderr
}

/// Record a successful build of each named image at its current fingerprint, as a builder will: a
/// qcow2 file in the image's version directory, and a record naming it.
pub fn record_builds(dir: &Path, images: &[&str]) {
    let plan = imgs::workspace_plan(dir, images).unwrap();
    let cache = Cache::open(&dir.join("cache"));
    for name in images {
        let image = plan.get(name).unwrap();
        let version = format!("cache/artifacts/{name}/{}", image.fingerprint.short());
        let disk = format!("{version}/{name}.qcow2");
        std::fs::create_dir_all(dir.join(&version)).unwrap();
        std::fs::write(dir.join(&disk), "not really a disk").unwrap();
        let artifact = BuildArtifact {
            name: name.to_string(),
            builder_type: "qemu".into(),
            artifact_id: "VM".into(),
            files: vec![disk],
        };
        let mut record = CacheRecord::new(*name, image.inputs.clone(), vec![artifact], "run-test");
        record.artifact_dir = Some(version);
        cache.store(&record).unwrap();
    }
}

/// Fingerprints of every image, by name.
pub fn fingerprints(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let plan = imgs::workspace_plan(dir, &[]).unwrap();
    plan.images
        .iter()
        .map(|i| (i.name.clone(), i.fingerprint.to_string()))
        .collect()
}

/// Snapshot settings that hide what legitimately varies between machines and runs: fingerprints,
/// temporary directories, timestamps.
pub fn settings(dir: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(&dir.to_string_lossy()), "[WS]");
    s.add_filter(r"\b[0-9a-f]{64}\b", "[FINGERPRINT]");
    s.add_filter(r"\b[0-9a-f]{12}\b", "[fp]");
    s.add_filter(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
        "[TIME]",
    );
    s
}

/// [`settings`] for the output of builds over SSH: run IDs, the sshd's port and the names of
/// uploaded scripts vary between runs too.
pub fn run_settings(dir: &Path, ssh_port: u16) -> insta::Settings {
    let mut s = settings(dir);
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-(\[fp\]|[0-9a-f]{12})",
        "[RUN]",
    );
    s.add_filter(&format!(":{ssh_port}\\b"), ":[PORT]");
    s.add_filter(r"/tmp/script_\d+\.sh", "/tmp/script_[N].sh");
    // Debian's bash reads ~/.bashrc for commands sshd runs; where that file sets up pyenv, two
    // sessions at once race over its shims and one prints about it. Not the build's output.
    s.add_filter(
        r"(?m)^.*(cannot remove '[^']*/\.pyenv/shims/|pyenv: cannot rehash).*\n",
        "",
    );
    s
}

pub fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}
