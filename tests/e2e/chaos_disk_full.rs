//! A full disk while imgs writes: a record, an artifact in the cache, an artifact in an output
//! directory of the template's, a post-processor's output, and a sweep of disk sizes that fills the
//! disk at every point of a small build in turn. Each must end in a clear error (which file, "No
//! space left on device", a hint) with nothing recorded and no half file left — or, where the disk
//! was big enough, in a build whose every file is whole.
//!
//! The full disk is a small tmpfs mounted over the workspace's `cache/` (or `out/`) for one imgs
//! process alone: `unshare --mount --propagation private` gives it a mount namespace of its own, so
//! the mount is nobody else's and is gone when the process ends. Before it goes, what imgs left on
//! it is copied out for the test to read. This needs root (the tests run as root) and `unshare`;
//! without them the tests say why and skip.

use std::path::Path;
use std::process::{Command, Stdio};

use imgs_cache::{Cache, Scanned};

use crate::support::chaos;
use crate::support::*;

/// Whether a private tmpfs can be mounted here; why not, when it cannot.
fn tmpfs_unavailable() -> Option<String> {
    let dir = tempfile::tempdir().unwrap();
    match Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o size=4k tmpfs \"$1\"")
        .arg("sh")
        .arg(dir.path())
        .output()
    {
        Err(e) => Some(format!("`unshare` cannot be run ({e}); install util-linux")),
        Ok(out) if !out.status.success() => Some(format!(
            "cannot mount a private tmpfs (needs root): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

/// Skips the calling test (returns `true`) where no tmpfs can be mounted, saying why.
fn skip() -> bool {
    match tmpfs_unavailable() {
        Some(why) => {
            eprintln!("skipped: a full disk is a private tmpfs, and {why}");
            true
        }
        None => false,
    }
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    /// What was on the tmpfs when imgs ended (a copy).
    left: tempfile::TempDir,
}

/// `imgs ARGS` in `root` with a tmpfs of `size` (as `mount -o size=` reads it) mounted over
/// `root/mounted`, for that process alone.
fn on_small_disk(root: &Path, mounted: &str, size: &str, args: &[&str]) -> Ran {
    let left = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.join(mounted)).unwrap();
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "dir=$1 copy=$2 size=$3; shift 3\n\
             mount -t tmpfs -o size=$size tmpfs \"$dir\" || exit 97\n\
             \"$@\"; rc=$?\n\
             cp -a \"$dir/.\" \"$copy\" || exit 98\n\
             exit $rc",
        )
        .arg("sh")
        .arg(root.join(mounted))
        .arg(left.path())
        .arg(size)
        .arg(imgs_exe())
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let code = out.status.code();
    assert!(
        !matches!(code, Some(97 | 98)),
        "the tmpfs could not be mounted or read: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ran {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        left,
    }
}

/// Every file and directory under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    fn walk(base: &Path, dir: &Path, all: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let shown = path.strip_prefix(base).unwrap().display().to_string();
            if path.is_dir() && !path.is_symlink() {
                all.push(format!("{shown}/"));
                walk(base, &path, all);
            } else {
                all.push(shown);
            }
        }
    }
    walk(dir, dir, &mut all);
    all.sort();
    all
}

/// What a failed build must not leave in a cache directory: half files (imgs's temporary files),
/// reservation markers, version directories, records. (`filler` is the test's own.)
fn leftovers(cache: &Path) -> Vec<String> {
    tree(cache)
        .into_iter()
        .filter(|p| {
            let name = p
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default();
            name.starts_with(".imgs-partial-")
                || name.ends_with(".building")
                || (p.starts_with("records/") && !p.ends_with('/'))
                || (p.starts_with("artifacts/") && p.matches('/').count() >= 3)
        })
        .collect()
}

/// Snapshot settings: the workspace, run IDs and durations vary.
fn disk_settings(root: &Path) -> insta::Settings {
    let mut s = settings(root);
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-(\[fp\]|[0-9a-f]{12})",
        "[RUN]",
    );
    s.add_filter(r"\d+\.\d\ds", "[T]s");
    s
}

