//! Packer 1.6.6 JSON templates: located parsing, variables, template functions, validation, referenced files.
//!
//! The pipeline `imgs validate` and the fingerprint share:
//!
//! 1. [`Template::parse`] — strict JSON ([`json`]) into the [`model`], with every structural problem
//!    Packer reports while parsing, located at file:line:col.
//! 2. [`resolve_variables`] — defaults, `Images.toml` values, var files and `-var`s, rendered with the
//!    template functions ([`interpolate`]).
//! 3. [`validate()`] — what `packer validate` checks after parsing, plugin by plugin ([`schema`]), with the
//!    same verdict; [`check`] runs 1–3.
//! 4. [`referenced_files`] and [`canonical_json`] — the fingerprint's view of a template.
//!
//! Every problem is an [`imgs_diagnostic::Diagnostic`]; functions return all they find, not the first.

pub mod canonical;
mod engine;
pub mod interpolate;
pub mod json;
pub mod model;
pub mod references;
pub mod schema;
mod source;
mod ssh_key;
pub mod validate;
pub mod variables;
mod version;

pub use canonical::canonical_json;
pub use engine::{Engine, EngineChoice, EngineChoices};
pub use imgs_settings::{DurationError, GoDuration, parse_go_duration};
pub use json::{Member, Node, Value, parse_json, parse_json_prefix};
pub use model::{
    BuildFilter, BuilderBlock, FileSegment, HclBuildOutline, HclConfiguration, HclInspection,
    PostProcessorBlock, ProvisionerBlock, Template, VariableDecl,
};
pub use references::{Expect, FileReference, referenced_files};
pub use validate::{check, extension_notes, validate};
pub use variables::{Invocation, ResolvedVariables, ValueOrigin, VarFile, resolve_variables};

/// The template as this invocation reads it: a JSON template as it is (its `{{user}}` calls are
/// rendered later, by each plugin), an HCL2 configuration lowered with the invocation's variables.
pub fn instantiate<'t>(
    t: &'t Template,
    inv: &Invocation,
) -> Result<std::borrow::Cow<'t, Template>, imgs_diagnostic::Diagnostics> {
    match &t.hcl {
        None => Ok(std::borrow::Cow::Borrowed(t)),
        Some(config) => config.lower(inv).map(std::borrow::Cow::Owned),
    }
}
