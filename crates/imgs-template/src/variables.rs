//! User variables: where their values come from and how they are rendered, as Packer 1.6.6 does it.
//!
//! Precedence, lowest first: the template's defaults; workspace values from `Images.toml` (only for
//! variables the template declares); `-var-file` files in order; `-var` flags in order. A `-var` for a
//! variable the template does not declare is kept and readable with `{{user}}`, as in Packer.
//!
//! Every value is then rendered as a template with `{{env}}` allowed (the only place Packer allows it) and
//! `{{user}}` reading the other variables, in passes as Packer makes them (see `Resolver::render_all`):
//! which templates are refused depends on those passes. Parts written `{{ .Name }}` are left as they
//! are, for the plugin to fill in at build time, as Packer does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use imgs_diagnostic::{Diagnostic, Diagnostics, Location, Severity};
use indexmap::IndexMap;

use crate::interpolate::{self, Context, ErrorKind, Volatile};
use crate::json::{Value, parse_json_prefix};
use crate::model::Template;
use crate::source::{Source, string_offset};

/// A `-var-file`, already read by the caller (this crate does no I/O).
#[derive(Clone, Debug)]
pub struct VarFile {
    pub path: PathBuf,
    pub text: String,
}

/// Everything about one invocation that a template's meaning depends on.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The working directory; relative script paths resolve against it, as in Packer.
    pub working_dir: PathBuf,
    /// A snapshot of the process environment.
    pub env: BTreeMap<String, String>,
    /// From `Images.toml` (workspace-wide, per image, parent artifacts), applied only to variables the
    /// template declares; lower precedence than var files.
    pub workspace_vars: Vec<(String, String)>,
    /// `-var-file`, in order.
    pub var_files: Vec<VarFile>,
    /// `-var k=v`, in order (highest precedence).
    pub cli_vars: Vec<(String, String)>,
    /// Real for builds; Placeholder for fingerprints.
    pub volatile: Volatile,
    /// Packer's `-force`: outputs of an earlier build may exist and will be replaced. imgs sets it for
    /// workspace images, whose output directories it manages; `imgs validate FILE` leaves it off, as
    /// `packer validate` does.
    pub force: bool,
}

impl Invocation {
    /// An invocation in `working_dir` with nothing else given: no environment, no variables, no
    /// `-force`; callers set the rest with struct update syntax.
    pub fn new(working_dir: impl Into<PathBuf>, volatile: Volatile) -> Self {
        Invocation {
            working_dir: working_dir.into(),
            env: BTreeMap::new(),
            workspace_vars: Vec::new(),
            var_files: Vec::new(),
            cli_vars: Vec::new(),
            volatile,
            force: false,
        }
    }
}

/// The user variables of one invocation, rendered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvedVariables {
    /// Declared variables in template order, then undeclared ones given with `-var`/`-var-file`. A
    /// declared variable that never rendered and was not given is absent, so it reads as empty.
    pub values: IndexMap<String, String>,
    /// Names listed in `sensitive-variables` that the template declares.
    pub sensitive: BTreeSet<String>,
    /// Environment variables read by `{{env}}` in variable values, with the value read ("" when unset).
    pub env_read: BTreeMap<String, String>,
    /// Variables left unrendered in a template Packer accepts anyway.
    pub warnings: Vec<Diagnostic>,
    /// Where each value of `values` that still holds `{{` came from: plugins render those again
    /// (see `validate`), and a failure there is located with this.
    pub origins: BTreeMap<String, ValueOrigin>,
}

/// Where a variable's value is written: a place in a file (none for `-var`) and the key to name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueOrigin {
    pub location: Option<Location>,
    pub key: String,
}

/// Where a variable's value came from, to locate problems with it.
#[derive(Clone, Debug)]
enum Origin {
    Default,
    Workspace,
    VarFile { file: usize, offset: usize },
    Cli,
}

struct Candidate {
    raw: String,
    origin: Origin,
}

/// Passes over the variables at most, as in Packer; the last one decides.
const MAX_PASSES: usize = 100;

/// A rendered variable larger than this is an error. Values that read each other more than once
/// through a given value double on every pass; Packer grows them until it runs out of memory.
const MAX_RENDERED_LEN: usize = 16 << 20;

