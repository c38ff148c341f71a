//! Validation: everything `packer validate` checks after parsing, with the same verdict.
//!
//! The order follows Packer 1.6.6: the template's own consistency (at least one builder; `only`, `except`
//! and `override` naming builders that exist), `min_packer_version`, required variables, then for every
//! build selected by `-only`/`-except` the plugins that build uses: the type must be one imgs builds,
//! every key must be known and hold a value of the right shape after interpolation, and the type's own
//! checks ([`crate::schema::check_config`]) must pass, including the file checks Packer makes while
//! preparing plugins (a shell `script` must exist, ...). Those `stat` calls are the only I/O here.
//!
//! Packer stops at the first failing stage; imgs reports everything it finds, so one run shows every
//! problem. A plugin that only some builds run (`only`/`except`) is checked only if a selected build
//! runs it, as in Packer, and a problem found for several builds is reported once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imgs_diagnostic::{Diagnostic, Diagnostics, did_you_mean};

use crate::interpolate::{self, Context, InterpolateError, PACKER_VERSION};
use crate::json::{Node, Value};
use crate::model::{BuildFilter, BuilderBlock, Template};
use crate::schema::{self, IoCheckKind, Section, ValueType};
use crate::source::{Source, string_offset};
use crate::variables::{Invocation, ResolvedVariables, resolve_variables};
use crate::version::Version;

/// Parse, resolve variables and validate: what `imgs validate FILE` reports.
pub fn check(path: &Path, text: String, inv: &Invocation, filter: &BuildFilter) -> Diagnostics {
    let t = match crate::model::Template::parse(path, text) {
        Ok(t) => t,
        Err(diagnostics) => return diagnostics,
    };
    match resolve_variables(&t, inv) {
        Ok(vars) => validate(&t, &vars, inv, filter),
        Err(var_errors) => {
            let empty = ResolvedVariables::default();
            let mut validator = Validator::new(&t, &empty, inv);
            validator.template_rules();
            let mut all = validator.finish();
            all.0.extend(var_errors.0);
            all
        }
    }
}

/// Validate a parsed template with its resolved variables for the builds `filter` selects.
pub fn validate(
    t: &Template,
    vars: &ResolvedVariables,
    inv: &Invocation,
    filter: &BuildFilter,
) -> Diagnostics {
    let mut validator = Validator::new(t, vars, inv);
    validator.template_rules();
    validator.unused_inputs();
    validator.builds(filter);
    validator.finish()
}

struct Validator<'a> {
    t: &'a Template,
    vars: &'a ResolvedVariables,
    inv: &'a Invocation,
    source: Source<'a>,
    template_dir: String,
    pwd: String,
    diagnostics: Vec<Diagnostic>,
}

/// One build being validated: its names and the data its plugins may read with `{{ .Name }}`.
struct Build<'a> {
    block: &'a BuilderBlock,
    /// The interpolated name, which `-only`/`-except` and `{{build_name}}` see.
    name: String,
    data: BTreeMap<String, String>,
}

/// Names of the data Packer gives provisioners and post-processors while preparing them.
const PLACEHOLDER_DATA: &[&str] = &[
    "ID",
    "Host",
    "Port",
    "User",
    "Password",
    "ConnType",
    "PackerRunUUID",
    "PackerHTTPPort",
    "PackerHTTPIP",
    "PackerHTTPAddr",
    "SSHPublicKey",
    "SSHPrivateKey",
];

impl<'a> Validator<'a> {
    fn new(t: &'a Template, vars: &'a ResolvedVariables, inv: &'a Invocation) -> Self {
        let dir = if t.dir.is_absolute() {
            t.dir.clone()
        } else {
            inv.working_dir.join(&t.dir)
        };
        Validator {
            t,
            vars,
            inv,
            source: Source::new(&t.path, &t.text),
            template_dir: dir.to_string_lossy().into_owned(),
            pwd: inv.working_dir.to_string_lossy().into_owned(),
            diagnostics: Vec::new(),
        }
    }

