//! Discovering and hashing every input of one image: the template, its builds, variables, environment,
//! referenced files and extra inputs, and its parents' fingerprints.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use imgs_diagnostic::Diagnostics;
use imgs_template::{FileReference, ResolvedVariables, Template, canonical_json};

use crate::file_inputs;
use crate::{FileHasher, Fingerprint, InputKey, InputSet, SCHEME_VERSION};

/// Key-derivation contexts: each kind of value is hashed in its own domain, so equal text in two roles
/// (a variable and an environment value) never yields the same hash by construction. Fixed forever.
const SCHEME_CONTEXT: &str = "imgs 2026-11-25 fingerprint scheme version";
const BUILD_CONTEXT: &str = "imgs 2026-11-25 build name and builder type";
const VARIABLE_CONTEXT: &str = "imgs 2026-11-25 user variable value";
const ENV_CONTEXT: &str = "imgs 2026-11-25 environment variable value";

/// Everything known about one image that its fingerprint depends on.
#[derive(Clone, Debug)]
pub struct ImageInputs<'a> {
    /// The workspace root: file keys are relative to it, and so are relative paths.
    pub root: &'a Path,
    pub template: &'a Template,
    pub variables: &'a ResolvedVariables,
    /// The selected builds: (name, builder type).
    pub builds: Vec<(&'a str, &'a str)>,
    /// The files the template references, after variable resolution.
    pub files: &'a [FileReference],
    /// Matches of the image's `inputs` globs in Images.toml.
    pub extra_inputs: &'a [PathBuf],
    /// Variables that carry a parent's artifact; left out, as the parent's fingerprint stands in for them.
    pub parent_variables: &'a BTreeSet<String>,
    /// (parent image name, its fingerprint).
    pub parents: Vec<(&'a str, Fingerprint)>,
}

/// The named inputs of one image, with every referenced file hashed (in parallel, through `hasher`'s stat
/// cache). Every unreadable or missing file is reported, each at the template key that references it.
pub fn image_inputs(inputs: &ImageInputs, hasher: &FileHasher) -> Result<InputSet, Diagnostics> {
    let mut set = InputSet::new();
    set.insert(InputKey::Scheme, scheme_hash());
    set.insert(
        InputKey::Template,
        blake3::hash(canonical_json(inputs.template).as_bytes()),
    );
    for &(name, kind) in &inputs.builds {
        set.insert(
            InputKey::Build {
                name: name.to_owned(),
                kind: kind.to_owned(),
            },
            build_hash(name, kind),
        );
    }
    for (name, value) in &inputs.variables.values {
        if !inputs.parent_variables.contains(name) {
            // Sensitive or not, only a key-derived hash is kept: marking a variable sensitive does not
            // change the image, so it does not change the fingerprint either.
            set.insert(
                InputKey::Variable(name.clone()),
                value_hash(VARIABLE_CONTEXT, value),
            );
        }
    }
    for (name, value) in &inputs.variables.env_read {
        set.insert(InputKey::Env(name.clone()), value_hash(ENV_CONTEXT, value));
    }
    for &(name, fingerprint) in &inputs.parents {
        set.insert(InputKey::Parent(name.to_owned()), fingerprint.into());
    }
    // A path built from a parent's artifact (a qemu `iso_url` of `{{user `source_disk`}}`) names what the
    // parent will build, which does not exist yet; the parent's fingerprint already covers it.
    let files: Vec<FileReference> = inputs
        .files
        .iter()
        .filter(|reference| {
            !reads_any_variable(&reference.written, inputs.parent_variables)
                && !holds_parent_placeholder(&reference.written, inputs.parents.iter().map(|p| p.0))
        })
        .cloned()
        .collect();
    let files = file_inputs::file_inputs(
        inputs.root,
        inputs.template,
        &files,
        inputs.extra_inputs,
        hasher,
    );
    set.extend(files.map_err(Diagnostics)?);
    Ok(set)
}

fn scheme_hash() -> blake3::Hash {
    blake3::derive_key(SCHEME_CONTEXT, &SCHEME_VERSION.to_le_bytes()).into()
}

fn build_hash(name: &str, kind: &str) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new_derive_key(BUILD_CONTEXT);
    hasher.update(&(name.len() as u64).to_le_bytes());
    hasher.update(name.as_bytes());
    hasher.update(kind.as_bytes());
    hasher.finalize()
}

fn value_hash(context: &str, value: &str) -> blake3::Hash {
    blake3::derive_key(context, value.as_bytes()).into()
}

/// Whether template text reads one of `names` with `{{user `NAME`}}` (or `{{ user "NAME" }}`).
/// Whether a template value reads one of `names` with `{{user ...}}` (e.g. a path built from a parent's
/// artifact, which the parent's fingerprint covers).
/// The value a parent variable has while planning: the parent's artifact does not exist yet, and its
/// fingerprint stands in for it in the child's inputs.
pub fn parent_placeholder(parent: &str) -> String {
    format!("imgs-parent-artifact-{parent}")
}

/// Whether `text` holds a parent's placeholder: an HCL2 configuration's values are evaluated
/// before their files are read, so a path built from `var.source_disk` holds the value itself
/// where a JSON template would still show `{{user `source_disk`}}`.
pub fn holds_parent_placeholder<'p>(
    text: &str,
    mut parents: impl Iterator<Item = &'p str>,
) -> bool {
    parents.any(|parent| text.contains(&parent_placeholder(parent)))
}

pub fn reads_any_variable(text: &str, names: &BTreeSet<String>) -> bool {
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let action = &rest[start + 2..];
        let end = action.find("}}").unwrap_or(action.len());
        let (body, after) = action.split_at(end);
        if body.contains("user")
            && names.iter().any(|name| {
                body.contains(&format!("`{name}`")) || body.contains(&format!("\"{name}\""))
            })
        {
            return true;
        }
        rest = after;
    }
    false
}

#[cfg(test)]
mod tests;