/// The variables of a template lowered from HCL2 (see [`crate::instantiate`]): lowering gave each
/// declared variable its value for the invocation, from every source Packer reads, and HCL2 values
/// are never rendered as Go templates.
fn lowered_values(t: &Template) -> ResolvedVariables {
    let declared = |name: &String| t.variables.contains_key(name);
    ResolvedVariables {
        values: t
            .variables
            .iter()
            .filter_map(|(name, decl)| Some((name.clone(), decl.default.clone()?)))
            .collect(),
        sensitive: t
            .sensitive_variables
            .iter()
            .filter(|n| declared(n))
            .cloned()
            .collect(),
        ..ResolvedVariables::default()
    }
}

/// Collect, check and render the user variables of `t` for `inv`.
pub fn resolve_variables(t: &Template, inv: &Invocation) -> Result<ResolvedVariables, Diagnostics> {
    if t.is_hcl() {
        return Ok(lowered_values(t));
    }
    let mut diagnostics = Vec::new();
    let mut candidates: IndexMap<String, Candidate> = IndexMap::new();
    for (name, decl) in &t.variables {
        let raw = decl.default.clone().unwrap_or_default();
        candidates.insert(
            name.clone(),
            Candidate {
                raw,
                origin: Origin::Default,
            },
        );
    }
    let mut provided: BTreeSet<String> = BTreeSet::new();
    for (name, value) in &inv.workspace_vars {
        if t.variables.contains_key(name) {
            candidates.insert(
                name.clone(),
                Candidate {
                    raw: value.clone(),
                    origin: Origin::Workspace,
                },
            );
            provided.insert(name.clone());
        }
    }
    for (index, file) in inv.var_files.iter().enumerate() {
        match read_var_file(file) {
            Ok(values) => {
                for (name, value, offset) in values {
                    let origin = Origin::VarFile {
                        file: index,
                        offset,
                    };
                    candidates.insert(name.clone(), Candidate { raw: value, origin });
                    provided.insert(name);
                }
            }
            Err(d) => diagnostics.push(*d),
        }
    }
    for (name, value) in &inv.cli_vars {
        candidates.insert(
            name.clone(),
            Candidate {
                raw: value.clone(),
                origin: Origin::Cli,
            },
        );
        provided.insert(name.clone());
    }

    let source = Source::of(t);
    for (name, decl) in &t.variables {
        if decl.default.is_none() && !provided.contains(name) {
            let d = source.error(
                format!("required variable `{name}` is not set"),
                decl.span.start,
                format!("variables.{name}"),
            );
            diagnostics.push(d.hint(format!(
                "its default is null, so it must be given: -var '{name}=…', a -var-file, or in Images.toml"
            )));
        }
    }
    if !diagnostics.is_empty() {
        return Err(Diagnostics(diagnostics));
    }

    let mut resolved = Resolver {
        t,
        inv,
        source: &source,
        candidates,
        env_read: BTreeMap::new(),
    };
    let rendering = resolved.render_all()?;
    let warnings = rendering
        .unrendered
        .iter()
        .map(|(name, missing)| resolved.unrendered_warning(name, missing))
        .collect();
    // Declared variables in template order, then the undeclared ones given; a declared variable
    // that never rendered and was not given has no value, as in Packer.
    let values: IndexMap<String, String> = resolved
        .candidates
        .keys()
        .filter_map(|name| {
            let value = rendering.values.get(name)?;
            Some((name.clone(), value.clone()))
        })
        .collect();
    let origins = values
        .iter()
        .filter(|(_, value)| value.contains("{{"))
        .map(|(name, _)| {
            let d = resolved.locate(name, None, String::new());
            let key = d.key.unwrap_or_else(|| name.clone());
            let origin = ValueOrigin {
                location: d.location,
                key,
            };
            (name.clone(), origin)
        })
        .collect();
    let sensitive = t
        .sensitive_variables
        .iter()
        .filter(|n| t.variables.contains_key(*n))
        .cloned()
        .collect();
    Ok(ResolvedVariables {
        values,
        sensitive,
        env_read: resolved.env_read,
        warnings,
        origins,
    })
}

struct Resolver<'a> {
    t: &'a Template,
    inv: &'a Invocation,
    source: &'a Source<'a>,
    candidates: IndexMap<String, Candidate>,
    env_read: BTreeMap<String, String>,
}

/// What rendering the variables came to.
struct Rendering {
    /// Every variable that has a value: rendered, or as given when it never rendered.
    values: IndexMap<String, String>,
    /// Variables the last pass could not render, each with the variable it read that had no value.
    unrendered: Vec<(String, String)>,
}

