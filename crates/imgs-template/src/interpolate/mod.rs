//! Packer 1.6.6 template functions: `{{user "name"}}`, `{{isotime "2006-01-02"}}`, pipelines and all.
//!
//! Packer renders every string of a JSON template with Go's `text/template`. This module is a small
//! engine for exactly that dialect (Go 1.19's, which built the reference Packer 1.6.6): a lexer, a parser with Go's
//! parse-time checks, and an evaluator with Packer's function set. A purpose-built engine rather than
//! a Go-template crate because imgs needs what general engines do not give: byte offsets on every
//! error, functions that see the rendering context, and a record of which variables and environment
//! variables a string read (they are fingerprint inputs).
//!
//! Supported: text, `{{/* comments */}}`, `{{-`/`-}}` trimming, string (`"…"`, `` `…` ``), number, char,
//! bool and nil literals, `.Field` chains on the data map, `$` and `$x :=`/`$x =` variables, pipelines,
//! parenthesised calls, `if`/`else if`/`else`/`with`, Packer's functions and Go's builtins. `range`,
//! `define`, `template` and `block`, and the secret-store functions `vault`, `consul_key` and
//! `aws_secretsmanager`, are clear errors.

mod builtins;
mod clean_name;
mod eval;
mod funcs;
mod go_time;
mod hcl2;
mod lex;
mod parse;
mod printf;
mod strftime;
mod value;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod packer_agreement;
#[cfg(test)]
mod snapshots;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;

use indexmap::IndexMap;

pub use go_time::format_go_time;
pub use hcl2::{Hcl2Place, Hcl2String, escape_hcl_string, is_identifier, to_hcl2_string};

/// The Packer version `{{packer_version}}` reports: the one whose behaviour imgs reproduces.
pub const PACKER_VERSION: &str = "1.6.6";

/// How values that change on every run by design (`timestamp`, `isotime`, `strftime`, `uuid`) render.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Volatile {
    /// Real values: times from `init_time` (one instant for the whole run, as Packer's InitTime),
    /// `uuid` from the clock and randomness.
    Real {
        init_time: chrono::DateTime<chrono::Utc>,
    },
    /// A stable token instead — the calling command's own text in braces, e.g. `{{isotime "2006"}}` —
    /// so fingerprints do not change between runs.
    Placeholder,
}

/// What every string of one template renders against in one run, but for the build: the user
/// variables, the run's clock, and `{{template_dir}}` and `{{pwd}}` as strings. The validator, the
/// file-reference collector and the builders each render builds in such a scope.
#[derive(Debug)]
pub struct RenderScope<'a> {
    user_variables: &'a IndexMap<String, String>,
    template_dir: String,
    pwd: String,
    volatile: Volatile,
}

/// The data map of a string rendered outside any step: empty, so `{{.}}` is `<no value>`.
static NO_DATA: BTreeMap<String, String> = BTreeMap::new();

impl<'a> RenderScope<'a> {
    pub fn new(
        template: &crate::Template,
        working_dir: &std::path::Path,
        user_variables: &'a IndexMap<String, String>,
        volatile: Volatile,
    ) -> Self {
        RenderScope {
            user_variables,
            template_dir: template
                .template_dir(working_dir)
                .to_string_lossy()
                .into_owned(),
            pwd: working_dir.to_string_lossy().into_owned(),
            volatile,
        }
    }

    /// The context of a string in `build` (its rendered name and its type), or outside any build,
    /// with `data` for the `.Field`s it reads.
    pub fn context<'c>(
        &'c self,
        build: Option<(&'c str, &'c str)>,
        data: &'c BTreeMap<String, String>,
    ) -> Context<'c> {
        Context {
            user_variables: self.user_variables,
            env: None,
            build_name: build.map(|b| b.0),
            build_type: build.map(|b| b.1),
            template_dir: &self.template_dir,
            pwd: &self.pwd,
            data,
            volatile: &self.volatile,
        }
    }

    /// A builder block's name as Packer renders it, before anything else sees it: outside any build
    /// (Packer's core renders names with neither build name nor type). A name that does not render
    /// stays as written; validation reports it.
    pub fn build_name(&self, block: &crate::BuilderBlock) -> String {
        render(&block.name, &self.context(None, &NO_DATA))
            .map_or_else(|_| block.name.clone(), |r| r.text)
    }

    /// `{{pwd}}`: the directory the run works in.
    pub fn pwd(&self) -> &str {
        &self.pwd
    }

    /// The context of a build's settings: its rendered name (see [`RenderScope::build_name`]) and type,
    /// no data.
    pub fn build_context<'c>(&'c self, name: &'c str, kind: &'c str) -> Context<'c> {
        self.context(Some((name, kind)), &NO_DATA)
    }
}

