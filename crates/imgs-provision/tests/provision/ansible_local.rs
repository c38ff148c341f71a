//! `ansible-local` with Debian's real `ansible-playbook`, which runs on the "machine" (this one, over
//! the private sshd on loopback) against `127.0.0.1` with `-c local`: the playbook directory, vars
//! and roles are staged with Packer's commands, the playbook runs, and what it wrote is read back,
//! and compared with what Packer 1.6.6 does on the same sshd.

use imgs_test_peers::packer::packer_for;
use serde_json::{Value, json};

use crate::common::World;
use crate::packer_agreement::{packer_build, tree};

fn write_playbooks(w: &World) {
    w.write(
        "ansible/site.yml",
        "- hosts: all\n  gather_facts: false\n  roles: [motd]\n  tasks:\n    \
         - copy:\n        dest: \"{{ out }}/vars\"\n        \
         content: \"{{ greeting }} {{ packer_build_name }} {{ packer_builder_type }} {{ group_names | join(',') }}\"\n",
    );
    w.write(
        "ansible/roles/motd/tasks/main.yml",
        "- copy:\n    dest: \"{{ out }}/motd\"\n    content: \"from a role\\n\"\n",
    );
    w.write("vars/all.yml", "greeting: hi\n");
    w.write("extra/other.yml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy:\n        dest: \"{{ out }}/other\"\n        content: \"other\\n\"\n");
    std::fs::create_dir_all(w.path("out")).unwrap();
}

fn provisioner(w: &World, staging: &str) -> Value {
    json!({
        "type": "ansible-local",
        "playbook_dir": "ansible",
        "playbook_files": ["ansible/site.yml", "extra/other.yml"],
        "group_vars": "vars",
        "inventory_groups": ["web", "eu"],
        "staging_directory": w.at(staging),
        "extra_arguments": ["-e", format!("out={}", w.at("out"))],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_playbook_runs_on_the_machine_with_its_roles_and_vars() {
    let w = World::start().await;
    write_playbooks(&w);
    let (result, lines) = w.run(provisioner(&w, "stage")).await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    assert_eq!(w.read("out/motd"), "from a role\n");
    assert_eq!(w.read("out/vars"), "hi app null eu,web");
    assert_eq!(w.read("out/other"), "other\n");
    // The playbook outside `playbook_dir` is staged under its absolute path, as Packer does.
    let other = w.path("extra/other.yml");
    let staged_other = w.path("stage").join(other.strip_prefix("/").unwrap());
    assert!(staged_other.is_file(), "{}", staged_other.display());
    let dir = w.dir.path().display().to_string();
    let shown: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("imgs: "))
        .map(|l| {
            let l = l.replace(&dir, "[dir]");
            // The inventory Packer writes has a random name.
            match l.find("packer-provisioner-ansible-local") {
                Some(at) => format!("{}[inventory]", &l[..at]),
                None => l,
            }
        })
        .collect();
    insta::assert_snapshot!(shown.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ansible_and_a_failing_playbook_fail_with_packers_messages() {
    let w = World::start().await;
    w.write(
        "fail.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - fail: { msg: refused }\n",
    );
    let run = |command: &str| {
        json!({
            "type": "ansible-local",
            "command": command,
            "playbook_file": "fail.yml",
            "staging_directory": w.at("stage"),
            "clean_staging_directory": true,
        })
    };
    let (result, _) = w.run(run("no-such-ansible-playbook")).await;
    insta::assert_snapshot!(result.unwrap_err().to_string(), @r"
    Error executing Ansible: no-such-ansible-playbook could not be found. Verify that it is available on the
    PATH after connecting to the machine.
    ");
    let (result, lines) = w.run(run("ansible-playbook")).await;
    insta::assert_snapshot!(result.unwrap_err().to_string(), @"Error executing Ansible: Non-zero exit status: 2");
    assert!(lines.iter().any(|l| l.contains("refused")), "{lines:?}");
}

/// Packer 1.6.6 and imgs run the same playbooks on the same sshd: the same files result, and the
/// staging directories hold the same tree (but for the inventory's random name).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ansible_local_stages_and_runs_what_packer_does() {
    let Some(packer) = packer_for("ansible-local compared with Packer's") else {
        return;
    };
    let w = World::start().await;
    write_playbooks(&w);
    packer_build(&packer, &w, json!([provisioner(&w, "stage-packer")]));
    let packer_out = tree(&w.path("out"));
    std::fs::remove_dir_all(w.path("out")).unwrap();
    std::fs::create_dir_all(w.path("out")).unwrap();
    let (result, lines) = w.run(provisioner(&w, "stage-imgs")).await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    assert_eq!(tree(&w.path("out")), packer_out);
    let staged = |dir: &str| -> Vec<String> {
        tree(&w.path(dir))
            .into_iter()
            .map(
                |entry| match entry.find("packer-provisioner-ansible-local") {
                    Some(at) => {
                        let rest = &entry[at..];
                        let end = rest.find(' ').unwrap_or(rest.len());
                        format!("{}[inventory]{}", &entry[..at], &rest[end..])
                    }
                    None => entry,
                },
            )
            .collect()
    };
    assert_eq!(staged("stage-imgs"), staged("stage-packer"));
}
