//! HCL2 configurations (a directory of `*.pkr.hcl` files) read as Packer 1.6.6 reads them, and
//! lowered to the template model every plugin, the validator and the fingerprint already read.
//!
//! 1. [`read`] parses every file (hcl-edit: spans on every item), checks the structure Packer
//!    checks (block types, labels, the attributes Packer reads itself), and returns a
//!    [`Template`] lowered with the values known without an invocation. Its `hcl` field keeps the
//!    [`Configuration`].
//! 2. [`imgs_template::instantiate`] lowers it again for an invocation: variables from every
//!    source Packer reads plus Images.toml's (parents' artifacts among them), locals, and each build
//!    × source made a builder named as Packer names it (`TYPE.NAME`, `BUILD.TYPE.NAME`) with its own
//!    provisioners and post-processors, evaluated with `source` and `build` in scope.
//! 3. The fingerprint hashes [`Configuration::canonical`]: expressions as hcl-rs prints them
//!    (comments and layout gone), blocks whose order does not matter sorted.
//!
//! This crate does no I/O: the caller reads the files and gives [`FileAccess`] for the functions
//! that read files (`file`, `fileset`, …).

mod config;
mod eval;
mod located;
mod lower;
mod version;

use imgs_hcl_functions as functions;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use imgs_diagnostic::Diagnostics;
use imgs_template::interpolate::Volatile;
use imgs_template::{HclConfiguration, Invocation, Template};

pub use config::{ConfigFile, FileRole, classify};

use config::{Blocks, Reader};
use located::Located;

/// What the functions that reach outside an expression need from the caller.
pub trait FileAccess: Send + Sync + std::fmt::Debug {
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, String>;
    fn is_file(&self, path: &Path) -> Result<bool, String>;
    /// Files under `base` matching `pattern`, as slash-separated paths relative to `base`, sorted.
    fn glob(&self, base: &Path, pattern: &str) -> Result<Vec<String>, String>;
    fn uuid_v4(&self) -> String;
}

/// One HCL2 configuration, parsed and checked, with its expressions unevaluated.
#[derive(Clone, Debug)]
pub struct Configuration {
    /// The directory as given (Packer's `path.root`).
    root: PathBuf,
    at: Located,
    blocks: Blocks,
    /// `*.auto.pkrvars.hcl` of the directory, in name order: read with every invocation.
    auto_var_files: Vec<ConfigFile>,
    files: Arc<dyn FileAccess>,
    /// Where the configuration was read from: `path.cwd` for what is shown without an invocation.
    working_dir: PathBuf,
}

