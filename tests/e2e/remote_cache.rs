//! The remote cache (`[workspace.cache] remote = "s3://…"`) against moto's S3 on loopback: two
//! copies of a workspace with separate `cache/` directories share one bucket. imgs runs as a
//! process here, so the AWS credentials it reads from the environment are the test's own.

use std::path::Path;
use std::process::Command;

use imgs_aws::{S3Settings, S3Store};
use imgs_test_peers::TestMoto;

use crate::support::*;

const BUCKET: &str = "imgs-remote-cache";
const PREFIX: &str = "ci";

/// moto with the cache's bucket, and a client on it for looking at (and damaging) objects.
pub(crate) struct S3Peer {
    /// The server, when this peer started it (else another peer owns it).
    _moto: Option<TestMoto>,
    pub endpoint: String,
    pub rt: tokio::runtime::Runtime,
    pub store: S3Store,
}

impl S3Peer {
    pub fn start() -> S3Peer {
        let moto = TestMoto::start().unwrap_or_else(|why| panic!("{why}"));
        let mut peer = S3Peer::on(&moto.endpoint());
        peer._moto = Some(moto);
        peer
    }

    /// The bucket on a server already started (the EC2 tests' moto serves S3 too).
    pub fn on(endpoint: &str) -> S3Peer {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = rt.block_on(S3Store::connect(&S3Settings {
            bucket: BUCKET.into(),
            region: Some("us-east-1".into()),
            endpoint: Some(endpoint.to_string()),
            static_keys: Some(("testing".into(), "testing".into())),
        }));
        rt.block_on(store.ensure_bucket())
            .unwrap_or_else(|e| panic!("{e}"));
        S3Peer {
            _moto: None,
            endpoint: endpoint.to_string(),
            rt,
            store,
        }
    }

    /// The `[workspace.cache]` table pointing at this server.
    pub fn cache_table(&self) -> String {
        remote_table(&self.endpoint)
    }

    pub fn keys(&self) -> Vec<String> {
        self.rt
            .block_on(self.store.list(PREFIX))
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

pub(crate) fn remote_table(endpoint: &str) -> String {
    format!(
        "\n[workspace.cache]\nremote = \"s3://{BUCKET}/{PREFIX}\"\nregion = \"us-east-1\"\nendpoint = \"{endpoint}\"\n"
    )
}

/// `imgs ARGS` in `dir` as a process with moto's credentials in its environment (and no profile,
/// no instance metadata), not started yet.
pub(crate) fn imgs_command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(imgs_exe());
    command
        .args(args)
        .current_dir(dir)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", dir.join(".no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join(".no-aws-credentials"),
        );
    command
}

/// [`imgs_command`] run to its end: its exit code, stdout and stderr.
pub(crate) fn imgs_process(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = imgs_command(dir, args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn imgs_process_ok(dir: &Path, args: &[&str]) -> (String, String) {
    let (code, stdout, stderr) = imgs_process(dir, args);
    assert_eq!(code, 0, "imgs {args:?} failed:\n{stdout}{stderr}");
    (stdout, stderr)
}

/// base (a `file` build) → child (a copy of base's file, with a line of its own), and `marker`
/// (a `null` build: no files, only a record); `table` is appended to Images.toml.
fn workspace(table: &str) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-remote-",
        &format!("\n[images.child]\nparents = {{ base_file = \"base\" }}\n{table}"),
    );
    let root = dir.path();
    write_template(
        root,
        "base",
        &serde_json::json!({
            "builders": [{ "type": "file", "content": "base layer v1\n", "target": "out/base.txt" }],
        }),
    );
    write_template(
        root,
        "child",
        &serde_json::json!({
            "variables": { "base_file": null },
            "builders": [{ "type": "file", "source": "{{user `base_file`}}", "target": "out/child.txt" }],
        }),
    );
    write_template(
        root,
        "marker",
        &serde_json::json!({ "builders": [{ "type": "null", "communicator": "none" }] }),
    );
    dir
}

/// A second machine's checkout: the same files, no `cache/`.
fn checkout_of(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("imgs-remote-b-")
        .tempdir()
        .unwrap();
    std::fs::copy(from.join("Images.toml"), dir.path().join("Images.toml")).unwrap();
    copy_dir(&from.join("images"), &dir.path().join("images"));
    dir
}

fn file_of(root: &Path, image: &str, plan_json: &serde_json::Value) -> std::path::PathBuf {
    let image = plan_json["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == image)
        .unwrap();
    root.join(image["artifacts"][0]["files"][0].as_str().unwrap())
}

fn plan_json(root: &Path) -> serde_json::Value {
    let (stdout, _) = imgs_process_ok(root, &["plan", "--message-format", "json"]);
    serde_json::from_str(&stdout).unwrap()
}

fn status<'a>(plan: &'a serde_json::Value, image: &str) -> &'a serde_json::Value {
    plan["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == image)
        .unwrap_or_else(|| panic!("{image} not in {plan}"))
}

