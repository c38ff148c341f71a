use std::path::{Path, PathBuf};

use super::*;
use crate::interpolate::Volatile;
use crate::variables::resolve_variables;

fn references(dir: &Path, text: &str) -> Vec<(String, PathBuf, Expect)> {
    let t = Template::parse(Path::new("images/app/template.json"), text.to_string()).unwrap();
    let inv = Invocation {
        workspace_vars: vec![("dir".into(), "scripts".into())],
        ..Invocation::new(dir, Volatile::Placeholder)
    };
    let vars = resolve_variables(&t, &inv).unwrap();
    let refs = referenced_files(&t, &vars, &inv).unwrap();
    refs.into_iter()
        .map(|r| {
            (
                r.key,
                r.path.strip_prefix(dir).unwrap_or(&r.path).to_path_buf(),
                r.expect,
            )
        })
        .collect()
}

#[test]
fn finds_inputs_and_skips_secrets_outputs_and_downloads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("floppy")).unwrap();
    for f in ["floppy/b.cfg", "floppy/a.cfg"] {
        std::fs::write(dir.path().join(f), "").unwrap();
    }
    let found = references(
        dir.path(),
        r#"{"variables": {"dir": "x"},
            "builders": [
              {"type": "qemu", "iso_url": "file:///isos/base.qcow2", "floppy_files": ["floppy/*.cfg"],
               "ssh_private_key_file": "id_ed25519", "output_directory": "out"},
              {"type": "qemu", "name": "remote", "iso_url": "https://example.com/x.iso"}],
            "provisioners": [
              {"type": "shell", "scripts": ["{{user `dir`}}/a.sh", "{{user `dir`}}/{{build_name}}.sh"]},
              {"type": "file", "source": "files/", "destination": "/tmp"},
              {"type": "file", "source": "/etc/x", "destination": "x", "direction": "download"},
              {"type": "shell", "script": "{{ .Path }}"},
              {"type": "ansible", "playbook_file": "site.yml", "only": ["remote"],
               "override": {"remote": {"playbook_file": "remote.yml"}}}],
            "post-processors": [{"type": "shell-local", "inline": ["true"]}, {"type": "shell-local", "script": "post.sh"}]}"#,
    );
    let expected: Vec<(String, PathBuf, Expect)> = vec![
        (
            "builders[0].iso_url".into(),
            "/isos/base.qcow2".into(),
            Expect::File,
        ),
        (
            "builders[0].floppy_files[0]".into(),
            "floppy/a.cfg".into(),
            Expect::FileOrDirectory,
        ),
        (
            "builders[0].floppy_files[0]".into(),
            "floppy/b.cfg".into(),
            Expect::FileOrDirectory,
        ),
        (
            "provisioners[0].scripts[0]".into(),
            "scripts/a.sh".into(),
            Expect::File,
        ),
        (
            "provisioners[0].scripts[1]".into(),
            "scripts/qemu.sh".into(),
            Expect::File,
        ),
        (
            "provisioners[1].source".into(),
            "files/".into(),
            Expect::FileOrDirectory,
        ),
        (
            "post-processors[1].script".into(),
            "post.sh".into(),
            Expect::File,
        ),
        (
            "provisioners[0].scripts[1]".into(),
            "scripts/remote.sh".into(),
            Expect::File,
        ),
        (
            "provisioners[4].playbook_file".into(),
            "remote.yml".into(),
            Expect::File,
        ),
    ];
    assert_eq!(found, expected);
}

#[test]
fn url_forms() {
    assert_eq!(
        local_path_of_url("file:///a/b.iso").as_deref(),
        Some("/a/b.iso")
    );
    assert_eq!(
        local_path_of_url("isos/b.iso").as_deref(),
        Some("isos/b.iso")
    );
    assert_eq!(local_path_of_url("http://x/b.iso"), None);
    assert_eq!(local_path_of_url("s3::https://x/b.iso"), None);
}

#[test]
fn a_string_for_a_list_is_split_on_commas() {
    let dir = tempfile::tempdir().unwrap();
    let found = references(
        dir.path(),
        r#"{"variables": {"dir": "x"}, "builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [{"type": "shell-local", "scripts": "a.sh,{{user `dir`}}/b.sh"},
                             {"type": "file", "source": "x", "destination": "y", "generated": "true"}]}"#,
    );
    let keys: Vec<(&str, &Path)> = found
        .iter()
        .map(|(k, p, _)| (k.as_str(), p.as_path()))
        .collect();
    assert_eq!(
        keys,
        [
            ("provisioners[0].scripts[0]", Path::new("a.sh")),
            ("provisioners[0].scripts[1]", Path::new("scripts/b.sh"))
        ]
    );
}

