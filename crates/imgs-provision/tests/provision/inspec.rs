//! The inspec provisioner. InSpec is a Ruby gem that this machine's package registries do not have,
//! so a stand-in `inspec` records what it is given (arguments, `INSPEC_*` environment, working
//! directory, the build's input file) and, with the arguments it got, logs in to the private sshd
//! with OpenSSH as InSpec's `ssh` backend would. Packer 1.6.6 runs the same template with the same
//! stand-in: everything but the connection arguments (Packer's point at its proxy, imgs's at the
//! machine) must be equal.

use serde_json::{Value, json};

use crate::common::{World, step_in};
use crate::packer_agreement::packer_build;

/// Records under `$RECORD_DIR`: `argv` (one per line, the connection values and the input file's
/// temporary name replaced), `env`, `cwd`, `inputs` (the build's input file); with `REACH` set, logs
/// in with the `--host`, `--port`, `--user` and `--key-files` it was given and records the answer.
const RECORDER: &str = r#"#!/bin/sh
out="$RECORD_DIR"
mkdir -p "$out"
: > "$out/argv"
prev=""; host=""; port=""; user=""; key=""
for arg in "$@"; do
  shown="$arg"
  case "$prev" in
    --host) host="$arg"; shown="[host]";;
    --port) port="$arg"; shown="[port]";;
    --user) user="$arg"; shown="[user]";;
    --key-files) key="$arg"; shown="[key]";;
  esac
  case "$arg" in
    */packer-provisioner-inspec.*.yml) cp "$arg" "$out/inputs"; shown="[build inputs]";;
  esac
  printf '%s\n' "$shown" >> "$out/argv"
  prev="$arg"
done
env | grep '^INSPEC_' | sort > "$out/env"
pwd > "$out/cwd"
if [ -n "$REACH" ]; then
  ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
      -o IdentitiesOnly=yes -o HostKeyAlgorithms=+ssh-rsa -o PubkeyAcceptedAlgorithms=+ssh-rsa \
      ${key:+-i "$key"} -p "$port" "$user@$host" 'echo reached the machine as $(id -un)' \
      > "$out/reached" 2> "$out/ssh-errors"
fi
echo "Profile: web"
exit "${INSPEC_EXIT:-0}"
"#;

