//! The checks Packer's plugins make on the file system and `PATH` while preparing a build.

use std::path::{Path, PathBuf};

use super::Validator;
use crate::json::{Node, Value};
use crate::schema::{self, IoCheckKind, Section, ValueType};

impl Validator<'_> {
    /// The checks Packer makes on the file system while preparing a plugin.
    pub(super) fn io_checks(
        &mut self,
        section: Section,
        kind: &str,
        config: &Node,
        rendered: &Node,
        key: &str,
    ) {
        let downloads = rendered.field("direction").and_then(Node::as_str) == Some("download");
        for check in schema::io_checks(section, kind) {
            if check.what == IoCheckKind::Program {
                self.program_check(config, rendered, key, check.key);
                continue;
            }
            let Some(member) = config.field_member(check.key) else {
                continue;
            };
            if kind == "file"
                && section == Section::Provisioner
                && (downloads || rendered.field("generated").is_some_and(Node::weak_bool))
            {
                continue;
            }
            // A Vagrantfile template the build writes need not exist before it runs.
            if kind == "vagrant"
                && section == Section::PostProcessor
                && rendered
                    .field("vagrantfile_template_generated")
                    .is_some_and(Node::weak_bool)
            {
                continue;
            }
            let entry_key = format!("{key}.{}", check.key);
            let is_list = schema::lookup(section, kind)
                .and_then(|s| s.find_key(check.key))
                .is_some_and(|(_, t)| t == ValueType::StringList);
            let Some(rendered_value) = rendered.field(check.key) else {
                continue;
            };
            let values = weak_paths(rendered_value, &member.value, &entry_key, is_list);
            for (value, node, entry_key) in values {
                if value.is_empty() {
                    continue;
                }
                let path = self.resolve_path(&value);
                let problem = match check.what {
                    IoCheckKind::Exists => {
                        (!path.exists()).then(|| format!("`{value}` does not exist"))
                    }
                    IoCheckKind::File => match std::fs::metadata(&path) {
                        Err(_) => Some(format!("`{value}` does not exist")),
                        Ok(m) if !m.is_file() => Some(format!("`{value}` is not a file")),
                        Ok(_) => None,
                    },
                    IoCheckKind::SshPrivateKey if !self.uses_ssh(rendered) => None,
                    // Packer reads the bastion key only to reach a bastion host, and not with agent auth.
                    IoCheckKind::SshPrivateKey
                        if check.key == "ssh_bastion_private_key_file"
                            && (rendered
                                .field("ssh_bastion_host")
                                .and_then(Node::weak_string)
                                .unwrap_or_default()
                                .is_empty()
                                || rendered
                                    .field("ssh_bastion_agent_auth")
                                    .is_some_and(Node::weak_bool)) =>
                    {
                        None
                    }
                    IoCheckKind::SshPrivateKey => match std::fs::read(self.expand_home(&value)) {
                        Err(_) => Some(format!("`{value}` cannot be read")),
                        Ok(bytes) => crate::ssh_key::check_private_key(&bytes)
                            .err()
                            .map(|why| format!("`{value}` is not a usable SSH private key: {why}")),
                    },
                    IoCheckKind::ChecksumFile => match local_checksum_file(&value) {
                        Some(file) if !self.resolve_path(&file).is_file() => {
                            Some(format!("the checksum file `{file}` does not exist"))
                        }
                        _ => None,
                    },
                    IoCheckKind::Directory => match std::fs::metadata(&path) {
                        Err(_) => Some(format!("`{value}` does not exist")),
                        Ok(m) if !m.is_dir() => Some(format!("`{value}` is not a directory")),
                        Ok(_) => None,
                    },
                    IoCheckKind::ExistsOrGlob => {
                        let is_glob = value.contains(['*', '?', '[']);
                        (!is_glob && !path.exists()).then(|| format!("`{value}` does not exist"))
                    }
                    IoCheckKind::MustNotExist => {
                        let forced = self.inv.force
                            || rendered.field("packer_force").is_some_and(Node::weak_bool);
                        (!forced && path.exists()).then(|| format!("`{value}` already exists"))
                    }
                    IoCheckKind::Program | IoCheckKind::Network | IoCheckKind::CurrentUser => None,
                };
                if let Some(message) = problem {
                    let hint = match check.what {
                        IoCheckKind::MustNotExist => {
                            "remove it, choose another path, or force the build (packer -force)"
                                .to_string()
                        }
                        _ => format!(
                            "relative paths are resolved against the working directory ({})",
                            self.scope.pwd()
                        ),
                    };
                    let d = self.source.error(
                        format!("`{}`: {message}", check.key),
                        node.span.start,
                        entry_key,
                    );
                    self.push(d.hint(hint));
                }
            }
        }
    }

    /// Packer checks SSH keys only for the SSH communicator (the default when none is named).
    pub(super) fn uses_ssh(&self, rendered: &Node) -> bool {
        match rendered.field("communicator").and_then(Node::as_str) {
            None | Some("") | Some("ssh") => true,
            Some(_) => false,
        }
    }

    /// Packer expands a leading `~/` in key file paths to the home directory.
    pub(super) fn expand_home(&self, value: &str) -> PathBuf {
        match (value.strip_prefix("~/"), self.inv.env.get("HOME")) {
            (Some(rest), Some(home)) => Path::new(home).join(rest),
            _ => self.resolve_path(value),
        }
    }

    pub(super) fn resolve_path(&self, value: &str) -> PathBuf {
        let path = Path::new(value);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.inv.working_dir.join(path)
        }
    }

    /// Packer runs `COMMAND --version` (default `ansible-playbook`) unless `skip_version_check` is set;
    /// the program must at least be found the way Go's `exec.LookPath` finds it.
    pub(super) fn program_check(
        &mut self,
        config: &Node,
        rendered: &Node,
        key: &str,
        command_key: &str,
    ) {
        let skip = rendered
            .field("skip_version_check")
            .is_some_and(|n| match &n.value {
                Value::Bool(b) => *b,
                Value::String(s) => {
                    matches!(s.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True")
                }
                Value::Number(n) => n.parse::<f64>().is_ok_and(|f| f != 0.0),
                _ => false,
            });
        if skip {
            return;
        }
        let program = rendered
            .field(command_key)
            .and_then(Node::as_str)
            .filter(|c| !c.is_empty());
        let program = program.unwrap_or("ansible-playbook");
        if self.program_exists(program) {
            return;
        }
        let offset = config
            .field(command_key)
            .map_or(config.span.start, |n| n.span.start);
        let d = self.source.error(
            format!("`{program}` is not installed: Packer runs `{program} --version` to check it"),
            offset,
            format!("{key}.{command_key}"),
        );
        self.push(d.hint(format!(
            "install it, set `{command_key}` to its path, or set \"skip_version_check\": true"
        )));
    }

    pub(super) fn program_exists(&self, program: &str) -> bool {
        use std::os::unix::fs::PermissionsExt;
        let executable = |path: &Path| {
            std::fs::metadata(path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        if program.contains('/') {
            return executable(&self.resolve_path(program));
        }
        let path = self.inv.env.get("PATH").map(String::as_str).unwrap_or("");
        std::env::split_paths(path).any(|dir| executable(&dir.join(program)))
    }
}

/// The local file a `file:` checksum names (`file:PATH` or `file:file://PATH`); `None` when the
/// checksum is given inline or the file is downloaded.
pub(super) fn local_checksum_file(checksum: &str) -> Option<String> {
    let target = checksum.strip_prefix("file:")?;
    if let Some(path) = target.strip_prefix("file://") {
        return Some(path.to_string());
    }
    (!target.contains("://")).then(|| target.to_string())
}

/// The path(s) a value holds as Packer decodes it: a list's items; for a list-typed key, a string split
/// on commas (Go's `StringToSliceHookFunc`); numbers and booleans as their weak string form. Each comes
/// with the template node to point at and its key path.
fn weak_paths<'n>(
    rendered: &Node,
    written: &'n Node,
    key: &str,
    is_list: bool,
) -> Vec<(String, &'n Node, String)> {
    match &rendered.value {
        Value::Array(items) => {
            let originals = written.as_array().unwrap_or(&[]);
            items
                .iter()
                .zip(originals)
                .enumerate()
                .filter_map(|(i, (item, original))| {
                    item.weak_string()
                        .map(|s| (s, original, format!("{key}[{i}]")))
                })
                .collect()
        }
        Value::String(s) if is_list => {
            let parts: Vec<&str> = if s.is_empty() {
                Vec::new()
            } else {
                s.split(',').collect()
            };
            parts
                .into_iter()
                .enumerate()
                .map(|(i, part)| (part.to_string(), written, format!("{key}[{i}]")))
                .collect()
        }
        _ => rendered
            .weak_string()
            .map(|s| (s, written, key.to_string()))
            .into_iter()
            .collect(),
    }
}
