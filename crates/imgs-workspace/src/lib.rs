//! Images.toml: members, per-image settings and the image lineage graph.
//!
//! Like a Cargo workspace: [`find_manifest`] looks for `Images.toml` in a directory and its ancestors,
//! [`Workspace::load`] reads it, expands `members` globs (minus `exclude`), parses every member's template and
//! checks the lineage — unknown parents, parents variables the child does not declare, cycles, duplicate
//! names — reporting each problem with file, line, column and key.

mod glob_under;
mod graph;
mod hcl_member;
pub mod limits;
pub mod lock;
pub mod manifest;
pub mod publish;
mod remote_cache;
pub mod shard;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use imgs_diagnostic::{Diagnostic, Diagnostics, Location, did_you_mean};
use imgs_template::{EngineChoice, EngineChoices, Template};
use toml::Spanned;

pub use glob_under::{GlobMatch, glob_under};
pub use graph::Lineage;
pub use hcl_member::{check_hcl, has_hcl_files, read_hcl};
pub use manifest::{DEFAULT_TEMPLATE, MANIFEST_NAME};
pub use remote_cache::RemoteCache;

/// A loaded, checked workspace.
#[derive(Debug)]
pub struct Workspace {
    /// Directory holding `Images.toml`; templates' relative paths resolve against it, as when running
    /// `packer` from there.
    pub root: PathBuf,
    pub manifest_path: PathBuf,
    /// `[workspace] variables`, as strings.
    pub variables: Vec<(String, String)>,
    /// Members, sorted by name.
    pub images: Vec<Image>,
    pub lineage: Lineage,
    /// `[workspace.cache] remote`: the shared cache in S3, if any.
    pub remote_cache: Option<RemoteCache>,
    /// `[workspace.limits]`: builds at once per region and builder type (flags override them).
    pub limits: limits::Limits,
}

/// One member image.
#[derive(Debug)]
pub struct Image {
    pub name: String,
    /// Member directory, relative to the workspace root.
    pub dir: PathBuf,
    /// The parsed template; its `path` is relative to the workspace root.
    pub template: Template,
    /// Template variable <- parent image, sorted by variable.
    pub parents: Vec<ParentLink>,
    /// `[images.NAME] variables`, as strings.
    pub variables: Vec<(String, String)>,
    /// `[images.NAME] inputs` globs, relative to the image directory.
    pub inputs: Vec<String>,
    /// `[images.NAME] engine`: who runs its builds.
    pub engine: EngineChoices,
    /// `[images.NAME.publish]`: what publishing it to a channel does.
    pub publish: publish::PublishSettings,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParentLink {
    pub variable: String,
    pub image: String,
}

/// Find `Images.toml` in `start` or the nearest ancestor directory.
pub fn find_manifest(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(MANIFEST_NAME))
        .find(|p| p.is_file())
}

impl Workspace {
    /// Read and check the workspace whose manifest is `manifest_path` (absolute). Reports every problem found.
    pub fn load(manifest_path: &Path) -> Result<Workspace, Diagnostics> {
        let display_path = Path::new(MANIFEST_NAME);
        let text = std::fs::read_to_string(manifest_path).map_err(|e| {
            Diagnostic::error(format!("cannot read {}: {e}", manifest_path.display()))
                .in_file(display_path)
        })?;
        let root = manifest_path
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Loader {
            root: &root,
            path: display_path,
            text: &text,
            errors: Vec::new(),
        }
        .load(manifest_path)
    }

    pub fn image(&self, name: &str) -> Option<&Image> {
        self.images
            .binary_search_by(|i| i.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.images[i])
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.images.iter().map(|i| i.name.as_str())
    }

    /// The image whose directory contains `dir` (absolute), for cargo-like defaults when run inside one.
    pub fn image_containing(&self, dir: &Path) -> Option<&Image> {
        let rel = dir.strip_prefix(&self.root).ok()?;
        self.images.iter().find(|i| rel.starts_with(&i.dir))
    }