#[test]
fn a_second_workspace_finds_files_in_s3_and_builds_on_them() {
    let s3 = S3Peer::start();
    let first = workspace(&s3.cache_table());
    let second = checkout_of(first.path());
    let (a, b) = (first.path(), second.path());

    let (out, _) = imgs_process_ok(a, &["build", "-i", "base", "-i", "marker"]);
    assert!(out.contains("Built base"), "{out}");
    let keys = s3.keys();
    let fps = fingerprints(a);
    let record = format!("{PREFIX}/records/base/{}.json", fps["base"]);
    assert!(keys.contains(&record), "{keys:?}");
    assert!(
        keys.contains(&format!(
            "{PREFIX}/artifacts/base/{}/out/base.txt",
            fps["base"]
        )),
        "{keys:?}"
    );
    assert!(
        keys.contains(&format!("{PREFIX}/records/marker/{}.json", fps["marker"])),
        "a record without files is shared too: {keys:?}"
    );

    // The second machine: nothing local, the remote has base and marker.
    let plan = plan_json(b);
    assert_eq!(status(&plan, "base")["status"], "fresh", "{plan}");
    assert_eq!(status(&plan, "base")["found_in_remote"], true, "{plan}");
    assert_eq!(status(&plan, "marker")["found_in_remote"], true, "{plan}");
    assert_eq!(status(&plan, "child")["status"], "build", "{plan}");
    let (text, _) = imgs_process_ok(b, &["plan"]);
    settings(b).bind(|| insta::assert_snapshot!("remote_cache_plan_second_machine", text));

    let (out, _) = imgs_process_ok(b, &["build"]);
    assert!(
        out.contains("fetched from the remote cache"),
        "base is fetched, not built: {out}"
    );
    assert!(out.contains("Built child"), "{out}");
    assert!(!out.contains("Built base"), "{out}");
    let plan_a = plan_json(a);
    let plan_b = plan_json(b);
    let (base_a, base_b) = (file_of(a, "base", &plan_a), file_of(b, "base", &plan_b));
    assert_eq!(base_b, b.join("out/base.txt"));
    assert_eq!(
        std::fs::read(&base_a).unwrap(),
        std::fs::read(&base_b).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(file_of(b, "child", &plan_b)).unwrap(),
        "base layer v1\n",
        "the child was built on the fetched file"
    );
    // Now local on the second machine: the next plan does not need the remote.
    assert_eq!(
        status(&plan_b, "base")["found_in_remote"],
        serde_json::Value::Null
    );
    // And the child went up: a first machine finds it there.
    let plan = plan_json(a);
    assert_eq!(status(&plan, "child")["found_in_remote"], true, "{plan}");

    // A third machine asking only for the child fetches the child and what it stands on.
    let third = checkout_of(a);
    let (out, _) = imgs_process_ok(third.path(), &["build", "-i", "child"]);
    assert!(!out.contains("Built"), "{out}");
    let mut build_settings = run_settings(third.path(), 0);
    build_settings.add_filter(r"\d+\.\d\ds", "[T]s");
    build_settings.bind(|| insta::assert_snapshot!("remote_cache_build_fetches_chain", out));
    for image in ["base", "child"] {
        assert!(
            out.contains(&format!("Fresh {image} ("))
                && out.matches("fetched from the remote cache").count() == 2,
            "{out}"
        );
        let name = format!("out/{image}.txt");
        assert_eq!(
            std::fs::read(third.path().join(&name)).unwrap(),
            std::fs::read(b.join(&name)).unwrap()
        );
    }
}

#[test]
fn a_damaged_object_is_refused_and_the_image_rebuilt() {
    let s3 = S3Peer::start();
    let first = workspace(&s3.cache_table());
    let second = checkout_of(first.path());
    imgs_process_ok(first.path(), &["build", "-i", "base"]);
    let fp = &fingerprints(first.path())["base"];
    let key = s3
        .keys()
        .into_iter()
        .find(|k| k.starts_with(&format!("{PREFIX}/artifacts/base/{fp}/")))
        .unwrap();
    let damaged = second.path().join("damaged");
    std::fs::write(&damaged, "base layer v2\n").unwrap();
    s3.rt
        .block_on(s3.store.put_file(&key, &damaged))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(&damaged).unwrap();

    let (out, err) = imgs_process_ok(second.path(), &["build", "-i", "base"]);
    assert!(out.contains("Built base"), "rebuilt: {out}");
    assert!(
        err.contains("warning: the remote cache's copy of `base` is not used")
            && err.contains("does not match its record"),
        "{err}"
    );
    settings(second.path()).bind(|| insta::assert_snapshot!("remote_cache_damaged_object", err));
    let plan = plan_json(second.path());
    assert_eq!(
        std::fs::read_to_string(file_of(second.path(), "base", &plan)).unwrap(),
        "base layer v1\n"
    );
    let left: Vec<_> = std::fs::read_dir(second.path().join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["base.txt"], "the refused download left nothing");
    // The rebuild replaced the damaged copy: a third machine fetches the good one.
    let third = checkout_of(first.path());
    let (out, _) = imgs_process_ok(third.path(), &["build", "-i", "base"]);
    assert!(out.contains("fetched from the remote cache"), "{out}");
}