/// `n` bytes that do not compress.
fn noise(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A workspace of one image, `x`, with this template.
fn one_image(template: serde_json::Value) -> tempfile::TempDir {
    let ws = new_workspace("imgs-disk-");
    write_template(ws.path(), "x", &template);
    ws
}

#[test]
fn chaos_disk_full_while_writing_the_record_records_nothing_and_says_so() {
    if skip() {
        return;
    }
    // The build writes a small file, then its provisioner fills the disk: the record is the first
    // thing that finds no room.
    let ws = new_workspace("imgs-disk-");
    let root = ws.path();
    let filler = root.join("cache/filler");
    write_template(
        root,
        "x",
        &serde_json::json!({
            "builders": [{ "type": "file", "content": "small", "target": "cache/artifacts/x/out.txt" }],
            "provisioners": [{
                "type": "shell-local",
                "inline": [format!("head -c 100000000 /dev/zero > {} || true", filler.display())],
            }],
        }),
    );
    let ran = on_small_disk(root, "cache", "128k", &["build", "--all"]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("its cache record could not be written"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("No space left on device"),
        "{}",
        ran.stderr
    );
    disk_settings(root).bind(|| insta::assert_snapshot!("record_stderr", ran.stderr));
    assert_eq!(leftovers(ran.left.path()), Vec::<String>::new());
    assert!(
        ran.left.path().join("filler").exists(),
        "the disk was filled"
    );
}

#[test]
fn chaos_disk_full_while_writing_an_artifact_leaves_no_half_file() {
    if skip() {
        return;
    }
    let big = noise(1 << 20);
    let copy = |target: &str| {
        serde_json::json!({
            "builders": [{ "type": "file", "source": "images/x/big.bin", "target": target }],
        })
    };

    // Into the image's version directory, in the cache.
    let ws = one_image(copy("cache/artifacts/x/big.bin"));
    let root = ws.path();
    std::fs::write(root.join("images/x/big.bin"), &big).unwrap();
    let ran = on_small_disk(root, "cache", "256k", &["build", "--all"]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("No space left on device"),
        "{}",
        ran.stderr
    );
    disk_settings(root).bind(|| insta::assert_snapshot!("artifact_in_cache_stderr", ran.stderr));
    assert_eq!(leftovers(ran.left.path()), Vec::<String>::new());

    // Into an output directory of the template's own: no half `big.bin` there either.
    let ws = one_image(copy("out/big.bin"));
    let root = ws.path();
    std::fs::write(root.join("images/x/big.bin"), &big).unwrap();
    let ran = on_small_disk(root, "out", "256k", &["build", "--all"]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("No space left on device"),
        "{}",
        ran.stderr
    );
    disk_settings(root)
        .bind(|| insta::assert_snapshot!("artifact_in_output_dir_stderr", ran.stderr));
    assert_eq!(
        tree(ran.left.path()),
        Vec::<String>::new(),
        "out/ holds nothing"
    );
    assert_eq!(leftovers(&root.join("cache")), Vec::<String>::new());

    // A post-processor's output that finds no room (compressing noise needs as much again).
    let mut template = copy("cache/artifacts/x/big.bin");
    template["post-processors"] =
        serde_json::json!([{ "type": "compress", "output": "cache/artifacts/x/big.tar.gz" }]);
    let ws = one_image(template);
    let root = ws.path();
    std::fs::write(root.join("images/x/big.bin"), &big).unwrap();
    let ran = on_small_disk(root, "cache", "1536k", &["build", "--all"]);
    assert_eq!(ran.code, Some(1), "{}{}", ran.stdout, ran.stderr);
    assert!(
        ran.stderr.contains("No space left on device"),
        "{}",
        ran.stderr
    );
    disk_settings(root).bind(|| insta::assert_snapshot!("post_processor_stderr", ran.stderr));
    assert_eq!(leftovers(ran.left.path()), Vec::<String>::new());
}

/// What found the disk full, from the first error a run printed.
fn failed_at(stderr: &str) -> &'static str {
    let first = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    [
        (
            "cannot reserve an artifact directory",
            "reserving the version directory",
        ),
        ("cannot copy to", "the artifact"),
        ("post-processors", "the checksum post-processor"),
        ("cache record could not be written", "the record"),
        ("manifest.json", "the run manifest"),
    ]
    .into_iter()
    .find(|(text, _)| first.contains(text))
    .map_or("elsewhere", |(_, what)| what)
}

/// What one run on a disk of some size came to.
#[derive(Default)]
struct Sweep {
    sizes: Vec<String>,
    /// Failed runs by what found the disk full.
    failed_at: std::collections::BTreeMap<&'static str, usize>,
    succeeded: usize,
    failed_clearly: usize,
    /// Failed without saying the disk was full.
    unclear: usize,
    /// Half files, markers, version directories or records a failed run left.
    leaked: usize,
    /// A record naming a file that is not there, or a record that does not read.
    false_records: usize,
    crashes: usize,
    problems: Vec<String>,
}

#[test]
fn chaos_disk_full_at_every_point_of_a_build() {
    if skip() {
        return;
    }
    // A build that writes at every step: the lock's holder, the stat cache (the input is old, so
    // it is remembered), a version's marker, a 48 KiB artifact, a checksum file, the record, the
    // manifest. Disks from one page up to room for all of it fill at each step in turn.
    let ws = one_image(serde_json::json!({
        "builders": [{ "type": "file", "source": "images/x/in.bin", "target": "cache/artifacts/x/in.bin" }],
        "post-processors": [{ "type": "checksum", "checksum_types": ["sha256"] }],
    }));
    let root = ws.path();
    let input = root.join("images/x/in.bin");
    std::fs::write(&input, noise(48 << 10)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&input)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    let steps = chaos::runs(8, 32);
    let largest_kib = 128;
    let mut sweep = Sweep::default();
    for step in 0..steps {
        let kib = 4 * (1 + step * (largest_kib / 4 - 1) / (steps - 1).max(1));
        let size = format!("{kib}k");
        sweep.sizes.push(size.clone());
        let ran = on_small_disk(root, "cache", &size, &["build", "--all"]);
        let left = ran.left.path();
        if ran.code.is_none_or(|c| c == 101) || ran.stderr.contains("panicked") {
            sweep.crashes += 1;
            sweep
                .problems
                .push(format!("{size}: crashed\n{}", ran.stderr));
            continue;
        }
        let cache = Cache::open(left);
        let scanned = cache.scan().unwrap();
        for item in &scanned {
            match item {
                Scanned::Unreadable(u) => {
                    sweep.false_records += 1;
                    sweep.problems.push(format!("{size}: {}", u.error));
                }
                Scanned::Record(record) => {
                    let missing: Vec<&String> = record
                        .builds
                        .iter()
                        .flat_map(|b| &b.files)
                        .filter(|f| !left.join(f.trim_start_matches("cache/")).exists())
                        .collect();
                    if !missing.is_empty() {
                        sweep.false_records += 1;
                        sweep
                            .problems
                            .push(format!("{size}: a record names missing {missing:?}"));
                    }
                }
            }
        }
        match ran.code {
            Some(0) => {
                sweep.succeeded += 1;
                if scanned.len() != 1 {
                    sweep
                        .problems
                        .push(format!("{size}: built, but {scanned:?}"));
                }
            }
            _ => {
                if ran.stderr.contains("No space left on device") && ran.stderr.contains("hint") {
                    sweep.failed_clearly += 1;
                    *sweep.failed_at.entry(failed_at(&ran.stderr)).or_default() += 1;
                } else {
                    sweep.unclear += 1;
                    sweep
                        .problems
                        .push(format!("{size}: unclear failure\n{}", ran.stderr));
                }
                let left_behind = leftovers(left);
                if !left_behind.is_empty() {
                    sweep.leaked += left_behind.len();
                    sweep
                        .problems
                        .push(format!("{size}: left {left_behind:?}\n{}", ran.stderr));
                }
            }
        }
    }
    chaos::report(
        "disk_full",
        serde_json::json!({
            "disk_sizes": sweep.sizes.join(" "),
            "runs": steps,
            "succeeded": sweep.succeeded,
            "failed_with_a_clear_error": sweep.failed_clearly,
            "failed_at": sweep.failed_at,
            "failed_unclearly": sweep.unclear,
            "leaked": sweep.leaked,
            "false_records": sweep.false_records,
            "crashes": sweep.crashes,
        }),
    );
    assert_eq!(sweep.problems, Vec::<String>::new());
    assert!(sweep.succeeded > 0, "the largest disk is big enough");
    assert!(sweep.failed_clearly > 0, "the smallest is not");
}
