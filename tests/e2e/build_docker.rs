//! The native `docker` builder and the docker-* post-processors end to end, each test against a
//! private Docker daemon (and registry) of its own (`imgs_test_peers::docker`), with the example
//! workspace `examples/docker` (base → runtime → app-web, app-worker) or templates written here.
//!
//! imgs runs as its own process ([`imgs_exe`]): `DOCKER_HOST` is a test's own, and tests run in
//! parallel. Each imgs run also gets a `TMPDIR` of its own (`tmp/` in the workspace), where the
//! directory it shares with a build's container (`imgs-docker-*`) must be gone when it is done.
//!
//! Nothing here reaches past loopback: the images are the offline busybox base image
//! ([`base_image`]) and what the tests build on it, pushed to and pulled from the test registry.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use imgs_cache::Cache;
use imgs_test_peers::docker::{Dockerd, Registry, base_image};
use serde_json::{Value, json};

use crate::support::*;

/// The image the example's base starts from, imported into each test's daemon.
pub(crate) const BASE: &str = "imgs-test/busybox:1";
/// The example's images, parents first.
const CHAIN: [&str; 4] = ["base", "runtime", "app-web", "app-worker"];
/// How long a test waits for something a build does: a guard against hanging, not a measurement.
const PATIENCE: Duration = Duration::from_secs(120);

/// A test's daemon (with [`BASE`]) and, when it asked for one, its registry.
pub(crate) struct Peers {
    pub(crate) docker: Dockerd,
    pub(crate) registry: Option<Registry>,
}

impl Peers {
    /// None when this machine cannot run them (the test is then skipped, as the peers decide).
    pub(crate) fn start(what: &str, registry: bool) -> Option<Peers> {
        let registry = if registry {
            Some(Registry::start_for(what)?)
        } else {
            None
        };
        let docker = Dockerd::start_for(what)?;
        base_image(&docker, BASE).unwrap_or_else(|why| panic!("{what}: {why}"));
        Some(Peers { docker, registry })
    }

    fn registry(&self) -> &Registry {
        self.registry.as_ref().expect("a test with a registry")
    }

    /// The example's variables: this daemon, the base image, and this registry (when there is one).
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        let mut env: Vec<(&'static str, String)> = self.docker.env().into();
        env.push(("IMGS_DOCKER_BASE", BASE.to_string()));
        if let Some(registry) = &self.registry {
            env.push(("IMGS_REGISTRY", registry.address()));
        }
        env
    }

    fn imgs(&self, dir: &Path, args: &[&str]) -> Output {
        imgs_command(dir, args, &self.env()).output().unwrap()
    }

    /// `imgs ARGS` must succeed; its stdout.
    fn imgs_ok(&self, dir: &Path, args: &[&str]) -> String {
        succeeded(&self.imgs(dir, args), args)
    }

    /// `imgs plan --message-format json`.
    fn plan(&self, dir: &Path) -> Value {
        serde_json::from_str(&self.imgs_ok(dir, &["plan", "--message-format", "json"])).unwrap()
    }

    /// `docker ARGS` must succeed; its stdout.
    fn docker(&self, args: &[&str]) -> String {
        self.docker.cli(args).unwrap_or_else(|why| panic!("{why}"))
    }

    /// `docker image inspect IMAGE`.
    fn inspect(&self, image: &str) -> Value {
        let listed: Value =
            serde_json::from_str(&self.docker(&["image", "inspect", image])).unwrap();
        listed[0].clone()
    }

    /// A build left neither a container nor the directory it shared with one.
    fn nothing_left(&self, dir: &Path) {
        assert_eq!(self.docker.containers().unwrap(), Vec::<String>::new());
        assert_eq!(shared_dirs(dir), Vec::<String>::new());
    }
}

/// `imgs ARGS` as its own process in `dir`, reaching Docker only as `env` says: the variables of
/// the test's environment that would name another daemon are removed, and `IMGS_REGISTRY` is the
/// test's or none.
pub(crate) fn imgs_command(dir: &Path, args: &[&str], env: &[(&'static str, String)]) -> Command {
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = Command::new(imgs_exe());
    cmd.args(args)
        .current_dir(dir)
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null());
    for name in Dockerd::CLIENT_ENV_REMOVED.into_iter().chain([
        "DOCKER_HOST",
        "DOCKER_CONFIG",
        "IMGS_REGISTRY",
        "IMGS_DOCKER_BASE",
        "IMGS_DOCKER",
    ]) {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

fn succeeded(out: &Output, args: &[&str]) -> String {
    assert!(
        out.status.success(),
        "imgs {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `imgs ARGS` failed with `code`: its stdout and stderr.
fn failed(out: &Output, code: i32) -> (String, String) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "expected exit code {code}:\n{stdout}{stderr}"
    );
    (stdout, stderr)
}

/// The directories imgs shared with containers (`imgs-docker-*`) still in the workspace's TMPDIR.
pub(crate) fn shared_dirs(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("tmp"))
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("imgs-docker-"))
                .collect()
        })
        .unwrap_or_default()
}

