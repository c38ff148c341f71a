//! The files a template reads when it builds, after variable resolution: fingerprint inputs.
//!
//! Covered, per plugin type (only keys that are *inputs* of the build):
//!
//! | type | keys |
//! |---|---|
//! | `qemu` builder | `iso_url`/`iso_urls` when a local path or `file://` URL, `floppy_files`, `floppy_dirs`, `cd_files` (globs expanded), `http_directory` |
//! | `amazon-ebs` builder | `user_data_file` |
//! | `file` builder | `source` |
//! | `shell`, `shell-local` provisioners; `shell-local` post-processor | `script`, `scripts` |
//! | `file` provisioner | `source`, `sources` (uploads only: not with `direction: download` or `generated: true`) |
//! | `ansible` provisioner | `playbook_file`, `galaxy_file`, `inventory_file`, `roles_path` |
//! | `ansible-local` provisioner | `playbook_file`, `playbook_files`, `playbook_dir`, `playbook_paths`, `role_paths`, `group_vars`, `host_vars`, `inventory_file`, `galaxy_file` |
//! | `puppet-masterless` provisioner | `manifest_file`, `manifest_dir`, `module_paths`, `hiera_config_path` |
//! | `chef-solo` provisioner | `config_template`, `cookbook_paths`, `roles_path`, `data_bags_path`, `environments_path` |
//! | `chef-client` provisioner | `config_template` |
//! | `inspec` provisioner | `profile` when a local path, `attributes` |
//! | `salt-masterless` provisioner | `local_state_tree`, `local_pillar_roots`, `minion_config`, `grains_file` |
//! | `converge` provisioner | `module_dirs[].source` |
//! | `powershell`, `windows-shell` provisioners | `script`, `scripts` |
//!
//! Deliberately left out:
//! * secrets — `ssh_private_key_file`, `ssh_bastion_private_key_file`, ansible `ssh_authorized_key_file`
//!   and `ssh_host_key_file`, puppet-server's `client_cert_path` and `client_private_key_path`,
//!   Chef's `encrypted_data_bag_secret_path` and `validation_key_path`, inspec's `ssh_host_key_file` and
//!   `ssh_authorized_key_file`: the key authenticates the build, it does not shape the image, and hashing
//!   it would rebuild every image when a key is rotated. Their paths are still fingerprinted as part of
//!   the template's JSON.
//! * outputs and scratch space — `output_directory`, ansible `inventory_directory` (Packer writes its
//!   generated inventory there), post-processor `output` paths.
//! * values that need build-time data (`{{ .Name }}`): they have no path before the build runs.
//!
//! Relative paths resolve against the working directory, as Packer resolves them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imgs_diagnostic::{Diagnostic, Diagnostics, Span};

use crate::interpolate::{self, RenderScope};
use crate::json::{Node, Value};
use crate::model::Template;
use crate::schema::{self, RefKey, Section, ValueType};
use crate::source::{Source, string_offset};
use crate::variables::{Invocation, ResolvedVariables};

/// What a referenced path must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Expect {
    File,
    Directory,
    FileOrDirectory,
}

/// One file or directory the template references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReference {
    /// Where in the template, e.g. `provisioners[1].scripts[0]`.
    pub key: String,
    /// The value as written (for a glob match: the pattern).
    pub written: String,
    /// Interpolated and resolved against the invocation's working directory.
    pub path: PathBuf,
    pub expect: Expect,
    /// The written value in the template.
    pub span: Span,
}

/// The settings of a plugin type that name files the build reads.
fn keys_of(section: Section, kind: &str) -> &'static [RefKey] {
    schema::spec(section, kind).map_or(&[], |spec| spec.references)
}

/// Every file the template references for all its builds, in template order, each once.
/// Interpolation errors (which validation also reports) are returned located.
pub fn referenced_files(
    t: &Template,
    vars: &ResolvedVariables,
    inv: &Invocation,
) -> Result<Vec<FileReference>, Diagnostics> {
    let mut collector = Collector {
        inv,
        source: Source::of(t),
        scope: RenderScope::new(t, &inv.working_dir, &vars.values, inv.volatile.clone()),
        references: Vec::new(),
        diagnostics: Vec::new(),
    };
    for (i, builder) in t.builders.iter().enumerate() {
        let build_name = collector.scope.build_name(builder);
        let build = (build_name.as_str(), builder.kind.as_str());
        collector.plugin(
            Section::Builder,
            &builder.kind,
            &builder.config,
            &format!("builders[{i}]"),
            build,
        );
        for (key, p) in t.provisioners_for(&builder.name) {
            let config = p.config_for(&builder.name);
            collector.plugin(Section::Provisioner, &p.kind, &config, &key, build);
        }
        for (i, chain) in t.post_processors.iter().enumerate() {
            for (j, p) in chain.iter().enumerate() {
                if p.applies_to(&builder.name) {
                    let key = t.post_processor_key(i, j);
                    collector.plugin(Section::PostProcessor, &p.kind, &p.config, &key, build);
                }
            }
        }
    }
    if collector.diagnostics.is_empty() {
        Ok(collector.references)
    } else {
        Err(Diagnostics(collector.diagnostics))
    }
}