/// What a string is rendered against.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// Resolved user variables, read by `{{user "name"}}`.
    pub user_variables: &'a IndexMap<String, String>,
    /// The environment, `Some` only while rendering variable defaults: the only place Packer allows `env`.
    /// While it is `Some`, `user` of an unset variable is an error ([`ErrorKind::UnsetVariable`]).
    pub env: Option<&'a BTreeMap<String, String>>,
    pub build_name: Option<&'a str>,
    /// The builder type; it also decides whether and how `clean_resource_name` works.
    pub build_type: Option<&'a str>,
    /// Absolute directory of the template, for `{{template_dir}}`.
    pub template_dir: &'a str,
    /// Working directory, for `{{pwd}}`.
    pub pwd: &'a str,
    /// The data `.Field` reads (`{{.Vars}}`, `{{.Path}}`); empty means no data (`{{.}}` is `<no value>`).
    pub data: &'a BTreeMap<String, String>,
    pub volatile: &'a Volatile,
}

/// A [`Context`] owned, without the environment: what a setting Packer renders only later (a tag at
/// build time, a post-processor's `output`, a shell-local `execute_command`) is rendered with, once the
/// data its `.Field`s read exists.
#[derive(Clone, Debug)]
pub struct OwnedContext {
    user_variables: IndexMap<String, String>,
    build_name: Option<String>,
    build_type: Option<String>,
    template_dir: String,
    pwd: String,
    volatile: Volatile,
}

impl OwnedContext {
    pub fn of(ctx: &Context<'_>) -> OwnedContext {
        OwnedContext {
            user_variables: ctx.user_variables.clone(),
            build_name: ctx.build_name.map(str::to_string),
            build_type: ctx.build_type.map(str::to_string),
            template_dir: ctx.template_dir.to_string(),
            pwd: ctx.pwd.to_string(),
            volatile: ctx.volatile.clone(),
        }
    }

    pub fn build_name(&self) -> Option<&str> {
        self.build_name.as_deref()
    }

    pub fn build_type(&self) -> Option<&str> {
        self.build_type.as_deref()
    }

    /// `text` rendered with `data` as the fields `.Name` reads; the error is the engine's message.
    pub fn render(&self, text: &str, data: &BTreeMap<String, String>) -> Result<String, String> {
        let ctx = Context {
            user_variables: &self.user_variables,
            env: None,
            build_name: self.build_name.as_deref(),
            build_type: self.build_type.as_deref(),
            template_dir: &self.template_dir,
            pwd: &self.pwd,
            data,
            volatile: &self.volatile,
        };
        render(text, &ctx).map(|r| r.text).map_err(|e| e.message)
    }
}

/// A rendered string and what it read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    /// Environment variables read by `env`, in order of first read.
    pub env_read: Vec<String>,
    /// User variables read by `user`, in order of first read (including unset ones).
    pub user_read: Vec<String>,
}

/// Why rendering failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not a valid template (Packer reports these before it runs anything).
    Parse,
    /// A function or field failed while rendering.
    Execute,
    /// `user` asked for a variable that has no value while variables are being resolved: it may be one
    /// that is resolved later.
    UnsetVariable(String),
    /// A Packer feature imgs deliberately does not implement (secret stores, `range`, `define`, …).
    Unsupported,
}

/// A rendering error at a byte offset of the input (the caller maps it into the file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterpolateError {
    pub message: String,
    /// Byte offset in the input of the action, command or token at fault.
    pub offset: usize,
    pub hint: Option<String>,
    pub kind: ErrorKind,
}

