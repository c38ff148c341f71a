//! `Images.toml`, as written: the serde model with spans, before any file system lookups.
//!
//! ```toml
//! [workspace]
//! members = ["images/*"]              # directories holding template.json; globs allowed
//! exclude = ["images/scratch"]
//! variables = { region = "us-east-1" } # passed to every template that declares them
//!
//! [images.app]                         # key = image name = member directory name
//! template = "template.json"           # default
//! parents = { source_ami = "hardened" } # template variable <- artifact of another image
//! variables = { app_version = "1.4.2" }
//! inputs = ["../../shared-scripts/**"] # extra files counted in the fingerprint, relative to the image dir
//! ```

// A diagnostic is a large error value, but it is built once, on the way out; boxing it buys nothing.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::Path;

use imgs_diagnostic::{Diagnostic, Location};
use serde::Deserialize;
use toml::Spanned;

pub const MANIFEST_NAME: &str = "Images.toml";
pub const DEFAULT_TEMPLATE: &str = "template.json";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub workspace: Option<Spanned<WorkspaceTable>>,
    #[serde(default)]
    pub images: BTreeMap<Spanned<String>, Spanned<ImageTable>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceTable {
    #[serde(default)]
    pub members: Vec<Spanned<String>>,
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
    #[serde(default)]
    pub variables: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    /// `[workspace.cache]`: the remote cache (read by `remote_cache`).
    pub cache: Option<Spanned<CacheTable>>,
    /// `[workspace.limits]`: builds at once per region and builder type (read by `limits`).
    pub limits: Option<Spanned<crate::limits::LimitsTable>>,
}

/// `[workspace.cache]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheTable {
    pub remote: Option<Spanned<String>>,
    pub region: Option<Spanned<String>>,
    pub endpoint: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageTable {
    pub template: Option<Spanned<String>>,
    #[serde(default)]
    pub parents: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    pub variables: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    #[serde(default)]
    pub inputs: Vec<Spanned<String>>,
    /// `"auto"`, `"native"` or `"packer"` for every build, or a table of build name → one of those
    /// (read by the workspace, which says what is wrong with it).
    pub engine: Option<Spanned<toml::Value>>,
    /// `[images.NAME.publish]` (read by `publish`).
    pub publish: Option<Spanned<crate::publish::PublishTable>>,
}

/// Parse the manifest text; syntax errors and unknown keys come back located.
pub fn parse(path: &Path, text: &str) -> Result<Manifest, Diagnostic> {
    toml::from_str(text).map_err(|e| {
        let mut d = Diagnostic::error(first_line(e.message()));
        d = match e.span() {
            Some(span) => d.at_offset(path, text, span.start),
            None => d.in_file(path),
        };
        if let Some(key) = e.span().and_then(|span| text.get(span)).map(str::trim)
            && !key.is_empty()
            && !key.contains('\n')
        {
            d = d.key(key.to_string());
        }
        if e.message().contains("unknown field") {
            d = d.hint(
                "Images.toml has the tables [workspace] (members, exclude, variables), [workspace.cache] \
                 (remote, region, endpoint), [workspace.limits] (max_per_region, max_per_builder), [images.NAME] (template, parents, variables, inputs, engine) and [images.NAME.publish] \
                 (ssm_parameter, launch_permission_accounts, launch_permission_groups, docker_repository)",
            );
        }
        d
    })
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).trim().to_string()
}

/// A variable value from Images.toml as the string Packer would receive with `-var`.
pub fn variable_value(
    path: &Path,
    text: &str,
    name: &Spanned<String>,
    value: &Spanned<toml::Value>,
) -> Result<String, Diagnostic> {
    match value.get_ref() {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(Diagnostic::error(format!(
            "variable `{}` must be a string, number or boolean, not {}",
            name.get_ref(),
            other.type_str()
        ))
        .at(Location::at(path, text, value.span().start))
        .key(name.get_ref().clone())
        .hint("Packer variables are strings; write arrays and tables as a JSON string")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_located_with_a_hint() {
        let text =
            "[workspace]\nmembers = [\"images/*\"]\n\n[images.app]\nparent = { a = \"b\" }\n";
        let err = parse(Path::new("Images.toml"), text).unwrap_err();
        let loc = err.location.clone().unwrap();
        assert_eq!((loc.line, loc.column), (Some(5), Some(1)));
        assert!(
            err.message.contains("unknown field `parent`"),
            "{}",
            err.message
        );
        assert_eq!(err.key.as_deref(), Some("parent"));
        assert!(err.hint.is_some());
    }

    #[test]
    fn values_become_strings() {
        let text = "[workspace]\nvariables = { a = 1, b = true, c = \"x\", d = [1] }\n";
        let m = parse(Path::new("Images.toml"), text).unwrap();
        let ws = m.workspace.unwrap().into_inner();
        let got: Vec<_> = ws
            .variables
            .iter()
            .map(|(k, v)| {
                variable_value(Path::new("Images.toml"), text, k, v).map_err(|e| e.message)
            })
            .collect();
        assert_eq!(got[0], Ok("1".to_string()));
        assert_eq!(got[1], Ok("true".to_string()));
        assert_eq!(got[2], Ok("x".to_string()));
        assert!(got[3].as_ref().unwrap_err().contains("not array"));
    }
}
