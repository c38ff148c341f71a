//! Validation: everything `packer validate` checks after parsing, with the same verdict.
//!
//! The order follows Packer 1.6.6: the template's own consistency (at least one builder; `only`, `except`
//! and `override` naming builders that exist), `min_packer_version`, required variables, then for every
//! build selected by `-only`/`-except` the plugins that build uses: the type must be one imgs builds,
//! every key must be known and hold a value of the right shape after interpolation, and the type's own
//! checks ([`crate::schema::check_config`]) must pass, including the file checks Packer makes while
//! preparing plugins (a shell `script` must exist, an SSH key file must hold a key, `ansible-playbook`
//! must be on `PATH`, ...). Those are the only I/O here: nothing is written, nothing is
//! run, nothing goes over the network.
//!
//! Packer stops at the first failing stage; imgs reports everything it finds, so one run shows every
//! problem. A plugin that only some builds run (`only`/`except`) is checked only if a selected build
//! runs it, as in Packer, and a problem found for several builds is reported once.

use std::collections::BTreeMap;
use std::path::Path;

use imgs_diagnostic::{Diagnostic, Diagnostics, did_you_mean};

use crate::interpolate::{self, Context, InterpolateError, PACKER_VERSION, RenderScope};
use crate::json::{Node, Value};
use crate::model::{BuildFilter, BuilderBlock, Template};
use crate::schema::Section;
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
    validator.diagnostics.extend(vars.warnings.iter().cloned());
    validator.template_rules();
    validator.unused_inputs();
    validator.builds(filter);
    validator.finish()
}

/// A note for each block of a type imgs adds to Packer's (see [`crate::schema::is_extension`]):
/// valid for imgs, but `packer build` and `packer validate` refuse the template, which matters to
/// whoever still runs it with Packer. Only `imgs validate` shows them; builds do not repeat them.
pub fn extension_notes(t: &Template) -> Diagnostics {
    // One note per type, at its first block, with every block's key.
    let mut found: Vec<(&str, usize, Vec<String>)> = Vec::new();
    for (i, chain) in t.post_processors.iter().enumerate() {
        for (j, post) in chain.iter().enumerate() {
            if !crate::schema::is_extension(Section::PostProcessor, &post.kind) {
                continue;
            }
            let key = t.post_processor_key(i, j);
            match found.iter_mut().find(|(kind, _, _)| *kind == post.kind) {
                Some((_, _, keys)) => keys.push(key),
                None => found.push((&post.kind, post.span.start, vec![key])),
            }
        }
    }
    Diagnostics(
        found
            .into_iter()
            .map(|(kind, offset, keys)| {
                Diagnostic::warning(format!(
                    "`{kind}` is an imgs extension, not a Packer 1.6.6 post-processor: `packer build` and `packer validate` refuse this template"
                ))
                .at(t.location(offset))
                .key(keys.join(", "))
                .hint("imgs builds it natively; keep it out of templates that Packer must also build")
            })
            .collect(),
    )
}

struct Validator<'a> {
    t: &'a Template,
    vars: &'a ResolvedVariables,
    inv: &'a Invocation,
    source: Source<'a>,
    scope: RenderScope<'a>,
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
        Validator {
            t,
            vars,
            inv,
            source: Source::of(t),
            scope: RenderScope::new(t, &inv.working_dir, &vars.values, inv.volatile.clone()),
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
        // An HCL2 configuration without sources is valid (it builds nothing), as in Packer.
        if t.builders.is_empty() && t.hcl.is_none() {
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
                let key = t.post_processor_key(i, j);
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
        for (key, p) in t.provisioners_for(raw_name) {
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
            // Packer reads `max_retries` only when it is not empty as written.
            if let Some(text) = p.max_retries_text.as_deref().filter(|t| !t.is_empty()) {
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
        for (i, chain) in t.post_processors.iter().enumerate() {
            for (j, p) in chain.iter().enumerate() {
                if !p.applies_to(raw_name) {
                    continue;
                }
                // Packer's -except also names post-processors: the rest of the chain is skipped.
                if filter.except.iter().any(|e| !e.is_empty() && *e == p.name) {
                    break;
                }
                let key = t.post_processor_key(i, j);
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

    fn context<'c>(
        &'c self,
        build: Option<&'c Build>,
        data: &'c BTreeMap<String, String>,
    ) -> Context<'c> {
        self.scope.context(
            build.map(|b| (b.name.as_str(), b.block.kind.as_str())),
            data,
        )
    }

    fn render(
        &self,
        text: &str,
        build: Option<&Build>,
        data: &BTreeMap<String, String>,
    ) -> Result<String, InterpolateError> {
        interpolate::render(text, &self.context(build, data)).map(|r| r.text)
    }
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

mod files;
mod plugin;
#[cfg(test)]
mod tests;