/// A copy of `examples/docker`: its Images.toml and images (not any cache a run there left).
pub(crate) fn example() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("imgs-docker-ws-")
        .tempdir()
        .unwrap();
    let from = repo_root().join("examples/docker");
    std::fs::copy(from.join("Images.toml"), dir.path().join("Images.toml")).unwrap();
    copy_dir(&from.join("images"), &dir.path().join("images"));
    dir
}

/// Each image's status in a JSON plan (`fresh` or `build`).
fn statuses(plan: &Value) -> BTreeMap<String, String> {
    images_of(plan)
        .map(|i| (name_of(i), i["status"].as_str().unwrap().to_string()))
        .collect()
}

/// Each image's fingerprint in a JSON plan.
fn plan_fingerprints(plan: &Value) -> BTreeMap<String, String> {
    images_of(plan)
        .map(|i| (name_of(i), i["fingerprint"].as_str().unwrap().to_string()))
        .collect()
}

/// The images a JSON plan builds, in its order.
fn to_build(plan: &Value) -> Vec<String> {
    images_of(plan)
        .filter(|i| i["status"] == "build")
        .map(name_of)
        .collect()
}

fn images_of(plan: &Value) -> impl Iterator<Item = &Value> {
    plan["images"].as_array().unwrap().iter()
}

fn name_of(image: &Value) -> String {
    image["name"].as_str().unwrap().to_string()
}

/// The run ID a build's last line names: `Finished … (run ID)`.
fn run_id(stdout: &str) -> String {
    let (_, rest) = stdout
        .rsplit_once("(run ")
        .unwrap_or_else(|| panic!("no run ID in:\n{stdout}"));
    rest.trim_end().trim_end_matches(')').to_string()
}

/// The `Finished` line's counts: "N images built, M fresh".
fn finished(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Finished"))
        .unwrap_or_else(|| panic!("no Finished line in:\n{stdout}"));
    let counts = line.trim_start().trim_start_matches("Finished ");
    counts.split(" in ").next().unwrap().to_string()
}

/// The imgs tag of a fingerprint, as docker-push adds it.
fn fingerprint_tag(fingerprint: &str) -> String {
    format!("imgs-{}", &fingerprint[..32])
}

/// Snapshot settings for Docker builds: image and container IDs, run IDs, durations and the
/// registry's port vary between runs.
fn docker_settings(dir: &Path, registry: Option<&Registry>) -> insta::Settings {
    let mut s = settings(dir);
    s.add_filter(r"sha256:\[FINGERPRINT\]", "sha256:[ID]");
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-(\[fp\]|[0-9a-f]{12})",
        "[RUN]",
    );
    s.add_filter(r"\b\d+\.\d\ds\b", "[T]s");
    // A fingerprint covers the registry's address (IMGS_REGISTRY), whose port varies.
    s.add_filter(r":imgs-[0-9a-f]{32}\b", ":imgs-[FP]");
    if let Some(registry) = registry {
        s.add_filter(&format!(":{}\\b", registry.port()), ":[PORT]");
    }
    s
}

