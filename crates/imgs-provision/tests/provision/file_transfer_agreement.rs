//! The file provisioner run by Packer 1.6.6 (the reference) and by imgs against one private sshd,
//! with both `ssh_file_transfer_method`s, for every shape of source and destination: directories
//! with and without a trailing slash, destinations that exist, do not exist, whose parent is missing,
//! that end with a slash or are files; single files; downloads of directories, files and wildcards.
//! Each case runs in two identical copies of the same tree, one per tool, and must end the same:
//! the same outcome (success or failure) and the same files, with the same contents and modes.
//!
//! The server runs on this machine, so the "remote" side is a directory here too. Without Packer
//! the outcomes are still checked against the recorded table, which Packer produced (or the test
//! fails where `CI` is set: `imgs_test_peers::packer`).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use imgs_provision::{Stream, run_provisioner};
use imgs_ssh::{SshConfig, SshSession};
use imgs_test_peers::TestSshd;
use imgs_test_peers::packer::packer_for;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::common::step_in;

const METHODS: [&str; 2] = ["scp", "sftp"];

/// What a case finds before it runs, beyond the common tree (see [`lay_out`]). Paths are relative
/// to the case's directory: `L` is the local side, `R` the remote one.
enum Setup {
    Dir(&'static str, u32),
    File(&'static str, u32, &'static str),
    Remove(&'static str),
}

struct Case {
    name: &'static str,
    download: bool,
    source: &'static str,
    destination: &'static str,
    setup: &'static [Setup],
    /// Packer reads the remote scp's answers one record late: when a directory record is refused,
    /// it has already announced the next file, which the remote scp may create, empty, before the
    /// connection closes (a race: seen in one run, not in the next). imgs waits for each answer and
    /// announces nothing more. The outcome is the same failure; Packer may have an empty file more.
    packer_debris: bool,
}

const fn up(
    name: &'static str,
    source: &'static str,
    destination: &'static str,
    setup: &'static [Setup],
) -> Case {
    case(name, false, source, destination, setup)
}

const fn down(
    name: &'static str,
    source: &'static str,
    destination: &'static str,
    setup: &'static [Setup],
) -> Case {
    case(name, true, source, destination, setup)
}

const fn case(
    name: &'static str,
    download: bool,
    source: &'static str,
    destination: &'static str,
    setup: &'static [Setup],
) -> Case {
    Case {
        name,
        download,
        source,
        destination,
        setup,
        packer_debris: false,
    }
}

const DST_700: Setup = Setup::Dir("R/dst", 0o700);
const OLD_FILE: Setup = Setup::File("R/dst/old.txt", 0o644, "old\n");
const A_FILE: Setup = Setup::File("R/afile", 0o600, "a file that is longer\n");
/// `files/` holding `f0.txt` alone: the shape, where the result does not depend on the order
/// the directory lists its entries in.
const ONLY_F0: &[Setup] = &[
    Setup::Remove("L/files/sub"),
    Setup::Remove("L/files/empty"),
    Setup::Remove("L/files/run.sh"),
    Setup::Remove("L/files/wide.txt"),
];

const CASES: &[Case] = &[
    up("up-dir-existing", "L/files", "R/dst", &[DST_700, OLD_FILE]),
    up(
        "up-dir-existing-copy",
        "L/files",
        "R/dst",
        &[DST_700, Setup::Dir("R/dst/files", 0o700)],
    ),
    up("up-dir-new", "L/files", "R/new", &[]),
    up("up-dir-parent-missing", "L/files", "R/no/new", &[]),
    up("up-dir-existing-slash", "L/files", "R/dst/", &[DST_700]),
    up("up-dir-new-slash", "L/files", "R/new/", &[]),
    up("up-dir-onto-file", "L/files", "R/afile", &[A_FILE]),
    Case {
        packer_debris: true,
        ..up(
            "up-dir-copy-is-file",
            "L/files",
            "R/dst",
            &[DST_700, Setup::File("R/dst/files", 0o644, "a file\n")],
        )
    },
    up(
        "up-contents-existing",
        "L/files/",
        "R/dst",
        &[DST_700, OLD_FILE],
    ),
    up(
        "up-contents-existing-slash",
        "L/files/",
        "R/dst/",
        &[DST_700],
    ),
    up("up-contents-new", "L/files/", "R/new", ONLY_F0),
    // Files and directories: which fails first depends on the listing order, but both tools see
    // the same order on the same file system.
    up("up-contents-new-mixed", "L/files/", "R/new", &[]),
    up(
        "up-contents-new-dir-only",
        "L/files/",
        "R/new",
        &[
            Setup::Remove("L/files/f0.txt"),
            Setup::Remove("L/files/empty"),
            Setup::Remove("L/files/run.sh"),
            Setup::Remove("L/files/wide.txt"),
        ],
    ),
    up("up-contents-new-slash", "L/files/", "R/new/", &[]),
    up("up-contents-parent-missing", "L/files/", "R/no/new", &[]),
    up("up-contents-onto-file", "L/files/", "R/afile", &[A_FILE]),
    up("up-file-new", "L/single.txt", "R/new.txt", &[]),
    up("up-file-new-wide", "L/wide.txt", "R/new.txt", &[]),
    up("up-file-existing-dir", "L/single.txt", "R/dst", &[DST_700]),
    up(
        "up-file-existing-dir-slash",
        "L/single.txt",
        "R/dst/",
        &[DST_700],
    ),
    up("up-file-new-slash", "L/single.txt", "R/new/", &[]),
    up(
        "up-file-parent-missing",
        "L/single.txt",
        "R/no/new.txt",
        &[],
    ),
    up(
        "up-file-grandparent-missing",
        "L/single.txt",
        "R/no/no/new.txt",
        &[],
    ),
    up("up-file-onto-file", "L/wide.txt", "R/afile", &[A_FILE]),
    down("down-dir", "R/rfiles", "L/out/d", &[]),
    down("down-dir-into-slash", "R/rfiles", "L/out/d/", &[]),
    down("down-contents-new", "R/rfiles/", "L/out/d", &[]),
    down("down-contents-new-slash", "R/rfiles/", "L/out/d/", &[]),
    down(
        "down-contents-existing",
        "R/rfiles/",
        "L/out/d",
        &[Setup::Dir("L/out", 0o755), Setup::Dir("L/out/d", 0o700)],
    ),
    down("down-file-new", "R/rsingle.txt", "L/out/x.txt", &[]),
    down("down-file-slash", "R/rsingle.txt", "L/out/", &[]),
    down(
        "down-file-existing-dir",
        "R/rsingle.txt",
        "L/out",
        &[Setup::Dir("L/out", 0o755)],
    ),
    down(
        "down-file-onto-file",
        "R/rsingle.txt",
        "L/old.txt",
        &[Setup::File("L/old.txt", 0o600, "a longer old file\n")],
    ),
    down("down-missing", "R/nothere", "L/out/x", &[]),
    down("down-wildcard", "R/rfiles/*", "L/out/", &[]),
    down("down-wildcard-suffix", "R/rfiles/*.txt", "L/out/", &[]),
];

/// The tree every case starts from.
fn lay_out(root: &Path, case: &Case) {
    let dir = |path: &str, mode: u32| {
        let path = root.join(path);
        std::fs::create_dir_all(&path).unwrap();
        set_mode(&path, mode);
    };
    let file = |path: &str, mode: u32, content: &str| {
        let path = root.join(path);
        std::fs::write(&path, content).unwrap();
        set_mode(&path, mode);
    };
    dir("L/files/sub", 0o750);
    dir("L/files/empty", 0o755);
    file("L/files/f0.txt", 0o644, "f0\n");
    file("L/files/run.sh", 0o755, "#!/bin/sh\n");
    file("L/files/wide.txt", 0o666, "wide\n");
    file("L/files/sub/f1.txt", 0o644, "f1\n");
    dir("L/files", 0o705);
    file("L/single.txt", 0o640, "single\n");
    file("L/wide.txt", 0o666, "wide single\n");
    dir("R/rfiles/sub", 0o750);
    file("R/rfiles/r0.txt", 0o644, "r0\n");
    file("R/rfiles/sub/r1.txt", 0o644, "r1\n");
    dir("R/rfiles", 0o755);
    file("R/rsingle.txt", 0o600, "rsingle\n");
    dir("R", 0o755);
    dir("L", 0o755);
    for step in case.setup {
        match *step {
            Setup::Dir(path, mode) => dir(path, mode),
            Setup::File(path, mode, content) => file(path, mode, content),
            Setup::Remove(path) => {
                let path = root.join(path);
                if path.is_dir() {
                    std::fs::remove_dir_all(path).unwrap();
                } else {
                    std::fs::remove_file(path).unwrap();
                }
            }
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Every file and directory under `root` with its mode (and a file's content), sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut entries = Vec::new();
    for entry in walkdir(root) {
        let relative = entry.strip_prefix(root).unwrap().display().to_string();
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            entries.push(format!("{relative}/ {mode:o}"));
        } else {
            let content = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
            entries.push(format!("{relative} {mode:o} {content:?}"));
        }
    }
    entries.sort();
    entries
}

fn walkdir(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                pending.push(path.clone());
            }
            found.push(path);
        }
    }
    found
}

fn provisioner(root: &Path, case: &Case) -> Value {
    let at = |path: &str| format!("{}/{path}", root.display());
    json!({
        "type": "file",
        "direction": if case.download { "download" } else { "upload" },
        "source": at(case.source),
        "destination": at(case.destination),
    })
}

/// How a case ended: `ok`, or `failed` with the tool's message.
enum Outcome {
    Ok,
    Failed(String),
}

impl Outcome {
    fn word(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed(_) => "failed",
        }
    }

