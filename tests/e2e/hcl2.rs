//! HCL2 members beside JSON ones: chaining both ways, fingerprints over the parsed configuration,
//! and exactly the right rebuilds when a script, a variable file or the configuration changes.

use std::path::Path;

use crate::support::*;

/// `base` (JSON, file builder) → `mid` (HCL2, file builder and a local script) → `top` (JSON):
/// each writes a file holding what it was given, so the chain can be read on disk.
fn mixed_workspace() -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-hcl2-",
        "\n[images.mid]\nparents = { base_file = \"base\" }\nvariables = { flavour = \"plain\" }\n\n[images.top]\nparents = { mid_file = \"mid\" }\n",
    );
    let root = dir.path();
    write_template(
        root,
        "base",
        &serde_json::json!({
            "builders": [{ "type": "file", "content": "base\n", "target": "out/base.txt" }],
        }),
    );
    write(root, "images/mid/mid.pkr.hcl", MID);
    write(
        root,
        "images/mid/step.sh",
        "#!/bin/sh\necho step v1 > out/step.txt\n",
    );
    // shell-local runs the script itself, as Packer does: it must be executable.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("images/mid/step.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    write_template(
        root,
        "top",
        &serde_json::json!({
            "variables": { "mid_file": null },
            "builders": [{ "type": "file", "content": "top on {{user `mid_file`}}\n", "target": "out/top.txt" }],
        }),
    );
    dir
}

const MID: &str = r#"variable "base_file" {
  type = string
}

variable "flavour" {
  type    = string
  default = "none"
}

locals {
  content = "mid (${var.flavour}) on ${var.base_file}\n"
}

source "file" "mid" {
  content = local.content
  target  = "out/mid.txt"
}

build {
  sources = ["source.file.mid"]

  provisioner "shell-local" {
    script = "${path.root}/step.sh"
  }
}
"#;

/// The same configuration reformatted, commented and with its blocks in another order.
const MID_REWRITTEN: &str = r#"# Built on base; its file names the base's file.
build {
  sources = [ "source.file.mid" ]
  provisioner "shell-local" { script = "${path.root}/step.sh" }   # one step
}

source "file" "mid" {
  target = "out/mid.txt"
  content = local.content
}

locals { content = "mid (${var.flavour}) on ${var.base_file}\n" }

variable "flavour" {
  default = "none"
  type = string
}
variable "base_file" { type = string }
"#;

fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

fn to_build(root: &Path) -> Vec<String> {
    let plan = imgs::workspace_plan(root, &[]).unwrap();
    plan.to_build().map(|i| i.name.clone()).collect()
}

#[test]
fn an_hcl2_member_builds_between_json_parents_and_children() {
    let ws = mixed_workspace();
    let root = ws.path();
    imgs_ok(root, &["build", "--all", "-j", "1"]);
    let base = read(root, "out/base.txt");
    assert_eq!(base, "base\n");
    let mid = read(root, "out/mid.txt");
    assert!(mid.starts_with("mid (plain) on "), "{mid}");
    assert!(mid.trim_end().ends_with("base.txt"), "{mid}");
    assert_eq!(read(root, "out/step.txt"), "step v1\n");
    let top = read(root, "out/top.txt");
    assert!(
        top.starts_with("top on ") && top.trim_end().ends_with("mid.txt"),
        "{top}"
    );

    // A second run builds nothing.
    assert_eq!(to_build(root), Vec::<String>::new());
}

#[test]
fn only_a_change_of_meaning_rebuilds_an_hcl2_member_and_its_children() {
    let ws = mixed_workspace();
    let root = ws.path();
    let before = fingerprints(root);

    write(root, "images/mid/mid.pkr.hcl", MID_REWRITTEN);
    assert_eq!(
        fingerprints(root),
        before,
        "formatting, comments and block order"
    );

    write(
        root,
        "images/mid/step.sh",
        "#!/bin/sh\necho step v2 > out/step.txt\n",
    );
    let after = fingerprints(root);
    assert_eq!(after["base"], before["base"]);
    assert_ne!(
        after["mid"], before["mid"],
        "the script the provisioner runs"
    );
    assert_ne!(after["top"], before["top"], "a child of a changed image");
    write(
        root,
        "images/mid/step.sh",
        "#!/bin/sh\necho step v1 > out/step.txt\n",
    );
    assert_eq!(fingerprints(root), before, "reverted");

    write(
        root,
        "images/mid/flavour.auto.pkrvars.hcl",
        "flavour = \"spicy\"\n",
    );
    let with_vars = fingerprints(root);
    assert_ne!(with_vars["mid"], before["mid"], "a variable file's value");
    assert_eq!(with_vars["base"], before["base"]);
    write(
        root,
        "images/mid/flavour.auto.pkrvars.hcl",
        "# same value, other layout\nflavour   =   \"spicy\"\n",
    );
    assert_eq!(fingerprints(root), with_vars);
}

