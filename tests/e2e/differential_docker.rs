//! Differential tests of the `docker` builder and the `docker-import`, `docker-tag`, `docker-push` and
//! `docker-save` post-processors: one template built by Packer 1.6.6 (`packer build FILE`) and by
//! imgs, twice — as a bare file (`imgs build FILE`, as `packer build FILE`) and as the one member of a
//! workspace (`imgs build --all`) — against the same private Docker daemon and registry. Then what each
//! left is compared through the daemon (`docker image inspect`, `docker save`) and the registry's
//! HTTP API: image configs, the committed layer's files, tags and manifests, exported and saved tars.
//! Rejected templates and failing builds are compared by exit status and Packer's words.
//!
//! Both tools run as processes of their own (imgs as the `imgs` executable), each with the test's
//! daemon in `DOCKER_HOST` and `DOCKER_CONFIG` and nothing of the caller's environment (HOME is a
//! fresh directory, so neither reads a user's `~/.docker` or `~/.packer.d`; no update check).
//!
//! Where imgs differs from Packer on purpose, the test says so by name and excludes exactly that:
//! - a workspace build's images (committed or imported) carry the labels `imgs.fingerprint`,
//!   `imgs.image` and `imgs.run`, so the plan finds them by fingerprint;
//!   every `imgs.*` label is left out of the comparisons ([`IMGS_LABEL_PREFIX`]), and a bare file's
//!   image must have no `imgs.fingerprint`;
//! - a workspace build's `docker-push` also pushes the tag `imgs-<fingerprint>`;
//! - a workspace build starts its container from what Images.lock pinned the `image` tag to (here
//!   the base's image ID: it was imported, never pulled), so its image config's `Image` names that
//!   ID where Packer's names the tag ([`with_the_tag_it_was_locked_from`]);
//! - what differs between any two builds, whoever runs them: image and container IDs, creation
//!   times, the committed layer's digest (its files' modification times).
//!
//! Not observable here, so not compared: imgs passes `volumes` to `docker run` sorted, Packer in Go's
//! random map order (the same mounts either way); the directory shared with the container is
//! `$TMPDIR/imgs-docker-*` for imgs and `~/.packer.d/tmp*` for Packer (mounted at the same
//! `container_dir`).
//!
//! Real disagreements found here are tests of their own, each saying what Packer does: one was
//! fixed in imgs ([`export_and_save_tars_are_created_with_packers_mode`]); three are ignored until
//! they are ([`committed_images_carry_no_labels_but_the_documented_ones`],
//! [`a_volume_name_is_a_named_volume_as_in_packer`],
//! [`volume_keys_are_interpolated_as_in_packer`]).
//!
//! Without Packer, Docker or the registry the tests are skipped, and fail where `CI` is set
//! (`imgs_test_peers::packer`, `imgs_test_peers::docker`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use imgs_test_peers::docker::{Dockerd, Registry, base_image};
use serde_json::{Value, json};

use crate::support::{imgs_exe, new_workspace, write, write_template};

/// The image every template starts from (imported into each test's daemon).
const BASE: &str = "imgs-test/busybox:1";

/// imgs's labels: on build containers, and on the images a workspace build commits or imports.
const IMGS_LABEL_PREFIX: &str = "imgs.";

/// The workspace member's name.
const MEMBER: &str = "diff";

/// Who builds a template, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Packer,
    /// `imgs build template.json`
    ImgsFile,
    /// `imgs build --all` in a workspace whose one member is the template
    ImgsWorkspace,
}

impl Tool {
    const ALL: [Tool; 3] = [Tool::Packer, Tool::ImgsFile, Tool::ImgsWorkspace];

    /// The value of the templates' `tool` variable, which names what each tool makes.
    fn name(self) -> &'static str {
        match self {
            Tool::Packer => "packer",
            Tool::ImgsFile => "imgs",
            Tool::ImgsWorkspace => "imgs-ws",
        }
    }
}

/// What one tool's build left: its directory, output, and artifact IDs.
struct Built {
    tool: Tool,
    dir: tempfile::TempDir,
    /// The template's directory: `dir`, or the member's directory in the workspace.
    template_dir: PathBuf,
    output: Output,
}

impl Built {
    fn text(&self) -> String {
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    /// The IDs of the artifacts Packer's `-machine-readable` output lists, in its order.
    fn packer_artifacts(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.output.stdout)
            .lines()
            .filter_map(|line| {
                let fields: Vec<&str> = line.splitn(6, ',').collect();
                match fields.as_slice() {
                    [_, _, "artifact", _, "id", id] => Some(id.to_string()),
                    _ => None,
                }
            })
            .collect()
    }

    /// The descriptions of the artifacts a build ended with, with image IDs as `sha256:<id>` and the
    /// tool's name as `<tool>`: Packer's `artifact,N,string` lines, and the lines imgs prints of them
    /// (the last lines of its output that describe docker artifacts).
    fn artifact_strings(&self) -> Vec<String> {
        let stdout = String::from_utf8_lossy(&self.output.stdout);
        let found: Vec<String> = match self.tool {
            Tool::Packer => stdout
                .lines()
                .filter_map(|line| {
                    let fields: Vec<&str> = line.splitn(6, ',').collect();
                    match fields.as_slice() {
                        [_, _, "artifact", _, "string", text] => Some(text.to_string()),
                        _ => None,
                    }
                })
                .collect(),
            Tool::ImgsFile | Tool::ImgsWorkspace => {
                let lines: Vec<String> = stdout
                    .lines()
                    .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                    .filter(|event| event["event"] == "output")
                    .filter_map(|event| event["line"].as_str().map(str::to_string))
                    .collect();
                let describes = |line: &String| {
                    line.starts_with("Imported Docker image: ")
                        || line.starts_with("Exported Docker file: ")
                };
                let described = lines.iter().rev().take_while(|l| describes(l)).count();
                lines[lines.len() - described..].to_vec()
            }
        };
        found
            .into_iter()
            .map(|text| {
                let text = text.replace(&format!("/{}:", self.tool.name()), "/<tool>:");
                let text = text.replace(&format!("-{}:", self.tool.name()), "-<tool>:");
                match text.find("sha256:") {
                    Some(at) if text.len() >= at + 71 => {
                        format!("{}sha256:<id>{}", &text[..at], &text[at + 71..])
                    }
                    _ => text,
                }
            })
            .collect()
    }