    /// Resolve a selection to image names (sorted), with the ancestors the selected images need.
    /// Unknown names are errors with a did-you-mean hint.
    pub fn select(&self, selection: &Selection) -> Result<Selected, Diagnostics> {
        let mut errors = Vec::new();
        for name in selection.include.iter().chain(&selection.exclude) {
            if self.image(name).is_none() {
                let mut d = Diagnostic::error(format!("no image named `{name}` in this workspace"))
                    .in_file(Path::new(MANIFEST_NAME))
                    .key(name.clone());
                d = match did_you_mean(name, self.names()) {
                    Some(s) => d.hint(format!("did you mean `{s}`?")),
                    None => d.hint(format!(
                        "images: {}",
                        self.names().collect::<Vec<_>>().join(", ")
                    )),
                };
                errors.push(d);
            }
        }
        if !errors.is_empty() {
            return Err(Diagnostics(errors));
        }
        let chosen: BTreeSet<String> = if selection.include.is_empty() {
            self.names().map(str::to_string).collect()
        } else {
            selection.include.iter().cloned().collect()
        };
        let excluded: BTreeSet<&String> = selection.exclude.iter().collect();
        let requested: BTreeSet<String> = chosen
            .into_iter()
            .filter(|n| !excluded.contains(n))
            .collect();
        let needed = self
            .lineage
            .with_ancestors(requested.iter().map(String::as_str));
        Ok(Selected { requested, needed })
    }
}

/// What the user asked for: `-i NAME…` (empty = all) minus `--exclude NAME…`.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selected {
    /// The images asked for.
    pub requested: BTreeSet<String>,
    /// The requested images and every ancestor they are built on.
    pub needed: BTreeSet<String>,
}

struct Loader<'a> {
    root: &'a Path,
    path: &'a Path,
    text: &'a str,
    errors: Vec<Diagnostic>,
}

