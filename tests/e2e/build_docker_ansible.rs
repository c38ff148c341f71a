//! The `ansible` provisioner on a docker build: `ansible-playbook` runs on this machine and reaches
//! the build's container with Ansible's docker connection (`docker exec`, through the test's own
//! daemon), where Packer 1.6.6 would put its SSH proxy adapter in front of `docker exec` (whose
//! ssh-rsa host key today's OpenSSH refuses, so no differential with Packer here).
//!
//! The offline base image is a static busybox without Python, so the playbook uses `raw` tasks,
//! which need none.
//!
//! Also here: a sensitive variable passed to the container (`run_command`'s `-e`) is masked in every
//! line the build prints, the builder's `Run command:` line among them, and in nothing under `cache/`.

use std::process::Command;

use imgs_test_peers::docker::{Dockerd, base_image};
use serde_json::json;

use crate::support::*;

#[test]
fn ansible_provisions_a_container_through_its_docker_connection() {
    if !on_path("ansible-playbook") {
        eprintln!("skipped: ansible-playbook is not installed (`cargo xtask setup` installs it)");
        return;
    }
    let what = "ansible on a docker build";
    let Some(docker) = Dockerd::start_for(what) else {
        return;
    };
    base_image(&docker, "imgs-test/busybox:1").unwrap();
    let dir = new_workspace("imgs-docker-ansible-");
    let root = dir.path();
    write(
        root,
        "Images.toml",
        "[workspace]\nmembers = [\"images/*\"]\n",
    );
    write_template(
        root,
        "app",
        &json!({
            "builders": [{
                "type": "docker",
                "image": "imgs-test/busybox:1",
                "pull": false,
                "commit": true,
                "exec_user": "app",
            }],
            "provisioners": [
                { "type": "ansible", "playbook_file": "{{template_dir}}/play.yml" },
            ],
        }),
    );
    write(
        root,
        "images/app/play.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: who runs the tasks, and where\n      \
         raw: id -un > /tmp/ansible-user && echo configured > /tmp/ansible-was-here\n",
    );
    let out = Command::new(imgs_exe())
        .current_dir(root)
        .envs(docker.env())
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_API_VERSION")
        .args(["build", "--all", "-v"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("with its docker connection (docker exec)"),
        "{stdout}"
    );
    assert!(stdout.contains("changed=1"), "{stdout}");
    // The committed image holds what the playbook did, as the communicator's user (`exec_user`).
    let image = stdout
        .lines()
        .find_map(|l| l.strip_prefix("app: Image ID: "))
        .expect("the image ID is logged")
        .trim()
        .to_string();
    let read = |file: &str| {
        docker
            .cli(&["run", "--rm", "--entrypoint", "cat", &image, file])
            .unwrap()
    };
    assert_eq!(read("/tmp/ansible-was-here"), "configured\n");
    assert_eq!(read("/tmp/ansible-user"), "app\n");
    assert_eq!(docker.containers().unwrap(), Vec::<String>::new());
}

#[test]
fn a_secret_passed_to_the_container_is_masked_in_every_line() {
    let Some(docker) = Dockerd::start_for("secrets on a docker build") else {
        return;
    };
    base_image(&docker, "imgs-test/busybox:1").unwrap();
    let dir = new_workspace("imgs-docker-secret-");
    let root = dir.path();
    let secret = "s3cr3t-8c1f2e-marker";
    write(
        root,
        "Images.toml",
        "[workspace]\nmembers = [\"images/*\"]\n",
    );
    write_template(
        root,
        "app",
        &json!({
            "variables": { "token": secret },
            "sensitive-variables": ["token"],
            "builders": [{
                "type": "docker",
                "image": "imgs-test/busybox:1",
                "pull": false,
                "commit": true,
                "run_command": ["-d", "-i", "-t", "-e", "TOKEN={{user `token`}}", "--entrypoint=/bin/sh", "--", "{{.Image}}"],
            }],
            "provisioners": [{ "type": "shell", "inline": ["echo the token is $TOKEN"] }],
        }),
    );
    let out = Command::new(imgs_exe())
        .current_dir(root)
        .envs(docker.env())
        .args(["build", "--all", "-v", "--message-format", "json"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("TOKEN=<sensitive>"), "{stdout}");
    assert!(stdout.contains("the token is <sensitive>"), "{stdout}");
    assert!(
        !stdout.contains(secret) && !stderr.contains(secret),
        "{stdout}{stderr}"
    );
    for entry in walkdir(&root.join("cache")) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(secret),
            "{} holds the secret",
            entry.display()
        );
    }
}

/// Every file under `dir`.
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}