    fn describe(&self) -> String {
        match self {
            Outcome::Ok => "ok".to_string(),
            Outcome::Failed(message) => format!("failed: {message}"),
        }
    }
}

/// Runs every case of every method in one `packer build` (one null build per case and method, a
/// few at a time); each case's outcome, by build name.
fn packer_outcomes(
    packer: &Path,
    sshd: &TestSshd,
    roots: &BTreeMap<String, PathBuf>,
) -> BTreeMap<String, Outcome> {
    let mut builders = Vec::new();
    let mut provisioners = Vec::new();
    for method in METHODS {
        for case in CASES {
            let name = format!("{method}-{}", case.name);
            builders.push(sshd.builder(
                "null",
                json!({ "name": name, "ssh_file_transfer_method": method }),
            ));
            let mut step = provisioner(&roots[&name], case);
            step["only"] = json!([name]);
            provisioners.push(step);
        }
    }
    let work = tempfile::tempdir().unwrap();
    let template = work.path().join("packer.json");
    let text = json!({ "builders": builders, "provisioners": provisioners });
    std::fs::write(&template, serde_json::to_string_pretty(&text).unwrap()).unwrap();
    let output = Command::new(packer)
        .args(["build", "-machine-readable", "-parallel-builds=4"])
        .arg(&template)
        .current_dir(work.path())
        .env("CHECKPOINT_DISABLE", "1")
        .env("PACKER_CONFIG_DIR", work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut outcomes = BTreeMap::new();
    // Machine-readable lines: `time,target,type,data…`; a build ends with `artifact-count` or
    // `error`.
    for line in stdout.lines() {
        let mut fields = line.splitn(4, ',');
        let (_, target, kind) = (fields.next(), fields.next(), fields.next());
        let (Some(target), Some(kind)) = (target, kind) else {
            continue;
        };
        let data = fields.next().unwrap_or_default();
        match kind {
            "artifact-count" => {
                outcomes.insert(target.to_string(), Outcome::Ok);
            }
            "error" if !target.is_empty() => {
                let message = data.replace("%!(PACKER_COMMA)", ",");
                outcomes.insert(target.to_string(), Outcome::Failed(message));
            }
            _ => {}
        }
    }
    for name in roots.keys() {
        assert!(
            outcomes.contains_key(name),
            "no outcome for build {name} in Packer's output:\n{stdout}"
        );
    }
    outcomes
}

async fn imgs_outcome(session: &SshSession, root: &Path, case: &Case) -> Outcome {
    let step = step_in(root, provisioner(root, case)).unwrap_or_else(|d| panic!("{d}"));
    let mut output = |_: Stream, _: &str| {};
    match run_provisioner(Some(session), &step, &mut output, &CancellationToken::new()).await {
        Ok(()) => Outcome::Ok,
        Err(err) => Outcome::Failed(err.to_string()),
    }
}

#[tokio::test]
async fn file_provisioner_copies_land_where_packers_do_with_either_method() {
    let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    let work = tempfile::tempdir().unwrap();
    // One directory per tool, method and case, laid out alike.
    let root = |tool: &str, name: &str| work.path().join(tool).join(name);
    let mut names = BTreeMap::new();
    for method in METHODS {
        for case in CASES {
            let name = format!("{method}-{}", case.name);
            for tool in ["imgs", "packer"] {
                lay_out(&root(tool, &name), case);
            }
            names.insert(name.clone(), root("packer", &name));
        }
    }

    let mut ours = BTreeMap::new();
    for method in METHODS {
        let mut settings = sshd.settings();
        settings.insert("ssh_file_transfer_method".into(), method.into());
        let config = SshConfig::from_settings(&settings).unwrap_or_else(|d| panic!("{d}"));
        let session = SshSession::connect(&config, CancellationToken::new())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for case in CASES {
            let name = format!("{method}-{}", case.name);
            let outcome = imgs_outcome(&session, &root("imgs", &name), case).await;
            ours.insert(name, outcome);
        }
    }

    // The outcomes as Packer gave them when this table was recorded.
    let table: String = ours
        .iter()
        .map(|(name, outcome)| format!("{name}: {}\n", outcome.word()))
        .collect();
    insta::assert_snapshot!(table);

    let Some(packer) = packer_for(
        "the file provisioner's copies compared with Packer's (checked against the recorded \
         outcomes alone)",
    ) else {
        return;
    };
    let theirs = packer_outcomes(&packer, &sshd, &names);
    let mut differences = Vec::new();
    let debris: Vec<String> = METHODS
        .iter()
        .flat_map(|method| {
            CASES
                .iter()
                .filter(|c| c.packer_debris)
                .map(move |c| format!("{method}-{}", c.name))
        })
        .collect();
    for (name, packer) in &theirs {
        let imgs = &ours[name];
        let mut packer_tree = tree(&root("packer", name));
        let imgs_tree = tree(&root("imgs", name));
        if debris.contains(name) {
            // What remains must be the same, and what Packer left besides, empty files only.
            packer_tree.retain(|e| imgs_tree.contains(e) || !e.ends_with(" \"\""));
        }
        if packer.word() != imgs.word() || packer_tree != imgs_tree {
            differences.push(format!(
                "{name}:\n  packer: {}\n  imgs:   {}\n  packer's tree: {packer_tree:#?}\n  imgs's tree: {imgs_tree:#?}",
                packer.describe(),
                imgs.describe()
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "imgs and Packer disagree:\n{}",
        differences.join("\n")
    );
}