#[test]
fn hcl2_members_are_validated_planned_and_graphed_like_json_ones() {
    let ws = mixed_workspace();
    let root = ws.path();
    let validated = imgs_ok(root, &["validate"]);
    let graph = imgs_ok(root, &["graph"]);
    let plan = imgs_ok(root, &["plan", "--all"]);
    settings(root).bind(|| {
        insta::assert_snapshot!("hcl2_validate", validated);
        insta::assert_snapshot!("hcl2_graph", graph);
        insta::assert_snapshot!("hcl2_plan", plan);
    });

    // A mistake in the configuration is located in its file.
    write(
        root,
        "images/mid/extra.pkr.hcl",
        "\ndata \"amazon-ami\" \"latest\" {}\n",
    );
    let err = imgs_input_error(root, &["plan"]);
    settings(root).bind(|| insta::assert_snapshot!("hcl2_data_block_refused", err));
}

#[test]
fn bare_validate_build_and_inspect_read_an_hcl2_directory_as_packer_does() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "cfg/main.pkr.hcl",
        "variable \"word\" {\n  default = \"hello\"\n}\n\nsource \"file\" \"greeting\" {\n  content = \"${var.word}\\n\"\n  target  = \"greeting.txt\"\n}\n\nbuild {\n  sources = [\"source.file.greeting\"]\n}\n",
    );
    imgs_ok(root, &["validate", "cfg"]);
    imgs_ok(root, &["build", "cfg", "-var", "word=bonjour"]);
    assert_eq!(read(root, "greeting.txt"), "bonjour\n");
    let inspected = imgs_ok(root, &["inspect", "cfg"]);
    settings(root).bind(|| insta::assert_snapshot!("hcl2_inspect", inspected));
    let err = imgs_input_error(root, &["validate", "cfg", "-var", "nope=1"]);
    settings(root).bind(|| insta::assert_snapshot!("hcl2_undeclared_var", err));
}

/// `imgs hcl2-upgrade` on every valid template of the differential corpus that needs no arguments,
/// then `packer validate` of each result from the same working directory: Packer 1.6.6 must accept
/// what imgs writes (the settings themselves are compared in imgs-hcl-upgrade's tests). Templates
/// the upgrade refuses (calls with no HCL2 form) are counted, not validated.
#[test]
fn packer_accepts_what_hcl2_upgrade_writes() {
    let Some(packer) =
        imgs_test_peers::packer::packer_for("`packer validate` of upgraded templates")
    else {
        return;
    };
    let source = repo_root().join("tests/differential");
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path();
    copy_dir(&source, corpus);
    let verdicts = std::fs::read_to_string(corpus.join("verdicts.txt")).unwrap();
    let names: Vec<&str> = verdicts
        .lines()
        .filter_map(|line| line.strip_suffix(" valid"))
        .filter(|name| !corpus.join(format!("{name}.args")).exists())
        .collect();
    assert!(names.len() > 40, "{} valid cases", names.len());
    let mut upgraded = Vec::new();
    let mut refused = Vec::new();
    for name in &names {
        let out = imgs(
            corpus,
            &[
                "hcl2-upgrade",
                &format!("{name}.json"),
                "-o",
                &format!("{name}.pkr.hcl"),
            ],
        );
        if out.code == 0 {
            upgraded.push(*name);
        } else {
            refused.push(format!("{name}: {}", out.stderr));
        }
    }
    let failures: Vec<String> = upgraded
        .iter()
        // Packer 1.6.6's own HCL2 sleep provisioner fails to prepare (its plugin exits: "unexpected
        // EOF") whatever its settings; imgs runs it (README).
        .filter(|name| {
            !std::fs::read_to_string(corpus.join(format!("{name}.json")))
                .unwrap()
                .contains("\"sleep\"")
        })
        .filter_map(|name| {
            let hcl = std::fs::read_to_string(corpus.join(format!("{name}.pkr.hcl"))).unwrap();
            // A variable whose JSON default read the environment is required now: give it a value
            // the way its comment says.
            let required: Vec<(String, String)> = hcl
                .split("set PKR_VAR_")
                .skip(1)
                .filter_map(|rest| rest.split_whitespace().next())
                .map(|name| (format!("PKR_VAR_{name}"), "given".to_string()))
                .collect();
            let out = std::process::Command::new(&packer)
                .args(["validate", &format!("{name}.pkr.hcl")])
                .current_dir(corpus)
                .env_clear()
                .envs(required)
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .env("HOME", corpus)
                .env("CHECKPOINT_DISABLE", "1")
                .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
                .env(
                    "AWS_SECRET_ACCESS_KEY",
                    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                )
                .env("AWS_DEFAULT_REGION", "us-east-1")
                .env("IMGS_DIFF_GREETING", "hello")
                .output()
                .unwrap();
            (!out.status.success()).then(|| {
                format!(
                    "{name}: {}{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                    std::fs::read_to_string(corpus.join(format!("{name}.pkr.hcl"))).unwrap()
                )
            })
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        upgraded.len() * 10 >= names.len() * 8,
        "only {} of {} upgraded:\n{}",
        upgraded.len(),
        names.len(),
        refused.join("\n")
    );
}

/// `imgs fmt` as `packer fmt`: `--check` lists the files that need formatting and exits with 3,
/// `--diff` shows the change, a plain run rewrites them, and a file that does not parse is a
/// located error with nothing written.
#[test]
fn fmt_checks_shows_and_rewrites_hcl2_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let messy = "source \"null\" \"a\" {\ncommunicator=\"none\"\n    ssh_timeout = \"5m\"\n}\n";
    write(root, "cfg/main.pkr.hcl", messy);
    write(root, "cfg/values.pkrvars.hcl", "a = 1\nbbb = 2\n");
    let check = imgs(root, &["fmt", "--check", "--diff", "cfg"]);
    assert_eq!(check.code, 3, "{check:?}");
    assert_eq!(
        read(root, "cfg/main.pkr.hcl"),
        messy,
        "--check writes nothing"
    );
    insta::assert_snapshot!("fmt_check_diff", check.stdout);
    let out = imgs_ok(root, &["fmt", "cfg"]);
    assert_eq!(out, "cfg/main.pkr.hcl\ncfg/values.pkrvars.hcl\n");
    assert_eq!(
        read(root, "cfg/main.pkr.hcl"),
        "source \"null\" \"a\" {\n  communicator = \"none\"\n  ssh_timeout  = \"5m\"\n}\n"
    );
    assert_eq!(imgs(root, &["fmt", "--check", "cfg"]).code, 0);
    write(root, "bad/main.pkr.hcl", "source \"null\" \"a\" {\n");
    let err = imgs_input_error(root, &["fmt", "bad"]);
    settings(root).bind(|| insta::assert_snapshot!("fmt_parse_error", err));
    assert_eq!(read(root, "bad/main.pkr.hcl"), "source \"null\" \"a\" {\n");
}