    fn finish(self) -> Diagnostics {
        let mut unique: Vec<Diagnostic> = Vec::with_capacity(self.diagnostics.len());
        for d in self.diagnostics {
            if !unique.contains(&d) {
                unique.push(d);
            }
        }
        Diagnostics(unique)
    }

    fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// Packer's `Template.Validate` and its version check.
    fn template_rules(&mut self) {
        let t = self.t;
        if t.builders.is_empty() {
            let offset = t
                .root
                .member("builders")
                .map_or(t.root.span.start, |m| m.key_span.start);
            let d = self
                .source
                .error("the template defines no builders", offset, "builders");
            self.push(d.hint(
                "add at least one builder, e.g. {\"type\": \"null\", \"communicator\": \"none\"}",
            ));
        }
        let builder_names: Vec<&str> = t.builders.iter().map(|b| b.name.as_str()).collect();
        for (i, p) in t.provisioners.iter().enumerate() {
            let key = format!("provisioners[{i}]");
            self.only_except(p.span.start, &key, &p.only, &p.except, &builder_names);
            for (name, _) in &p.overrides {
                if !builder_names.contains(&name.as_str()) {
                    let offset = self.member_offset(p.span.start, &["override", name]);
                    let d = self.source.error(
                        format!("`override` names the build `{name}`, which does not exist"),
                        offset,
                        format!("{key}.override.{name}"),
                    );
                    self.push(d.hint(names_hint(name, &builder_names)));
                }
            }
        }
        for (i, chain) in t.post_processors.iter().enumerate() {
            for (j, p) in chain.iter().enumerate() {
                let key = if t
                    .root
                    .get("post-processors")
                    .and_then(|n| n.as_array())
                    .and_then(|a| a.get(i))
                    .is_some_and(|n| n.as_array().is_some())
                {
                    format!("post-processors[{i}][{j}]")
                } else {
                    format!("post-processors[{i}]")
                };
                self.only_except(p.span.start, &key, &p.only, &p.except, &builder_names);
            }
        }
        if let Some(min) = &t.min_packer_version {
            let offset = t.root.get("min_packer_version").map_or(0, |n| n.span.start);
            let actual = Version::parse(PACKER_VERSION).expect("the built-in version is valid");
            match Version::parse(min) {
                None => {
                    let d = self.source.error(
                        format!("`min_packer_version` is not a version: {min:?}"),
                        offset,
                        "min_packer_version",
                    );
                    self.push(d.hint("write a version such as \"1.6.0\""));
                }
                Some(required) if actual < required => {
                    let d = self.source.error(
                        format!(
                            "this template requires Packer {} or newer; imgs implements Packer {PACKER_VERSION}",
                            required.display()
                        ),
                        offset,
                        "min_packer_version",
                    );
                    self.push(d.hint(format!("lower `min_packer_version` to {PACKER_VERSION} or less if the template works with it")));
                }
                Some(_) => {}
            }
        }
    }

    fn only_except(
        &mut self,
        block_start: usize,
        key: &str,
        only: &[String],
        except: &[String],
        builds: &[&str],
    ) {
        if !only.is_empty() && !except.is_empty() {
            let offset = self.member_offset(block_start, &["except"]);
            let d = self.source.error(
                "`only` and `except` cannot both be set",
                offset,
                format!("{key}.except"),
            );
            self.push(d.hint("keep one of them"));
        }
        for (list_key, names) in [("only", only), ("except", except)] {
            for name in names {
                if !builds.contains(&name.as_str()) {
                    let offset = self.member_offset(block_start, &[list_key]);
                    let d = self.source.error(
                        format!("`{list_key}` names the build `{name}`, which does not exist"),
                        offset,
                        format!("{key}.{list_key}"),
                    );
                    self.push(d.hint(names_hint(name, builds)));
                }
            }
        }
    }