impl InterpolateError {
    pub(crate) fn new(message: impl Into<String>, offset: usize) -> Self {
        Self {
            message: message.into(),
            offset,
            hint: None,
            kind: ErrorKind::Parse,
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for InterpolateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InterpolateError {}

/// Render `input` as Packer 1.6.6 would, against `ctx`.
pub fn render(input: &str, ctx: &Context) -> Result<Rendered, InterpolateError> {
    // Nothing to interpolate: the common case for most strings of a template.
    if !input.contains("{{") {
        return Ok(Rendered {
            text: input.to_owned(),
            ..Rendered::default()
        });
    }
    let nodes = parse_template(input, ctx.build_type)?;
    let mut evaluator = eval::Evaluator::new(ctx);
    let mut text = String::with_capacity(input.len());
    let root = evaluator.root();
    evaluator.nodes(&nodes, &root, &mut text)?;
    Ok(Rendered {
        text,
        env_read: evaluator.env_read,
        user_read: evaluator.user_read,
    })
}

/// Render again and again until the text stops changing, as Packer does for build names and
/// provisioner `max_retries` (a value that itself holds `{{…}}` gets interpolated too); everything else
/// Packer renders once, as [`render`] does. Packer would loop forever on text that keeps growing; this
/// gives up after [`MAX_PASSES`].
pub fn render_until_stable(input: &str, ctx: &Context) -> Result<Rendered, InterpolateError> {
    let mut result = render(input, ctx)?;
    let mut current = input.to_owned();
    for _ in 1..MAX_PASSES {
        if result.text == current {
            return Ok(result);
        }
        current = std::mem::take(&mut result.text);
        let next = render(&current, ctx).map_err(|e| InterpolateError {
            // The offset is in text the user never wrote; point at the string as a whole.
            offset: 0,
            hint: Some(format!(
                "the error is in `{current}`, the result of interpolating this value"
            )),
            ..e
        })?;
        merge_reads(&mut result.env_read, next.env_read);
        merge_reads(&mut result.user_read, next.user_read);
        result.text = next.text;
    }
    if result.text == current {
        return Ok(result);
    }
    Err(InterpolateError {
        kind: ErrorKind::Execute,
        ..InterpolateError::new(
            format!("the value still changes after {MAX_PASSES} rounds of interpolation"),
            0,
        )
    }
    .with_hint("a variable probably includes itself through {{user}}"))
}

/// How often [`render_until_stable`] renders before it gives up.
pub const MAX_PASSES: usize = 100;

fn merge_reads(into: &mut Vec<String>, more: Vec<String>) {
    for name in more {
        if !into.contains(&name) {
            into.push(name);
        }
    }
}

/// Whether `input` parses as a template for `build_type` (Packer validates strings this way before
/// any value is known).
pub fn check_syntax(input: &str, build_type: Option<&str>) -> Result<(), InterpolateError> {
    if !input.contains("{{") {
        return Ok(());
    }
    parse_template(input, build_type).map(|_| ())
}

fn parse_template(
    input: &str,
    build_type: Option<&str>,
) -> Result<Vec<parse::Node>, InterpolateError> {
    let is_function = |name: &str| funcs::is_defined(name, build_type);
    lex::lex(input)
        .and_then(|tokens| parse::parse(input, tokens, &is_function))
        .map_err(|e| with_syntax_hint(with_function_hint(e, build_type)))
}

/// "function "lowr" not defined" gets a did-you-mean hint, and `clean_resource_name` outside a cloud
/// builder says why it is missing.
fn with_function_hint(error: InterpolateError, build_type: Option<&str>) -> InterpolateError {
    let Some(name) = error
        .message
        .strip_prefix("function \"")
        .and_then(|m| m.strip_suffix("\" not defined"))
    else {
        return error;
    };
    if name == "clean_resource_name" {
        return error.with_hint(
            "`clean_resource_name` exists only in the settings of amazon-*, azure-*, googlecompute, osc-* \
             and yandex builders",
        );
    }
    match imgs_diagnostic::did_you_mean(name, funcs::names(build_type)) {
        Some(suggestion) => error.with_hint(format!("did you mean `{suggestion}`?")),
        None => error,
    }
}

/// Go's parse errors are terse; say how to fix the common ones.
fn with_syntax_hint(error: InterpolateError) -> InterpolateError {
    if error.hint.is_some() {
        return error;
    }
    let message = error.message.as_str();
    let hint = match message {
        "unclosed action" => "close the action with `}}`",
        "unclosed comment" => "close the comment with `*/}}`",
        "comment ends before closing delimiter" => {
            "a comment fills its whole action: `{{/* … */}}`"
        }
        "unclosed left paren" => "close the parenthesis with `)` before `}}`",
        "unterminated quoted string" => {
            "close the string with `\"` on the same line; `` `raw strings` `` may span lines"
        }
        "unterminated raw quoted string" => "close the string with a backquote",
        "missing value for command" => "an action needs a value, e.g. {{user `name`}}",
        _ if message.starts_with("bad character") => {
            "separate a function and its arguments with a space"
        }
        _ if message.starts_with("unexpected EOF in") => "close the block with {{end}}",
        _ if message.starts_with("unexpected {{end}}")
            || message.starts_with("unexpected {{else}}") =>
        {
            "there is no open {{if}} or {{with}} here"
        }
        _ => return error,
    };
    error.with_hint(hint)
}