/// `packer inspect` and `imgs inspect` agree on the input variables and locals of every valid
/// configuration of the HCL2 corpus that takes no arguments (the values printed in Packer's
/// format). Locals reading the clock or a random UUID are left out: their values differ by nature.
#[test]
fn imgs_inspect_shows_the_variables_and_locals_packer_inspect_shows() {
    let Some(packer) = imgs_test_peers::packer::packer_for("`packer inspect` of the HCL2 corpus")
    else {
        return;
    };
    let corpus = repo_root().join("tests/differential");
    let corpus = corpus.canonicalize().unwrap_or(corpus);
    let verdicts = std::fs::read_to_string(corpus.join("hcl/verdicts.txt")).unwrap();
    let names: Vec<&str> = verdicts
        .lines()
        .filter_map(|line| line.strip_suffix(" valid"))
        .filter(|name| !corpus.join(format!("hcl/{name}.args")).exists())
        // Its locals are the clock and a random UUID.
        .filter(|name| *name != "fn-time")
        .collect();
    assert!(names.len() > 50, "{} valid cases", names.len());
    let home = tempfile::tempdir().unwrap();
    let imgs_home = std::env::var("HOME").unwrap_or_default();
    // The sections up to the builds, without lines holding run-dependent values.
    // pathexpand() reads HOME, bcrypt() salts at random.
    let sections = |text: &str, home: &str| -> String {
        let upto = text.find("> builds:").unwrap_or(text.len());
        text[..upto]
            .replace(home, "<home>")
            .lines()
            .map(|l| match l.find("\"$2a$") {
                Some(at) => format!("{}<bcrypt>", &l[..at]),
                None => l.to_string(),
            })
            .filter(|l| !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut failures = Vec::new();
    for name in &names {
        let case = format!("hcl/{name}");
        let out = std::process::Command::new(&packer)
            .args(["inspect", &case])
            .current_dir(&corpus)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", home.path())
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap();
        let theirs = sections(
            &String::from_utf8_lossy(&out.stdout),
            &home.path().to_string_lossy(),
        );
        let ours = imgs(&corpus, &["inspect", &case]);
        let ours = sections(&ours.stdout, &imgs_home);
        if ours != theirs {
            failures.push(format!("{name}:\n--- packer\n{theirs}\n--- imgs\n{ours}"));
        }
    }
    let _ = std::fs::remove_dir_all(corpus.join("packer_cache"));
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}
