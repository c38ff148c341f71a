//! The provisioners whose tools cannot run here — `powershell`, `windows-shell`, `windows-restart`
//! (no Windows, no PowerShell), `chef-solo`, `chef-client`, `converge` (not installable from the
//! machine's registries, or installers that fetch from the internet), and `salt-masterless`'s
//! bootstrap (Salt itself runs for real in `salt.rs`) — checked against Packer
//! 1.6.6 on recording guests: for the same template both must send the machine the same commands,
//! leave the same files and reach the same verdict.

use std::path::Path;

use imgs_provision::ProvisionError;
use imgs_test_peers::RecordingGuest;
use imgs_test_peers::packer::packer_for;
use serde_json::{Value, json};

use crate::common::{PASSWORD, packer_against, run_against};

/// What one tool did to its guest: the commands (and stand-in calls) it sent, the files it left,
/// and its verdict.
#[derive(Debug, PartialEq, Eq)]
struct Visit {
    log: String,
    files: Vec<String>,
    succeeded: bool,
}

/// A guest with a stand-in for each of `programs` (the shell snippet each runs); a program whose
/// name starts with `!` is provided without being recorded.
fn guest(programs: &[(&str, &str)]) -> RecordingGuest {
    let guest = RecordingGuest::start().unwrap_or_else(|e| panic!("{e}"));
    for (program, then) in programs {
        match program.strip_prefix('!') {
            Some(quiet) => guest.provide(quiet, then).unwrap(),
            None => guest
                .stand_in(program, &["PACKER_", "GREETING"], then)
                .unwrap(),
        }
    }
    guest
}

/// Runs `provisioner` with Packer's null builder against a new guest; Packer's output is printed
/// when the test fails.
fn packer_visit(
    packer: &Path,
    programs: &[(&str, &str)],
    dir: &Path,
    provisioner: &Value,
) -> Visit {
    let guest = guest(programs);
    let (succeeded, output) = packer_against(packer, &guest.sshd, dir, json!([provisioner]));
    eprintln!("packer:\n{output}");
    visit_of(&guest, succeeded)
}

async fn imgs_visit(
    programs: &[(&str, &str)],
    dir: &Path,
    provisioner: &Value,
) -> (Visit, Result<(), ProvisionError>, Vec<String>) {
    let guest = guest(programs);
    let (result, lines) = run_against(&guest.sshd, dir, provisioner.clone()).await;
    eprintln!("imgs:\n{}", lines.join("\n"));
    (visit_of(&guest, result.is_ok()), result, lines)
}

fn visit_of(guest: &RecordingGuest, succeeded: bool) -> Visit {
    Visit {
        log: normalized(&guest.take_log()),
        files: files(&guest.root()),
        succeeded,
    }
}

