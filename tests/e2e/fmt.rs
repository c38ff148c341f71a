//! `imgs fmt` beside `packer fmt`: Packer's flag spellings, standard input, the workspace default,
//! and the same names, diff and exit status as Packer 1.6.6 on the same files.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use imgs_test_peers::packer::packer_for;

use crate::support::*;

const MESSY: &str = "locals {\na=1\n    bbb =  [1,2]\n}\n";
const TIDY: &str = "locals {\n  a   = 1\n  bbb = [1, 2]\n}\n";

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

/// The `imgs` executable with `stdin` on its standard input: stdout, stderr, exit status.
fn imgs_exe_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> (String, String, i32) {
    let mut child = Command::new(imgs_exe())
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn fmt_stdin_prints_the_formatted_text_or_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, stderr, code) = imgs_exe_with_stdin(dir.path(), &["fmt", "-"], MESSY);
    assert_eq!((stdout.as_str(), stderr.as_str(), code), (TIDY, "", 0));

    let (stdout, _, code) = imgs_exe_with_stdin(dir.path(), &["fmt", "--check", "-"], MESSY);
    assert_eq!((stdout.as_str(), code), ("", 3), "--check prints nothing");
    let (_, _, code) = imgs_exe_with_stdin(dir.path(), &["fmt", "--check", "-"], TIDY);
    assert_eq!(code, 0);

    let (stdout, _, code) = imgs_exe_with_stdin(dir.path(), &["fmt", "-diff", "-"], MESSY);
    assert_eq!(code, 0);
    insta::assert_snapshot!("fmt_stdin_diff", stdout);

    let (stdout, stderr, code) =
        imgs_exe_with_stdin(dir.path(), &["fmt", "-"], "locals {\n  a = \n}\n");
    assert_eq!((stdout.as_str(), code), ("", 2));
    insta::assert_snapshot!("fmt_stdin_parse_error", stderr);
}

/// Commands copied from Packer work: `-check`, `-diff`, `-write=false`.
#[test]
fn fmt_takes_packers_single_dash_flags() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "c/main.pkr.hcl", MESSY);
    let out = imgs(root, &["fmt", "-write=false", "c"]);
    assert_eq!((out.stdout.as_str(), out.code), ("c/main.pkr.hcl\n", 0));
    assert_eq!(
        read(root, "c/main.pkr.hcl"),
        MESSY,
        "-write=false writes nothing"
    );
    let out = imgs(root, &["fmt", "-check", "c/main.pkr.hcl"]);
    assert_eq!((out.stdout.as_str(), out.code), ("c/main.pkr.hcl\n", 3));
    assert_eq!(read(root, "c/main.pkr.hcl"), MESSY, "-check writes nothing");
    assert_eq!(imgs_ok(root, &["fmt", "c"]), "c/main.pkr.hcl\n");
    assert_eq!(read(root, "c/main.pkr.hcl"), TIDY);
    assert_eq!(
        imgs_ok(root, &["fmt", "-check", "-diff", "c"]),
        "",
        "formatted: silent"
    );
}

/// No path in a workspace: every HCL2 member, and JSON members are left alone.
#[test]
fn fmt_without_a_path_formats_the_workspace_hcl2_members() {
    let dir = new_workspace("imgs-fmt-");
    let root = dir.path();
    write(root, "images/web/web.pkr.hcl", MESSY);
    write(root, "images/web/values.pkrvars.hcl", "x=1\n");
    write(root, "images/db/db.pkr.hcl", TIDY);
    write(root, "images/old/template.json", "{\"builders\": []}");
    write(root, "notes.pkr.hcl", MESSY);
    let out = imgs(&root.join("images/db"), &["fmt", "--check"]);
    assert_eq!(out.code, 3);
    insta::assert_snapshot!("fmt_workspace_check", out.stdout);
    imgs_ok(root, &["fmt"]);
    assert_eq!(read(root, "images/web/web.pkr.hcl"), TIDY);
    assert_eq!(read(root, "images/web/values.pkrvars.hcl"), "x = 1\n");
    assert_eq!(read(root, "notes.pkr.hcl"), MESSY, "not a member");
    assert_eq!(imgs(root, &["fmt", "--check"]).code, 0);
}

