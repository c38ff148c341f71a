//! `salt-masterless` with a real `salt-call --local` (PyPI's Salt, see `imgs_test_peers::salt`)
//! against a guest sshd whose commands run in a directory of their own: the state tree and pillar are staged on the "machine" (this one, over
//! loopback) and moved into place with Packer's commands, Salt applies them, and what it wrote is
//! read back and compared with what Packer 1.6.6 does on the same sshd. Salt's own state (cache,
//! keys, log, minion id) stays below the guest's root through its config directory, never in the
//! machine's `/etc/salt` or `/var/cache/salt`; `grains_file` and `minion_config` are left out because
//! Packer (and imgs, to match) always moves them to `/etc/salt`.

use std::path::Path;

use imgs_test_peers::RecordingGuest;
use imgs_test_peers::packer::packer_for;
use imgs_test_peers::salt::salt_bin_dir_for;
use serde_json::{Value, json};

use crate::common::{packer_against, run_against};
use crate::packer_agreement::tree;

/// The local state tree and pillar, in `dir`; the pillar's `out` is `out` of the guest's root.
fn write_states(dir: &Path, guest: &RecordingGuest) {
    let write = |name: &str, content: &str| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    };
    write("salt/top.sls", "base:\n  '*':\n    - web\n");
    write(
        "salt/web/init.sls",
        "motd:\n  file.managed:\n    - name: {{ pillar['out'] }}/motd\n    - source: salt://web/motd.j2\n    \
         - template: jinja\n    - mode: '0640'\n\
         service:\n  file.managed:\n    - name: {{ pillar['out'] }}/app.service\n    - contents: |\n        \
         [Service]\n        ExecStart=/usr/bin/app --role {{ pillar['role'] }}\n",
    );
    write(
        "salt/web/motd.j2",
        "built for {{ pillar['role'] }} on {{ grains['kernel'] }}\n",
    );
    write("pillar/top.sls", "base:\n  '*':\n    - app\n");
    write(
        "pillar/app.sls",
        &format!("out: {}\nrole: web\n", guest.root().join("out").display()),
    );
    std::fs::create_dir_all(guest.root().join("out")).unwrap();
}

/// A guest whose commands run in a root of their own: Packer uploads the state tree to `states`
/// in the SSH user's home before moving it, so two runs on one machine would share it. Salt's
/// configuration keeps everything it writes below `salt-state/` of that root.
fn salt_guest() -> RecordingGuest {
    let guest = RecordingGuest::start().unwrap_or_else(|e| panic!("{e}"));
    let state = guest.root().join("salt-state");
    let at = |name: &str| state.join(name).display().to_string();
    std::fs::create_dir_all(state.join("etc")).unwrap();
    std::fs::write(
        state.join("etc/minion"),
        format!(
            "id: imgs-test\nminion_id_caching: False\ncachedir: {}\nextension_modules: {}\n\
             pki_dir: {}\nsock_dir: {}\nlog_file: {}\n",
            at("cache"),
            at("cache/extmods"),
            at("pki"),
            at("sock"),
            at("log"),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(guest.root().join("srv")).unwrap();
    guest
}

/// The provisioner; the machine's paths are relative, so below the guest's root.
fn masterless(bin: &Path) -> Value {
    json!({
        "type": "salt-masterless",
        "skip_bootstrap": true,
        "local_state_tree": "salt",
        "local_pillar_roots": "pillar",
        "remote_state_tree": "srv/salt",
        "remote_pillar_roots": "srv/pillar",
        "temp_config_dir": "stage",
        "salt_bin_dir": bin.display().to_string(),
        "log_level": "warning",
        "salt_call_args": "--config-dir=salt-state/etc",
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salt_call_applies_the_state_tree_with_its_pillar_on_the_machine() {
    let Some(bin) = salt_bin_dir_for("salt-masterless with a real salt-call") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let guest = salt_guest();
    write_states(dir.path(), &guest);
    let (result, lines) = run_against(&guest.sshd, dir.path(), masterless(&bin)).await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    let root = guest.root();
    let read = |name: &str| std::fs::read_to_string(root.join(name)).unwrap();
    assert_eq!(read("out/motd"), "built for web on Linux\n");
    assert_eq!(
        read("out/app.service"),
        "[Service]\nExecStart=/usr/bin/app --role web\n"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(root.join("out/motd"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o640);
    assert!(root.join("srv/salt/web/init.sls").is_file());
    assert!(root.join("srv/pillar/app.sls").is_file());

    let Some(packer) = packer_for("salt-masterless with a real salt-call compared with Packer's")
    else {
        return;
    };
    let packers = salt_guest();
    write_states(dir.path(), &packers);
    let (succeeded, output) = packer_against(
        &packer,
        &packers.sshd,
        dir.path(),
        json!([masterless(&bin)]),
    );
    assert!(succeeded, "packer failed:\n{output}");
    // Each guest's pillar names its own root.
    let rooted = |guest: &RecordingGuest, dir: &str| -> Vec<String> {
        let root = guest.root().display().to_string();
        tree(&guest.root().join(dir))
            .iter()
            .map(|entry| entry.replace(&root, "<root>"))
            .collect()
    };
    assert_eq!(rooted(&packers, "out"), rooted(&guest, "out"));
    assert_eq!(rooted(&packers, "srv"), rooted(&guest, "srv"));
}

/// A state that fails makes `salt-call --retcode-passthrough` exit non-zero, which fails the step
/// with Packer's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_state_fails_the_step() {
    let Some(bin) = salt_bin_dir_for("salt-masterless with a real salt-call") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let guest = salt_guest();
    write_states(dir.path(), &guest);
    std::fs::write(
        dir.path().join("salt/web/init.sls"),
        "broken:\n  cmd.run:\n    - name: exit 7\n",
    )
    .unwrap();
    let (result, lines) = run_against(&guest.sshd, dir.path(), masterless(&bin)).await;
    let error = result.unwrap_err();
    assert!(
        lines.iter().any(|l| l.contains("broken")),
        "Salt's report is shown: {lines:?}"
    );
    insta::assert_snapshot!(error.to_string(), @"Error executing salt-call: Bad exit status: 2");
}