/// The labels of an image (`docker image inspect`).
fn labels(image: &Value) -> BTreeMap<String, String> {
    image["Config"]["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

/// Polls `done` until it holds; panics with `what` after [`PATIENCE`].
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < PATIENCE, "waited too long for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The example's four images: each built, committed with the imgs labels of its plan's fingerprint,
/// pushed with `latest` and its imgs tag; the app's `changes` in its config, and it serves; no
/// container left; a second build builds and pushes nothing.
#[test]
fn the_example_chain_is_built_labelled_pushed_and_then_fresh() {
    let Some(peers) = Peers::start("the docker example's chain with pushes", true) else {
        return;
    };
    let ws = example();
    let root = ws.path();

    let out = peers.imgs_ok(root, &["build", "--all"]);
    assert_eq!(finished(&out), "4 images built, 0 fresh", "{out}");
    let run = run_id(&out);
    peers.nothing_left(root);
    // Only base's image is locked (by its ID: the base was imported, never pulled); the others
    // start from their parent's artifact, which the parent's fingerprint pins.
    let lock = std::fs::read_to_string(root.join("Images.lock")).unwrap();
    assert_eq!(lock.matches("[[input]]").count(), 1, "{lock}");
    assert!(lock.contains("image = \"base\""), "{lock}");
    assert!(lock.contains("resolved = \"sha256:"), "{lock}");

    let plan = peers.plan(root);
    let fingerprints = plan_fingerprints(&plan);
    assert!(statuses(&plan).values().all(|s| s == "fresh"), "{plan}");
    let registry = peers.registry();
    for name in CHAIN {
        // The committed image, as the record names it, carries the labels.
        let record = images_of(&plan).find(|i| i["name"] == name).unwrap();
        let id = record["artifacts"][0]["artifact_id"].as_str().unwrap();
        assert!(id.starts_with("sha256:"), "{record}");
        let image = peers.inspect(id);
        let labels = labels(&image);
        assert_eq!(labels["imgs.fingerprint"], fingerprints[name], "{name}");
        assert_eq!(labels["imgs.image"], name);
        assert_eq!(labels["imgs.run"], run);
        // Pushed with the template's tag and the one imgs finds it by.
        let repository = format!("example/{name}");
        let mut tags = registry.tags(&repository).unwrap();
        tags.sort();
        assert_eq!(
            tags,
            [fingerprint_tag(&fingerprints[name]), "latest".into()]
        );
        let local = format!("{}/{repository}:latest", registry.address());
        assert_eq!(peers.docker.image_id(&local).unwrap().as_deref(), Some(id));
    }
    let mut repositories = registry.repositories().unwrap();
    repositories.sort();
    assert_eq!(
        repositories,
        [
            "example/app-web",
            "example/app-worker",
            "example/base",
            "example/runtime"
        ]
    );

    // The app's `changes`, and what its parents put in it.
    let app = format!("{}/example/app-web:latest", registry.address());
    let config = &peers.inspect(&app)["Config"];
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for wanted in [
        "APP=web",
        "PORT=8080",
        "LANG=C.UTF-8",
        "PATH=/opt/example/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ] {
        assert!(env.contains(&wanted), "{wanted} not in {env:?}");
    }
    assert_eq!(config["ExposedPorts"], json!({"8080/tcp": {}}));
    assert_eq!(config["Entrypoint"], json!(["/opt/example/bin/serve"]));
    assert_eq!(config["WorkingDir"], "/opt/example");
    assert_eq!(config["Labels"]["org.example.layer"], "base");
    // Every layer's script ran, in order, into the one file they share.
    let layers = peers.docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "cat",
        &app,
        "/opt/example/layers",
    ]);
    assert!(
        layers.starts_with("base ") && layers.ends_with("\nruntime\nweb\n"),
        "{layers:?}"
    );
    // It serves: its entry point says so, then waits (until removed).
    let container = peers.docker(&["run", "-d", &app]).trim().to_string();
    wait_until("the app to say it serves", || {
        peers
            .docker(&["logs", &container])
            .contains("serving web on port 8080")
    });
    // It is no build container: `imgs gc` leaves it alone (the image does not pass on the build
    // container's `imgs.workspace` label).
    let gc = peers.imgs_ok(root, &["gc", "--dry-run"]);
    assert!(gc.contains("docker: nothing to remove"), "{gc}");
    peers.docker(&["rm", "--force", &container]);
    assert_eq!(peers.docker.containers().unwrap(), Vec::<String>::new());

    // Nothing changed: nothing is built, nothing pushed again.
    let again = peers.imgs_ok(root, &["build", "--all"]);
    assert_eq!(finished(&again), "0 images built, 4 fresh", "{again}");
    assert!(!again.contains("Pushing"), "{again}");
    docker_settings(root, Some(registry))
        .bind(|| insta::assert_snapshot!("docker_chain_no_op", again));
    peers.nothing_left(root);
}

/// A changed script rebuilds its image and the images built on it, not its parent; undone, nothing
/// is rebuilt (the images of the old fingerprints are still in the engine).
#[test]
fn a_change_rebuilds_exactly_the_images_it_reaches() {
    let Some(peers) = Peers::start("incremental docker builds", true) else {
        return;
    };
    let ws = example();
    let root = ws.path();
    peers.imgs_ok(root, &["build", "--all"]);
    let before = plan_fingerprints(&peers.plan(root));

    let script = root.join("images/runtime/runtime.sh");
    let original = std::fs::read_to_string(&script).unwrap();
    append(
        root,
        "images/runtime/runtime.sh",
        "echo changed > /opt/example/changed\n",
    );
    let plan = peers.plan(root);
    assert_eq!(
        to_build(&plan),
        ["runtime", "app-web", "app-worker"],
        "{plan}"
    );
    let out = peers.imgs_ok(root, &["build", "--all"]);
    assert_eq!(finished(&out), "3 images built, 1 fresh", "{out}");
    let after = plan_fingerprints(&peers.plan(root));
    assert_eq!(after["base"], before["base"]);
    for name in ["runtime", "app-web", "app-worker"] {
        assert_ne!(after[name], before[name], "{name}");
        // The child was built on the new runtime.
        let image = format!("{}/example/{name}:latest", peers.registry().address());
        assert_eq!(
            labels(&peers.inspect(&image))["imgs.fingerprint"],
            after[name]
        );
    }
    let worker = format!("{}/example/app-worker:latest", peers.registry().address());
    assert_eq!(
        peers.docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "cat",
            &worker,
            "/opt/example/changed"
        ]),
        "changed\n"
    );

    // Back as it was: every image of the old fingerprints is still there.
    std::fs::write(&script, original).unwrap();
    let out = peers.imgs_ok(root, &["build", "--all"]);
    assert_eq!(finished(&out), "0 images built, 4 fresh", "{out}");
    assert_eq!(plan_fingerprints(&peers.plan(root)), before);
    peers.nothing_left(root);
}

/// Removes every image of the engine but the base image (`docker rmi`, children first).
fn remove_example_images(peers: &Peers) {
    let base = peers.docker.image_id(BASE).unwrap().unwrap();
    // `docker images` lists the newest first: children before their parents.
    let ids: Vec<String> = peers
        .docker
        .images()
        .unwrap()
        .into_iter()
        .filter(|i| i.id != base)
        .map(|i| i.id)
        .collect();
    let mut args = vec!["rmi", "--force"];
    args.extend(ids.iter().map(String::as_str));
    peers.docker(&args);
    let left = peers.docker.images().unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
}

