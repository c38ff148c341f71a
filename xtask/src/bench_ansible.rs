//! Ansible benchmark: one playbook of 50 tasks run against a private sshd on loopback by imgs (its
//! `ansible` provisioner on a `null` build), by Packer 1.6.6 (`use_proxy: false`: Packer's proxy does
//! not work with today's OpenSSH, see the README), and by `ansible-playbook` alone with the command
//! line and environment imgs and Packer give it (the same inventory line, variables, SSH options and
//! `ANSIBLE_*` settings; `ANSIBLE_SCP_IF_SSH` changes how each task's module is sent). The playbook's
//! own run dominates; the rows show what each tool adds around it.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, anyhow};
use imgs_test_peers::TestSshd;

use crate::bench_aws::{median, packer_command, quiet};
use crate::bench_hashing::BenchResult;

const TASKS: usize = 50;
const RUNS: usize = 3;

pub fn fifty_tasks(imgs: &Path, work: &Path) -> Result<Vec<BenchResult>> {
    fs::create_dir_all(work)?;
    let sshd = TestSshd::start().map_err(|why| anyhow!(why))?;
    let out = work.join("out");
    fs::create_dir_all(&out)?;
    fs::write(work.join("site.yml"), playbook(&out))?;
    let settings = sshd.settings();
    let template = serde_json::json!({
        "builders": [sshd.builder("null", serde_json::json!({ "name": "bench" }))],
        "provisioners": [{
            "type": "ansible",
            "playbook_file": "site.yml",
            "use_proxy": false,
            "ansible_env_vars": ["ANSIBLE_NOCOLOR=1"],
        }],
    });
    let template_path = work.join("template.json");
    fs::write(&template_path, serde_json::to_string_pretty(&template)?)?;
    let inventory = work.join("inventory");
    fs::write(
        &inventory,
        format!(
            "default ansible_host=127.0.0.1 ansible_user={} ansible_port={}\n",
            settings["ssh_username"], settings["ssh_port"]
        ),
    )?;

    // One run of `cmd`, timed, checked to have run the whole playbook.
    let run_once = |label: &str, cmd: &mut Command| -> Result<Duration> {
        let _ = fs::remove_dir_all(&out);
        fs::create_dir_all(&out)?;
        let start = std::time::Instant::now();
        quiet(cmd, &work.join(format!("{label}.log")))?;
        let elapsed = start.elapsed();
        let written = fs::read_dir(&out)?.count();
        anyhow::ensure!(
            written == TASKS,
            "{label}: the playbook wrote {written} files, not {TASKS}"
        );
        Ok(elapsed)
    };

    let mut imgs_cmd = Command::new(imgs);
    imgs_cmd
        .current_dir(work)
        .args(["build"])
        .arg(&template_path);
    let mut packer_cmd = packer_command(work);
    packer_cmd.arg(&template_path);
    let mut ansible_cmd = Command::new("ansible-playbook");
    ansible_cmd
        .current_dir(work)
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_SCP_IF_SSH", "True")
        .args([
            "-e",
            "packer_build_name=\"bench\"",
            "-e",
            "packer_builder_type=null",
        ])
        .args(["--ssh-extra-args", "'-o IdentitiesOnly=yes'", "-e"])
        .arg(format!(
            "ansible_ssh_private_key_file={}",
            settings["ssh_private_key_file"]
        ))
        .arg("-i")
        .arg(&inventory)
        .arg("site.yml");
    let mut contenders = [
        ("imgs", imgs_cmd, Vec::new()),
        ("packer", packer_cmd, Vec::new()),
        ("ansible-playbook", ansible_cmd, Vec::new()),
    ];
    // One untimed warm-up each (Ansible's first start compiles and caches Python modules), then the
    // three take turns, so that a slower stretch of the machine falls on all of them alike.
    for (label, cmd, _) in &mut contenders {
        run_once(label, cmd)?;
    }
    for _ in 0..RUNS {
        for (label, cmd, times) in &mut contenders {
            times.push(run_once(label, cmd)?);
        }
    }
    let [ours, packer, alone] = contenders.map(|(_, _, times)| median(times));

    let name = format!("ansible provisioner, {TASKS}-task playbook on a loopback sshd");
    let seconds = |d: Duration| d.as_secs_f64();
    Ok(vec![
        BenchResult {
            name: format!("{name}: imgs build vs packer build (use_proxy: false)"),
            ours,
            reference_name: "Packer 1.6.6".to_owned(),
            reference: packer,
            notes: format!(
                "median of {RUNS}, runs taking turns after a warm-up each; ansible-playbook alone {:.2} s, so imgs adds \
                 {:.2} s and Packer {:.2} s around the same playbook run",
                seconds(alone),
                seconds(ours) - seconds(alone),
                seconds(packer) - seconds(alone),
            ),
        },
        BenchResult {
            name: format!("{name}: imgs build vs ansible-playbook alone"),
            ours,
            reference_name: "ansible-playbook".to_owned(),
            reference: alone,
            notes: format!(
                "median of {RUNS}, runs taking turns after a warm-up each; the same inventory \
                 line, arguments, environment and playbook"
            ),
        },
    ])
}

/// `TASKS` tasks, each writing one small file on the machine, with facts off (the same for all three).
fn playbook(out: &Path) -> String {
    let mut text = String::from("- hosts: all\n  gather_facts: false\n  tasks:\n");
    for i in 0..TASKS {
        text.push_str(&format!(
            "    - name: task {i}\n      copy:\n        dest: \"{}/file-{i}\"\n        content: \"task {i}\\n\"\n",
            out.display()
        ));
    }
    text
}