    /// The artifact the build ended with: Packer's first artifact ID (`-machine-readable`), imgs's
    /// `built` event's.
    fn artifact(&self) -> String {
        let stdout = String::from_utf8_lossy(&self.output.stdout);
        let found = match self.tool {
            Tool::Packer => self.packer_artifacts().into_iter().next(),
            Tool::ImgsFile | Tool::ImgsWorkspace => stdout
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .find(|event| event["event"] == "built")
                .and_then(|event| event["artifact"].as_str().map(str::to_string)),
        };
        found.unwrap_or_else(|| panic!("{:?} named no artifact:\n{}", self.tool, self.text()))
    }
}

/// A private daemon with the base image, a registry, and Packer.
struct Peers {
    docker: Dockerd,
    registry: Registry,
    packer: PathBuf,
    /// HOME of both tools.
    home: tempfile::TempDir,
}

impl Peers {
    /// The peers for the test `what`, or None when one is missing and the test is skipped.
    fn start(what: &str) -> Option<Peers> {
        let packer = imgs_test_peers::packer::packer_for(what)?;
        let docker = Dockerd::start_for(what)?;
        let registry = Registry::start_for(what)?;
        base_image(&docker, BASE).unwrap_or_else(|why| panic!("{what}: {why}"));
        Some(Peers {
            docker,
            registry,
            packer,
            home: tempfile::tempdir().unwrap(),
        })
    }

    /// `program` in `dir` with the daemon's variables and nothing of the caller's environment.
    fn command(&self, program: &Path, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir)
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", self.home.path())
            .env("CHECKPOINT_DISABLE", "1")
            .envs(self.docker.env())
            .stdin(Stdio::null());
        cmd
    }

    /// `packer ARGS` in `dir`.
    fn packer(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(&self.packer, dir)
            .args(args)
            .output()
            .expect("run packer")
    }

    /// `imgs ARGS` in `dir`.
    fn imgs(&self, dir: &Path, args: &[&str]) -> Output {
        self.command(imgs_exe(), dir)
            .args(args)
            .output()
            .expect("run imgs")
    }

    /// `template` built by `tool`, with `files` (path relative to the template's directory, text,
    /// mode) beside it and its `tool` variable naming the tool. It must succeed.
    fn build(&self, tool: Tool, template: &Value, files: &[(&str, &str, u32)]) -> Built {
        let built = self.try_build(tool, template, files);
        assert!(
            built.output.status.success(),
            "{tool:?} failed to build:\n{}",
            built.text()
        );
        built
    }

    /// [`Peers::build`], success or not.
    fn try_build(&self, tool: Tool, template: &Value, files: &[(&str, &str, u32)]) -> Built {
        let mut template = template.clone();
        template["variables"]["tool"] = tool.name().into();
        let (dir, template_dir) = match tool {
            Tool::Packer | Tool::ImgsFile => {
                let dir = tempfile::Builder::new()
                    .prefix("imgs-diff-docker-")
                    .tempdir()
                    .unwrap();
                let path = dir.path().to_path_buf();
                write(&path, "template.json", &pretty(&template));
                (dir, path)
            }
            Tool::ImgsWorkspace => {
                let dir = new_workspace("imgs-diff-docker-ws-");
                write_template(dir.path(), MEMBER, &template);
                let path = dir.path().join("images").join(MEMBER);
                (dir, path)
            }
        };
        for (rel, text, mode) in files {
            write(&template_dir, rel, text);
            std::fs::set_permissions(
                template_dir.join(rel),
                std::fs::Permissions::from_mode(*mode),
            )
            .unwrap();
        }
        let output = match tool {
            Tool::Packer => self.packer(
                dir.path(),
                &[
                    "build",
                    "-color=false",
                    "-machine-readable",
                    "template.json",
                ],
            ),
            Tool::ImgsFile => self.imgs(
                dir.path(),
                &["build", "--message-format", "json", "template.json"],
            ),
            Tool::ImgsWorkspace => {
                self.imgs(dir.path(), &["build", "--all", "--message-format", "json"])
            }
        };
        Built {
            tool,
            dir,
            template_dir,
            output,
        }
    }

    /// `docker image inspect IMAGE`.
    fn inspect(&self, image: &str) -> Value {
        let text = self
            .docker
            .cli(&["image", "inspect", image])
            .unwrap_or_else(|why| panic!("{why}"));
        let listed: Value = serde_json::from_str(&text).unwrap();
        listed[0].clone()
    }

    /// What the comparison looks at in an image: the config the changes set, author, commit message
    /// and how many layers, with imgs's labels left out.
    fn image_summary(&self, image: &str) -> Value {
        let inspected = self.inspect(image);
        let config = &inspected["Config"];
        json!({
            "Cmd": config["Cmd"],
            "Entrypoint": config["Entrypoint"],
            "Env": config["Env"],
            "ExposedPorts": config["ExposedPorts"],
            "WorkingDir": config["WorkingDir"],
            "User": config["User"],
            "Labels": without_imgs_labels(&config["Labels"]),
            "Author": inspected["Author"],
            "Comment": inspected["Comment"],
            "Layers": inspected["RootFS"]["Layers"].as_array().map_or(0, Vec::len),
        })
    }

    /// imgs's labels on an image, by name.
    fn imgs_labels(&self, image: &str) -> BTreeMap<String, String> {
        let inspected = self.inspect(image);
        inspected["Config"]["Labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(key, _)| key.starts_with(IMGS_LABEL_PREFIX))
            .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_string()))
            .collect()
    }

    /// `docker save IMAGE` into `scratch`: the saved tar's path.
    fn save(&self, image: &str, scratch: &Path) -> PathBuf {
        let tar = scratch.join("saved.tar");
        self.docker
            .cli(&["save", "--output", &tar.display().to_string(), image])
            .unwrap_or_else(|why| panic!("{why}"));
        tar
    }

    /// The files of an image's top layer (the one its build committed), as [`tar_listing`] gives them.
    fn top_layer(&self, image: &str) -> Vec<String> {
        let scratch = tempfile::tempdir().unwrap();
        let saved = self.save(image, scratch.path());
        let layers = saved_layers(&saved);
        let top = layers.last().expect("an image has layers");
        let unpacked = scratch.path().join("unpacked");
        std::fs::create_dir_all(&unpacked).unwrap();
        run_tar(&[
            "-xf",
            &saved.display().to_string(),
            "-C",
            &unpacked.display().to_string(),
            top,
        ]);
        tar_listing(&unpacked.join(top))
    }

    /// Image IDs and container IDs in the daemon.
    fn engine_state(&self) -> (BTreeSet<String>, Vec<String>) {
        let images = self
            .docker
            .cli(&["images", "--all", "--quiet", "--no-trunc"])
            .unwrap_or_else(|why| panic!("{why}"));
        (
            images.lines().map(str::to_string).collect(),
            self.docker.containers().unwrap(),
        )
    }

    /// GET `path` of the registry's API (with the Accept header a v2 manifest needs): its JSON.
    fn registry_get(&self, path: &str) -> Value {
        let mut stream = TcpStream::connect(("127.0.0.1", self.registry.port())).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // HTTP/1.0: the answer has a plain body and ends with the connection.
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: {}\r\nAccept: \
             application/vnd.docker.distribution.manifest.v2+json\r\n\r\n",
            self.registry.address()
        )
        .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "GET {path}: {head}\n{body}"
        );
        serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// The manifest of `repository:tag` in the registry.
    fn manifest(&self, repository: &str, tag: &str) -> Value {
        self.registry_get(&format!("/v2/{repository}/manifests/{tag}"))
    }

    /// The config blob a manifest names.
    fn config_blob(&self, repository: &str, manifest: &Value) -> Value {
        let digest = manifest["config"]["digest"]
            .as_str()
            .expect("config digest");
        self.registry_get(&format!("/v2/{repository}/blobs/{digest}"))
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap()
}

