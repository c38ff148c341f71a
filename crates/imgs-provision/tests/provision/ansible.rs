//! The ansible provisioner with Debian's real `ansible-playbook` against the private sshd: the
//! playbook runs on the "machine" (this one, over loopback), with Packer's command line, inventory and
//! variables, and what it wrote is read back.

use imgs_provision::ProvisionError;
use serde_json::{Value, json};

use crate::common::World;

async fn run(world: &World, provisioner: Value) -> (Result<(), ProvisionError>, Vec<String>) {
    world.run_connecting(provisioner).await
}

const PLAYBOOK: &str = r#"
- hosts: all
  gather_facts: false
  tasks:
    - name: a file from a template, with Packer's variables and the group's
      template:
        src: motd.j2
        dest: "{{ out }}/motd"
        mode: "0640"
    - name: a service file
      copy:
        dest: "{{ out }}/app.service"
        content: |
          [Service]
          ExecStart=/usr/bin/app --build {{ packer_build_name }}
    - name: the connection Ansible used
      copy:
        dest: "{{ out }}/connection"
        content: "{{ ansible_host }} {{ ansible_user }} {{ inventory_hostname }} {{ group_names | join(',') }}"
"#;

fn write_playbook(world: &World) {
    world.write("out/.keep", "");
    world.write("ansible/site.yml", PLAYBOOK);
    world.write(
        "ansible/motd.j2",
        "built by {{ packer_builder_type }} as {{ packer_build_name }}\n",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playbook_runs_against_the_machine_with_packers_variables_and_inventory() {
    let world = World::start().await;
    write_playbook(&world);
    let (result, lines) = run(
        &world,
        json!({
            "type": "ansible",
            "playbook_file": "ansible/site.yml",
            "groups": ["web", "eu"],
            "empty_groups": ["db"],
            "host_alias": "app-host",
            "extra_arguments": ["-e", format!("out={}", world.at("out"))],
            "ansible_env_vars": ["ANSIBLE_NOCOLOR=1"],
        }),
    )
    .await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    assert_eq!(world.read("out/motd"), "built by null as app\n");
    assert_eq!(
        world.read("out/app.service"),
        "[Service]\nExecStart=/usr/bin/app --build app\n"
    );
    let user = world.server.settings()["ssh_username"].clone();
    assert_eq!(
        world.read("out/connection"),
        format!("127.0.0.1 {user} app-host eu,web")
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(world.path("out/motd"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o640);
    // Packer's command line, in its order, and its status lines.
    let executing = lines
        .iter()
        .find(|l| l.starts_with("Executing Ansible: "))
        .expect("the command line is shown");
    let key = world.server.settings()["ssh_private_key_file"].clone();
    let shown = executing
        .replace(&world.dir.path().display().to_string(), "[dir]")
        .replace(&key, "[key]")
        .replace(&std::env::temp_dir().display().to_string(), "[tmp]");
    let shown = shown
        .split(' ')
        .map(|word| match word.find("packer-provisioner-ansible") {
            Some(at) => format!("{}[inventory]", &word[..at]),
            None => word.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    insta::assert_snapshot!(shown, @r#"Executing Ansible: ansible-playbook -e packer_build_name="app" -e packer_builder_type=null --ssh-extra-args '-o IdentitiesOnly=yes' -e out=[dir]/out -e ansible_ssh_private_key_file=[key] -i [tmp]/[inventory] [dir]/ansible/site.yml"#);
    assert_eq!(lines[0], "Provisioning with Ansible...");
    // The inventory is gone after the run.
    let inventory = executing
        .split(' ')
        .find(|w| w.contains("packer-provisioner-ansible"))
        .unwrap();
    assert!(!std::path::Path::new(inventory).exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_inventory_is_packers() {
    let world = World::start().await;
    write_playbook(&world);
    world.write("inventories/.keep", "");
    let (result, lines) = run(
        &world,
        json!({
            "type": "ansible",
            "playbook_file": "ansible/site.yml",
            "groups": ["web"],
            "empty_groups": ["db"],
            "inventory_directory": "inventories",
            "keep_inventory_file": true,
            "extra_arguments": ["-e", format!("out={}", world.at("out"))],
        }),
    )
    .await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    let kept: Vec<_> = std::fs::read_dir(world.path("inventories"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("packer-provisioner-ansible")
        })
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let settings = world.server.settings();
    let host = format!(
        "default ansible_host=127.0.0.1 ansible_user={} ansible_port={}",
        settings["ssh_username"], settings["ssh_port"]
    );
    assert_eq!(
        std::fs::read_to_string(&kept[0]).unwrap(),
        format!("{host}\n[web]\n{host}\n[db]\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_task_fails_the_step_with_ansibles_output() {
    let world = World::start().await;
    world.write(
        "fail.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - fail:\n        msg: the playbook says no\n",
    );
    let (result, lines) = run(
        &world,
        json!({ "type": "ansible", "playbook_file": "fail.yml" }),
    )
    .await;
    let error = result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Error executing Ansible: Non-zero exit status: exit status 2"
    );
    assert!(
        lines.iter().any(|l| l.contains("the playbook says no")),
        "{lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ansible_playbook_names_the_package() {
    let world = World::start().await;
    write_playbook(&world);
    let (result, _) = run(
        &world,
        json!({ "type": "ansible", "playbook_file": "ansible/site.yml",
                "command": "no-such-ansible-playbook" }),
    )
    .await;
    let error = result.unwrap_err();
    insta::assert_snapshot!(format!("{error}\nhint: {}", error.hint().unwrap()), @r#"
    Error running "no-such-ansible-playbook --version": No such file or directory (os error 2)
    hint: install Debian's `ansible` package (apt-get install ansible), set `command` to ansible-playbook's path, or set "skip_version_check": true
    "#);
}

/// A stand-in for `ansible-playbook` that answers `--version` as Ansible does and otherwise records
/// its arguments (one per line, the inventory's temporary name replaced), the `ANSIBLE_*`
/// environment, its working directory and the inventory it was given, under `record/NAME`.
const RECORDER: &str = r#"#!/bin/sh
if [ "$1" = "--version" ]; then echo "ansible-playbook [core 2.14.3]"; exit 0; fi
out="$RECORD_DIR"
mkdir -p "$out"
: > "$out/argv"
prev=""
for arg in "$@"; do
  if [ "$prev" = "-i" ]; then cp "$arg" "$out/inventory"; arg="[inventory]"; fi
  printf '%s\n' "$arg" >> "$out/argv"
  prev="$arg"
done
env | grep '^ANSIBLE_' | sort > "$out/env"
pwd > "$out/cwd"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packer_without_its_proxy_runs_ansible_the_same_way() {
    let Some(packer) =
        imgs_test_peers::packer::packer_for("the ansible provisioner compared with Packer's")
    else {
        return;
    };
    let world = World::start().await;
    write_playbook(&world);
    world.write("recorder", RECORDER);
    std::fs::set_permissions(
        world.path("recorder"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let provisioner = |record: &str| {
        json!({
            "type": "ansible",
            "use_proxy": false,
            "command": world.at("recorder"),
            "playbook_file": "ansible/site.yml",
            "groups": ["web"],
            "empty_groups": ["db"],
            "host_alias": "{{ build_name }}-host",
            "extra_arguments": ["-e", "out=somewhere", "--tags", "config"],
            "ansible_env_vars": [format!("RECORD_DIR={}", world.at(record)), "ANSIBLE_FORCE_COLOR=0",
                                 "ANSIBLE_HOST_KEY_CHECKING=True"],
        })
    };
    let template = json!({
        "builders": [world.server.builder("null", json!({ "name": "app" }))],
        "provisioners": [provisioner("packer")],
    });
    std::fs::write(
        world.path("packer.json"),
        serde_json::to_string_pretty(&template).unwrap(),
    )
    .unwrap();
    let output = std::process::Command::new(&packer)
        .args(["build", "-color=false", "packer.json"])
        .current_dir(world.dir.path())
        .env("CHECKPOINT_DISABLE", "1")
        .env("PACKER_CONFIG_DIR", world.dir.path())
        .output()
        .unwrap();
    let packer_out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "packer failed:\n{packer_out}");

    let (result, lines) = run(&world, provisioner("imgs")).await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    for file in ["argv", "env", "cwd", "inventory"] {
        assert_eq!(
            world.read(&format!("imgs/{file}")),
            world.read(&format!("packer/{file}")),
            "{file} differs; Packer said:\n{packer_out}"
        );
    }
    let argv = world.read("imgs/argv");
    assert!(argv.contains("ansible_ssh_private_key_file="), "{argv}");
    // Packer's two defaults win over the template's own value, in both.
    assert!(
        world
            .read("imgs/env")
            .contains("ANSIBLE_HOST_KEY_CHECKING=False")
    );
}