struct Collector<'a> {
    inv: &'a Invocation,
    source: Source<'a>,
    scope: RenderScope<'a>,
    references: Vec<FileReference>,
    diagnostics: Vec<Diagnostic>,
}

impl Collector<'_> {
    fn render(
        &self,
        text: &str,
        build: Option<(&str, &str)>,
    ) -> Result<String, interpolate::InterpolateError> {
        let data = BTreeMap::new();
        interpolate::render(text, &self.scope.context(build, &data)).map(|r| r.text)
    }

    fn plugin(
        &mut self,
        section: Section,
        kind: &str,
        config: &Node,
        key: &str,
        build: (&str, &str),
    ) {
        if section == Section::Provisioner && kind == "file" {
            let direction = config
                .field("direction")
                .and_then(Node::as_str)
                .map(|d| self.render(d, Some(build)));
            let generated = config.field("generated").is_some_and(Node::weak_bool);
            if generated || matches!(direction, Some(Ok(ref d)) if d == "download") {
                return;
            }
        }
        if schema::spec(section, kind).is_none() {
            self.any_existing_path(config, key, build);
            return;
        }
        for ref_key in keys_of(section, kind) {
            // A Vagrantfile template the build writes (`vagrantfile_template_generated`) is an output
            // of the build, not an input.
            if section == Section::PostProcessor
                && kind == "vagrant"
                && ref_key.key == "vagrantfile_template"
                && config
                    .field("vagrantfile_template_generated")
                    .is_some_and(Node::weak_bool)
            {
                continue;
            }
            // `list[].inner`: the key `inner` of each object in the list `list`.
            let (outer, inner) = match ref_key.key.split_once("[].") {
                Some((outer, inner)) => (outer, Some(inner)),
                None => (ref_key.key, None),
            };
            // Keys match as Packer's decoder matches them: exactly, else ignoring case.
            let member = config.field_member(outer);
            let Some(member) = member else { continue };
            let is_list = inner.is_none()
                && schema::lookup(section, kind)
                    .and_then(|s| s.find_key(ref_key.key))
                    .is_some_and(|(_, t)| t == ValueType::StringList);
            let entries: Vec<(String, &Node)> = match (&member.value.value, inner) {
                (Value::Array(items), Some(inner)) => items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| {
                        item.field(inner)
                            .map(|node| (format!("{key}.{outer}[{i}].{inner}"), node))
                    })
                    .collect(),
                (_, Some(_)) => Vec::new(),
                (Value::Array(items), None) => items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| (format!("{key}.{}[{i}]", ref_key.key), item))
                    .collect(),
                (_, None) => vec![(format!("{key}.{}", ref_key.key), &member.value)],
            };
            for (entry_key, node) in entries {
                // Packer decodes weakly: `true` is the path "1".
                let Some(written) = node.weak_string() else {
                    continue;
                };
                // Build-time data ({{ .Name }}) has no value before the build runs.
                if written.contains("{{ .") || written.contains("{{.") {
                    continue;
                }
                match self.render(&written, Some(build)) {
                    // A string given for a list is split on commas, as Packer's decoder does.
                    Ok(value) if is_list && member.value.as_str().is_some() => {
                        for (i, part) in value.split(',').enumerate() {
                            let part_key = format!("{entry_key}[{i}]");
                            self.add(ref_key, part_key, &written, part, node.span);
                        }
                    }
                    Ok(value) => self.add(ref_key, entry_key, &written, &value, node.span),
                    Err(e) => {
                        let offset =
                            string_offset(self.source.text(node.span), node, Some(e.offset));
                        let mut d = self.source.error(
                            format!("in `{}`: {}", ref_key.key, e.message),
                            offset,
                            entry_key,
                        );
                        d.hint = e.hint;
                        self.diagnostics.push(d);
                    }
                }
            }
        }
    }

    /// For a type imgs has no settings for (one the `packer` engine builds): every string setting,
    /// at any depth, that names an existing file or directory once rendered. This can only
    /// over-count: a string that merely happens to name a file makes the fingerprint change with it.
    /// Left out: outputs (`output_directory`, `output`), anything under the working directory's
    /// `cache/` (imgs's own), and directories that are the working directory, hold it, or lie
    /// outside it (`/`, `/usr`: not what shapes an image, and costly to hash).
    fn any_existing_path(&mut self, config: &Node, key: &str, build: (&str, &str)) {
        let mut strings = Vec::new();
        collect_strings(config, key, &mut strings);
        let working_dir = self.inv.working_dir.clone();
        let cache = working_dir.join("cache");
        for (entry_key, node) in strings {
            let leaf = entry_key.rsplit('.').next().unwrap_or_default();
            let leaf = leaf.split('[').next().unwrap_or_default();
            if leaf.eq_ignore_ascii_case("output_directory") || leaf.eq_ignore_ascii_case("output")
            {
                continue;
            }
            let Some(written) = node.as_str() else {
                continue;
            };
            if written.is_empty() || written.contains("{{ .") || written.contains("{{.") {
                continue;
            }
            let Ok(value) = self.render(written, Some(build)) else {
                continue;
            };
            let local = local_path_of_url(&value).unwrap_or_default();
            if local.is_empty() || local.contains('\n') {
                continue;
            }
            let path = absolute(&working_dir, Path::new(&local));
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let clean = path_clean::clean(&path);
            if clean.starts_with(&cache) {
                continue;
            }
            let expect = if meta.is_dir() {
                if working_dir.starts_with(&clean) || !clean.starts_with(&working_dir) {
                    continue;
                }
                Expect::Directory
            } else {
                Expect::File
            };
            let reference = FileReference {
                key: entry_key,
                written: written.to_string(),
                path,
                expect,
                span: node.span,
            };
            if !self
                .references
                .iter()
                .any(|r| r.key == reference.key && r.path == reference.path)
            {
                self.references.push(reference);
            }
        }
    }

    fn add(&mut self, ref_key: &RefKey, key: String, written: &str, value: &str, span: Span) {
        if value.is_empty() {
            return;
        }
        let local = if ref_key.url {
            match local_path_of_url(value) {
                Some(local) => local,
                None => return,
            }
        } else {
            value.to_string()
        };
        let path = absolute(&self.inv.working_dir, Path::new(&local));
        let paths = if ref_key.globs && local.contains(['*', '?', '[']) {
            expand_glob(&path)
        } else {
            vec![path]
        };
        let working_dir = &self.inv.working_dir;
        let directories: Vec<PathBuf> = if ref_key.with_directory {
            paths
                .iter()
                .filter_map(|path| path.parent())
                // The working directory (or above it) would be the whole workspace, cache included.
                .filter(|dir| !working_dir.starts_with(dir))
                .map(Path::to_path_buf)
                .collect()
        } else {
            Vec::new()
        };
        let entries = paths
            .into_iter()
            .map(|path| (key.clone(), path, ref_key.expect))
            .chain(
                directories
                    .into_iter()
                    .map(|dir| (format!("{key} (its directory)"), dir, Expect::Directory)),
            );
        for (key, path, expect) in entries {
            let reference = FileReference {
                key,
                written: written.to_string(),
                path,
                expect,
                span,
            };
            let seen = self
                .references
                .iter()
                .any(|r| r.key == reference.key && r.path == reference.path);
            if !seen {
                self.references.push(reference);
            }
        }
    }
}