impl Resolver<'_> {
    /// Render the variables the way Packer 1.6.6 does, pass after pass, because the verdict depends on
    /// the passes themselves, not only on which variables can be resolved:
    ///
    /// * The values start as the ones given (`-var`, var files, Images.toml), unrendered; a variable
    ///   that only has a template default has no value until it renders.
    /// * Each pass renders every remaining variable in name order against the values so far; what
    ///   renders replaces the value at once. A variable whose text calls `user` with a backquoted
    ///   name is rendered again in every pass (its result may still change); any other variable leaves
    ///   once it has rendered.
    /// * Reading a variable without a value is not an error by itself: the variable waits for the
    ///   next pass. Only when the last pass rendered nothing at all and something waited is the
    ///   template refused. So a variable that can never render (it reads an undeclared name, or
    ///   takes part in a cycle) is an error only when no other variable calling `user` renders
    ///   beside it; otherwise Packer accepts the template and the variable keeps the value it was
    ///   given, or has none.
    /// * Any other rendering error is an error at once.
    fn render_all(&mut self) -> Result<Rendering, Diagnostics> {
        // The values `user` reads. Packer's pass list starts with one blank entry per variable,
        // which renders to "" first, so a variable named "" always has a value.
        let mut values: IndexMap<String, String> = self
            .candidates
            .iter()
            .filter(|(_, c)| !matches!(c.origin, Origin::Default))
            .map(|(k, c)| (k.clone(), c.raw.clone()))
            .collect();
        // Entries in pass order: declared and given variables appear twice, as in Packer.
        let mut entries: Vec<(String, String)> = Vec::new();
        let mut names: Vec<&String> = self.candidates.keys().collect();
        names.sort();
        for _ in &names {
            entries.push((String::new(), String::new()));
        }
        for name in names {
            let candidate = &self.candidates[name];
            let times = if self.t.variables.contains_key(name)
                && !matches!(candidate.origin, Origin::Default)
            {
                2
            } else {
                1
            };
            for _ in 0..times {
                entries.push((name.clone(), candidate.raw.clone()));
            }
        }

        let template_dir = self.t.template_dir(&self.inv.working_dir);
        let template_dir = template_dir.to_string_lossy();
        let pwd = self.inv.working_dir.to_string_lossy();
        let no_data = BTreeMap::new();
        let mut waiting: Vec<(String, String)> = Vec::new();
        let mut rendered_any = false;
        for _ in 0..MAX_PASSES {
            let before = (values.clone(), entries.len());
            let mut diagnostics = Vec::new();
            let mut done = Vec::new();
            waiting.clear();
            rendered_any = false;
            let mut retry = false;
            for (name, raw) in &entries {
                let (protected, kept) = protect_build_time_fields(raw);
                let ctx = Context {
                    user_variables: &values,
                    env: Some(&self.inv.env),
                    build_name: None,
                    build_type: None,
                    template_dir: &template_dir,
                    pwd: &pwd,
                    data: &no_data,
                    volatile: &self.inv.volatile,
                };
                match interpolate::render(&protected, &ctx) {
                    Ok(rendered) if rendered.text.len() > MAX_RENDERED_LEN => {
                        diagnostics.push(self.runaway(name));
                    }
                    Ok(rendered) => {
                        rendered_any = true;
                        for var in &rendered.env_read {
                            let value = self.inv.env.get(var).cloned().unwrap_or_default();
                            self.env_read.insert(var.clone(), value);
                        }
                        values.insert(
                            name.clone(),
                            restore_build_time_fields(rendered.text, &kept),
                        );
                        if calls_user_with_backquotes(raw) {
                            retry = true;
                        } else {
                            done.push(name.clone());
                        }
                    }
                    Err(e) => match e.kind {
                        ErrorKind::UnsetVariable(missing) => {
                            retry = true;
                            waiting.push((name.clone(), missing));
                        }
                        _ => {
                            let input = if kept.is_empty() {
                                Some(protected.as_str())
                            } else {
                                None
                            };
                            diagnostics.push(self.render_error(name, input, &e));
                        }
                    },
                }
            }
            if !diagnostics.is_empty() {
                // Whether reading an undeclared name would have been an error too is unknown when
                // the passes stop here; it is worth a warning all the same (a typo, most often).
                for (name, missing) in &waiting {
                    if !self.candidates.contains_key(missing) {
                        let mut d = self.undefined_reference(name, missing);
                        d.severity = Severity::Warning;
                        diagnostics.push(d);
                    }
                }
                // Packer stops at the first; all of them are reported, in file order.
                diagnostics.sort_by_key(|d| {
                    d.location
                        .as_ref()
                        .map(|l| (l.file.clone(), l.line, l.column))
                });
                diagnostics.dedup();
                return Err(Diagnostics(diagnostics));
            }
            if !retry {
                break;
            }
            for name in done {
                if let Some(i) = entries.iter().position(|(n, _)| *n == name) {
                    entries.remove(i);
                }
            }
            // A pass that changed nothing is what every later pass would be: skip to the verdict.
            if values == before.0 && entries.len() == before.1 {
                break;
            }
        }
        waiting.dedup();
        if !rendered_any && !waiting.is_empty() {
            return Err(self.never_rendered(&waiting));
        }
        Ok(Rendering {
            values,
            unrendered: waiting,
        })
    }

    /// Why nothing rendered in the last pass: the variables that read an undeclared name or, when
    /// there are none, the ones that wait for each other.
    fn never_rendered(&self, waiting: &[(String, String)]) -> Diagnostics {
        let mut undefined: Vec<Diagnostic> = waiting
            .iter()
            .filter(|(_, missing)| !self.candidates.contains_key(missing))
            .map(|(name, missing)| self.undefined_reference(name, missing))
            .collect();
        if !undefined.is_empty() {
            undefined.sort_by_key(|d| {
                d.location
                    .as_ref()
                    .map(|l| (l.file.clone(), l.line, l.column))
            });
            return Diagnostics(undefined);
        }
        let names = waiting
            .iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let message =
            format!("variables {names} read each other in a cycle; none of them can be resolved");
        self.locate(&waiting[0].0, None, message)
            .hint("break the cycle: give one of them a value that does not use {{user}}")
            .into()
    }

    fn runaway(&self, name: &str) -> Diagnostic {
        let message = format!(
            "the value of variable `{name}` grows past {} MiB as the variables are rendered",
            MAX_RENDERED_LEN >> 20
        );
        self.locate(name, None, message).hint(
            "it reads itself through other variables more than once, and a value given with -var or \
             a var file is read as given, so it doubles on every pass: give one of them a value that \
             does not use {{user}}",
        )
    }

    /// A variable that never rendered in a template Packer accepts anyway (see [`Self::render_all`]).
    fn unrendered_warning(&self, name: &str, missing: &str) -> Diagnostic {
        let what = if self.candidates.contains_key(missing) {
            "which never gets a value"
        } else {
            "which is not a variable of this template"
        };
        let fate = match self.candidates.get(name).map(|c| &c.origin) {
            Some(Origin::Default) | None => "it has no value, and reads as empty elsewhere",
            Some(_) => "its value is the text it was given, `{{user}}` calls and all",
        };
        let message = format!("variable `{name}` reads `{missing}`, {what}, so it is not rendered");
        let mut d = self.locate(name, None, message).hint(format!(
            "{fate}; Packer lets this pass because other variables render in the same pass. \
             Declare `{missing}` in \"variables\" or pass it with -var"
        ));
        d.severity = Severity::Warning;
        d
    }

    fn undefined_reference(&self, name: &str, missing: &str) -> Diagnostic {
        let candidates = self.candidates.keys().map(String::as_str);
        let hint = match imgs_diagnostic::did_you_mean(missing, candidates) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("declare `{missing}` in \"variables\" or pass it with -var"),
        };
        let message = format!(
            "variable `{name}` reads `{missing}`, which is not a variable of this template"
        );
        self.locate(name, None, message).hint(hint)
    }

    fn render_error(
        &self,
        name: &str,
        input: Option<&str>,
        e: &interpolate::InterpolateError,
    ) -> Diagnostic {
        let message = format!("in the value of variable `{name}`: {}", e.message);
        let d = self.locate(name, input.map(|_| e.offset), message);
        match &e.hint {
            Some(hint) => d.hint(hint.clone()),
            None => d,
        }
    }

    /// A diagnostic pointing at where variable `name` got its value (and at `offset` in it when known).
    fn locate(&self, name: &str, at: Option<usize>, message: String) -> Diagnostic {
        let d = Diagnostic::error(message);
        let Some(candidate) = self.candidates.get(name) else {
            return d;
        };
        match &candidate.origin {
            Origin::Default => {
                let node = self.t.root.get("variables").and_then(|v| v.get(name));
                let offset = node.map_or(0, |n| string_offset(self.source.text(n.span), n, at));
                d.at(self.source.location(offset))
                    .key(format!("variables.{name}"))
            }
            Origin::Workspace => d
                .key(format!("variables.{name}"))
                .at(Location::file("Images.toml")),
            Origin::VarFile { file, offset } => {
                let file = &self.inv.var_files[*file];
                d.at(Location::at(&file.path, &file.text, *offset))
                    .key(name.to_string())
            }
            Origin::Cli => d.key(format!("-var {name}")),
        }
    }
}