impl Loader<'_> {
    fn located(&self, message: impl Into<String>, offset: usize) -> Diagnostic {
        Diagnostic::error(message).at(Location::at(self.path, self.text, offset))
    }

    fn load(mut self, manifest_path: &Path) -> Result<Workspace, Diagnostics> {
        let manifest = manifest::parse(self.path, self.text)?;
        let Some(ws) = manifest.workspace.map(Spanned::into_inner) else {
            return Err(Diagnostic::error("Images.toml has no [workspace] table")
                .in_file(self.path)
                .key("workspace")
                .hint("add:\n[workspace]\nmembers = [\"images/*\"]")
                .into());
        };
        let variables = self.variables(&ws.variables);
        let remote_cache = match &ws.cache {
            None => None,
            Some(table) => {
                remote_cache::read(self.path, self.text, table).unwrap_or_else(|errors| {
                    self.errors.extend(errors);
                    None
                })
            }
        };
        let limits = match &ws.limits {
            None => limits::Limits::default(),
            Some(table) => {
                limits::read(self.path, self.text, table.get_ref()).unwrap_or_else(|errors| {
                    self.errors.extend(errors);
                    limits::Limits::default()
                })
            }
        };
        let members = self.members(&ws.members, &ws.exclude);

        let mut images = Vec::new();
        let mut tables = manifest.images;
        for (name, (dir, member_offset)) in &members {
            let table = tables
                .remove_entry(name.as_str())
                .map(|(_, t)| t.into_inner())
                .unwrap_or_default();
            let template = match self.template(name, dir, *member_offset, &table) {
                Some(t) => t,
                None => continue,
            };
            let image = Image {
                name: name.clone(),
                dir: dir.clone(),
                parents: table
                    .parents
                    .iter()
                    .map(|(v, p)| ParentLink {
                        variable: v.get_ref().clone(),
                        image: p.get_ref().clone(),
                    })
                    .collect(),
                variables: self.variables(&table.variables),
                inputs: table.inputs.iter().map(|i| i.get_ref().clone()).collect(),
                engine: EngineChoices::default(),
                publish: match &table.publish {
                    None => Default::default(),
                    Some(t) => publish::read(self.path, self.text, name, t.get_ref())
                        .unwrap_or_else(|errors| {
                            self.errors.extend(errors);
                            Default::default()
                        }),
                },
                template,
            };
            let image = Image {
                engine: self.engine(&image, &table),
                ..image
            };
            self.check_parents(&image, &table, &members);
            self.check_variables_declared(&image, &table);
            images.push(image);
        }
        for (name, _) in tables {
            let known: Vec<&str> = members.keys().map(String::as_str).collect();
            let mut d = self
                .located(
                    format!("[images.{}] names no workspace member", name.get_ref()),
                    name.span().start,
                )
                .key(format!("images.{}", name.get_ref()));
            d = match did_you_mean(name.get_ref(), known.iter().copied()) {
                Some(s) => d.hint(format!(
                    "did you mean `{s}`? image names are member directory names"
                )),
                None => {
                    d.hint("image names are member directory names; add the directory to `members`")
                }
            };
            self.errors.push(d);
        }

        let lineage = Lineage::new(images.iter().map(|i| {
            (
                i.name.as_str(),
                i.parents.iter().map(|p| p.image.as_str()).collect(),
            )
        }));
        if let Some(cycle) = lineage.find_cycle() {
            // Point at the parents entry that closes the cycle.
            let (child, parent) = (&cycle[0], &cycle[1]);
            let offset = self.text.find(&format!("[images.{child}]")).unwrap_or(0);
            self.errors.push(
                self.located(format!("dependency cycle: {}", cycle.join(" -> ")), offset)
                    .key(format!("images.{child}.parents"))
                    .hint(format!("an image cannot be built on itself; remove `{parent}` from the parents of `{child}` or break the cycle elsewhere")),
            );
        }
        if !self.errors.is_empty() {
            return Err(Diagnostics(self.errors));
        }
        images.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Workspace {
            root: self.root.to_path_buf(),
            manifest_path: manifest_path.to_path_buf(),
            variables,
            images,
            lineage,
            remote_cache,
            limits,
        })
    }

    /// The member's template: the file `template` names, the HCL2 configuration in the directory it
    /// names, else `template.json`, else the member's `*.pkr.hcl` files. `None` when it failed
    /// (the errors are collected).
    fn template(
        &mut self,
        name: &str,
        dir: &Path,
        member_offset: usize,
        table: &manifest::ImageTable,
    ) -> Option<Template> {
        let named = table.template.as_ref().map(|t| t.get_ref().as_str());
        let rel = dir.join(named.unwrap_or(DEFAULT_TEMPLATE));
        let full = self.root.join(&rel);
        let hcl = match named {
            Some(t) => full.is_dir() || t.ends_with(".pkr.hcl"),
            None => !full.exists() && has_hcl_files(&self.root.join(dir)),
        };
        if hcl {
            let config = if named.is_some() {
                rel
            } else {
                dir.to_path_buf()
            };
            return match read_hcl(&config, self.root) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.errors.extend(e.0);
                    None
                }
            };
        }
        let text = match std::fs::read_to_string(&full) {
            Ok(text) => text,
            Err(e) => {
                let offset = table
                    .template
                    .as_ref()
                    .map_or(member_offset, |t| t.span().start);
                let d = self
                    .located(format!("image `{name}` has no template: cannot read `{}`: {e}", rel.display()), offset)
                    .key(format!("workspace.members ({})", dir.display()))
                    .hint(format!(
                        "create `{}` or `*.pkr.hcl` files, point `[images.{name}] template` at the template file or HCL2 directory, or add `{}` to `exclude`",
                        rel.display(),
                        dir.display()
                    ));
                self.errors.push(d);
                return None;
            }
        };
        match Template::parse(&rel, text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.errors.extend(e.0);
                None
            }
        }
    }

    fn variables(
        &mut self,
        table: &BTreeMap<Spanned<String>, Spanned<toml::Value>>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (name, value) in table {
            match manifest::variable_value(self.path, self.text, name, value) {
                Ok(v) => out.push((name.get_ref().clone(), v)),
                Err(d) => self.errors.push(d),
            }
        }
        out
    }

    /// Member name -> (directory relative to root, offset of the `members` entry that produced it).
    fn members(
        &mut self,
        members: &[Spanned<String>],
        exclude: &[Spanned<String>],
    ) -> BTreeMap<String, (PathBuf, usize)> {
        let mut excluded = Vec::new();
        for pattern in exclude {
            match glob::Pattern::new(pattern.get_ref().trim_end_matches('/')) {
                Ok(p) => excluded.push(p),
                Err(e) => self.errors.push(
                    self.located(
                        format!("invalid glob `{}`: {e}", pattern.get_ref()),
                        pattern.span().start,
                    )
                    .key("workspace.exclude"),
                ),
            }
        }
        if members.is_empty() {
            self.errors.push(
                Diagnostic::error("the workspace lists no members")
                    .in_file(self.path)
                    .key("workspace.members")
                    .hint("add `members = [\"images/*\"]` to [workspace]"),
            );
        }
        let mut found: BTreeMap<String, (PathBuf, usize)> = BTreeMap::new();
        for entry in members {
            let pattern = entry.get_ref().trim_end_matches('/');
            let offset = entry.span().start;
            let dirs = match self.expand(pattern) {
                Ok(dirs) => dirs,
                Err(message) => {
                    self.errors
                        .push(self.located(message, offset).key("workspace.members"));
                    continue;
                }
            };
            for dir in dirs {
                let rel_str = dir.to_string_lossy().replace('\\', "/");
                if excluded.iter().any(|p| p.matches(&rel_str)) {
                    continue;
                }
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if let Some((other, _)) = found.get(&name) {
                    if *other != dir {
                        let d = self
                            .located(
                                format!("two members are named `{name}`: `{}` and `{rel_str}`", other.display()),
                                offset,
                            )
                            .key("workspace.members")
                            .hint("image names are directory names and must be unique; rename one directory or exclude it");
                        self.errors.push(d);
                    }
                    continue;
                }
                found.insert(name, (dir, offset));
            }
        }
        found
    }

    /// Directories (relative to root) matched by a member path or glob.
    fn expand(&self, pattern: &str) -> Result<Vec<PathBuf>, String> {
        let is_glob = pattern.contains(['*', '?', '[']);
        if !is_glob {
            let dir = self.root.join(pattern);
            return if dir.is_dir() {
                Ok(vec![PathBuf::from(pattern)])
            } else {
                Err(format!("member `{pattern}` is not a directory"))
            };
        }
        let paths =
            glob_under(self.root, pattern).map_err(|e| format!("invalid glob `{pattern}`: {e}"))?;
        let mut dirs: Vec<PathBuf> = paths
            .into_iter()
            .filter(|m| m.is_dir)
            .filter_map(|m| m.path.strip_prefix(self.root).ok().map(Path::to_path_buf))
            .collect();
        dirs.sort();
        Ok(dirs)
    }

    /// `[images.NAME] engine`: a choice for every build, or choices for builds by name, each of
    /// which must be one of the template's builds.
    fn engine(&mut self, image: &Image, table: &manifest::ImageTable) -> EngineChoices {
        let mut choices = EngineChoices::default();
        let Some(engine) = &table.engine else {
            return choices;
        };
        let key = format!("images.{}.engine", image.name);
        let hint = "write \"auto\" (native when imgs runs every type the build uses, else packer), \"native\" or \"packer\"";
        let choice = |text: &str, offset: usize, key: &str, errors: &mut Vec<Diagnostic>| {
            EngineChoice::parse(text).unwrap_or_else(|| {
                errors.push(
                    self.located(format!("`{text}` is not an engine"), offset)
                        .key(key.to_string())
                        .hint(hint),
                );
                EngineChoice::Auto
            })
        };
        let mut errors = Vec::new();
        let at = engine.span().start;
        match engine.get_ref() {
            toml::Value::String(text) => {
                choices.all = choice(text, at, &key, &mut errors);
            }
            toml::Value::Table(builds) => {
                let names: Vec<&str> = image
                    .template
                    .builders
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect();
                for (name, value) in builds {
                    let build_key = format!("{key}.{name}");
                    let picked = match value.as_str() {
                        Some(text) => choice(text, at, &build_key, &mut errors),
                        None => {
                            errors.push(
                                self.located(
                                    format!("the engine of build `{name}` must be a string"),
                                    at,
                                )
                                .key(build_key.clone())
                                .hint(hint),
                            );
                            EngineChoice::Auto
                        }
                    };
                    if !names.contains(&name.as_str()) {
                        let hint = match did_you_mean(name, names.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("its builds are: {}", names.join(", ")),
                        };
                        errors.push(
                            self.located(
                                format!(
                                    "the template of `{}` has no build named `{name}`",
                                    image.name
                                ),
                                at,
                            )
                            .key(build_key)
                            .hint(hint),
                        );
                    }
                    choices.builds.insert(name.clone(), picked);
                }
            }
            other => errors.push(
                self.located(
                    format!(
                        "`engine` must be a string or a table, not {}",
                        other.type_str()
                    ),
                    at,
                )
                .key(key.clone())
                .hint(hint),
            ),
        }
        self.errors.extend(errors);
        choices
    }

    /// Per-image variables go to one known template, so one it does not declare is a typo, not a
    /// variable meant for some other template (unlike `[workspace] variables`).
    fn check_variables_declared(&mut self, image: &Image, table: &manifest::ImageTable) {
        for name in table.variables.keys() {
            if image.template.variables.contains_key(name.get_ref()) {
                continue;
            }
            let declared = declared_variables(image);
            let hint = match did_you_mean(name.get_ref(), declared.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!(
                    "declare it under \"variables\" in `{}`",
                    image.template.path.display()
                ),
            };
            self.errors.push(
                self.located(
                    format!(
                        "template of `{}` does not declare the variable `{}`",
                        image.name,
                        name.get_ref()
                    ),
                    name.span().start,
                )
                .key(format!(
                    "images.{}.variables.{}",
                    image.name,
                    name.get_ref()
                ))
                .hint(hint),
            );
        }
    }

    fn check_parents(
        &mut self,
        image: &Image,
        table: &manifest::ImageTable,
        members: &BTreeMap<String, (PathBuf, usize)>,
    ) {
        for (variable, parent) in &table.parents {
            if !members.contains_key(parent.get_ref()) {
                let mut d = self
                    .located(
                        format!(
                            "image `{}` names an unknown parent `{}`",
                            image.name,
                            parent.get_ref()
                        ),
                        parent.span().start,
                    )
                    .key(format!(
                        "images.{}.parents.{}",
                        image.name,
                        variable.get_ref()
                    ));
                d = match did_you_mean(parent.get_ref(), members.keys().map(String::as_str)) {
                    Some(s) => d.hint(format!("did you mean `{s}`?")),
                    None => d.hint(format!(
                        "parents must be workspace members: {}",
                        members.keys().cloned().collect::<Vec<_>>().join(", ")
                    )),
                };
                self.errors.push(d);
            }
            if !image.template.variables.contains_key(variable.get_ref()) {
                let declared = declared_variables(image);
                let mut hint = format!(
                    "the parent's artifact arrives as a user variable: declare `\"{}\": null` under \"variables\" in `{}`",
                    variable.get_ref(),
                    image.template.path.display()
                );
                if let Some(s) = did_you_mean(variable.get_ref(), declared.iter().copied()) {
                    hint = format!("did you mean `{s}`? {hint}");
                }
                self.errors.push(
                    self.located(
                        format!(
                            "template of `{}` does not declare the variable `{}` that receives its parent's artifact",
                            image.name,
                            variable.get_ref()
                        ),
                        variable.span().start,
                    )
                    .key(format!("images.{}.parents.{}", image.name, variable.get_ref()))
                    .hint(hint),
                );
            }
        }
    }
}
/// The user variables an image's template declares, for did-you-mean hints.
fn declared_variables(image: &Image) -> Vec<&str> {
    image
        .template
        .variables
        .keys()
        .map(String::as_str)
        .collect()
}
