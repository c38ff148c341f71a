//! The template as Packer 1.6.6 reads it: top-level structure, variables, builders, provisioners and
//! post-processor chains, each with the span it came from.
//!
//! [`Template::parse`] reports what `packer validate` reports as "Failed to parse template" (syntax,
//! repeated keys, unknown or mistyped top-level keys, blocks without a type, repeated build names, bad
//! provisioner durations), every problem at once and each at its line and column. What Packer checks
//! later (only/except targets, plugin configuration, variables) lives in `validate`.
//!
//! Packer decodes the pieces with different strictness, and the model follows it: builders and
//! provisioners are decoded weakly (a number where a string is expected is converted, a single string
//! stands for a one-element list), post-processors and the top level strictly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use imgs_diagnostic::{Diagnostics, Location, Span};
use indexmap::IndexMap;

use crate::json::{Node, Value};

/// A parsed template.
#[derive(Clone, Debug)]
pub struct Template {
    pub path: PathBuf,
    /// The directory holding the template, as its path gives it (empty for a bare file name); see
    /// [`Template::template_dir`] for `{{template_dir}}`.
    pub dir: PathBuf,
    pub text: String,
    pub root: Node,
    pub description: Option<String>,
    pub min_packer_version: Option<String>,
    pub variables: IndexMap<String, VariableDecl>,
    /// Names listed in `sensitive-variables`, as written (Packer ignores names that are not declared).
    pub sensitive_variables: Vec<String>,
    pub builders: Vec<BuilderBlock>,
    pub provisioners: Vec<ProvisionerBlock>,
    /// Each inner list is one chain; a bare string or object in `post-processors` is a chain of one.
    pub post_processors: Vec<Vec<PostProcessorBlock>>,
    /// `error-cleanup-provisioner`: run only when provisioning fails, before the build cleans up.
    pub error_cleanup_provisioner: Option<ProvisionerBlock>,
    /// Top-level keys starting with `_`, which Packer keeps as comments.
    pub comments: IndexMap<String, String>,
    /// For a configuration read from several files (an HCL2 directory), where each file starts in
    /// `text`, in order; empty for a template read from one file.
    pub segments: Vec<FileSegment>,
    /// An HCL2 configuration this template was lowered from: its blocks hold values evaluated for
    /// one invocation, so [`crate::instantiate`] lowers it again for another.
    pub hcl: Option<Arc<dyn HclConfiguration>>,
}

/// Where one file of a configuration starts in [`Template::text`] (always at a line start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSegment {
    pub path: PathBuf,
    pub start: usize,
}

/// An HCL2 configuration behind a [`Template`]. Its expressions read variables, so the template's
/// blocks depend on the invocation; the JSON model is what every plugin and the fingerprint read,
/// and this is how a template is made for each invocation. (Defined here, implemented by the HCL2
/// reader, so this crate does not depend on an HCL parser.)
pub trait HclConfiguration: Send + Sync + std::fmt::Debug {
    /// The template with every expression evaluated with this invocation's variables.
    fn lower(&self, invocation: &crate::Invocation) -> Result<Template, Diagnostics>;
    /// The configuration in a canonical text that comments, formatting and the order of blocks
    /// whose order does not matter do not change: what the fingerprint hashes.
    fn canonical(&self) -> String;
    /// The directory the configuration was read from (Packer's `path.root`), as given.
    fn root(&self) -> &Path;
    /// What `packer inspect` shows: variables and locals with the values known without an
    /// invocation, and each build block's sources, provisioners and post-processors.
    fn inspect(&self, invocation: &crate::Invocation) -> HclInspection;
}

/// `packer inspect` of an HCL2 configuration: values already printed as Packer prints them (its
/// REPL format, then quoted with Go's `%q`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HclInspection {
    /// `(name, value)` sorted by name; `<unknown>` for a variable without a value.
    pub variables: Vec<(String, String)>,
    pub locals: Vec<(String, String)>,
    pub builds: Vec<HclBuildOutline>,
}