/// An engine without the images (a fresh machine): the plan finds each in the registry by its imgs
/// tag, and a change to one app builds only it, on its parent pulled from the registry.
#[test]
fn with_an_empty_engine_the_images_are_found_in_the_registry() {
    let Some(peers) = Peers::start("docker images found in the registry", true) else {
        return;
    };
    let ws = example();
    let root = ws.path();
    peers.imgs_ok(root, &["build", "--all"]);
    let fingerprints = plan_fingerprints(&peers.plan(root));
    remove_example_images(&peers);

    let plan = peers.plan(root);
    assert!(statuses(&plan).values().all(|s| s == "fresh"), "{plan}");
    let registry = peers.registry();
    for image in images_of(&plan) {
        let name = name_of(image);
        assert_eq!(image["found_by_tag"], true, "{image}");
        assert_eq!(
            image["artifacts"][0]["artifact_id"],
            format!(
                "{}/example/{name}:{}",
                registry.address(),
                fingerprint_tag(&fingerprints[&name])
            )
        );
    }
    let text = peers.imgs_ok(root, &["plan"]);
    assert_eq!(
        text.matches("(found in its registry by the imgs-<fingerprint> tag)")
            .count(),
        4,
        "{text}"
    );
    docker_settings(root, Some(registry))
        .bind(|| insta::assert_snapshot!("docker_plan_empty_engine", text));

    // A change to one app: only it is built, on its parent as pulled from the registry.
    append(
        root,
        "images/app-web/web.sh",
        "echo v2 > /opt/example/web/version\n",
    );
    let plan = peers.plan(root);
    assert_eq!(to_build(&plan), ["app-web"], "{plan}");
    let out = peers.imgs_ok(root, &["build", "--all"]);
    assert_eq!(finished(&out), "1 image built, 3 fresh", "{out}");
    let runtime = format!(
        "{}/example/runtime:{}",
        registry.address(),
        fingerprint_tag(&fingerprints["runtime"])
    );
    assert!(out.contains(&format!("-- {runtime}\n")), "{out}");
    assert!(peers.docker.image_id(&runtime).unwrap().is_some());
    let app = format!("{}/example/app-web:latest", registry.address());
    assert_eq!(
        peers.docker(&[
            "run",
            "--rm",
            "--entrypoint",
            "cat",
            &app,
            "/opt/example/web/version"
        ]),
        "v2\n"
    );
    assert_eq!(
        statuses(&peers.plan(root)).values().collect::<Vec<_>>(),
        ["fresh"; 4]
    );
    peers.nothing_left(root);
}

/// Without a registry to find them in, images gone from the engine are rebuilt, the plan saying
/// which image is gone.
#[test]
fn images_gone_from_the_engine_without_a_registry_are_rebuilt() {
    let Some(peers) = Peers::start("docker images gone without a registry", false) else {
        return;
    };
    let ws = example();
    let root = ws.path();
    // Tagged locally, never pushed.
    for name in CHAIN {
        let path = root.join(format!("images/{name}/template.json"));
        let mut template: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        template["post-processors"] = json!([
            { "type": "docker-tag", "repository": format!("example/{name}"), "tags": ["latest"] }
        ]);
        std::fs::write(&path, serde_json::to_string_pretty(&template).unwrap()).unwrap();
    }
    let out = peers.imgs_ok(root, &["build", "--all"]);
    assert_eq!(finished(&out), "4 images built, 0 fresh", "{out}");
    let built = peers.plan(root);
    remove_example_images(&peers);

    let plan = peers.plan(root);
    assert_eq!(to_build(&plan), CHAIN, "{plan}");
    let base = images_of(&plan).find(|i| i["name"] == "base").unwrap();
    let gone =
        images_of(&built).find(|i| i["name"] == "base").unwrap()["artifacts"][0]["artifact_id"]
            .as_str()
            .unwrap()
            .to_string();
    assert_eq!(
        base["reasons"][0]["message"],
        format!("docker image {gone} is not in the Docker engine"),
        "{base}"
    );
    let text = peers.imgs_ok(root, &["plan"]);
    docker_settings(root, None).bind(|| insta::assert_snapshot!("docker_plan_image_gone", text));

    let out = peers.imgs_ok(root, &["build", "--all"]);
    assert_eq!(finished(&out), "4 images built, 0 fresh", "{out}");
    assert_eq!(to_build(&peers.plan(root)), Vec::<String>::new());
    peers.nothing_left(root);
}

/// A workspace of one image `app` built by `builder` (over the docker builder's defaults:
/// [`BASE`], not pulled, committed) with `provisioners` and `post`.
fn one_image(prefix: &str, builder: Value, provisioners: Value, post: Value) -> tempfile::TempDir {
    let dir = new_workspace(prefix);
    let mut settings = json!({ "type": "docker", "image": BASE, "pull": false, "commit": true });
    for (key, value) in builder.as_object().unwrap() {
        if value.is_null() {
            settings.as_object_mut().unwrap().remove(key);
        } else {
            settings[key] = value.clone();
        }
    }
    write_template(
        dir.path(),
        "app",
        &json!({
            "builders": [settings],
            "provisioners": provisioners,
            "post-processors": post,
        }),
    );
    dir
}