#[test]
fn a_playbooks_directory_counts_unless_it_is_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let found = references(
        dir.path(),
        r#"{"builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [
              {"type": "ansible", "playbook_file": "ansible/site.yml", "roles_path": "ansible/roles"},
              {"type": "ansible", "playbook_file": "top.yml"}]}"#,
    );
    assert_eq!(
        found,
        [
            (
                "provisioners[0].playbook_file".to_string(),
                PathBuf::from("ansible/site.yml"),
                Expect::File
            ),
            (
                "provisioners[0].playbook_file (its directory)".to_string(),
                PathBuf::from("ansible"),
                Expect::Directory
            ),
            (
                "provisioners[0].roles_path".to_string(),
                PathBuf::from("ansible/roles"),
                Expect::Directory
            ),
            // In the working directory: its directory would be the whole workspace.
            (
                "provisioners[1].playbook_file".to_string(),
                PathBuf::from("top.yml"),
                Expect::File
            ),
        ]
    );
}

/// Everything the configuration-management and Windows provisioners upload counts, and nothing they
/// only name on the machine (staging directories, remote cookbook paths, module destinations).
#[test]
fn what_configuration_management_uploads_counts() {
    let dir = tempfile::tempdir().unwrap();
    let found = references(
        dir.path(),
        r#"{"builders": [{"type": "null", "communicator": "none"}],
            "provisioners": [
              {"type": "ansible-local", "playbook_file": "a/site.yml", "playbook_dir": "a",
               "role_paths": ["roles/web"], "group_vars": "gv", "staging_directory": "/tmp/s"},
              {"type": "puppet-masterless", "manifest_file": "p/site.pp", "module_paths": ["p/modules"],
               "hiera_config_path": "p/hiera.yaml", "staging_directory": "/tmp/p"},
              {"type": "puppet-server", "client_cert_path": "certs"},
              {"type": "chef-solo", "cookbook_paths": ["cookbooks"], "remote_cookbook_paths": ["/var/chef"],
               "encrypted_data_bag_secret_path": "secret"},
              {"type": "salt-masterless", "local_state_tree": "salt", "minion_config": "minion"},
              {"type": "converge", "module": "m", "module_dirs": [{"source": "mods", "destination": "/srv/m"}]},
              {"type": "powershell", "scripts": ["win/setup.ps1"]},
              {"type": "windows-shell", "script": "win/setup.bat"},
              {"type": "chef-client", "server_url": "https://chef", "config_template": "client.rb.tpl",
               "validation_key_path": "validator.pem", "encrypted_data_bag_secret_path": "secret"},
              {"type": "inspec", "profile": "profiles/web", "attributes": ["inputs/a.yml"],
               "ssh_host_key_file": "host_key", "attributes_directory": "attrs"},
              {"type": "inspec", "profile": "https://github.com/dev-sec/linux-baseline"},
              {"type": "inspec", "profile": "supermarket://dev-sec/ssh-baseline"}]}"#,
    );
    let keys: Vec<String> = found
        .iter()
        .map(|(key, path, _)| format!("{key} {}", path.display()))
        .collect();
    insta::assert_snapshot!(keys.join("\n"), @r"
    provisioners[0].playbook_file a/site.yml
    provisioners[0].playbook_dir a
    provisioners[0].role_paths[0] roles/web
    provisioners[0].group_vars gv
    provisioners[1].hiera_config_path p/hiera.yaml
    provisioners[1].module_paths[0] p/modules
    provisioners[1].manifest_file p/site.pp
    provisioners[3].cookbook_paths[0] cookbooks
    provisioners[4].local_state_tree salt
    provisioners[4].minion_config minion
    provisioners[5].module_dirs[0].source mods
    provisioners[6].scripts[0] win/setup.ps1
    provisioners[7].script win/setup.bat
    provisioners[8].config_template client.rb.tpl
    provisioners[9].profile profiles/web
    provisioners[9].attributes[0] inputs/a.yml
    ");
}

#[test]
fn a_vagrant_boxs_includes_and_template_are_inputs_unless_the_build_writes_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let found = references(
        dir.path(),
        r#"{"builders": [{"type": "null", "communicator": "none"}],
            "post-processors": [
              {"type": "vagrant", "include": ["box/info.json", "box/{{build_name}}.txt"],
               "vagrantfile_template": "box/Vagrantfile.tpl", "output": "out/{{.Provider}}.box"},
              {"type": "vagrant", "vagrantfile_template": "out/generated.rb",
               "vagrantfile_template_generated": "true"},
              {"type": "artifice", "files": ["out/app.tar"]}]}"#,
    );
    let expected: Vec<(String, PathBuf, Expect)> = vec![
        (
            "post-processors[0].include[0]".into(),
            "box/info.json".into(),
            Expect::File,
        ),
        (
            "post-processors[0].include[1]".into(),
            "box/null.txt".into(),
            Expect::File,
        ),
        (
            "post-processors[0].vagrantfile_template".into(),
            "box/Vagrantfile.tpl".into(),
            Expect::File,
        ),
    ];
    assert_eq!(found, expected);
}