/// Labels without imgs's.
fn without_imgs_labels(labels: &Value) -> Value {
    let mut labels = labels.clone();
    if let Value::Object(map) = &mut labels {
        map.retain(|key, _| !key.starts_with(IMGS_LABEL_PREFIX));
    }
    labels
}

/// The one file named `name` under `root`.
fn find_file(root: &Path, name: &str) -> PathBuf {
    fn walk(dir: &Path, name: &str, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(&path, name, found);
            } else if entry.file_name() == name {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(root, name, &mut found);
    assert_eq!(
        found.len(),
        1,
        "one {name} under {}: {found:?}",
        root.display()
    );
    found.remove(0)
}

fn run_tar(args: &[&str]) -> String {
    let out = Command::new("tar").args(args).output().expect("run tar");
    assert!(out.status.success(), "tar {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The layer files a `docker save` tar lists in its manifest.json, bottom first.
fn saved_layers(saved: &Path) -> Vec<String> {
    let manifest: Value = serde_json::from_str(&run_tar(&[
        "-xOf",
        &saved.display().to_string(),
        "manifest.json",
    ]))
    .unwrap();
    manifest[0]["Layers"]
        .as_array()
        .expect("Layers")
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

/// A tar's entries as `MODE UID/GID SIZE NAME[ -> TARGET]`, in the tar's order: everything
/// `tar -tv` shows but the modification time, which no two builds share.
fn tar_listing(tar: &Path) -> Vec<String> {
    run_tar(&["--numeric-owner", "-tvf", &tar.display().to_string()])
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert!(fields.len() >= 6, "a tar -tv line: {line}");
            format!(
                "{} {} {} {}",
                fields[0],
                fields[1],
                fields[2],
                fields[5..].join(" ")
            )
        })
        .collect()
}

/// Packer's output with its line wrapping undone (it wraps long errors at 80 columns).
fn unwrapped(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The files the commit template's provisioners upload: a file, and a directory with a private file
/// and a subdirectory.
const COMMIT_FILES: &[(&str, &str, u32)] = &[
    ("files/motd", "built by the differential test\n", 0o644),
    ("files/conf/a.conf", "a = 1\n", 0o600),
    ("files/conf/sub/b.conf", "b = 2\n", 0o644),
];

/// A commit with every kind of `changes` instruction, `author` and `message`, file and shell
/// provisioners; `post_processors` after it.
fn commit_template(post_processors: Value) -> Value {
    json!({
        "variables": { "tool": "" },
        "builders": [{
            "type": "docker",
            "image": BASE,
            "pull": false,
            "commit": true,
            "author": "Diff Author <diff@example.com>",
            "message": "built by the differential test",
            "changes": [
                "ENV APP=diff MODE=\"two words\"",
                "LABEL org.example.kind=diff org.example.quoted=\"a value\"",
                "CMD [\"-c\", \"echo hi\"]",
                "ENTRYPOINT [\"/bin/sh\"]",
                "EXPOSE 8080 9090/udp",
                "WORKDIR /srv/app",
                "USER app"
            ],
        }],
        "provisioners": [
            { "type": "shell", "inline": ["mkdir -p /srv/app"] },
            { "type": "file", "source": "{{template_dir}}/files/motd", "destination": "/etc/motd" },
            { "type": "file", "source": "{{template_dir}}/files/conf", "destination": "/srv/app/" },
            { "type": "shell", "inline": [
                "mkdir -p /srv/app/data && chmod 0750 /srv/app/data && chown app:app /srv/app/data",
                "echo data > /srv/app/data/x",
                "ln -s /etc/motd /srv/app/motd",
                "rm /bin/vi"
            ] },
        ],
        "post-processors": post_processors,
    })
}

/// (a) A commit with `changes`, `author`, `message`, file and shell provisioners: the image config
/// and the committed layer's files (mode, owner, size, name, link target) are Packer's, built as a
/// bare file or in a workspace; only a workspace build adds imgs's labels.
#[test]
fn a_commit_with_changes_and_provisioners_matches_packer() {
    let Some(peers) = Peers::start("the docker commit compared with Packer's") else {
        return;
    };
    let template = commit_template(json!([]));
    let builds: Vec<Built> = Tool::ALL
        .iter()
        .map(|tool| peers.build(*tool, &template, COMMIT_FILES))
        .collect();
    let packer = &builds[0];
    let packer_image = packer.artifact();
    assert!(packer_image.starts_with("sha256:"), "{packer_image}");
    let expected = peers.image_summary(&packer_image);
    // What the template asked for, so the comparison is not of two empty configs.
    assert_eq!(expected["User"], "app");
    assert_eq!(expected["WorkingDir"], "/srv/app");
    assert_eq!(expected["Entrypoint"], json!(["/bin/sh"]));
    assert_eq!(expected["Cmd"], json!(["-c", "echo hi"]));
    assert_eq!(
        expected["ExposedPorts"],
        json!({ "8080/tcp": {}, "9090/udp": {} })
    );
    assert_eq!(
        expected["Labels"],
        json!({ "org.example.kind": "diff", "org.example.quoted": "a value" })
    );
    assert_eq!(expected["Author"], "Diff Author <diff@example.com>");
    assert_eq!(expected["Comment"], "built by the differential test");
    assert_eq!(expected["Layers"], 2);
    let expected_layer = peers.top_layer(&packer_image);
    for needed in [
        "-rw------- 0/0 6 srv/app/conf/a.conf",
        "drwxr-x--- 1000/1000 0 srv/app/data/",
        "lrwxrwxrwx 0/0 0 srv/app/motd -> /etc/motd",
        "-rw------- 0/0 0 bin/.wh.vi",
    ] {
        assert!(
            expected_layer.iter().any(|line| line == needed),
            "Packer's layer has `{needed}`: {expected_layer:#?}"
        );
    }

    for built in &builds[1..] {
        let image = built.artifact();
        assert_ne!(image, packer_image);
        assert_eq!(
            peers.image_summary(&image),
            expected,
            "{:?}: image config, author, comment, layers",
            built.tool
        );
        assert_eq!(
            peers.top_layer(&image),
            expected_layer,
            "{:?}: the committed layer's files",
            built.tool
        );
        let labels = peers.imgs_labels(&image);
        match built.tool {
            Tool::ImgsFile => assert!(
                !labels.contains_key("imgs.fingerprint"),
                "a bare file's image has no fingerprint: {labels:?}"
            ),
            _ => {
                assert_eq!(labels["imgs.image"], MEMBER, "{labels:?}");
                assert_eq!(labels["imgs.fingerprint"].len(), 64, "{labels:?}");
                assert!(!labels["imgs.run"].is_empty(), "{labels:?}");
            }
        }
    }
    // No container outlives a build.
    assert_eq!(peers.docker.containers().unwrap(), Vec::<String>::new());
}

/// A registry config blob as the comparison sees it: without what differs between any two builds
/// (creation times, the container's ID and host name, the committed layer's digest) and imgs's
/// labels.
fn comparable_config(mut blob: Value) -> Value {
    let object = blob.as_object_mut().expect("a config blob");
    object.remove("created");
    object.remove("container");
    for key in ["config", "container_config"] {
        if let Some(config) = object.get_mut(key).and_then(Value::as_object_mut) {
            config.remove("Hostname");
            if let Some(labels) = config.get_mut("Labels") {
                *labels = without_imgs_labels(labels);
            }
        }
    }
    if let Some(history) = object.get_mut("history").and_then(Value::as_array_mut) {
        for entry in history {
            entry.as_object_mut().map(|e| e.remove("created"));
        }
    }
    if let Some(diff_ids) = object
        .get_mut("rootfs")
        .and_then(|r| r.get_mut("diff_ids"))
        .and_then(Value::as_array_mut)
    {
        // The base layer is shared; the committed one holds its files' modification times.
        let count = diff_ids.len();
        diff_ids.truncate(count.saturating_sub(1));
        diff_ids.push(json!(format!("{count} layers")));
    }
    blob
}

/// A workspace build's image `config` as Packer's would read: the `Image` its container started
/// from is the locked `base_id`, which must be there, put back to the tag [`BASE`].
fn with_the_tag_it_was_locked_from(mut config: Value, base_id: &str) -> Value {
    for key in ["config", "container_config"] {
        if let Some(image) = config.get_mut(key).and_then(|c| c.get_mut("Image")) {
            assert_eq!(image, base_id, "the locked base in {key}");
            *image = json!(BASE);
        }
    }
    config
}

/// A manifest's shape: media types, layer count, and the base layers' digests (shared by every build;
/// the top one differs by its files' times).
fn manifest_shape(manifest: &Value) -> Value {
    let layers = manifest["layers"].as_array().expect("layers");
    json!({
        "schemaVersion": manifest["schemaVersion"],
        "mediaType": manifest["mediaType"],
        "configMediaType": manifest["config"]["mediaType"],
        "layerMediaTypes": layers.iter().map(|l| l["mediaType"].clone()).collect::<Vec<_>>(),
        "baseLayers": layers[..layers.len() - 1].iter().map(|l| l["digest"].clone()).collect::<Vec<_>>(),
    })
}

/// (b) docker-tag (`tags` and the deprecated `tag`) then docker-push: the same tags in the registry
/// (a workspace build adds `imgs-<fingerprint>`), each tool's tags on one manifest, manifests of the
/// same shape, config blobs equal but for creation times, container IDs and imgs's labels.
#[test]
fn docker_tag_and_push_match_packer() {
    let Some(peers) = Peers::start("docker-tag and docker-push compared with Packer's") else {
        return;
    };
    let repository = |tool: Tool| format!("diff/{}", tool.name());
    let template = commit_template(json!([[
        {
            "type": "docker-tag",
            "repository": format!("{}/diff/{{{{user `tool`}}}}", peers.registry.address()),
            "tags": ["1.0", "stable"],
            "tag": "legacy",
        },
        { "type": "docker-push" },
    ]]));
    let builds: Vec<Built> = Tool::ALL
        .iter()
        .map(|tool| peers.build(*tool, &template, COMMIT_FILES))
        .collect();

    let sorted = |mut tags: Vec<String>| {
        tags.sort();
        tags
    };
    let packer_tags = sorted(peers.registry.tags(&repository(Tool::Packer)).unwrap());
    assert_eq!(packer_tags, ["1.0", "legacy", "stable"]);
    let packer_manifest = peers.manifest(&repository(Tool::Packer), "1.0");
    let packer_config =
        comparable_config(peers.config_blob(&repository(Tool::Packer), &packer_manifest));
    assert_eq!(packer_config["author"], "Diff Author <diff@example.com>");
    for built in &builds {
        let tool = built.tool;
        let repo = repository(tool);
        let tags = sorted(peers.registry.tags(&repo).unwrap());
        assert_eq!(
            built.artifact_strings(),
            builds[0].artifact_strings(),
            "{tool:?}: the artifacts"
        );
        // Packer says it; imgs too.
        assert!(
            built
                .text()
                .contains("Deprecation warning: \\\"tag\\\" option")
                || built.text().contains("Deprecation warning: \"tag\" option"),
            "{tool:?} warns of `tag`:\n{}",
            built.text()
        );
        let mut template_tags = tags.clone();
        if tool == Tool::ImgsWorkspace {
            let image = built.artifact();
            let fingerprint = peers.imgs_labels(&image)["imgs.fingerprint"].clone();
            let own = format!("imgs-{}", &fingerprint[..32]);
            assert!(tags.contains(&own), "{tool:?} pushed {own}: {tags:?}");
            template_tags.retain(|tag| *tag != own);
        }
        assert_eq!(template_tags, packer_tags, "{tool:?}: the pushed tags");
        // Every tag of one build names one manifest.
        let manifests: BTreeSet<String> = tags
            .iter()
            .map(|tag| peers.manifest(&repo, tag).to_string())
            .collect();
        assert_eq!(manifests.len(), 1, "{tool:?}: one manifest for {tags:?}");
        let manifest = peers.manifest(&repo, "1.0");
        assert_eq!(
            manifest_shape(&manifest),
            manifest_shape(&packer_manifest),
            "{tool:?}: the manifest's shape"
        );
        let mut config = comparable_config(peers.config_blob(&repo, &manifest));
        if tool == Tool::ImgsWorkspace {
            let base_id = peers.inspect(BASE)["Id"].as_str().unwrap().to_string();
            config = with_the_tag_it_was_locked_from(config, &base_id);
        }
        assert_eq!(
            config, packer_config,
            "{tool:?}: the image config in the registry"
        );
        // The pushed image is the one committed.
        let local = peers.inspect(&format!("{}/{repo}:1.0", peers.registry.address()));
        assert_eq!(manifest["config"]["digest"], local["Id"], "{tool:?}");
    }
}

/// (c) `export_path`, then docker-import (`repository`, `tag`, `changes`, keeping the exported tar)
/// and docker-save: the exported tar's files, the imported image's config, and the saved tar's tags
/// and files are Packer's.
#[test]
fn export_import_and_save_match_packer() {
    let Some(peers) =
        Peers::start("export_path, docker-import and docker-save compared with Packer's")
    else {
        return;
    };
    let template = json!({
        "variables": { "tool": "" },
        "builders": [{
            "type": "docker", "image": BASE, "pull": false, "export_path": "out/export.tar",
        }],
        "provisioners": [{ "type": "shell", "inline": [
            "mkdir -p /srv/exported && echo exported > /srv/exported/x",
            "chmod 0640 /srv/exported/x && chown 1000:1000 /srv/exported/x",
        ] }],
        "post-processors": [[
            {
                "type": "docker-import",
                "repository": "diff/imported-{{user `tool`}}",
                "tag": "v1",
                "changes": [
                    "ENV IMPORTED=yes",
                    "CMD [\"/bin/sh\"]",
                    "WORKDIR /srv/exported",
                    "LABEL org.example.imported=true",
                    "EXPOSE 80"
                ],
                "keep_input_artifact": true,
            },
            { "type": "docker-save", "path": "out/saved.tar" },
        ]],
    });
    let builds: Vec<Built> = Tool::ALL
        .iter()
        .map(|tool| peers.build(*tool, &template, &[]))
        .collect();
    // The tars land where each tool puts a build's files (for a workspace member, where imgs places
    // its outputs): found by name under the build's directory.
    let out = |built: &Built| {
        find_file(built.dir.path(), "export.tar")
            .parent()
            .unwrap()
            .to_path_buf()
    };
    let packer = &builds[0];
    let exported = tar_listing(&out(packer).join("export.tar"));
    assert!(
        exported
            .iter()
            .any(|line| line == "-rw-r----- 1000/1000 9 srv/exported/x"),
        "Packer's export: {exported:#?}"
    );
    let imported = |tool: Tool| format!("diff/imported-{}:v1", tool.name());
    let expected_summary = peers.image_summary(&imported(Tool::Packer));
    assert_eq!(expected_summary["Env"], json!(["IMPORTED=yes"]));
    assert_eq!(expected_summary["Layers"], 1);
    let saved_listing = |built: &Built| {
        let saved = out(built).join("saved.tar");
        let scratch = tempfile::tempdir().unwrap();
        let layers = saved_layers(&saved);
        run_tar(&[
            "-xf",
            &saved.display().to_string(),
            "-C",
            &scratch.path().display().to_string(),
            &layers[0],
        ]);
        let manifest: Value = serde_json::from_str(&run_tar(&[
            "-xOf",
            &saved.display().to_string(),
            "manifest.json",
        ]))
        .unwrap();
        (
            manifest[0]["RepoTags"].clone(),
            layers.len(),
            tar_listing(&scratch.path().join(&layers[0])),
        )
    };
    let (packer_tags, packer_layers, packer_saved) = saved_listing(packer);
    assert_eq!(packer_tags, json!([imported(Tool::Packer)]));
    // The kept export first, then the import (which docker-save passes on).
    assert_eq!(
        packer.packer_artifacts(),
        [
            "Container",
            &imported(Tool::Packer),
            &imported(Tool::Packer)
        ]
    );

    let described = packer.artifact_strings();
    assert_eq!(
        described,
        [
            "Exported Docker file: out/export.tar",
            "Imported Docker image: diff/imported-<tool>:v1",
            "Imported Docker image: diff/imported-<tool>:v1",
        ]
    );
    for built in &builds[1..] {
        let tool = built.tool;
        assert_eq!(
            built.artifact_strings(),
            described,
            "{tool:?}: the artifacts"
        );
        assert_eq!(
            tar_listing(&out(built).join("export.tar")),
            exported,
            "{tool:?}: the exported tar's files"
        );
        assert_eq!(
            peers.image_summary(&imported(tool)),
            expected_summary,
            "{tool:?}: the imported image"
        );
        // `docker import` starts from no config: the labels are the import's own, a commit's three.
        let labels = peers.imgs_labels(&imported(tool));
        if tool == Tool::ImgsWorkspace {
            let names: Vec<&str> = labels.keys().map(String::as_str).collect();
            assert_eq!(
                names,
                ["imgs.fingerprint", "imgs.image", "imgs.run"],
                "docker-import's labels"
            );
            assert_eq!(labels["imgs.image"], MEMBER);
        } else {
            assert_eq!(labels, BTreeMap::new(), "a bare file's import");
        }
        let (tags, layers, saved) = saved_listing(built);
        assert_eq!(
            tags,
            json!([imported(tool)]),
            "{tool:?}: the saved tar's tags"
        );
        assert_eq!(layers, packer_layers, "{tool:?}: the saved tar's layers");
        assert_eq!(saved, packer_saved, "{tool:?}: the saved layer's files");
    }
    assert_eq!(peers.docker.containers().unwrap(), Vec::<String>::new());
}

/// (d) Templates Packer refuses: `imgs validate` refuses them too, with Packer's message (an unknown
/// key is worded imgs's way: both name it).
#[test]
fn rejected_templates_are_refused_by_both() {
    let Some(packer) = imgs_test_peers::packer::packer_for("docker templates Packer refuses")
    else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let builder = |more: Value| {
        let mut builder = json!({ "type": "docker", "image": BASE, "pull": false });
        builder
            .as_object_mut()
            .unwrap()
            .extend(more.as_object().unwrap().clone());
        json!({ "builders": [builder] })
    };
    let cases = [
        (
            "missing-image",
            json!({ "builders": [{ "type": "docker", "commit": true }] }),
            "Image must be specified",
            "Image must be specified",
        ),
        (
            "commit-and-discard",
            builder(json!({ "commit": true, "discard": true })),
            "Cannot specify more than one of commit, discard, and export_path",
            "Cannot specify more than one of commit, discard, and export_path",
        ),
        (
            "commit-and-export",
            builder(json!({ "commit": true, "export_path": "out.tar" })),
            "Cannot specify more than one of commit, discard, and export_path",
            "Cannot specify more than one of commit, discard, and export_path",
        ),
        (
            "no-commit-discard-or-export",
            builder(json!({})),
            "No instructions given for handling the artifact; expected commit, discard, or export_path",
            "No instructions given for handling the artifact; expected commit, discard, or export_path",
        ),
        (
            "unknown-key",
            builder(json!({ "commit": true, "comit": true })),
            "unknown configuration key: '\"comit\"'",
            "unknown key `comit` in builder `docker`",
        ),
    ];
    for (name, template, packer_says, imgs_says) in cases {
        let file = format!("{name}.json");
        write(dir.path(), &file, &pretty(&template));
        let by_packer = Command::new(&packer)
            .args(["validate", &file])
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("HOME", home.path())
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap();
        let by_imgs = Command::new(imgs_exe())
            .args(["validate", &file])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let packer_text = unwrapped(&String::from_utf8_lossy(&by_packer.stdout));
        let imgs_text = unwrapped(&String::from_utf8_lossy(&by_imgs.stderr));
        assert_eq!(
            by_packer.status.code(),
            Some(1),
            "{name}: Packer refuses it"
        );
        assert!(packer_text.contains(packer_says), "{name}: {packer_text}");
        assert_eq!(
            by_imgs.status.code(),
            Some(2),
            "{name}: imgs refuses it as bad input: {imgs_text}"
        );
        assert!(imgs_text.contains(imgs_says), "{name}: {imgs_text}");
    }
}

/// (d) Builds that fail at run time fail with both tools: an image that cannot be pulled, docker-tag
/// given an exported tar, docker-import given a committed image (Packer's "Unknown artifact type"
/// words, in imgs's error too). Neither leaves a container, an image or the exported tar.
#[test]
fn runtime_failures_are_reported_by_both() {
    let Some(peers) = Peers::start("docker build failures compared with Packer's") else {
        return;
    };
    let missing = format!("{}/diff/missing:1", peers.registry.address());
    let cases = [
        (
            "pull-missing-image",
            json!({
                "variables": { "tool": "" },
                "builders": [{ "type": "docker", "image": missing, "pull": true, "commit": true }],
            }),
            // The tools word it differently: Packer gives docker's exit status, imgs docker's reason.
            ("Error pulling Docker image", "could not pull"),
        ),
        (
            "tag-after-export",
            json!({
                "variables": { "tool": "" },
                "builders": [{ "type": "docker", "image": BASE, "pull": false, "export_path": "out.tar" }],
                "post-processors": [{ "type": "docker-tag", "repository": "diff/never", "tags": ["x"] }],
            }),
            (
                "Unknown artifact type: packer.docker\nCan only tag from Docker builder artifacts.",
                "Unknown artifact type: packer.docker\nCan only tag from Docker builder artifacts.",
            ),
        ),
        (
            "import-after-commit",
            json!({
                "variables": { "tool": "" },
                "builders": [{ "type": "docker", "image": BASE, "pull": false, "commit": true }],
                "post-processors": [{ "type": "docker-import", "repository": "diff/never" }],
            }),
            (
                "Unknown artifact type: packer.post-processor.docker-import\nCan only import from \
                 Docker builder and Artifice post-processor artifacts.",
                "Unknown artifact type: packer.post-processor.docker-import\nCan only import from \
                 Docker builder and Artifice post-processor artifacts.",
            ),
        ),
    ];
    for (name, template, (packer_says, imgs_says)) in cases {
        for tool in [Tool::Packer, Tool::ImgsFile] {
            let before = peers.engine_state();
            // Packer's plain output here, so its error reads as printed.
            let built = if tool == Tool::Packer {
                let dir = tempfile::tempdir().unwrap();
                write(dir.path(), "template.json", &pretty(&template));
                let output = peers.packer(dir.path(), &["build", "-color=false", "template.json"]);
                Built {
                    tool,
                    template_dir: dir.path().to_path_buf(),
                    dir,
                    output,
                }
            } else {
                peers.try_build(tool, &template, &[])
            };
            let text = built.text();
            assert!(
                !built.output.status.success(),
                "{name}: {tool:?} fails:\n{text}"
            );
            let says = if tool == Tool::Packer {
                packer_says
            } else {
                imgs_says
            };
            assert!(
                text.contains(says),
                "{name}: {tool:?} says `{says}`:\n{text}"
            );
            assert_eq!(
                peers.engine_state(),
                before,
                "{name}: {tool:?} left nothing"
            );
            assert!(
                !built.template_dir.join("out.tar").exists(),
                "{name}: {tool:?} removed the exported tar"
            );
        }
    }
}

/// A disagreement: imgs labels its build containers (`imgs.run`, `imgs.image`, and `imgs.workspace`
/// with the working directory's path, so `imgs gc` finds what a killed run left), and `docker
/// commit` copies a container's labels into the image: a bare file's image carries labels Packer's
/// has not, and every committed image (pushed ones too, and their children, which inherit labels)
/// a path of the machine that built it. Only a workspace build's three documented labels may be added.
#[test]
fn committed_images_carry_no_labels_but_the_documented_ones() {
    let Some(peers) = Peers::start("the labels of committed images compared with Packer's") else {
        return;
    };
    let template = commit_template(json!([]));
    let labels = |built: &Built| peers.inspect(&built.artifact())["Config"]["Labels"].clone();
    let packer = labels(&peers.build(Tool::Packer, &template, COMMIT_FILES));
    assert_eq!(
        labels(&peers.build(Tool::ImgsFile, &template, COMMIT_FILES)),
        packer,
        "a bare file's image"
    );
    let mut workspace = labels(&peers.build(Tool::ImgsWorkspace, &template, COMMIT_FILES));
    if let Value::Object(map) = &mut workspace {
        for own in ["imgs.fingerprint", "imgs.image", "imgs.run"] {
            assert!(
                map.remove(own).is_some(),
                "a workspace build's image has {own}"
            );
        }
    }
    assert_eq!(workspace, packer, "a workspace build's image");
}

/// A disagreement: Packer passes a `volumes` host path to `docker run -v` as written, so a bare
/// name is a named volume of the daemon; imgs makes every relative host path absolute against the
/// working directory, so it bind-mounts a directory of that name there instead. (`build_docker`'s
/// settings test relies on imgs's reading, `"vol"` for the workspace's `vol/`: with Packer's it
/// would write `./vol`.)
#[test]
fn a_volume_name_is_a_named_volume_as_in_packer() {
    let Some(peers) = Peers::start("docker volumes compared with Packer's") else {
        return;
    };
    let template = volume_template("diffvol");
    for tool in [Tool::Packer, Tool::ImgsFile] {
        let built = peers.build(tool, &template, &[]);
        let volumes = peers
            .docker
            .cli(&["volume", "ls", "--quiet"])
            .unwrap_or_else(|why| panic!("{why}"));
        assert_eq!(volumes.trim(), "diffvol", "{tool:?} made the named volume");
        assert!(
            !built.template_dir.join("diffvol").exists(),
            "{tool:?} bind-mounted a directory of the working directory instead"
        );
        peers
            .docker
            .cli(&["volume", "rm", "diffvol"])
            .unwrap_or_else(|why| panic!("{why}"));
    }
}

/// A discarded container with `volumes` mounting `host` at `/mnt/named`, written to by a provisioner.
fn volume_template(host: &str) -> Value {
    json!({
        "variables": { "tool": "" },
        "builders": [{
            "type": "docker", "image": BASE, "pull": false, "discard": true,
            "volumes": { host: "/mnt/named" },
        }],
        "provisioners": [{ "type": "shell", "inline": ["echo written > /mnt/named/x"] }],
    })
}

/// A disagreement: Packer interpolates the keys of a map setting as well as its values (its decoder
/// renders every string it decodes), so `{{user `tool`}}-vol` names the volume `packer-vol`; imgs
/// renders the values only, and docker refuses the unrendered name.
#[test]
fn volume_keys_are_interpolated_as_in_packer() {
    let Some(peers) = Peers::start("interpolated volume names compared with Packer's") else {
        return;
    };
    let template = volume_template("{{user `tool`}}-vol");
    for tool in [Tool::Packer, Tool::ImgsFile] {
        peers.build(tool, &template, &[]);
        let volumes = peers
            .docker
            .cli(&["volume", "ls", "--quiet"])
            .unwrap_or_else(|why| panic!("{why}"));
        let name = format!("{}-vol", tool.name());
        assert!(
            volumes.lines().any(|v| v == name),
            "{tool:?} made the named volume {name}: {volumes}"
        );
    }
}

/// Packer creates the `export_path` and docker-save tars itself (`os.Create`, mode 0666 less the
/// umask) and writes `docker export`/`docker save`'s output into them. (imgs had the CLI write them
/// with `--output`, which makes them 0600; fixed: imgs gives them the mode Packer's get.)
#[test]
fn export_and_save_tars_are_created_with_packers_mode() {
    let Some(peers) = Peers::start("tar modes compared with Packer's") else {
        return;
    };
    let template = json!({
        "variables": { "tool": "" },
        "builders": [{ "type": "docker", "image": BASE, "pull": false, "export_path": "export.tar" }],
        "post-processors": [[
            { "type": "docker-import", "repository": "diff/mode-{{user `tool`}}", "keep_input_artifact": true },
            { "type": "docker-save", "path": "saved.tar" },
        ]],
    });
    let mode = |path: PathBuf| {
        std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let modes: Vec<(u32, u32)> = [Tool::Packer, Tool::ImgsFile]
        .into_iter()
        .map(|tool| {
            let built = peers.build(tool, &template, &[]);
            (
                mode(built.dir.path().join("export.tar")),
                mode(built.dir.path().join("saved.tar")),
            )
        })
        .collect();
    assert_eq!(modes[1], modes[0], "(export, save) modes: imgs vs Packer");
}

#[test]
fn tar_listings_drop_the_modification_time_only() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "in/a file", "abc");
    std::fs::create_dir_all(dir.path().join("in/d")).unwrap();
    std::os::unix::fs::symlink("a file", dir.path().join("in/link")).unwrap();
    let tar = dir.path().join("t.tar");
    run_tar(&[
        "-cf",
        &tar.display().to_string(),
        "-C",
        &dir.path().join("in").display().to_string(),
        "--sort=name",
        "--owner=0",
        "--group=0",
        "--mode=u+rw,go+r",
        ".",
    ]);
    let listing = tar_listing(&tar);
    assert_eq!(listing.len(), 4, "{listing:?}");
    assert!(listing[1].ends_with(" 0/0 3 ./a file"), "{listing:?}");
    assert!(listing[3].ends_with(" ./link -> a file"), "{listing:?}");
}