/// Every string in `node` with its key (`builders[0].floppy_files[1]`, `…http.dir`).
fn collect_strings<'n>(node: &'n Node, key: &str, out: &mut Vec<(String, &'n Node)>) {
    match &node.value {
        Value::String(_) => out.push((key.to_string(), node)),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_strings(item, &format!("{key}[{i}]"), out);
            }
        }
        Value::Object(members) => {
            for member in members {
                collect_strings(&member.value, &format!("{key}.{}", member.key), out);
            }
        }
        _ => {}
    }
}

/// The local path an `iso_url` names: a plain path or a `file://` URL; `None` for downloads.
fn local_path_of_url(url: &str) -> Option<String> {
    if let Some(path) = url.strip_prefix("file://") {
        return Some(path.to_string());
    }
    let Some(scheme_end) = url.find("://") else {
        return Some(url.to_string());
    };
    let scheme = &url[..scheme_end];
    let is_scheme = !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    // `git::https://…` style forced getters are downloads too.
    if is_scheme || scheme.contains("::") {
        None
    } else {
        Some(url.to_string())
    }
}

/// Matches of a glob pattern, sorted; a pattern that is not valid matches nothing.
fn expand_glob(pattern: &Path) -> Vec<PathBuf> {
    let Some(pattern) = pattern.to_str() else {
        return Vec::new();
    };
    let Ok(paths) = glob::glob(pattern) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
    out.sort();
    out
}

fn absolute(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests;