/// Read the configuration in `root` from its `*.pkr.hcl` files (`files`, in name order) and its
/// `*.auto.pkrvars.hcl` files. `working_dir` is where the configuration is read from (Packer's
/// `path.cwd`), used for the template returned here; each invocation brings its own.
pub fn read(
    root: &Path,
    files: Vec<ConfigFile>,
    auto_var_files: Vec<ConfigFile>,
    access: Arc<dyn FileAccess>,
    working_dir: &Path,
) -> Result<Template, Diagnostics> {
    if files.is_empty() {
        return Err(imgs_diagnostic::Diagnostic::error(format!(
            "Could not find any config file in {}",
            root.display()
        ))
        .in_file(root)
        .hint("a configuration file must be named `*.pkr.hcl`; a directory of them is one configuration")
        .into());
    }
    let (text, segments) = config::join(&files);
    let at = Located::new(text, segments);
    let bodies = config::parse_files(&files, &at.segments, &at).map_err(Diagnostics)?;
    let mut blocks = Blocks::default();
    let mut errors = Vec::new();
    for (base, body) in &bodies {
        let mut reader = Reader {
            at: &at,
            base: *base,
            errors: Vec::new(),
        };
        reader.file(body, &mut blocks);
        errors.extend(reader.errors);
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    let config = Configuration {
        root: root.to_path_buf(),
        at,
        blocks,
        auto_var_files,
        files: access,
        working_dir: working_dir.to_path_buf(),
    };
    let invocation = Invocation::new(working_dir, Volatile::Placeholder);
    lower::lower(&config, &invocation, true)
}

impl HclConfiguration for Configuration {
    fn lower(&self, invocation: &Invocation) -> Result<Template, Diagnostics> {
        lower::lower(self, invocation, false)
    }

    fn canonical(&self) -> String {
        canonical(self)
    }

    fn root(&self) -> &Path {
        &self.root
    }

    fn inspect(&self, invocation: &Invocation) -> imgs_template::HclInspection {
        lower::inspect(self, invocation)
    }
}

/// The configuration as text that only its meaning changes.
fn canonical(config: &Configuration) -> String {
    use std::fmt::Write;
    let blocks = &config.blocks;
    let mut out = String::new();
    let mut versions: Vec<&str> = blocks
        .required_versions
        .iter()
        .map(|(v, _)| v.as_str())
        .collect();
    versions.sort();
    for v in versions {
        let _ = writeln!(out, "packer.required_version={v:?}");
    }
    let mut variables: Vec<_> = blocks.variables.values().collect();
    variables.sort_by(|a, b| a.name.cmp(&b.name));
    for v in variables {
        let expr =
            |e: &Option<config::Expr>| e.as_ref().map(|e| e.expr.to_string()).unwrap_or_default();
        let _ = writeln!(
            out,
            "variable {:?} type={} default={} sensitive={}",
            v.name,
            expr(&v.type_expr),
            expr(&v.default),
            v.sensitive
        );
        for validation in &v.validations {
            let _ = writeln!(
                out,
                "  validation {} {:?}",
                validation.condition.expr, validation.error_message
            );
        }
    }
    let mut locals: Vec<_> = blocks.locals.iter().collect();
    locals.sort_by(|a, b| a.name.cmp(&b.name));
    for l in locals {
        let _ = writeln!(out, "local {:?} = {}", l.name, l.value.expr);
    }
    let mut sources: Vec<_> = blocks.sources.values().collect();
    sources.sort_by(|a, b| (&a.kind, &a.name).cmp(&(&b.kind, &b.name)));
    for s in sources {
        let _ = writeln!(
            out,
            "source {:?} {:?} {}",
            s.kind,
            s.name,
            canonical_body(&s.body)
        );
    }
    let mut builds: Vec<String> = blocks.builds.iter().map(canonical_build).collect();
    builds.sort();
    for b in builds {
        out.push_str(&b);
    }
    for file in &config.auto_var_files {
        let _ = writeln!(out, "auto-variables {}", canonical_var_file(&file.text));
    }
    out
}

fn canonical_body(body: &config::BodyDef) -> String {
    let mut attributes: Vec<String> = body
        .attributes
        .iter()
        .map(|a| format!("{:?}={}", a.key, a.value.expr))
        .collect();
    attributes.sort();
    // Blocks of one type keep their order (a list of block devices is a list); types are sorted.
    let mut blocks: Vec<(&str, usize, String)> = body
        .blocks
        .iter()
        .enumerate()
        .map(|(i, b)| {
            (
                b.ident.as_str(),
                i,
                format!("{:?}{:?}{}", b.ident, b.labels, canonical_body(&b.body)),
            )
        })
        .collect();
    blocks.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let blocks: Vec<String> = blocks.into_iter().map(|(_, _, text)| text).collect();
    format!("{{{};{}}}", attributes.join(","), blocks.join(","))
}

fn canonical_plugin(p: &config::PluginDef) -> String {
    let expr =
        |e: &Option<config::Expr>| e.as_ref().map(|e| e.expr.to_string()).unwrap_or_default();
    format!(
        "{:?} name={:?} only={:?} except={:?} pause_before={} max_retries={} timeout={} override={} keep={:?} {}",
        p.kind,
        p.name,
        p.only,
        p.except,
        expr(&p.pause_before),
        expr(&p.max_retries),
        expr(&p.timeout),
        expr(&p.overrides),
        p.keep_input_artifact,
        canonical_body(&p.body)
    )
}

fn canonical_build(b: &config::BuildDef) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "build {:?}", b.name);
    let mut sources: Vec<String> = b
        .sources
        .iter()
        .map(|s| {
            format!(
                "{}.{} as {:?} {}",
                s.kind,
                s.name,
                s.local_name,
                s.addition.as_ref().map(canonical_body).unwrap_or_default()
            )
        })
        .collect();
    sources.sort();
    for s in sources {
        let _ = writeln!(out, "  source {s}");
    }
    for p in &b.provisioners {
        let _ = writeln!(out, "  provisioner {}", canonical_plugin(p));
    }
    for chain in &b.post_processor_chains {
        let items: Vec<String> = chain.iter().map(canonical_plugin).collect();
        let _ = writeln!(out, "  post-processors [{}]", items.join(" | "));
    }
    out
}

fn canonical_var_file(text: &str) -> String {
    match hcl_edit::parser::parse_body(text) {
        Ok(body) => {
            let mut items: Vec<String> = body
                .iter()
                .filter_map(|s| s.as_attribute())
                .map(|a| {
                    format!(
                        "{}={}",
                        a.key.as_str(),
                        hcl::Expression::from(a.value.clone())
                    )
                })
                .collect();
            items.sort();
            items.join(",")
        }
        // Unreadable: its bytes, so any change still counts (reading it reports the error).
        Err(_) => text.to_string(),
    }
}

#[cfg(test)]
mod tests;