#[test]
fn fmt_refuses_stdin_with_other_paths_and_a_directory_without_hcl2() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "json/template.json", "{}");
    let err = imgs_input_error(root, &["fmt", "-", "json"]);
    insta::assert_snapshot!("fmt_stdin_and_paths", err);
    let err = imgs_input_error(root, &["fmt", "json"]);
    insta::assert_snapshot!("fmt_no_hcl2", err);
    // A file is HCL2 by its name, as for Packer.
    let err = imgs_input_error(root, &["fmt", "json/template.json"]);
    assert!(
        err.starts_with(
            "error: Cannot tell whether json/template.json contains HCL2 configuration data"
        ),
        "{err}"
    );
}

/// The same files through `packer fmt -check -diff DIR` and `imgs fmt --check --diff DIR`: the
/// same stdout (names and diffs, byte for byte) and exit status, and then the same files written.
#[test]
fn fmt_prints_and_writes_what_packer_fmt_does() {
    let Some(packer) = packer_for("the comparison of imgs fmt with packer fmt") else {
        return;
    };
    let golden = repo_root().join("crates/imgs-hcl-fmt/tests/golden");
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for dir in &dirs {
        for entry in std::fs::read_dir(&golden).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // The inputs Packer formats (those with a recorded output), renamed as HCL2 files.
            if let Some(stem) = name.strip_suffix(".in.pkr.hcl")
                && golden.join(format!("{stem}.out.pkr.hcl")).is_file()
            {
                let to = dir.path().join(format!("cfg/{stem}.pkr.hcl"));
                std::fs::create_dir_all(to.parent().unwrap()).unwrap();
                std::fs::copy(&path, to).unwrap();
            }
        }
        // Variable files come after the configuration files, whatever their names.
        write(dir.path(), "cfg/aaa.pkrvars.hcl", "x=1\nyy = 2\n");
    }
    let packer_run = |args: &[&str]| {
        Command::new(&packer)
            .args(args)
            .current_dir(dirs[0].path())
            .env("CHECKPOINT_DISABLE", "1")
            .env("HOME", dirs[0].path())
            .output()
            .unwrap()
    };
    let theirs = packer_run(&["fmt", "-check", "-diff", "cfg"]);
    let ours = imgs(dirs[1].path(), &["fmt", "--check", "--diff", "cfg"]);
    assert_eq!(ours.stdout, String::from_utf8_lossy(&theirs.stdout));
    assert_eq!(i32::from(ours.code), theirs.status.code().unwrap());
    assert!(packer_run(&["fmt", "cfg"]).status.success());
    imgs_ok(dirs[1].path(), &["fmt", "cfg"]);
    for entry in std::fs::read_dir(dirs[0].path().join("cfg")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(dirs[1].path().join("cfg").join(name)).unwrap(),
            "{name:?}"
        );
    }
}

/// As Packer: a file that does not parse is an error, and the other files are still formatted and
/// named.
#[test]
fn fmt_formats_the_other_files_when_one_does_not_parse() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "c/a.pkr.hcl", "locals {\n  a = \n}\n");
    write(root, "c/b.pkr.hcl", MESSY);
    let out = imgs(root, &["fmt", "c"]);
    assert_eq!((out.stdout.as_str(), out.code), ("c/b.pkr.hcl\n", 2));
    insta::assert_snapshot!("fmt_one_file_does_not_parse", out.stderr);
    assert_eq!(read(root, "c/b.pkr.hcl"), TIDY);
    assert_eq!(read(root, "c/a.pkr.hcl"), "locals {\n  a = \n}\n");
}