/// A var file: a JSON object of strings. Go's decoder reads `null` as an empty string, and Packer reads
/// only the first JSON value of the file (anything after it is ignored).
fn read_var_file(file: &VarFile) -> Result<Vec<(String, String, usize)>, Box<Diagnostic>> {
    let here = |offset: usize| Location::at(&file.path, &file.text, offset);
    let (root, _) = parse_json_prefix(&file.text).map_err(|(message, offset)| {
        Box::new(Diagnostic::error(format!("invalid JSON in var file: {message}")).at(here(offset)))
    })?;
    if !root.is_object() {
        return Err(Box::new(
            Diagnostic::error(format!(
                "a var file must be a JSON object, found {}",
                root.type_name()
            ))
            .at(here(root.span.start))
            .hint("write {\"name\": \"value\", ...}"),
        ));
    }
    let mut out = Vec::new();
    for member in root.members() {
        let value = match &member.value.value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            _ => {
                return Err(Box::new(
                    Diagnostic::error(format!(
                        "variable `{}` in a var file must be a string, found {}",
                        member.key,
                        member.value.type_name()
                    ))
                    .at(here(member.value.span.start))
                    .key(member.key.clone())
                    .hint("variable values are strings: quote the value"),
                ));
            }
        };
        out.push((member.key.clone(), value, member.value.span.start));
    }
    Ok(out)
}