#[test]
fn an_unreachable_remote_is_a_warning_and_images_are_built() {
    let port = imgs_test_peers::process::free_port().unwrap();
    let ws = workspace(&remote_table(&format!("http://127.0.0.1:{port}")));
    let (code, out, err) = imgs_process(ws.path(), &["build"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Built base") && out.contains("Built child"),
        "{out}"
    );
    assert!(
        err.contains("warning: could not look up the remote cache s3://imgs-remote-cache/ci"),
        "{err}"
    );
    assert!(
        err.contains("could not be stored in the remote cache"),
        "uploads fail as lookups do: {err}"
    );
    let lookup = err
        .split("\n\n")
        .find(|w| w.starts_with("warning: could not look up the remote cache"))
        .unwrap();
    let mut filters = settings(ws.path());
    filters.add_filter(&format!(":{port}\\b"), ":[PORT]");
    filters.bind(|| insta::assert_snapshot!("remote_cache_unreachable", lookup));
    // --offline does not ask.
    std::fs::remove_dir_all(ws.path().join("cache")).unwrap();
    let (code, out, err) = imgs_process(ws.path(), &["build", "--offline"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("remote cache"), "{err}");
}

#[test]
fn remote_settings_are_checked_where_written() {
    let ws = workspace("\n[workspace.cache]\nremote = \"s3://Imgs_Cache/ci\"\n");
    let err = imgs_input_error(ws.path(), &["plan"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!("remote_cache_bad_bucket", err));
}

/// Whether `qemu-img` is installed (the qcow2 test needs it to make layers).
fn has_qemu_img() -> bool {
    Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The backing file `qemu-img info` reads from a disk's header.
fn backing_of(disk: &Path) -> String {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(disk)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    info["backing-filename"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_qcow2_child_arrives_on_its_parent_disk_here() {
    if !has_qemu_img() {
        eprintln!("skipped: qemu-img is not installed");
        return;
    }
    let s3 = S3Peer::start();
    // base: a qcow2 disk; child: a qcow2 layer on base's disk by absolute path, as the qemu
    // builder makes them (made here by qemu-img after a `file` build, to need no machine).
    let first = new_workspace_with(
        "imgs-remote-qcow2-",
        &format!(
            "\n[images.child]\nparents = {{ base_disk = \"base\" }}\n{}",
            s3.cache_table()
        ),
    );
    let a = first.path();
    write_template(
        a,
        "base",
        &serde_json::json!({
            "builders": [{ "type": "file", "content": "", "target": "out/base.qcow2" }],
            "post-processors": [{ "type": "shell-local", "inline": [
                "rm out/base.qcow2",
                "qemu-img create -q -f qcow2 out/base.qcow2 1M",
            ]}],
        }),
    );
    write_template(
        a,
        "child",
        &serde_json::json!({
            "variables": { "base_disk": null },
            "builders": [{ "type": "file", "content": "", "target": "out/child.qcow2" }],
            "post-processors": [{ "type": "shell-local", "inline": [
                "rm out/child.qcow2",
                "qemu-img create -q -f qcow2 -b \"$(realpath {{user `base_disk`}})\" -F qcow2 out/child.qcow2",
            ]}],
        }),
    );
    imgs_process_ok(a, &["build"]);
    assert_eq!(
        backing_of(&a.join("out/child.qcow2")),
        a.join("out/base.qcow2")
            .canonicalize()
            .unwrap()
            .to_str()
            .unwrap()
    );

    let second = checkout_of(a);
    let b = second.path();
    let (out, _) = imgs_process_ok(b, &["build", "-i", "child"]);
    assert_eq!(
        out.matches("fetched from the remote cache").count(),
        2,
        "the child and the disk it stands on: {out}"
    );
    let child = b.join("out/child.qcow2");
    assert_eq!(
        backing_of(&child),
        b.join("out/base.qcow2").to_str().unwrap(),
        "pointed at this machine's copy of the parent's disk"
    );
    drop(first);
    let check = Command::new("qemu-img")
        .args(["check", "-q"])
        .arg(&child)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
}
