//! `imgs plan`, `graph`, `validate`, `inspect` and `completions` on copies of the example workspace.
//! Every user-facing output is a snapshot, reviewed like code.

use crate::support::*;

#[test]
fn plan_of_a_never_built_workspace() {
    let ws = example_workspace();
    let out = imgs_ok(ws.path(), &["plan", "--all"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!(out));
}

#[test]
fn plan_explains_each_rebuild_cargo_style() {
    let ws = example_workspace();
    record_builds(ws.path(), &["base", "hardened", "app-web", "app-worker"]);
    let fresh = imgs_ok(ws.path(), &["plan", "--all"]);
    assert!(
        !fresh.contains("Build"),
        "everything was recorded:\n{fresh}"
    );

    append(
        ws.path(),
        "images/hardened/harden.sh",
        "echo one more rule\n",
    );
    std::fs::write(
        ws.path().join("Images.toml"),
        std::fs::read_to_string(ws.path().join("Images.toml"))
            .unwrap()
            .replace("worker_threads = \"4\"", "worker_threads = \"8\""),
    )
    .unwrap();
    let out = imgs_ok(ws.path(), &["plan", "--all"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!(out));
    let json = imgs_ok(ws.path(), &["plan", "--all", "--message-format", "json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    settings(ws.path()).bind(|| insta::assert_json_snapshot!("plan_json_after_changes", value));
}

#[test]
fn plan_of_one_image_brings_its_ancestors() {
    let ws = example_workspace();
    record_builds(ws.path(), &["base"]);
    let out = imgs_ok(ws.path(), &["plan", "-i", "app-web"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!(out));
    // Inside an image directory, that image is the default selection, as a package is for cargo.
    let inside = imgs_ok(&ws.path().join("images/app-worker"), &["plan"]);
    assert!(
        inside.contains("app-worker") && !inside.contains("app-web"),
        "{inside}"
    );
    let excluded = imgs_ok(ws.path(), &["plan", "--all", "--exclude", "app-web"]);
    assert!(!excluded.contains("app-web"), "{excluded}");
}

#[test]
fn graph_in_every_format() {
    let ws = example_workspace();
    record_builds(ws.path(), &["base", "hardened"]);
    append(
        ws.path(),
        "images/hardened/files/etc/sysctl.d/50-hardened.conf",
        "kernel.dmesg_restrict = 1\n",
    );
    for format in ["text", "dot", "mermaid", "json"] {
        let out = imgs_ok(ws.path(), &["graph", "--format", format]);
        settings(ws.path()).bind(|| insta::assert_snapshot!(format!("graph_{format}"), out));
    }
    let ancestors = imgs_ok(ws.path(), &["graph", "-i", "app-web", "--ancestors"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!("graph_ancestors_of_app_web", ancestors));
    let descendants = imgs_ok(
        ws.path(),
        &[
            "graph",
            "-i",
            "hardened",
            "--descendants",
            "--format",
            "mermaid",
        ],
    );
    settings(ws.path())
        .bind(|| insta::assert_snapshot!("graph_descendants_of_hardened", descendants));
}

#[test]
fn graph_of_a_diamond_marks_repeated_images() {
    let ws = example_workspace();
    // `combo` is built on both apps: it appears under each, the second time marked (*).
    write(
        ws.path(),
        "images/combo/template.json",
        &std::fs::read_to_string(ws.path().join("images/app-worker/template.json"))
            .unwrap()
            .replace(
                "\"source_disk\": null,",
                "\"source_disk\": null,\n    \"web_disk\": null,",
            )
            .replace("app-worker", "combo"),
    );
    for file in [
        "install.sh",
        "puppet/worker.pp",
        "puppet/modules/worker/manifests/init.pp",
    ] {
        let to = ws.path().join("images/combo").join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(ws.path().join("images/app-worker").join(file), to).unwrap();
    }
    append(
        ws.path(),
        "Images.toml",
        "\n[images.combo]\nparents = { source_disk = \"app-worker\", web_disk = \"app-web\" }\n",
    );
    let out = imgs_ok(ws.path(), &["graph"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!(out));
}

#[test]
fn validate_and_inspect_the_workspace() {
    let ws = example_workspace();
    let out = imgs_ok(ws.path(), &["validate", "--all"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!("validate_all", out));
    let out = imgs_ok(ws.path(), &["inspect", "app-web"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!("inspect_app_web", out));
}

#[test]
fn bare_template_outside_any_workspace() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t.json",
        r#"{
  "variables": { "greeting": null, "password": "hunter2-secret" },
  "sensitive-variables": ["password"],
  "builders": [{ "type": "file", "name": "out", "target": "out.txt", "content": "{{user `greeting`}}" }],
  "post-processors": ["manifest"]
}
"#,
    );
    let missing = imgs_input_error(dir.path(), &["validate", "t.json"]);
    settings(dir.path())
        .bind(|| insta::assert_snapshot!("bare_validate_missing_variable", missing));
    let ok = imgs_ok(dir.path(), &["validate", "-var", "greeting=hi", "t.json"]);
    assert_eq!(ok, "t.json: valid\n");
    write(dir.path(), "vars.json", r#"{"greeting": "hello"}"#);
    imgs_ok(
        dir.path(),
        &["validate", "-var-file", "vars.json", "t.json"],
    );
    let inspect = imgs_ok(dir.path(), &["inspect", "t.json"]);
    assert!(!inspect.contains("hunter2"), "{inspect}");
    settings(dir.path()).bind(|| insta::assert_snapshot!("bare_inspect", inspect));
    let no_workspace = imgs_input_error(dir.path(), &["plan"]);
    settings(dir.path()).bind(|| insta::assert_snapshot!("plan_outside_a_workspace", no_workspace));
}

/// What Packer accepts but imgs does not build is refused by `imgs validate`, not first by the build.
#[test]
fn validate_refuses_what_imgs_would_refuse_to_build() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "t.json",
        r#"{
  "builders": [{ "type": "null", "communicator": "winrm", "winrm_host": "h", "winrm_username": "u", "winrm_password": "p" }],
  "provisioners": [{ "type": "powershell", "inline": ["Write-Host hi"] }]
}
"#,
    );
    let refused = imgs_input_error(dir.path(), &["validate", "t.json"]);
    settings(dir.path()).bind(|| insta::assert_snapshot!(refused, @r"
    error: not supported yet: communicator `winrm`
      --> t.json:2:34
      = key: builders[0].communicator
      = hint: imgs reaches Windows machines over SSH (Windows' own OpenSSH server, which Packer 1.6.6 supports too): set `communicator` to `ssh` with the `ssh_*` settings; powershell, windows-shell and windows-restart run over it

    error: validate failed with 1 error
    "));
}

/// Each broken Images.toml gives one located error with the key and a hint.
#[test]
fn manifest_errors_are_located() {
    let cases: &[(&str, &str)] = &[
        (
            "unknown_parent",
            "\n[images.base]\nparents = { source_disk = \"hardend\" }\n",
        ),
        // base declares `source_disk` itself (with a default), so only the cycle is wrong here.
        (
            "cycle",
            "\n[images.base]\nparents = { source_disk = \"app-web\" }\n",
        ),
        (
            "undeclared_parent_variable",
            "\n[images.base]\nparents = { source_image = \"other\" }\n",
        ),
        (
            "unknown_key",
            "\n[images.base]\nparent = { source_disk = \"x\" }\n",
        ),
        (
            "undeclared_image_variable",
            "\n[images.base]\nvariables = { memroy = \"2048\" }\n",
        ),
        (
            "image_table_without_member",
            "\n[images.app-wbe]\nvariables = { a = \"1\" }\n",
        ),
    ];
    for (name, extra) in cases {
        let ws = example_workspace();
        // A second root image, so that a parent can be named without making a cycle.
        copy_dir(
            &ws.path().join("images/base"),
            &ws.path().join("images/other"),
        );
        append(ws.path(), "Images.toml", extra);
        let err = imgs_input_error(ws.path(), &["plan", "--all"]);
        settings(ws.path()).bind(|| insta::assert_snapshot!(format!("manifest_error_{name}"), err));
    }
}

#[test]
fn member_errors_are_located() {
    let ws = example_workspace();
    std::fs::create_dir_all(ws.path().join("images/empty")).unwrap();
    copy_dir(&ws.path().join("images/base"), &ws.path().join("more/base"));
    let manifest = std::fs::read_to_string(ws.path().join("Images.toml")).unwrap();
    std::fs::write(
        ws.path().join("Images.toml"),
        manifest.replace(
            "members = [\"images/*\"]",
            "members = [\"images/*\", \"more/base\"]",
        ),
    )
    .unwrap();
    let err = imgs_input_error(ws.path(), &["validate"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!(err));
}

#[test]
fn unknown_image_names_get_a_suggestion() {
    let ws = example_workspace();
    let err = imgs_input_error(ws.path(), &["plan", "-i", "app-wbe"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!(err));
}

#[test]
fn template_errors_in_a_member_are_located() {
    let ws = example_workspace();
    // app-web is an HCL2 member: its errors are located in its .pkr.hcl file.
    let path = ws.path().join("images/app-web/template.pkr.hcl");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("vm_name ", "vm_nmae ")).unwrap();
    let err = imgs_input_error(ws.path(), &["plan", "--all"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!(err));
}

#[test]
fn sensitive_values_never_leave_the_process() {
    let ws = example_workspace();
    let secret = "s3cr3t-Value-42";
    let path = ws.path().join("images/app-worker/template.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace(
            "\"worker_threads\": \"2\"",
            &format!("\"worker_threads\": \"2\",\n    \"api_token\": \"{secret}\""),
        )
        .replacen(
            "\"variables\"",
            "\"sensitive-variables\": [\"api_token\"],\n  \"variables\"",
            1,
        );
    std::fs::write(&path, text).unwrap();
    record_builds(ws.path(), &["base", "hardened", "app-worker"]);
    let mut outputs = vec![
        imgs_ok(ws.path(), &["plan", "--all"]),
        imgs_ok(ws.path(), &["plan", "--all", "--message-format", "json"]),
        imgs_ok(ws.path(), &["inspect", "app-worker"]),
        imgs_ok(ws.path(), &["validate"]),
    ];
    for format in ["text", "dot", "mermaid", "json"] {
        outputs.push(imgs_ok(ws.path(), &["graph", "--format", format]));
    }
    for out in &outputs {
        assert!(!out.contains(secret), "secret leaked:\n{out}");
    }
    for entry in walk(&ws.path().join("cache")) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "secret in {}",
            entry.display()
        );
    }
    // Changing it still rebuilds the image: the fingerprint covers a hash of it.
    let before = fingerprints(ws.path());
    std::fs::write(
        &path,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace(secret, "rotated"),
    )
    .unwrap();
    let after = fingerprints(ws.path());
    assert_ne!(before["app-worker"], after["app-worker"]);
    assert_eq!(before["app-web"], after["app-web"]);
}

#[test]
fn completions_for_common_shells() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = imgs_ok(dir.path(), &["completions", shell]);
        assert!(
            out.contains("plan") && out.contains("graph"),
            "{shell}: {out}"
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn workspace_found_from_below_with_c_or_with_manifest_path() {
    let ws = example_workspace();
    let elsewhere = tempfile::tempdir().unwrap();
    let from_root = imgs_ok(ws.path(), &["plan", "--all"]);
    let root = ws.path().to_str().unwrap();
    assert_eq!(
        imgs_ok(elsewhere.path(), &["-C", root, "plan", "--all"]),
        from_root
    );
    let manifest = ws.path().join("Images.toml");
    assert_eq!(
        imgs_ok(
            elsewhere.path(),
            &[
                "plan",
                "--all",
                "--manifest-path",
                manifest.to_str().unwrap()
            ]
        ),
        from_root
    );
    // From a directory below the root that is no image: the workspace is found above, all images selected.
    assert_eq!(imgs_ok(&ws.path().join("scripts"), &["plan"]), from_root);
}

/// imgs manages workspace images' output directories, so an earlier build's output is no error (Packer
/// would need `-force`); a bare template is judged as `packer validate` judges it.
#[test]
fn existing_output_directories_are_expected_in_a_workspace() {
    let ws = example_workspace();
    std::fs::create_dir_all(ws.path().join("cache/artifacts/base")).unwrap();
    imgs_ok(ws.path(), &["plan", "--all"]);
    imgs_ok(ws.path(), &["validate"]);
    let err = imgs_input_error(ws.path(), &["validate", "images/base/template.json"]);
    assert!(
        err.contains("`output_directory`: `cache/artifacts/base` already exists"),
        "{err}"
    );
}