/// A daemon nobody runs, an image no registry has, a push nobody takes, an upload whose owner cannot
/// be set: each a clear error, and nothing left (container, shared directory, record).
#[test]
fn failures_are_clear_and_leave_nothing_running() {
    let Some(peers) = Peers::start("docker build failures", true) else {
        return;
    };
    let registry = peers.registry();
    let echo = json!([{ "type": "shell", "inline": ["echo hello"] }]);

    // No daemon at DOCKER_HOST.
    let ws = one_image("imgs-docker-down-", json!({}), echo.clone(), json!([]));
    let root = ws.path();
    let nobody = root.join("nobody.sock");
    let mut env = peers.env();
    env.retain(|(k, _)| *k != "DOCKER_HOST");
    env.push(("DOCKER_HOST", format!("unix://{}", nobody.display())));
    let out = imgs_command(root, &["build", "--all"], &env)
        .output()
        .unwrap();
    let (_, stderr) = failed(&out, 1);
    assert!(
        stderr.contains("the Docker daemon is not running"),
        "{stderr}"
    );
    assert!(stderr.contains("start the daemon"), "{stderr}");
    docker_settings(root, None).bind(|| insta::assert_snapshot!("docker_daemon_down", stderr));
    assert_eq!(shared_dirs(root), Vec::<String>::new());

    // An image no registry has, pulled from the test registry (pulls from elsewhere would leave
    // loopback).
    let missing = format!("{}/nope/nothing:1", registry.address());
    let ws = one_image(
        "imgs-docker-missing-",
        json!({ "image": missing, "pull": true }),
        echo.clone(),
        json!([]),
    );
    let root = ws.path();
    let (_, stderr) = failed(&peers.imgs(root, &["build", "--all"]), 1);
    assert!(
        stderr.contains(&format!("could not pull {missing}")),
        "{stderr}"
    );
    docker_settings(root, Some(registry))
        .bind(|| insta::assert_snapshot!("docker_image_not_found", stderr));
    peers.nothing_left(root);
    let records = Cache::open(&root.join("cache")).list().unwrap();
    assert!(records.is_empty(), "{records:?}");

    // A push to a registry address nothing listens on.
    let closed = imgs_test_peers::process::free_port().unwrap();
    let target = format!("127.0.0.1:{closed}/example/app");
    let ws = one_image(
        "imgs-docker-push-",
        json!({}),
        echo,
        json!([[
            { "type": "docker-tag", "repository": target, "tags": ["latest"] },
            { "type": "docker-push" }
        ]]),
    );
    let root = ws.path();
    let (_, stderr) = failed(&peers.imgs(root, &["build", "--all"]), 1);
    assert!(
        stderr.contains(&format!("could not push {target}:latest")),
        "{stderr}"
    );
    assert!(stderr.contains("connection refused"), "{stderr}");
    peers.nothing_left(root);
    assert!(Cache::open(&root.join("cache")).list().unwrap().is_empty());

    // An upload whose owner cannot be fixed (the container may not chown): chown's own words.
    let ws = one_image(
        "imgs-docker-chown-",
        json!({
            "cap_drop": ["CHOWN"],
            "run_command": ["-d", "-i", "-t", "--user", "app", "--entrypoint=/bin/sh", "--",
                            "{{.Image}}"],
        }),
        json!([{ "type": "file", "source": "{{template_dir}}/x.txt", "destination": "/tmp/x.txt" }]),
        json!([]),
    );
    let root = ws.path();
    write(root, "images/app/x.txt", "x\n");
    let (_, stderr) = failed(&peers.imgs(root, &["build", "--all"]), 1);
    assert!(
        stderr.contains("Failed to set owner of the uploaded file")
            && stderr.contains("Operation not permitted"),
        "{stderr}"
    );
    peers.nothing_left(root);
}

/// Settings refused before anything starts, each at its place in the template: an unknown key
/// (with the key it is close to), Packer's `commit`+`discard` error, `ecr_login`.
#[test]
fn settings_imgs_refuses_are_located() {
    let Some(peers) = Peers::start("docker settings refused", false) else {
        return;
    };
    let ws = new_workspace("imgs-docker-invalid-");
    let root = ws.path();
    let builder = |more: Value| {
        let mut b = json!({ "type": "docker", "image": BASE, "pull": false, "commit": true });
        for (k, v) in more.as_object().unwrap() {
            b[k] = v.clone();
        }
        json!({ "builders": [b] })
    };
    write_template(root, "typo", &builder(json!({ "chnages": ["ENV A=1"] })));
    write_template(root, "both", &builder(json!({ "discard": true })));
    write_template(
        root,
        "ecr",
        &builder(json!({
            "ecr_login": true,
            "login_server": "https://123456789012.dkr.ecr.us-east-1.amazonaws.com",
        })),
    );

    let out = imgs_command(root, &["validate"], &peers.env())
        .output()
        .unwrap();
    let (_, stderr) = failed(&out, 2);
    for wanted in [
        "images/typo/template.json:",
        "unknown key `chnages`",
        "did you mean `changes`?",
        "Cannot specify more than one of commit, discard, and export_path",
        "not supported: ecr_login",
    ] {
        assert!(stderr.contains(wanted), "{wanted}:\n{stderr}");
    }
    settings(root).bind(|| insta::assert_snapshot!("docker_invalid_settings", stderr));

    // A build refuses them before starting anything.
    let out = imgs_command(root, &["build", "--all"], &peers.env())
        .output()
        .unwrap();
    failed(&out, 2);
    peers.nothing_left(root);
}