    /// Offset of the value at `path` (object keys) inside the object starting at `block_start`, else the
    /// block itself.
    fn member_offset(&self, block_start: usize, path: &[&str]) -> usize {
        let Some(mut node) = find_node_at(&self.t.root, block_start) else {
            return block_start;
        };
        for key in path {
            match node.get(key) {
                Some(next) => node = next,
                None => return node.span.start,
            }
        }
        node.span.start
    }

    /// Warnings for inputs the template ignores: undeclared sensitive variables and `-var`s.
    fn unused_inputs(&mut self) {
        let t = self.t;
        for name in &t.sensitive_variables {
            if !t.variables.contains_key(name) {
                let offset = t
                    .root
                    .get("sensitive-variables")
                    .map_or(0, |n| n.span.start);
                let d = self.source.warning(
                    format!("`{name}` is listed as sensitive but is not a declared variable"),
                    offset,
                    "sensitive-variables",
                );
                self.push(d.hint("Packer ignores it; declare it in \"variables\" or remove it"));
            }
        }
        for (name, _) in &self.inv.cli_vars {
            if !t.variables.contains_key(name) {
                let mut d = Diagnostic::warning(format!(
                    "-var `{name}` is set but the template declares no such variable"
                ))
                .in_file(&t.path)
                .key(format!("-var {name}"));
                if let Some(close) = did_you_mean(name, t.variables.keys().map(String::as_str)) {
                    d = d.hint(format!("did you mean `{close}`?"));
                }
                self.push(d);
            }
        }
    }

    fn builds(&mut self, filter: &BuildFilter) {
        let t = self.t;
        for (i, block) in t.builders.iter().enumerate() {
            let name = match self.render(&block.name, None, &BTreeMap::new()) {
                Ok(name) => name,
                Err(e) => {
                    let node = block_node(t, block.span.start).and_then(|b| b.get("name"));
                    let offset = node.map_or(block.span.start, |n| {
                        string_offset(self.source.text(n.span), n, Some(e.offset))
                    });
                    let d = self.source.error(
                        format!("in the name of builder {}: {}", i + 1, e.message),
                        offset,
                        format!("builders[{i}].name"),
                    );
                    self.push(with_hint(d, e.hint));
                    continue;
                }
            };
            if !filter.selects(&name) {
                continue;
            }
            let mut data = BTreeMap::new();
            for field in PLACEHOLDER_DATA {
                data.insert(field.to_string(), format!("Build_{field}. To set this dynamically in the Packer template, you must use the `build` function"));
            }
            data.insert(
                "WinRMPassword".to_string(),
                "{{.WinRMPassword}}".to_string(),
            );
            let build = Build { block, name, data };
            self.build(i, &build, filter);
        }
    }