/// One `build` block as `packer inspect` lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HclBuildOutline {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `TYPE.NAME` of each source it builds.
    pub sources: Vec<String>,
    /// `TYPE` or `TYPE.NAME` of each provisioner.
    pub provisioners: Vec<String>,
    pub post_processors: Vec<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct VariableDecl {
    pub name: String,
    /// `None` when the default is `null`: the variable is required.
    pub default: Option<String>,
    /// The whole `"name": default` member.
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BuilderBlock {
    /// The `name` key as written (it may contain template calls), else the type.
    pub name: String,
    pub kind: String,
    /// The block without `type` and `name`, which are Packer's, not the builder's.
    pub config: Node,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ProvisionerBlock {
    pub kind: String,
    /// The block without the keys Packer handles itself (`type`, `only`, `except`, `override`,
    /// `pause_before`, `max_retries`, `timeout`).
    pub config: Node,
    pub only: Vec<String>,
    pub except: Vec<String>,
    /// Build name (raw, as in `builders[].name`) → extra configuration merged over `config` for it.
    pub overrides: IndexMap<String, Node>,
    /// As written (a number, which Go reads as nanoseconds, is given a `ns` suffix); it is a valid Go
    /// duration, see [`crate::parse_go_duration`].
    pub pause_before: Option<String>,
    /// `max_retries` when written as a literal non-negative integer.
    pub max_retries: Option<u64>,
    /// `max_retries` as written; Packer interpolates it and then requires an integer.
    pub max_retries_text: Option<String>,
    /// Same form as `pause_before`.
    pub timeout: Option<String>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PostProcessorBlock {
    pub kind: String,
    /// The `name` key, else the type; `-except NAME` skips the rest of the chain from here.
    pub name: String,
    /// The block without `type`, `name`, `only`, `except`, `keep_input_artifact`.
    pub config: Node,
    pub only: Vec<String>,
    pub except: Vec<String>,
    pub keep_input_artifact: Option<bool>,
    pub span: Span,
}

/// `-only` / `-except` on the command line: names of builds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildFilter {
    pub only: Vec<String>,
    pub except: Vec<String>,
}

impl BuildFilter {
    /// Whether a build of this name is selected: in `only` (when given) and not in `except`; Packer
    /// applies both when both are given.
    pub fn selects(&self, name: &str) -> bool {
        let listed = |names: &[String]| names.iter().any(|n| n == name || glob_matches(n, name));
        (self.only.is_empty() || listed(&self.only)) && !listed(&self.except)
    }
}

/// An `-only`/`-except` pattern with glob characters, matched as Packer matches them for HCL2
/// builds (`*` also matches the dots of `TYPE.NAME`). A JSON build name holding `*`, `?` or `[`
/// would match more than Packer's exact comparison; such names do not occur in practice.
fn glob_matches(pattern: &str, name: &str) -> bool {
    pattern.contains(['*', '?', '[']) && glob::Pattern::new(pattern).is_ok_and(|p| p.matches(name))
}

impl ProvisionerBlock {
    /// The configuration for the build named `build` (raw name): `config` with that build's `override`
    /// laid over it as Packer's decoder does it (see [`overlay`]). An override that is not an object is
    /// ignored here (validation reports it).
    pub fn config_for(&self, build: &str) -> Node {
        match self.overrides.get(build) {
            Some(o) if o.is_object() => overlay(&self.config, o),
            _ => self.config.clone(),
        }
    }

    /// `pause_before` as a duration (none when absent, zero or negative, as Packer then does not pause).
    pub fn pause_before_duration(&self) -> Option<std::time::Duration> {
        positive_duration(self.pause_before.as_deref())
    }

    /// `timeout` as a duration (none when absent, zero or negative: no timeout, as in Packer).
    pub fn timeout_duration(&self) -> Option<std::time::Duration> {
        positive_duration(self.timeout.as_deref())
    }

    /// Whether this provisioner runs in the build named `build` (raw name), per its `only`/`except`.
    pub fn applies_to(&self, build: &str) -> bool {
        applies_to(&self.only, &self.except, build)
    }
}

impl PostProcessorBlock {
    /// Whether this post-processor runs after the build named `build` (raw name), per `only`/`except`.
    pub fn applies_to(&self, build: &str) -> bool {
        applies_to(&self.only, &self.except, build)
    }
}

/// `over` decoded on top of `base` the way Packer decodes a provisioner's override into the struct its
/// configuration already filled: `null` changes nothing; objects merge key by key (keys matched as
/// [`Node::field_member`] matches them); lists are overwritten item by item and keep any longer tail
/// of `base`; anything else replaces. Spans come from where each value was written.
pub fn overlay(base: &Node, over: &Node) -> Node {
    match (&base.value, &over.value) {
        (_, Value::Null) => base.clone(),
        (Value::Object(base_members), Value::Object(_)) => {
            let mut members = base_members.clone();
            for member in over.members() {
                let exact = members.iter().rposition(|m| m.key == member.key);
                let found = exact.or_else(|| {
                    members
                        .iter()
                        .rposition(|m| m.key.eq_ignore_ascii_case(&member.key))
                });
                match found {
                    Some(i) => members[i].value = overlay(&members[i].value, &member.value),
                    None => members.push(member.clone()),
                }
            }
            Node {
                value: Value::Object(members),
                span: base.span,
            }
        }
        (Value::Array(base_items), Value::Array(over_items)) => {
            let mut items = base_items.clone();
            for (i, item) in over_items.iter().enumerate() {
                match items.get_mut(i) {
                    Some(existing) => *existing = overlay(existing, item),
                    None => items.push(item.clone()),
                }
            }
            Node {
                value: Value::Array(items),
                span: over.span,
            }
        }
        _ => over.clone(),
    }
}

/// A duration the parser already accepted, if it is longer than zero.
fn positive_duration(text: Option<&str>) -> Option<std::time::Duration> {
    let nanos = text.and_then(|t| crate::parse_go_duration(t).ok())?.nanos;
    u64::try_from(nanos)
        .ok()
        .filter(|&n| n > 0)
        .map(std::time::Duration::from_nanos)
}

fn applies_to(only: &[String], except: &[String], build: &str) -> bool {
    if !only.is_empty() {
        return only.iter().any(|n| n == build);
    }
    !except.iter().any(|n| n == build)
}

impl Template {
    /// `{{template_dir}}` as Packer gives it: the template's directory made absolute against
    /// `working_dir` and cleaned, so a template in the working directory is `/w`, not `/w/`, and
    /// `{{template_dir}}/files` never has a doubled slash.
    pub fn template_dir(&self, working_dir: &Path) -> PathBuf {
        path_clean::clean(working_dir.join(&self.dir))
    }

    /// Parse a template read from `path`. Syntax and top-level structure only; see `validate`.
    pub fn parse(path: &Path, text: String) -> Result<Template, Diagnostics> {
        let (root, parts) = parse::structure(path, &text)?;
        Ok(Template {
            path: path.to_path_buf(),
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
            text,
            root,
            description: parts.description,
            min_packer_version: parts.min_packer_version,
            variables: parts.variables,
            sensitive_variables: parts.sensitive_variables,
            builders: parts.builders,
            provisioners: parts.provisioners,
            post_processors: parts.post_processors,
            error_cleanup_provisioner: parts.error_cleanup_provisioner,
            comments: parts.comments,
            segments: Vec::new(),
            hcl: None,
        })
    }

    /// File, line and column of byte `offset` of the template text.
    pub fn location(&self, offset: usize) -> Location {
        crate::source::Source::of(self).location(offset)
    }

    /// Whether this template was lowered from an HCL2 configuration.
    pub fn is_hcl(&self) -> bool {
        self.hcl.is_some()
    }

    /// The provisioners the build named `build` runs, with their keys (`provisioners[2]`): those whose
    /// `only`/`except` select it, then the error-cleanup provisioner, which Packer runs in every build.
    pub fn provisioners_for<'a>(
        &'a self,
        build: &'a str,
    ) -> impl Iterator<Item = (String, &'a ProvisionerBlock)> + 'a {
        let selected = self
            .provisioners
            .iter()
            .enumerate()
            .filter(move |(_, p)| p.applies_to(build))
            .map(|(i, p)| (format!("provisioners[{i}]"), p));
        let cleanup = self
            .error_cleanup_provisioner
            .iter()
            .map(|p| ("error-cleanup-provisioner".to_string(), p));
        selected.chain(cleanup)
    }

    /// The key of post-processor `index` of chain `chain` in messages: `post-processors[1][0]` when the
    /// chain was written as a list, `post-processors[1]` when it is a single post-processor.
    pub fn post_processor_key(&self, chain: usize, index: usize) -> String {
        let written_as_list = self
            .root
            .get("post-processors")
            .and_then(Node::as_array)
            .and_then(|chains| chains.get(chain))
            .is_some_and(|c| c.as_array().is_some());
        if written_as_list {
            format!("post-processors[{chain}][{index}]")
        } else {
            format!("post-processors[{chain}]")
        }
    }

    /// The builders selected by `filter`, in template order, matched by raw name. (Packer matches the
    /// interpolated name; `validate` does that with resolved variables.)
    pub fn builds(&self, filter: &BuildFilter) -> Vec<&BuilderBlock> {
        self.builders
            .iter()
            .filter(|b| filter.selects(&b.name))
            .collect()
    }

    pub fn builder(&self, name: &str) -> Option<&BuilderBlock> {
        self.builders.iter().find(|b| b.name == name)
    }
}

mod parse;
#[cfg(test)]
mod tests;