/// An `imgs` child, killed (by its PID) if the test ends before it does.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Ctrl-C while a provisioner runs in the container: imgs exits 130 at once, with the container
/// and the directory it shared removed, nothing committed and nothing recorded.
#[test]
fn ctrl_c_removes_the_container_and_records_nothing() {
    let Some(peers) = Peers::start("Ctrl-C during a docker build", false) else {
        return;
    };
    let ws = one_image(
        "imgs-docker-int-",
        json!({}),
        json!([{ "type": "shell", "inline": ["echo provisioning", "sleep 30"] }]),
        json!([]),
    );
    let root = ws.path();
    let output = root.join("imgs.out");
    let file = std::fs::File::create(&output).unwrap();
    let mut imgs = Running(
        imgs_command(root, &["build", "--all"], &peers.env())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap(),
    );
    let said = || std::fs::read_to_string(&output).unwrap();
    // The provisioner is running: its `sleep` is what the build's container does now.
    wait_until("the provisioner's sleep", || {
        assert_eq!(imgs.0.try_wait().unwrap(), None, "imgs ended:\n{}", said());
        peers
            .docker
            .containers()
            .unwrap()
            .first()
            .is_some_and(|id| {
                peers
                    .docker
                    .cli(&["top", id])
                    .is_ok_and(|top| top.contains("sleep 30"))
            })
    });
    assert_eq!(
        shared_dirs(root).len(),
        1,
        "the directory shared with the container"
    );

    let status = Command::new("kill")
        .args(["-s", "INT", &imgs.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = Instant::now();
    let status = imgs.0.wait().unwrap();
    // Well before the sleep would have ended.
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "{:?}",
        signalled.elapsed()
    );
    assert_eq!(status.code(), Some(130), "{}", said());
    assert!(said().contains("cancelled"), "{}", said());
    peers.nothing_left(root);
    let records = Cache::open(&root.join("cache")).list().unwrap();
    assert!(records.is_empty(), "{records:?}");
    // Nothing was committed: the base image is the only one.
    assert_eq!(peers.docker.images().unwrap().len(), 1);
}

/// A killed imgs cannot remove its build's container; `imgs gc` finds it by its name (the workspace
/// and the dead run) and removes it, and leaves alone a container of the same image someone runs.
#[test]
fn a_killed_build_leaves_a_container_that_gc_removes() {
    let Some(peers) = Peers::start("gc after a killed docker build", false) else {
        return;
    };
    let ws = one_image(
        "imgs-docker-kill-",
        json!({}),
        json!([{ "type": "shell", "inline": ["sleep 30"] }]),
        json!([]),
    );
    let root = ws.path();
    let mut imgs = Running(
        imgs_command(root, &["build", "--all"], &peers.env())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("the build's container", || {
        !peers.docker.containers().unwrap().is_empty()
    });
    let status = Command::new("kill")
        .args(["-s", "KILL", &imgs.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    imgs.0.wait().unwrap();
    let left = peers.docker.containers().unwrap();
    assert_eq!(left.len(), 1, "the killed build's container is still there");
    // Someone's own container, which gc must not take.
    peers
        .docker
        .cli(&["run", "-d", "--name", "mine", BASE, "sleep", "60"])
        .unwrap();

    let dry = imgs_command(root, &["gc", "--dry-run"], &peers.env())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&dry.stdout);
    assert!(
        dry.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    assert!(said.contains("docker: would remove"), "{said}");
    assert!(
        said.contains(&left[0][..12]) && said.contains("image app"),
        "{said}"
    );
    assert_eq!(
        peers.docker.containers().unwrap().len(),
        2,
        "a dry run removes nothing"
    );

    let gc = imgs_command(root, &["gc"], &peers.env()).output().unwrap();
    let said = String::from_utf8_lossy(&gc.stdout);
    assert!(
        gc.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&gc.stderr)
    );
    assert!(said.contains("docker: removed"), "{said}");
    // The directory the killed run shared with its container goes too.
    assert!(said.contains("shared directory"), "{said}");
    assert_eq!(shared_dirs(root), Vec::<String>::new());
    let remaining = peers.docker.containers().unwrap();
    assert_eq!(remaining.len(), 1, "{remaining:?}");
    assert_ne!(remaining[0], left[0]);
    peers.docker.cli(&["rm", "-f", "mine"]).unwrap();
}

/// `export_path` writes the container's file system, docker-import makes an image of it (with the
/// labels the plan finds it by, and its `changes`), and docker-save writes that image as a tar.
#[test]
fn an_export_is_imported_and_saved() {
    let Some(peers) = Peers::start("docker export, import and save", false) else {
        return;
    };
    let ws = one_image(
        "imgs-docker-export-",
        json!({ "commit": null, "export_path": "out/app.tar" }),
        json!([{ "type": "shell", "inline": ["echo exported > /exported"] }]),
        json!([[
            { "type": "docker-import", "repository": "imgs-test/imported", "tag": "1",
              "changes": ["ENV IMPORTED=yes", "CMD [\"/bin/sh\"]"], "keep_input_artifact": true },
            { "type": "docker-save", "path": "out/imported.tar" }
        ]]),
    );
    let root = ws.path();
    let out = peers.imgs_ok(root, &["build", "--all"]);
    let run = run_id(&out);
    peers.nothing_left(root);
    let fingerprint = plan_fingerprints(&peers.plan(root))["app"].clone();

    let list = |tar: &Path| {
        let out = Command::new("tar").arg("-tf").arg(tar).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let exported = root.join("out/app.tar");
    assert!(
        list(&exported).lines().any(|l| l == "exported"),
        "{}",
        list(&exported)
    );

    let imported = peers.inspect("imgs-test/imported:1");
    // The labels a committed image carries: the plan finds an image by them.
    let labels = labels(&imported);
    assert_eq!(labels["imgs.fingerprint"], fingerprint);
    assert_eq!(labels["imgs.run"], run);
    assert_eq!(labels["imgs.image"], "app");
    assert!(
        imported["Config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("IMPORTED=yes")),
        "{imported}"
    );
    assert_eq!(
        peers.docker(&["run", "--rm", "imgs-test/imported:1", "cat", "/exported"]),
        "exported\n"
    );

    let saved = root.join("out/imported.tar");
    assert!(std::fs::metadata(&saved).unwrap().len() > 0);
    assert!(
        list(&saved).lines().any(|l| l == "manifest.json"),
        "{}",
        list(&saved)
    );
    assert_eq!(peers.docker.containers().unwrap(), Vec::<String>::new());
}

/// `run_command`, `volumes`, `exec_user` and `fix_upload_owner` shape the build's container;
/// `changes`, `author` and `message` the committed image.
#[test]
fn run_and_commit_settings_reach_the_container_and_the_image() {
    let Some(peers) = Peers::start("docker builder settings", false) else {
        return;
    };
    let ws = new_workspace("imgs-docker-settings-");
    let root = ws.path();
    write(root, "vol/input.txt", "from the volume\n");
    write(root, "images/owned/hello.txt", "hello\n");
    // The container runs as `app` (run_command); commands run as root (exec_user).
    let builder = |fix_upload_owner: bool| {
        json!({
            "type": "docker", "image": BASE, "pull": false, "commit": true,
            "run_command": ["-d", "-i", "-t", "--user", "app", "-e", "MARK=from-run-command",
                            "--entrypoint=/bin/sh", "--", "{{.Image}}"],
            "exec_user": "root",
            "fix_upload_owner": fix_upload_owner,
            "volumes": { "./vol": "/mnt/vol" },
            "author": "Imgs Tests <tests@example.invalid>",
            "message": "committed by the e2e test",
            "changes": ["USER app", "ENV GREETING=hi", "LABEL org.test.kind=settings"],
        })
    };
    let provisioners = json!([
        { "type": "file", "source": "{{template_dir}}/../owned/hello.txt",
          "destination": "/home/app/hello.txt" },
        { "type": "shell", "inline": [
            "id -un > /who",
            "echo \"$MARK\" > /mark",
            "cp /mnt/vol/input.txt /from-volume",
        ] },
    ]);
    for (name, fix) in [("owned", true), ("unowned", false)] {
        write_template(
            root,
            name,
            &json!({ "builders": [builder(fix)], "provisioners": provisioners }),
        );
    }
    peers.imgs_ok(root, &["build", "--all"]);
    peers.nothing_left(root);
    let plan = peers.plan(root);
    let id = |name: &str| {
        images_of(&plan).find(|i| i["name"] == name).unwrap()["artifacts"][0]["artifact_id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let owned = peers.inspect(&id("owned"));
    assert_eq!(owned["Author"], "Imgs Tests <tests@example.invalid>");
    assert_eq!(owned["Comment"], "committed by the e2e test");
    assert_eq!(owned["Config"]["User"], "app");
    assert!(
        owned["Config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("GREETING=hi")),
        "{owned}"
    );
    let labels = labels(&owned);
    assert_eq!(labels["org.test.kind"], "settings");
    assert_eq!(labels["imgs.image"], "owned");

    let show = |image: &str| {
        // Committed from a container started with `--entrypoint=/bin/sh`, the image keeps it.
        peers.docker(&[
            "run",
            "--rm",
            image,
            "-c",
            "stat -c '%U %u' /home/app/hello.txt; cat /home/app/hello.txt /who /mark /from-volume; \
             id -un",
        ])
    };
    // The upload is the image user's; commands ran as root, in the container run_command started
    // (with its variable), with the volume mounted; the image runs as `app` (changes).
    assert_eq!(
        show(&id("owned")),
        "app 1000\nhello\nroot\nfrom-run-command\nfrom the volume\napp\n"
    );
    // Without fix_upload_owner the upload stays root's.
    assert_eq!(
        show(&id("unowned")),
        "root 0\nhello\nroot\nfrom-run-command\nfrom the volume\napp\n"
    );
    assert_eq!(peers.docker.containers().unwrap(), Vec::<String>::new());
}

/// Images.lock pins a docker `image` given by tag: the build starts from the digest the lock
/// records, a tag moved to other content leaves the image fresh until `imgs update` says so, and
/// then it rebuilds from the new digest.
#[test]
fn a_base_image_by_tag_is_locked_to_its_digest() {
    let Some(peers) = Peers::start("docker base locked", true) else {
        return;
    };
    let registry = peers.registry();
    let base = format!("{}/lock/base:1", registry.address());
    let repository = format!("{}/lock/base", registry.address());
    peers.docker(&["tag", BASE, &base]);
    peers.docker(&["push", &base]);
    let digest_of = |image: &str| {
        let inspected = peers.inspect(image);
        inspected["RepoDigests"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .find(|d| d.starts_with(&format!("{repository}@")))
            .unwrap_or_else(|| panic!("no digest of {repository}: {inspected}"))
            .to_string()
    };
    let first = digest_of(&base);
    let ws = one_image(
        "imgs-docker-lock-",
        json!({ "image": base, "pull": true }),
        json!([{ "type": "shell", "inline": ["echo hello"] }]),
        json!([]),
    );
    let root = ws.path();
    let artifact = |root: &Path| {
        images_of(&peers.plan(root)).next().unwrap()["artifacts"][0]["artifact_id"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let out = peers.imgs(root, &["build", "--all"]);
    let stdout = succeeded(&out, &["build", "--all"]);
    assert_eq!(finished(&stdout), "1 image built, 0 fresh", "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Locking app: image digest {first}")),
        "{stderr}"
    );
    let lock = std::fs::read_to_string(root.join("Images.lock")).unwrap();
    assert!(lock.contains("kind = \"image-digest\""), "{lock}");
    assert!(lock.contains(&format!("spec = \"{base}\"")), "{lock}");
    assert!(lock.contains(&format!("resolved = \"{first}\"")), "{lock}");
    // The container started from the locked digest, not from the tag.
    let built = artifact(root);
    assert_eq!(peers.inspect(&built)["Config"]["Image"], first.as_str());

    // The tag moves to other content (the built image, pushed under it).
    peers.docker(&["tag", &built, &base]);
    peers.docker(&["push", &base]);
    let second = digest_of(&base);
    assert_ne!(first, second);
    assert_eq!(to_build(&peers.plan(root)), Vec::<String>::new());

    let dry = peers.imgs_ok(root, &["update", "--dry-run"]);
    assert!(
        dry.contains(&format!("Updating app: image digest {first} -> {second}")),
        "{dry}"
    );
    assert!(dry.contains("would rebuild:"), "{dry}");
    assert!(dry.contains("locked image digest changed"), "{dry}");
    assert_eq!(to_build(&peers.plan(root)), Vec::<String>::new());

    let update = peers.imgs_ok(root, &["update"]);
    assert!(update.contains("will rebuild:"), "{update}");
    assert_eq!(to_build(&peers.plan(root)), ["app"]);
    let stdout = peers.imgs_ok(root, &["build", "--all", "--locked"]);
    assert_eq!(finished(&stdout), "1 image built, 0 fresh", "{stdout}");
    assert_eq!(
        peers.inspect(&artifact(root))["Config"]["Image"],
        second.as_str()
    );
    assert_eq!(to_build(&peers.plan(root)), Vec::<String>::new());
    peers.nothing_left(root);
}

/// An image never in a registry (imported here) is locked by its image ID, started from without a
/// pull; one given by digest is not locked at all.
#[test]
fn a_local_base_is_locked_by_its_id_and_a_digest_is_not_locked() {
    let Some(peers) = Peers::start("docker local base locked", false) else {
        return;
    };
    let id = peers.inspect(BASE)["Id"].as_str().unwrap().to_string();
    let ws = one_image(
        "imgs-docker-lock-id-",
        json!({ "image": BASE, "pull": true }),
        json!([{ "type": "shell", "inline": ["echo hello"] }]),
        json!([]),
    );
    let root = ws.path();
    let out = peers.imgs(root, &["build", "--all"]);
    succeeded(&out, &["build", "--all"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Locking app: image digest {id}")),
        "{stderr}"
    );
    let lock = std::fs::read_to_string(root.join("Images.lock")).unwrap();
    assert!(lock.contains(&format!("resolved = \"{id}\"")), "{lock}");
    let built = images_of(&peers.plan(root)).next().unwrap()["artifacts"][0]["artifact_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(peers.inspect(&built)["Config"]["Image"], id.as_str());

    let ws = one_image(
        "imgs-docker-lock-pinned-",
        json!({ "image": id, "pull": false }),
        json!([]),
        json!([]),
    );
    let out = peers.imgs(ws.path(), &["build", "--all"]);
    succeeded(&out, &["build", "--all"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Locking"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!ws.path().join("Images.lock").exists());
}
