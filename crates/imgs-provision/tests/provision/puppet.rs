//! `puppet-masterless` and `puppet-server` with Debian's real `puppet` against the private sshd: the
//! manifests, modules and facts are staged on the "machine" (this one, over loopback) with Packer's
//! commands, Puppet applies them, and what it wrote is read back, and compared with what Packer 1.6.6
//! does on the same sshd.

use imgs_test_peers::packer::packer_for;
use serde_json::{Value, json};

use crate::common::World;
use crate::packer_agreement::{packer_build, tree};

/// Puppet's own state goes to the test's directory, not to the machine's `/var/cache/puppet`.
fn own_dirs(w: &World) -> Vec<String> {
    ["vardir", "confdir", "codedir", "logdir", "rundir"]
        .iter()
        .map(|dir| format!("--{dir}={}", w.at(&format!("puppet-state/{dir}"))))
        .collect()
}

fn write_manifests(w: &World) {
    w.write(
        "puppet/site.pp",
        "include motd\n\
         file { \"${facts['out']}/facts\":\n  \
           content => \"${facts['role']} ${facts['packer_build_name']} ${facts['packer_builder_type']}\\n\",\n  \
           mode => '0640',\n\
         }\n",
    );
    w.write(
        "modules/motd/manifests/init.pp",
        "class motd {\n  file { \"${facts['out']}/motd\": content => \"hello from a module\\n\" }\n}\n",
    );
    std::fs::create_dir_all(w.path("out")).unwrap();
}