/// Whether Packer renders `raw` again in every pass: it matches `{{\s*user\s*`.*`\s*}}` (Go
/// regexp: `\s` is ASCII space, tab, CR, LF or FF; `.` is anything but a newline). `{{user "a"}}`,
/// `{{- user `a`}}` or `{{user `a` | lower}}` do not match, so such a variable leaves after its
/// first rendering.
fn calls_user_with_backquotes(raw: &str) -> bool {
    let is_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c');
    raw.match_indices("{{").any(|(open, _)| {
        let rest = raw[open + 2..].trim_start_matches(is_space);
        let Some(rest) = rest.strip_prefix("user") else {
            return false;
        };
        let Some(quoted) = rest.trim_start_matches(is_space).strip_prefix('`') else {
            return false;
        };
        // The closing backquote is on the same line; the braces may follow on later lines.
        let line = &quoted[..quoted.find('\n').unwrap_or(quoted.len())];
        line.match_indices('`').any(|(close, _)| {
            quoted[close + 1..]
                .trim_start_matches(is_space)
                .starts_with("}}")
        })
    })
}

/// Replace every `{{.Name}}` / `{{ .Name }}` (Packer's pattern `{{(\s|)\.(.*?)(\s|)}}`) with a marker the
/// template engine passes through as text, so build-time fields survive variable rendering.
fn protect_build_time_fields(raw: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(raw.len());
    let mut kept = Vec::new();
    let mut rest = raw;
    while let Some(open) = rest.find("{{") {
        let mut field = open + 2;
        if let Some(c) = rest[field..].chars().next().filter(|c| c.is_whitespace()) {
            field += c.len_utf8();
        }
        let end = rest[field..].strip_prefix('.').and_then(|body| {
            let line = &body[..body.find('\n').unwrap_or(body.len())];
            line.find("}}").map(|close| field + 1 + close + 2)
        });
        match end {
            Some(end) => {
                out.push_str(&rest[..open]);
                out.push_str(&marker(kept.len()));
                kept.push(rest[open..end].to_string());
                rest = &rest[end..];
            }
            None => {
                out.push_str(&rest[..open + 2]);
                rest = &rest[open + 2..];
            }
        }
    }
    out.push_str(rest);
    (out, kept)
}

fn restore_build_time_fields(mut text: String, kept: &[String]) -> String {
    for (i, original) in kept.iter().enumerate() {
        text = text.replace(&marker(i), original);
    }
    text
}

/// Private-use characters cannot collide with anything a template author writes by accident.
fn marker(i: usize) -> String {
    format!("\u{E000}{i}\u{E001}")
}

#[cfg(test)]
mod tests;
