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

    let run = |label: &str, mut cmd: Command| -> Result<Duration> {
        let log = work.join(format!("{label}.log"));
        let mut times = Vec::new();
        // One untimed warm-up (Ansible's first start compiles and caches Python modules).
        for i in 0..=RUNS {
            let _ = fs::remove_dir_all(&out);
            fs::create_dir_all(&out)?;
            let start = std::time::Instant::now();
            quiet(&mut cmd, &log)?;
            if i > 0 {
                times.push(start.elapsed());
            }
        }
        let written = fs::read_dir(&out)?.count();
        anyhow::ensure!(
            written == TASKS,
            "{label}: the playbook wrote {written} files, not {TASKS}"
        );
        Ok(median(times))
    };

    let mut imgs_cmd = Command::new(imgs);
    imgs_cmd
        .current_dir(work)
        .args(["build"])
        .arg(&template_path);
    let ours = run("imgs", imgs_cmd)?;
    let mut packer_cmd = packer_command(work);
    packer_cmd.arg(&template_path);
    let packer = run("packer", packer_cmd)?;
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
    let alone = run("ansible-playbook", ansible_cmd)?;

    let name = format!("ansible provisioner, {TASKS}-task playbook on a loopback sshd");
    let seconds = |d: Duration| d.as_secs_f64();
    Ok(vec![
        BenchResult {
            name: format!("{name}: imgs build vs packer build (use_proxy: false)"),
            ours,
            reference_name: "Packer 1.6.6".to_owned(),
            reference: packer,
            notes: format!(
                "median of {RUNS} after a warm-up; ansible-playbook alone {:.2} s, so imgs adds \
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
                "median of {RUNS} after a warm-up; the same inventory line, arguments, environment \
                 and playbook"
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