fn masterless(w: &World, staging: &str) -> Value {
    json!({
        "type": "puppet-masterless",
        "manifest_file": "puppet/site.pp",
        "module_paths": ["modules"],
        "facter": { "role": "web", "out": w.at("out") },
        "staging_directory": w.at(staging),
        "extra_arguments": own_dirs(w),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_with_modules_and_facts_is_applied_on_the_machine() {
    let w = World::start().await;
    write_manifests(&w);
    let (result, lines) = w.run(masterless(&w, "stage")).await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    assert_eq!(w.read("out/motd"), "hello from a module\n");
    assert_eq!(w.read("out/facts"), "web app null\n");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(w.path("stage")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o777, "Packer opens the staging directory");
    assert!(w.path("stage/manifests/site.pp").is_file());
    assert!(w.path("stage/module-0/motd/manifests/init.pp").is_file());
    let dir = w.dir.path().display().to_string();
    let shown: Vec<String> = lines
        .iter()
        .filter(|l| l.starts_with("imgs: "))
        .map(|l| l.replace(&dir, "[dir]"))
        .collect();
    insta::assert_snapshot!(shown.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_run_fails_with_packers_message_unless_exit_codes_are_ignored() {
    let w = World::start().await;
    w.write("fail.pp", "fail('the manifest refuses')\n");
    let provisioner = |ignore: bool| {
        json!({
            "type": "puppet-masterless",
            "manifest_file": "fail.pp",
            "prevent_sudo": true,
            "ignore_exit_codes": ignore,
            "staging_directory": w.at("stage"),
            "extra_arguments": own_dirs(&w),
        })
    };
    let (result, lines) = w.run(provisioner(false)).await;
    let err = result.expect_err("puppet fails");
    insta::assert_snapshot!(err.to_string(), @"Puppet exited with a non-zero exit status: 1");
    assert!(
        lines.iter().any(|l| l.contains("the manifest refuses")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("imgs: Running Puppet: cd ") && !l.contains("sudo")),
        "prevent_sudo leaves sudo out: {lines:?}"
    );
    let (result, _) = w.run(provisioner(true)).await;
    result.expect("ignore_exit_codes goes on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_directory_and_hiera_config_are_staged_and_cleaned_up() {
    let w = World::start().await;
    w.write(
        "manifests/a.pp",
        "file { \"${facts['out']}/a\": content => \"a\\n\" }\n",
    );
    w.write(
        "manifests/b.pp",
        "file { \"${facts['out']}/b\": content => \"b\\n\" }\n",
    );
    w.write("hiera.yaml", "---\nversion: 5\nhierarchy: []\n");
    std::fs::create_dir_all(w.path("out")).unwrap();
    let (result, lines) = w
        .run(json!({
            "type": "puppet-masterless",
            "manifest_file": "manifests",
            "hiera_config_path": "hiera.yaml",
            "facter": { "out": w.at("out") },
            "staging_directory": w.at("stage"),
            "working_directory": w.at("."),
            "clean_staging_directory": true,
            "extra_arguments": own_dirs(&w),
        }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    assert_eq!(w.read("out/a"), "a\n");
    assert_eq!(w.read("out/b"), "b\n");
    let running = lines
        .iter()
        .find(|l| l.starts_with("imgs: Running Puppet: "))
        .unwrap();
    let stage = w.at("stage");
    assert!(
        running.contains(&format!("--hiera_config='{stage}/hiera.yaml'"))
            && running.ends_with(&format!(" {stage}/manifests")),
        "{running}"
    );
    assert!(!w.path("stage").exists(), "clean_staging_directory");
}

/// No Puppet server runs here, so the agent fails to reach one; what is checked is everything up to
/// that: the certificates staged, and Packer's command and verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puppet_server_stages_certificates_and_runs_the_agent_once() {
    let w = World::start().await;
    w.write("certs/app.pem", "not a real certificate\n");
    w.write("keys/app.pem", "not a real key\n");
    let (result, lines) = w
        .run(json!({
            "type": "puppet-server",
            "client_cert_path": "certs",
            "client_private_key_path": "keys",
            "puppet_server": "127.0.0.1",
            "puppet_node": "app.example",
            "staging_dir": w.at("stage"),
            "extra_arguments": [
                "--vardir={{.WorkingDir}}/puppet/var",
                "--confdir={{.WorkingDir}}/puppet/conf",
                "--masterport=1",
                "--http_connect_timeout=1",
            ],
        }))
        .await;
    let err = result.expect_err("there is no Puppet server");
    insta::assert_snapshot!(err.to_string(), @"Puppet exited with a non-zero exit status: 1");
    assert_eq!(w.read("stage/certs/app.pem"), "not a real certificate\n");
    assert_eq!(w.read("stage/private_keys/app.pem"), "not a real key\n");
    let stage = w.at("stage");
    let running = lines
        .iter()
        .find(|l| l.starts_with("imgs: Running Puppet: "))
        .unwrap()
        .replace(&stage, "[stage]");
    insta::assert_snapshot!(running, @"imgs: Running Puppet: cd [stage] && FACTER_packer_build_name='app' FACTER_packer_builder_type='null' sudo -E puppet agent --onetime --no-daemonize --detailed-exitcodes --server='127.0.0.1' --certname='app.example' --certdir='[stage]/certs' --privatekeydir='[stage]/private_keys' --vardir=[stage]/puppet/var --confdir=[stage]/puppet/conf --masterport=1 --http_connect_timeout=1 ");
}

/// Packer 1.6.6 and imgs apply the same manifest on the same sshd: the same files result, and the
/// staging directories hold the same tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn puppet_masterless_stages_and_applies_what_packer_does() {
    let Some(packer) = packer_for("puppet-masterless compared with Packer's") else {
        return;
    };
    let w = World::start().await;
    write_manifests(&w);
    packer_build(&packer, &w, json!([masterless(&w, "stage-packer")]));
    let packer_out = tree(&w.path("out"));
    std::fs::remove_dir_all(w.path("out")).unwrap();
    std::fs::create_dir_all(w.path("out")).unwrap();
    let (result, lines) = w.run(masterless(&w, "stage-imgs")).await;
    result.unwrap_or_else(|e| panic!("{e}\n{}", lines.join("\n")));
    assert_eq!(tree(&w.path("out")), packer_out);
    assert_eq!(tree(&w.path("stage-imgs")), tree(&w.path("stage-packer")));
}
