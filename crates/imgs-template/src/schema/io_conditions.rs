//! When Packer 1.6.6 makes each of a type's I/O checks: most only when their key is set, some only in
//! one mode (an upload, the ssh communicator, a bastion without agent authentication, ...).

use super::decoded::Decoded;
use super::{IoCheck, communicator};

/// Whether Packer makes `check` for the configuration `c` of type `kind`.
pub(super) fn applies(kind: &str, check: &IoCheck, c: &Decoded) -> bool {
    let set = |key: &str| !c.string(key).is_empty() || c.list_len(key) > 0;
    match check.key {
        // The communicator's key files are only read when it talks SSH.
        "ssh_private_key_file" => communicator::kind(c) == "ssh" && set("ssh_private_key_file"),
        // When empty, the bastion uses ssh_private_key_file, which has its own check.
        "ssh_bastion_private_key_file" => {
            communicator::kind(c) == "ssh"
                && set("ssh_bastion_host")
                && !c.bool("ssh_bastion_agent_auth")
                && set("ssh_bastion_private_key_file")
        }
        "vault_aws_engine" => c.object("vault_aws_engine").is_some_and(|v| {
            ["name", "role_arn", "engine_name", "ttl"]
                .iter()
                .any(|k| !v.string(k).is_empty())
        }),
        // With user_data also set, Packer reports the conflict instead.
        "user_data_file" => set("user_data_file") && c.string("user_data").is_empty(),
        "iso_checksum" => {
            let one_url = set("iso_url") != set("iso_urls");
            one_url && !c.bool("iso_skip_cache") && c.string("iso_checksum").starts_with("file:")
        }
        // Checked even when unset (the default is `output-<build name>`), unless the build is forced.
        "output_directory" => !c.bool("packer_force"),
        "source" | "sources" if kind == "file" => {
            matches!(c.string("direction").as_str(), "" | "upload")
                && !c.bool("generated")
                && set(check.key)
        }
        "command" if kind == "ansible" => !c.bool("skip_version_check"),
        "user" if matches!(kind, "ansible" | "inspec") => c.string("user").is_empty(),
        // A Vagrantfile the build itself writes does not exist before it runs.
        "vagrantfile_template" => {
            set("vagrantfile_template") && !c.bool("vagrantfile_template_generated")
        }
        key => set(key),
    }
}