/// Random names (UUIDs) as `<uuid>`; trailing blank lines of a command (Packer's SSH
/// communicator ends each command with a newline) dropped; Packer's verbose remote scp (`scp -vt`)
/// read as the plain one.
fn normalized(text: &str) -> String {
    let uuid = uuids_hidden(text);
    uuid.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.replacen("$ scp -vt ", "$ scp -t ", 1)
                .replacen("$ scp -rvt ", "$ scp -rt ", 1)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Replaces every `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hex) with `<uuid>`.
fn uuids_hidden(text: &str) -> String {
    let bytes = text.as_bytes();
    let shape = [8, 4, 4, 4, 12];
    let mut out = String::new();
    let mut i = 0;
    'outer: while i < bytes.len() {
        let mut j = i;
        for (n, len) in shape.iter().enumerate() {
            let hex = bytes[j..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if hex != *len {
                out.push(bytes[i] as char);
                i += 1;
                continue 'outer;
            }
            j += len;
            if n < 4 {
                if bytes.get(j) != Some(&b'-') {
                    out.push(bytes[i] as char);
                    i += 1;
                    continue 'outer;
                }
                j += 1;
            }
        }
        out.push_str("<uuid>");
        i = j;
    }
    out
}

/// Every file below `root` with its mode and (normalized) content, sorted.
fn files(root: &Path) -> Vec<String> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                pending.push(path);
                continue;
            }
            let name = path.strip_prefix(root).unwrap().display().to_string();
            let content = std::fs::read_to_string(&path).unwrap_or_default();
            entries.push(format!(
                "{} {:o}\n{}",
                uuids_hidden(&name),
                meta.permissions().mode() & 0o777,
                uuids_hidden(&content)
            ));
        }
    }
    entries.sort();
    entries
}

/// Runs `provisioner` with Packer and with imgs on guests with the same stand-ins and requires
/// the same visit; returns imgs's for further checks.
async fn same_as_packer(
    programs: &[(&str, &str)],
    provisioner: Value,
) -> Option<(Visit, Result<(), ProvisionError>, Vec<String>)> {
    let packer = packer_for("the Windows provisioners compared with Packer's")?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("setup.ps1"), "Write-Host setup\r\n").unwrap();
    let packer_visit = packer_visit(&packer, programs, dir.path(), &provisioner);
    let (visit, result, lines) = imgs_visit(programs, dir.path(), &provisioner).await;
    assert_eq!(visit.log, packer_visit.log, "commands differ");
    assert_eq!(visit.files, packer_visit.files, "files differ");
    assert_eq!(visit.succeeded, packer_visit.succeeded, "verdicts differ");
    Some((visit, result, lines))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn powershell_scripts_and_inline_commands_reach_the_machine_as_from_packer() {
    let Some((visit, _, _)) = same_as_packer(
        &[("powershell", "")],
        json!({
            "type": "powershell",
            "inline": ["Write-Host $env:GREETING", "exit 0"],
            "environment_vars": ["GREETING={{user `greeting`}} it's $HOME \"quoted\"", "SECRET={{user `password`}}"],
        }),
    )
    .await
    else {
        return;
    };
    insta::assert_snapshot!(visit.log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn powershell_exit_codes_policies_and_remote_paths_are_packers() {
    let failing = [("powershell", "exit 3")];
    let Some((visit, result, _)) = same_as_packer(
        &failing,
        json!({
            "type": "powershell",
            "scripts": ["setup.ps1"],
            "execution_policy": "remotesigned",
            "debug_mode": 1,
            "remote_path": "C:/Windows/Temp/",
        }),
    )
    .await
    else {
        return;
    };
    assert!(!visit.succeeded);
    insta::assert_snapshot!(result.unwrap_err().to_string(), @"Script exited with non-zero exit status: 3.Allowed exit codes are: [0]");
    let Some((visit, _, _)) = same_as_packer(
        &failing,
        json!({
            "type": "powershell",
            "script": "setup.ps1",
            "valid_exit_codes": [0, 3],
            "execution_policy": "unrestricted",
            "skip_clean": true,
            "remote_path": "c:/Windows/Temp/setup.ps1",
            "remote_env_var_path": "c:/Windows/Temp/env.ps1",
        }),
    )
    .await
    else {
        return;
    };
    assert!(visit.succeeded);
}

/// The elevated wrapper is imgs's own PowerShell, so only what surrounds it is compared: the same
/// commands with the wrapper's path, and Packer's command line to start it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_elevated_script_runs_through_a_scheduled_task_wrapper() {
    let dir = tempfile::tempdir().unwrap();
    let provisioner = json!({
        "type": "powershell",
        "inline": ["whoami"],
        "elevated_user": "Administrator",
        "elevated_password": "{{user `password`}}",
    });
    let (visit, result, lines) = imgs_visit(&[("powershell", "")], dir.path(), &provisioner).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        visit
            .log
            .contains("$ powershell -executionpolicy bypass -file \"C:/Windows/Temp/packer-elevated-shell-<uuid>.ps1\""),
        "{}",
        visit.log
    );
    let wrapper = visit
        .files
        .iter()
        .find(|f| f.starts_with("C:/Windows/Temp/packer-elevated-shell-"))
        .expect("the wrapper is uploaded");
    assert!(wrapper.contains("$user = \"Administrator\""), "{wrapper}");
    assert!(
        wrapper.contains("<Arguments>/c powershell -executionpolicy bypass &#34;&amp; {"),
        "{wrapper}"
    );
    // The password is in the wrapper on the machine (the task scheduler needs it), never in output.
    assert!(wrapper.contains(PASSWORD));
    assert!(lines.iter().all(|l| !l.contains(PASSWORD)), "{lines:?}");
    if let Some(packer) = packer_for("the elevated PowerShell run compared with Packer's") {
        let packer_visit = packer_visit(&packer, &[("powershell", "")], dir.path(), &provisioner);
        let commands = |log: &str| -> Vec<String> {
            log.lines()
                .filter(|l| l.starts_with("$ "))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(commands(&visit.log), commands(&packer_visit.log));
    }
}

/// `cmd` is not here, so the batch file is started by the guest's `sh` and fails alike for both
/// (a batch file is not executable there); the commands and the uploaded script are the point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_shell_uploads_and_runs_batch_scripts_as_packer_does() {
    let Some((visit, result, _)) = same_as_packer(
        &[],
        json!({
            "type": "windows-shell",
            "inline": ["echo %GREETING%", "ver"],
            "environment_vars": ["GREETING={{user `greeting`}} world"],
        }),
    )
    .await
    else {
        return;
    };
    insta::assert_snapshot!(visit.log, @r#"
    $ scp -t c:/Windows/Temp
    $ set "GREETING=hello world" && set "PACKER_BUILDER_TYPE=null" && set "PACKER_BUILD_NAME=app" && "c:/Windows/Temp/script.bat"
    "#);
    insta::assert_snapshot!(result.unwrap_err().to_string(), @"Script exited with non-zero exit status: 126.Allowed exit codes are: [0]");
    let Some((visit, _, _)) = same_as_packer(
        &[],
        json!({
            "type": "windows-shell",
            "scripts": ["setup.ps1"],
            "execute_command": "cat {{.Path}}",
            "remote_path": "C:/Windows/Temp/run.bat",
        }),
    )
    .await
    else {
        return;
    };
    assert!(visit.succeeded);
}

/// No machine restarts here: the stand-in `shutdown` says a restart is pending and the stand-in
/// PowerShell answers the checks, so what is compared is the sequence of commands and the verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_restart_restarts_and_waits_with_packers_checks() {
    let windows = [
        ("shutdown", "case \"$*\" in *'/t 60'*) exit 1 ;; esac"),
        ("powershell.exe", "echo 'vm restarted.'; echo False"),
    ];
    let Some((visit, _, lines)) = same_as_packer(
        &windows,
        json!({
            "type": "windows-restart",
            "restart_check_command": "echo custom check",
            "check_registry": true,
            "registry_keys": ["HKLM:SOFTWARE\\Pending"],
        }),
    )
    .await
    else {
        return;
    };
    assert!(visit.succeeded);
    insta::assert_snapshot!(visit.log);
    assert_eq!(
        lines.last().map(String::as_str),
        Some("Machine successfully restarted, moving on")
    );
}

/// Puppet on a Windows machine, elevated: Packer's Windows guest commands (PowerShell's `New-Item`,
/// the skipped `chmod`), `SET` facts, and the command wrapped in the elevated runner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puppet_on_windows_uses_packers_guest_commands_and_elevated_runner() {
    let Some(packer) = packer_for("puppet-masterless on Windows compared with Packer's") else {
        return;
    };
    let windows = [
        (
            "powershell.exe",
            "case \"$2\" in New-Item*) mkdir -p \"${2##*-Path }\" ;; esac",
        ),
        ("powershell", ""),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("site.pp"), "notice('hi')\n").unwrap();
    let provisioner = json!({
        "type": "puppet-masterless",
        "guest_os_type": "windows",
        "manifest_file": "site.pp",
        "facter": { "role": "web" },
        "staging_directory": "C:/Windows/Temp/puppet",
        "elevated_user": "Administrator",
        "elevated_password": "{{user `password`}}",
    });
    let packer_visit = packer_visit(&packer, &windows, dir.path(), &provisioner);
    let (visit, result, _) = imgs_visit(&windows, dir.path(), &provisioner).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert!(packer_visit.succeeded);
    let commands = |log: &str| -> String {
        log.lines()
            .filter(|l| l.starts_with("$ "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(commands(&visit.log), commands(&packer_visit.log));
    insta::assert_snapshot!(commands(&visit.log));
}

/// chef-solo with Packer's installer and `sudo` kept (stand-ins: `curl` hands `bash` a script that
/// only says so, `sudo` runs its command, `chef-solo` records): the same commands, the same
/// `solo.rb` and `node.json`, the same staged cookbooks and roles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chef_solo_stages_and_runs_what_packer_does() {
    let unix = [
        ("sudo", "exec \"$@\""),
        ("!curl", "echo 'echo chef installed'"),
        ("chef-solo", ""),
    ];
    let Some(packer) = packer_for("chef-solo compared with Packer's") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in [
        ("cookbooks/web/recipes/default.rb", "package 'nginx'\n"),
        ("roles/web.json", "{\"name\": \"web\"}\n"),
        ("secret", "s3cret\n"),
    ] {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let provisioner = json!({
        "type": "chef-solo",
        "cookbook_paths": ["cookbooks"],
        "remote_cookbook_paths": ["/var/chef/cookbooks"],
        "roles_path": "roles",
        "encrypted_data_bag_secret_path": "secret",
        "run_list": ["recipe[web]"],
        "json": { "web": { "port": 8080, "name": "{{user `greeting`}}", "tags": ["a<b"] }, "empty": {} },
        "version": "17",
        "staging_directory": "stage",
    });
    let packer_visit = packer_visit(&packer, &unix, dir.path(), &provisioner);
    let (visit, result, _) = imgs_visit(&unix, dir.path(), &provisioner).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(visit, packer_visit);
    insta::assert_snapshot!(visit.files.join("\n---\n"));
}

/// salt-masterless, every path below the guest's root (its defaults are absolute paths of this
/// machine; `grains_file` and `minion_config` always go to `/etc/salt`, so they are left out): the
/// same bootstrap, staging, `sudo sudo mv` moves and `salt-call` line as Packer, the same tree in
/// place afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salt_masterless_moves_states_into_place_as_packer_does() {
    let unix = [
        ("sudo", "exec \"$@\""),
        ("!curl", "exit 0"),
        ("sh", "exit 0"),
        ("salt-call", ""),
    ];
    let Some(packer) = packer_for("salt-masterless compared with Packer's") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in [
        ("salt/top.sls", "base:\n  '*':\n    - web\n"),
        ("salt/web.sls", "nginx:\n  pkg.installed\n"),
        ("pillar/top.sls", "base: {}\n"),
    ] {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let provisioner = json!({
        "type": "salt-masterless",
        "local_state_tree": "salt",
        "local_pillar_roots": "pillar",
        "remote_state_tree": "tmp/salt-states",
        "remote_pillar_roots": "tmp/salt-pillar",
        "temp_config_dir": "tmp/salt",
        "custom_state": "web",
        "log_level": "debug",
        "salt_call_args": "--state-output=mixed",
        "bootstrap_args": "-P stable",
    });
    let packer_visit = packer_visit(&packer, &unix, dir.path(), &provisioner);
    let (visit, result, _) = imgs_visit(&unix, dir.path(), &provisioner).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(visit, packer_visit);
    insta::assert_snapshot!(visit.log);
}

/// converge: bootstrap through `sudo sh`, module directories uploaded where Packer puts them, and
/// the apply command with the parameters as JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_bootstraps_uploads_and_applies_as_packer_does() {
    let unix = [
        ("sudo", "exec \"$@\""),
        ("!curl", "echo 'echo converge installed'"),
        ("converge", "echo applied"),
    ];
    let Some(packer) = packer_for("converge compared with Packer's") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("modules/web")).unwrap();
    std::fs::write(dir.path().join("modules/web/main.hcl"), "task \"x\" {}\n").unwrap();
    let provisioner = json!({
        "type": "converge",
        "bootstrap": true,
        "version": "0.7.0",
        "module_dirs": [{ "source": "modules", "destination": "converge", "exclude": [".git"] }],
        "module": "converge/web/main.hcl",
        "working_directory": ".",
        "params": { "port": "80", "name": "{{user `greeting`}}" },
    });
    let packer_visit = packer_visit(&packer, &unix, dir.path(), &provisioner);
    let (visit, result, lines) = imgs_visit(&unix, dir.path(), &provisioner).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(visit, packer_visit);
    insta::assert_snapshot!(visit.log);
    assert!(
        lines.contains(&"transferred \"modules\" to \"converge\"".to_string()),
        "{lines:?}"
    );
}

/// The keys and files a chef-client run reads, every path below the guest's root.
fn chef_client_inputs(dir: &Path) {
    for (path, content) in [
        (
            "validation.pem",
            "-----BEGIN RSA PRIVATE KEY-----\nvalidator\n",
        ),
        ("secret", "s3cret\n"),
    ] {
        std::fs::write(dir.join(path), content).unwrap();
    }
}

/// chef-client with Packer's installer, a validation key, a data bag secret, policy and TLS
/// settings and its generated node name (`packer-<time-ordered id>`): the same install, staging,
/// `client.rb`, `first-boot.json` and `knife.rb`, the same `chef-client` line and the same `knife`
/// deletions of the node and the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chef_client_registers_converges_and_cleans_up_as_packer_does() {
    let unix = [
        ("sudo", "exec \"$@\""),
        ("!curl", "echo 'echo chef installed'"),
        ("chef-client", "echo converged"),
        ("knife", ""),
    ];
    let Some(packer) = packer_for("chef-client compared with Packer's") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    chef_client_inputs(dir.path());
    let provisioner = json!({
        "type": "chef-client",
        "server_url": "https://chef.example/organizations/{{user `greeting`}}",
        "validation_key_path": "validation.pem",
        "validation_client_name": "acme-validator",
        "encrypted_data_bag_secret_path": "secret",
        "policy_name": "web",
        "policy_group": "prod",
        "ssl_verify_mode": "verify_none",
        "trusted_certs_dir": "/etc/chef/trusted_certs",
        "chef_environment": "production",
        "run_list": ["recipe[web]"],
        "json": { "web": { "port": 8080 } },
        "version": "17",
        "staging_directory": "stage",
        "skip_clean_staging_directory": true,
    });
    let packer_visit = packer_visit(&packer, &unix, dir.path(), &provisioner);
    let (visit, result, _) = imgs_visit(&unix, dir.path(), &provisioner).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(visit, packer_visit);
    insta::assert_snapshot!(format!(
        "{}\n===\n{}",
        visit.log,
        visit.files.join("\n---\n")
    ));
}

/// A failed converge still deletes the node (the client is kept here, `skip_clean_client`), then
/// fails with Chef's exit status and leaves the staging directory; a successful one with
/// `node_name`, `prevent_sudo`, its own `knife_command` and Chef already installed removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chef_client_cleans_up_after_a_failed_converge_as_packer_does() {
    let failing = [("chef-client", "exit 3"), ("knife", "")];
    let Some(packer) = packer_for("chef-client compared with Packer's") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    chef_client_inputs(dir.path());
    let provisioner = json!({
        "type": "chef-client",
        "server_url": "https://chef.example",
        "skip_install": true,
        "prevent_sudo": true,
        "skip_clean_client": true,
        "staging_directory": "stage",
    });
    let packers = packer_visit(&packer, &failing, dir.path(), &provisioner);
    let (visit, result, _) = imgs_visit(&failing, dir.path(), &provisioner).await;
    assert_eq!(visit, packers);
    insta::assert_snapshot!(result.unwrap_err().to_string(), @"Error executing Chef: Non-zero exit status: 3");
    insta::assert_snapshot!(visit.log, @r"
    $ mkdir -p 'stage'
    $ chmod 0777 'stage'
    $ scp -t stage
    $ scp -t stage
    $ chef-client --no-color -c stage/client.rb -j stage/first-boot.json
    > chef-client [--no-color] [-c] [stage/client.rb] [-j] [stage/first-boot.json]
      cwd <root>
    $ scp -t stage
    $ knife node delete packer-<uuid> -y -c stage/knife.rb
    > knife [node] [delete] [packer-<uuid>] [-y] [-c] [stage/knife.rb]
      cwd <root>
    ");

    let succeeding = [("chef-client", ""), ("knife", "")];
    let provisioner = json!({
        "type": "chef-client",
        "server_url": "https://chef.example",
        "node_name": "web-{{user `greeting`}}",
        "skip_install": true,
        "prevent_sudo": true,
        "knife_command": "knife {{.Args}} --yes {{.Flags}}",
        "staging_directory": "stage",
    });
    let packers = packer_visit(&packer, &succeeding, dir.path(), &provisioner);
    let (visit, result, _) = imgs_visit(&succeeding, dir.path(), &provisioner).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(visit, packers);
    insta::assert_snapshot!(visit.log, @r"
    $ mkdir -p 'stage'
    $ chmod 0777 'stage'
    $ scp -t stage
    $ scp -t stage
    $ chef-client --no-color -c stage/client.rb -j stage/first-boot.json
    > chef-client [--no-color] [-c] [stage/client.rb] [-j] [stage/first-boot.json]
      cwd <root>
    $ scp -t stage
    $ knife node delete web-hello --yes -y -c stage/knife.rb
    > knife [node] [delete] [web-hello] [--yes] [-y] [-c] [stage/knife.rb]
      cwd <root>
    $ knife client delete web-hello --yes -y -c stage/knife.rb
    > knife [client] [delete] [web-hello] [--yes] [-y] [-c] [stage/knife.rb]
      cwd <root>
    $ rm -rf 'stage'
    ");
}