fn recorder(world: &World) -> String {
    world.write("bin/inspec", RECORDER);
    std::fs::set_permissions(
        world.path("bin/inspec"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    world.write("profiles/web/inspec.yml", "name: web\n");
    world.write(
        "profiles/web/controls/sshd.rb",
        "describe file('/etc') do\nend\n",
    );
    world.at("bin/inspec")
}

/// Runs `provisioner` (made for the record directory `packer`) with Packer against the world's sshd
/// and requires the same record as imgs's (`imgs`); false when Packer is missing.
fn same_record_as_packers(world: &World, provisioner: Value) -> bool {
    let Some(packer) =
        imgs_test_peers::packer::packer_for("the inspec provisioner compared with Packer's")
    else {
        return false;
    };
    let packer_out = packer_build(&packer, world, json!([provisioner]));
    for file in ["argv", "env", "cwd", "inputs"] {
        assert_eq!(
            world.read(&format!("imgs/{file}")),
            world.read(&format!("packer/{file}")),
            "{file} differs; Packer said:\n{packer_out}"
        );
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inspec_gets_packers_arguments_and_reaches_the_machine() {
    let world = World::start().await;
    let command = recorder(&world);
    world.write("inputs/extra.yml", "port: 22\n");
    let provisioner = |record: &str| {
        json!({
            "type": "inspec",
            "command": command,
            "profile": "profiles/web",
            "attributes": ["inputs/extra.yml"],
            "extra_arguments": ["--reporter", "cli", "--controls={{user `greeting`}}"],
            "inspec_env_vars": [format!("RECORD_DIR={}", world.at(record)), "REACH=1",
                                "INSPEC_CHEF_LICENSE=accept-silent"],
        })
    };
    let (result, lines) = world.run_connecting(provisioner("imgs")).await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    assert!(
        lines.iter().any(|l| l.trim() == "Profile: web"),
        "{lines:?}"
    );
    let user = world.server.settings()["ssh_username"].clone();
    assert_eq!(
        world.read("imgs/reached"),
        format!("reached the machine as {user}\n"),
        "{}",
        world.read("imgs/ssh-errors")
    );
    insta::assert_snapshot!(world.read("imgs/argv"), @r"
    exec
    profiles/web
    --backend
    ssh
    --host
    [host]
    --user
    [user]
    --key-files
    [key]
    --port
    [port]
    --input-file
    inputs/extra.yml
    [build inputs]
    --reporter
    cli
    --controls=hello
    ");
    assert_eq!(
        world.read("imgs/inputs"),
        "packer_build_name: app\npacker_builder_type: null\n"
    );
    assert_eq!(
        world.read("imgs/cwd").trim_end(),
        world.dir.path().display().to_string()
    );
    assert_eq!(
        world.read("imgs/env"),
        "INSPEC_CHEF_LICENSE=accept-silent\n"
    );
    // The build's input file is removed when the run ends.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("packer-provisioner-inspec.")
        })
        .filter(|e| {
            std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("packer_build_name: app"))
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");

    if !same_record_as_packers(&world, provisioner("packer")) {
        return;
    }
    // Through Packer's proxy (its ssh-rsa host key allowed) the machine sees the same user.
    assert_eq!(
        world.read("packer/reached"),
        world.read("imgs/reached"),
        "{}",
        world.read("packer/ssh-errors")
    );
}

/// The other backends never went through Packer's proxy: `--host` and `--user` are the template's
/// (or the local user), no port, no key; `subcommand` and `attributes_directory` as Packer reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_backends_get_packers_arguments_unchanged() {
    let world = World::start().await;
    let command = recorder(&world);
    world.write("attrs/.keep", "");
    let provisioner = |record: &str| {
        json!({
            "type": "inspec",
            "command": command,
            "profile": "profiles/web",
            "backend": "docker",
            "host": "app-container",
            "subcommand": "check",
            "attributes_directory": "attrs",
            "inspec_env_vars": [format!("RECORD_DIR={}", world.at(record))],
        })
    };
    let (result, lines) = world.run_connecting(provisioner("imgs")).await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    insta::assert_snapshot!(world.read("imgs/argv"), @r"
    check
    profiles/web
    --backend
    docker
    --host
    [host]
    --user
    [user]
    --input-file
    [build inputs]
    ");
    let executing = lines
        .iter()
        .find(|l| l.starts_with("Executing Inspec"))
        .unwrap();
    assert!(
        executing.contains(&format!(
            "{}/attrs/packer-provisioner-inspec.",
            world.dir.path().display()
        )),
        "{executing}"
    );
    same_record_as_packers(&world, provisioner("packer"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_controls_fail_the_step_with_inspecs_exit_status() {
    let world = World::start().await;
    let command = recorder(&world);
    let (result, lines) = world
        .run_connecting(json!({
            "type": "inspec",
            "command": command,
            "profile": "profiles/web",
            "inspec_env_vars": [format!("RECORD_DIR={}", world.at("imgs")), "INSPEC_EXIT=100"],
        }))
        .await;
    assert!(
        lines.iter().any(|l| l.trim() == "Profile: web"),
        "{lines:?}"
    );
    let error = result.unwrap_err();
    insta::assert_snapshot!(format!("{error}\nhint: {}", error.hint().unwrap()), @r"
    Error executing Inspec: Non-zero exit status: exit status 100
    hint: InSpec's output above says which controls failed
    ");
}

#[test]
fn a_missing_inspec_is_refused_before_the_build_with_where_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let error = step_in(
        dir.path(),
        json!({ "type": "inspec", "profile": "profiles/web", "command": "no-such-inspec" }),
    )
    .unwrap_err();
    insta::assert_snapshot!(error.to_string(), @r"
    error: `no-such-inspec` is not installed on the machine running imgs: the inspec provisioner runs it here
      --> images/app/template.json:20:18
      = key: provisioners[0].command
      = hint: InSpec is a Ruby gem, not a Debian package: install Chef's `inspec` package or `gem install inspec-bin`, or set `command` to its path
    ");
}
