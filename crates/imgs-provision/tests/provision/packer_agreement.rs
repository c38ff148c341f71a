//! The same provisioners run by Packer 1.6.6 (the reference) and by imgs against one private sshd:
//! what the machine ends up with must be the same.

use std::path::Path;

use imgs_test_peers::packer::packer_for;
use serde_json::{Value, json};

use crate::common::{World, packer_against};

/// Runs `provisioners` with Packer's null builder against the world's sshd, in the world's directory,
/// with the same variables as [`crate::common::step_in`]; returns Packer's output.
pub(crate) fn packer_build(packer: &Path, w: &World, provisioners: Value) -> String {
    let (succeeded, text) = packer_against(packer, &w.server, w.dir.path(), provisioners);
    assert!(succeeded, "packer failed:\n{text}");
    text
}

/// Every file under `dir` with its mode and content, sorted.
pub(crate) fn tree(dir: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                entries.push(format!("{relative}/"));
                pending.push(path);
            } else {
                let mode = meta.permissions().mode() & 0o777;
                let content = std::fs::read_to_string(&path).unwrap();
                entries.push(format!("{relative} {mode:o} {content:?}"));
            }
        }
    }
    entries.sort();
    entries
}

#[tokio::test]
async fn scripts_see_the_same_environment_and_output_is_masked_alike() {
    let Some(packer) = packer_for("the shell provisioner's environment compared with Packer's")
    else {
        return;
    };
    let w = World::start().await;
    for use_env_var_file in [false, true] {
        same_environment(&packer, &w, use_env_var_file).await;
    }
}

async fn same_environment(packer: &Path, w: &World, use_env_var_file: bool) {
    let env_file = w.at("env");
    let provisioner = json!({
        "type": "shell",
        "use_env_var_file": use_env_var_file,
        "environment_vars": [
            "GREETING={{user `greeting`}}, it's me",
            "PASSWORD={{user `password`}}",
            "ODD=a\"b$c`d\\e",
        ],
        "inline": [
            format!("env | grep -E '^(GREETING|PASSWORD|ODD|PACKER_)' | sort > {env_file}"),
            "echo secret is $PASSWORD",
        ],
    });

    let packer_output = packer_build(packer, w, json!([provisioner]));
    let packer_env = w.read("env");
    std::fs::remove_file(w.path("env")).unwrap();
    let (result, lines) = w.run(provisioner).await;
    result.unwrap_or_else(|e| panic!("{e}"));

    assert!(
        packer_env.contains("ODD=a\"b$c`d\\e\nPACKER_BUILDER_TYPE=null\nPACKER_BUILD_NAME=app\n"),
        "{packer_env}"
    );
    assert_eq!(w.read("env"), packer_env);
    assert!(
        packer_output.contains("app: secret is <sensitive>"),
        "{packer_output}"
    );
    assert!(
        lines.contains(&"out: secret is <sensitive>".to_string()),
        "{lines:?}"
    );
}

#[tokio::test]
async fn files_and_directories_land_where_packer_puts_them() {
    let Some(packer) = packer_for("the file provisioner's uploads compared with Packer's") else {
        return;
    };
    let w = World::start().await;
    w.write("site/index.html", "<h1>hi</h1>\n");
    w.write("site/css/main.css", "body {}\n");
    w.write("run.sh", "#!/bin/sh\n");
    std::fs::set_permissions(
        w.path("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let uploads = |root: &str| {
        for dir in ["named", "contents", "into"] {
            std::fs::create_dir_all(w.path(&format!("{root}/{dir}"))).unwrap();
        }
        [
            ("site", format!("{root}/named")),
            ("site/", format!("{root}/contents")),
            ("run.sh", format!("{}/into/", w.at(root))),
            ("site/index.html", format!("{}/renamed.html", w.at(root))),
        ]
        .into_iter()
        .map(|(source, destination)| {
            let destination = if destination.starts_with('/') {
                destination
            } else {
                w.at(&destination)
            };
            json!({ "type": "file", "source": source, "destination": destination })
        })
        .collect::<Vec<_>>()
    };

    packer_build(&packer, &w, Value::Array(uploads("packer")));
    for step in uploads("imgs") {
        let (result, _) = w.run(step).await;
        result.unwrap_or_else(|e| panic!("{e}"));
    }
    let packer = tree(&w.path("packer"));
    assert!(packer.len() > 5, "{packer:#?}");
    assert_eq!(tree(&w.path("imgs")), packer);
}