    fn build(&mut self, index: usize, build: &Build, filter: &BuildFilter) {
        let t = self.t;
        let no_data = BTreeMap::new();
        self.plugin(
            Section::Builder,
            &build.block.kind,
            &build.block.config,
            &format!("builders[{index}]"),
            build,
            &no_data,
        );
        let raw_name = build.block.name.as_str();
        let provisioners = t
            .provisioners
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("provisioners[{i}]"), p));
        let cleanup = t
            .error_cleanup_provisioner
            .iter()
            .map(|p| ("error-cleanup-provisioner".to_string(), p));
        for (key, p) in provisioners.chain(cleanup) {
            if !p.applies_to(raw_name) {
                continue;
            }
            let config = match p.overrides.get(raw_name) {
                None => p.config.clone(),
                Some(o) if o.is_object() => p.config_for(raw_name),
                Some(o) if o.is_null() => p.config.clone(),
                Some(o) => {
                    let d = self.source.error(
                        format!(
                            "the override for build `{raw_name}` must be an object, found {}",
                            o.type_name()
                        ),
                        o.span.start,
                        format!("{key}.override.{raw_name}"),
                    );
                    self.push(d);
                    continue;
                }
            };
            if let Some(text) = &p.max_retries_text {
                self.max_retries(text, p.span.start, &key, build);
            }
            self.plugin(
                Section::Provisioner,
                &p.kind,
                &config,
                &key,
                build,
                &build.data,
            );
        }
        let root_chains = t
            .root
            .get("post-processors")
            .and_then(Node::as_array)
            .unwrap_or(&[]);
        for (i, chain) in t.post_processors.iter().enumerate() {
            let nested = root_chains.get(i).is_some_and(|n| n.as_array().is_some());
            for (j, p) in chain.iter().enumerate() {
                if !p.applies_to(raw_name) {
                    continue;
                }
                // Packer's -except also names post-processors: the rest of the chain is skipped.
                if filter.except.iter().any(|e| !e.is_empty() && *e == p.name) {
                    break;
                }
                let key = if nested {
                    format!("post-processors[{i}][{j}]")
                } else {
                    format!("post-processors[{i}]")
                };
                self.plugin(
                    Section::PostProcessor,
                    &p.kind,
                    &p.config,
                    &key,
                    build,
                    &build.data,
                );
            }
        }
    }

    fn max_retries(&mut self, text: &str, block_start: usize, key: &str, build: &Build) {
        let offset = self.member_offset(block_start, &["max_retries"]);
        match self.render(text, Some(build), &build.data) {
            Ok(rendered) => {
                if parse_go_atoi(&rendered).is_none() {
                    let d = self.source.error(
                        format!("`max_retries` must be an integer, got {rendered:?}"),
                        offset,
                        format!("{key}.max_retries"),
                    );
                    self.push(d);
                }
            }
            Err(e) => {
                let d = self.source.error(
                    format!("in `max_retries`: {}", e.message),
                    offset,
                    format!("{key}.max_retries"),
                );
                self.push(with_hint(d, e.hint));
            }
        }
    }

    /// Check one plugin block: its type, its keys and their values, then the type's own checks.
    fn plugin(
        &mut self,
        section: Section,
        kind: &str,
        config: &Node,
        key: &str,
        build: &Build,
        data: &BTreeMap<String, String>,
    ) {
        let noun = section.noun();
        let Some(schema) = schema::lookup(section, kind) else {
            let offset = self.member_offset(config.span.start, &["type"]);
            let supported = schema::supported(section);
            let list = supported
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            let (message, hint) = if schema::packer_known(section, kind) {
                (
                    format!("{noun} type `{kind}` is not supported by imgs"),
                    format!("imgs builds these {noun} types: {list}"),
                )
            } else {
                let close = did_you_mean(
                    kind,
                    supported
                        .iter()
                        .copied()
                        .chain(schema::packer_types(section).iter().copied()),
                );
                let hint = match close {
                    Some(close) => format!("did you mean `{close}`? imgs supports: {list}"),
                    None => format!("imgs supports these {noun} types: {list}"),
                };
                (format!("unknown {noun} type `{kind}`"), hint)
            };
            let d = self.source.error(message, offset, format!("{key}.type"));
            self.push(d.hint(hint));
            return;
        };
        let mut rendered: BTreeMap<String, String> = BTreeMap::new();
        let mut rendered_config = config.clone();
        let mut shape_ok = true;
        let members = config.members();
        for member in &members {
            let name = member.key.as_str();
            if schema::is_ignored_key(name) {
                continue;
            }
            let member_key = format!("{key}.{name}");
            let found = schema.find_key(name);
            if let Some((canonical, _)) = found
                && let Some(winner) = case_twin(&members, canonical, name)
            {
                let d = self.source.error(
                    format!("`{name}` and `{winner}` are the same key to Packer (it ignores case); only one is used"),
                    member.key_span.start,
                    member_key,
                );
                self.push(d.hint(format!("remove `{name}`")));
                shape_ok = false;
                continue;
            }
            let Some((_, value_type)) = found else {
                let hint = match did_you_mean(name, schema.keys.iter().map(|(k, _)| *k)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("`{kind}` {noun}s do not take this key in Packer 1.6.6"),
                };
                let d = self.source.error(
                    format!("unknown key `{name}` in {noun} `{kind}`"),
                    member.key_span.start,
                    member_key,
                );
                self.push(d.hint(hint));
                shape_ok = false;
                continue;
            };
            let mut value_rendered = None;
            // Packer checks the template syntax of every value, and renders all but deferred keys.
            let render = !schema.is_deferred(name);
            match self.render_tree(&member.value, build, data, render) {
                Ok(node) => {
                    if render {
                        if let Value::String(s) = &node.value {
                            value_rendered = Some(s.clone());
                            rendered.insert(name.to_string(), s.clone());
                        }
                        set_member(&mut rendered_config, name, node);
                    }
                }
                Err((e, at)) => {
                    let offset = string_offset(self.source.text(at.span), &at, Some(e.offset));
                    let d = self.source.error(
                        format!("in `{name}`: {}", e.message),
                        offset,
                        member_key,
                    );
                    self.push(with_hint(d, e.hint));
                    shape_ok = false;
                    continue;
                }
            }
            if let Err(problem) = value_type.check(&member.value, value_rendered.as_deref()) {
                let d = self.source.error(
                    format!("invalid value for `{name}`: {problem}"),
                    member.value.span.start,
                    member_key,
                );
                self.push(d);
                shape_ok = false;
                continue;
            }
            if let Some(nested) = schema.nested_keys(name) {
                shape_ok &= self.nested(&member.value, nested, &member_key, noun, kind);
            }
        }
        // Packer stops at a decoding error before it runs the type's checks.
        if !shape_ok {
            return;
        }
        let interpolated = |k: &str| {
            rendered.get(k).cloned().or_else(|| {
                schema
                    .find_key(k)
                    .and_then(|(canonical, _)| rendered.get(canonical).cloned())
            })
        };
        for problem in schema::check_config(section, kind, config, &interpolated) {
            let offset = problem.span.map_or(config.span.start, |s| s.start);
            let mut d = Diagnostic::error(problem.message).at(self.source.location(offset));
            d.key = Some(match problem.key {
                Some(k) => format!("{key}.{k}"),
                None => key.to_string(),
            });
            self.push(with_hint(d, problem.hint));
        }
        self.io_checks(section, kind, config, &rendered_config, key);
    }

    /// Unknown keys and value shapes inside the object(s) a key holds.
    fn nested(
        &mut self,
        value: &Node,
        keys: &'static [(&'static str, ValueType)],
        key: &str,
        noun: &str,
        kind: &str,
    ) -> bool {
        let objects: Vec<(String, &Node)> = match &value.value {
            Value::Object(_) => vec![(key.to_string(), value)],
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (format!("{key}[{i}]"), item))
                .collect(),
            _ => Vec::new(),
        };
        let mut ok = true;
        for (path, object) in objects {
            for member in object.members() {
                let member_key = format!("{path}.{}", member.key);
                match schema::find_in(keys, &member.key) {
                    None if schema::is_ignored_key(&member.key) => {}
                    None => {
                        let hint = match did_you_mean(&member.key, keys.iter().map(|(k, _)| *k)) {
                            Some(close) => format!("did you mean `{close}`?"),
                            None => format!(
                                "keys here: {}",
                                keys.iter()
                                    .map(|(k, _)| format!("`{k}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        };
                        let d = self.source.error(
                            format!(
                                "unknown key `{}` in `{}` of {noun} `{kind}`",
                                member.key,
                                last_key(key)
                            ),
                            member.key_span.start,
                            member_key,
                        );
                        self.push(d.hint(hint));
                        ok = false;
                    }
                    Some((_, value_type)) => {
                        if let Err(problem) = value_type.check(&member.value, None) {
                            let d = self.source.error(
                                format!("invalid value for `{}`: {problem}", member.key),
                                member.value.span.start,
                                member_key,
                            );
                            self.push(d);
                            ok = false;
                        }
                    }
                }
            }
        }
        ok
    }

    /// The checks Packer makes on the file system while preparing a plugin.
    fn io_checks(
        &mut self,
        section: Section,
        kind: &str,
        config: &Node,
        rendered: &Node,
        key: &str,
    ) {
        let downloads = rendered.get("direction").and_then(Node::as_str) == Some("download");
        for check in schema::io_checks(section, kind) {
            if check.what == IoCheckKind::Program {
                self.program_check(config, rendered, key, check.key);
                continue;
            }
            let Some(member) = config.member(check.key) else {
                continue;
            };
            if kind == "file"
                && section == Section::Provisioner
                && (downloads || rendered.get("generated").and_then(Node::as_bool) == Some(true))
            {
                continue;
            }
            let entry_key = format!("{key}.{}", check.key);
            let values: Vec<(String, &Node, String)> =
                match rendered.get(check.key).map(|n| &n.value) {
                    Some(Value::String(s)) => vec![(s.clone(), &member.value, entry_key)],
                    Some(Value::Array(items)) => {
                        let originals = member.value.as_array().unwrap_or(&[]);
                        items
                            .iter()
                            .zip(originals)
                            .enumerate()
                            .filter_map(|(i, (item, original))| {
                                item.as_str()
                                    .map(|s| (s.to_string(), original, format!("{entry_key}[{i}]")))
                            })
                            .collect()
                    }
                    _ => Vec::new(),
                };
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
                        path.exists().then(|| format!("`{value}` already exists"))
                    }
                    IoCheckKind::Program | IoCheckKind::Network | IoCheckKind::CurrentUser => None,
                };
                if let Some(message) = problem {
                    let hint = match check.what {
                        IoCheckKind::MustNotExist => {
                            "remove it, or choose another path".to_string()
                        }
                        _ => format!(
                            "relative paths are resolved against the working directory ({})",
                            self.pwd
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
    fn uses_ssh(&self, rendered: &Node) -> bool {
        match rendered.get("communicator").and_then(Node::as_str) {
            None | Some("") | Some("ssh") => true,
            Some(_) => false,
        }
    }

    /// Packer expands a leading `~/` in key file paths to the home directory.
    fn expand_home(&self, value: &str) -> PathBuf {
        match (value.strip_prefix("~/"), self.inv.env.get("HOME")) {
            (Some(rest), Some(home)) => Path::new(home).join(rest),
            _ => self.resolve_path(value),
        }
    }

    fn resolve_path(&self, value: &str) -> PathBuf {
        let path = Path::new(value);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.inv.working_dir.join(path)
        }
    }

    /// Packer runs `COMMAND --version` (default `ansible-playbook`) unless `skip_version_check` is set;
    /// the program must at least be found the way Go's `exec.LookPath` finds it.
    fn program_check(&mut self, config: &Node, rendered: &Node, key: &str, command_key: &str) {
        let skip = rendered
            .get("skip_version_check")
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
            .get(command_key)
            .and_then(Node::as_str)
            .filter(|c| !c.is_empty());
        let program = program.unwrap_or("ansible-playbook");
        if self.program_exists(program) {
            return;
        }
        let offset = config
            .get(command_key)
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

    fn program_exists(&self, program: &str) -> bool {
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

    fn context<'c>(
        &'c self,
        build: Option<&'c Build>,
        data: &'c BTreeMap<String, String>,
    ) -> Context<'c> {
        Context {
            user_variables: &self.vars.values,
            env: None,
            build_name: build.map(|b| b.name.as_str()),
            build_type: build.map(|b| b.block.kind.as_str()),
            template_dir: &self.template_dir,
            pwd: &self.pwd,
            data,
            volatile: &self.inv.volatile,
        }
    }

    fn render(
        &self,
        text: &str,
        build: Option<&Build>,
        data: &BTreeMap<String, String>,
    ) -> Result<String, InterpolateError> {
        interpolate::render(text, &self.context(build, data)).map(|r| r.text)
    }

    /// A copy of `node` with every string rendered; the error names the string node that failed.
    /// A copy of `node` with every string and nested object key rendered (`render`), or only checked
    /// for template syntax (keys Packer renders at build time: it still parses them while validating).
    /// The error comes with the string that failed, as a node at its place in the template.
    fn render_tree(
        &self,
        node: &Node,
        build: &Build,
        data: &BTreeMap<String, String>,
        render: bool,
    ) -> Result<Node, (InterpolateError, Node)> {
        let text = |s: &str, at: &Node| -> Result<String, (InterpolateError, Node)> {
            let result = if render {
                self.render(s, Some(build), data)
            } else {
                interpolate::check_syntax(s, Some(&build.block.kind)).map(|()| s.to_string())
            };
            result.map_err(|e| (e, at.clone()))
        };
        let value = match &node.value {
            Value::String(s) => Value::String(text(s, node)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.render_tree(item, build, data, render))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(members) => {
                let mut out = Vec::with_capacity(members.len());
                for m in members {
                    let key_node = Node {
                        value: Value::String(m.key.clone()),
                        span: m.key_span,
                    };
                    let key = text(&m.key, &key_node)?;
                    let value = self.render_tree(&m.value, build, data, render)?;
                    out.push(crate::json::Member {
                        key,
                        key_span: m.key_span,
                        value,
                    });
                }
                Value::Object(out)
            }
            other => other.clone(),
        };
        Ok(Node {
            value,
            span: node.span,
        })
    }
}

/// When several keys of `members` match the schema key `canonical` ignoring case, Packer's decoder uses
/// one (the exact spelling if present, else the first here) and rejects the others as unknown. Returns
/// the key used instead of `name`, if `name` is one of the rejected.
fn case_twin<'m>(
    members: &[&'m crate::json::Member],
    canonical: &str,
    name: &str,
) -> Option<&'m str> {
    let twins: Vec<&str> = members
        .iter()
        .map(|m| m.key.as_str())
        .filter(|k| k.eq_ignore_ascii_case(canonical))
        .collect();
    if twins.len() < 2 {
        return None;
    }
    let used = twins
        .iter()
        .copied()
        .find(|k| *k == canonical)
        .unwrap_or(twins[0]);
    (used != name).then_some(used)
}

/// The local file a `file:` checksum names (`file:PATH` or `file:file://PATH`); `None` when the
/// checksum is given inline or the file is downloaded.
fn local_checksum_file(checksum: &str) -> Option<String> {
    let target = checksum.strip_prefix("file:")?;
    if let Some(path) = target.strip_prefix("file://") {
        return Some(path.to_string());
    }
    (!target.contains("://")).then(|| target.to_string())
}

/// Go's `strconv.Atoi`: optional sign, decimal digits, fits in 64 bits.
fn parse_go_atoi(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn with_hint(d: Diagnostic, hint: Option<String>) -> Diagnostic {
    match hint {
        Some(hint) => d.hint(hint),
        None => d,
    }
}

fn names_hint(name: &str, builds: &[&str]) -> String {
    match did_you_mean(name, builds.iter().copied()) {
        Some(close) => format!("did you mean `{close}`?"),
        None => format!(
            "builds are named by their \"name\", else their type: {}",
            builds
                .iter()
                .map(|b| format!("`{b}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn last_key(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

fn set_member(object: &mut Node, key: &str, value: Node) {
    if let Value::Object(members) = &mut object.value {
        match members.iter_mut().rev().find(|m| m.key == key) {
            Some(m) => m.value = value,
            None => members.push(crate::json::Member {
                key: key.to_string(),
                key_span: value.span,
                value,
            }),
        }
    }
}

/// The node of the template starting at `offset` (blocks are found by their span).
fn find_node_at(node: &Node, offset: usize) -> Option<&Node> {
    if node.span.start == offset && node.is_object() {
        return Some(node);
    }
    if offset < node.span.start || offset >= node.span.end {
        return None;
    }
    match &node.value {
        Value::Object(members) => members.iter().find_map(|m| find_node_at(&m.value, offset)),
        Value::Array(items) => items.iter().find_map(|item| find_node_at(item, offset)),
        _ => None,
    }
}

fn block_node(t: &Template, offset: usize) -> Option<&Node> {
    find_node_at(&t.root, offset)
}

#[cfg(test)]
mod tests;
