use std::path::PathBuf;

use imgs_build::ForeignCheck;
use imgs_build::PackerError;
use imgs_diagnostic::Diagnostics;
use imgs_template::interpolate::Volatile;
use imgs_template::{EngineChoices, Invocation};

use super::fingerprint::workspace_variables;
use super::inspect::read_file;
use super::plan::selection;
use super::{Context, Failure, build_filter};
use crate::options::ValidateOptions;

/// `imgs validate [FILE]`: one template on its own (as `packer validate FILE`), or the workspace —
/// Images.toml and every selected image's template.
/// Returns what was checked, with warnings; errors come back as `Failure::Input`. The front end
/// renders it.
pub fn validate(cx: &Context, args: &ValidateOptions) -> Result<Validated, Failure> {
    let filter = build_filter(&args.filter);
    let mut unchecked = Unchecked::default();
    if let Some(path) = &args.template {
        if super::inspect::is_hcl(cx, path) {
            let diagnostics = match imgs_workspace::read_hcl(path, &cx.cwd) {
                Err(d) => d,
                Ok(_) if args.syntax_only => Diagnostics::default(),
                Ok(template) => {
                    let invocation = cx.invocation(&cx.cwd, &args.variables, real_time(), false)?;
                    let judged_hcl =
                        imgs_template::instantiate(&template, &invocation).and_then(|template| {
                            let resolved =
                                imgs_template::resolve_variables(&template, &invocation)?;
                            Ok(judged(
                                &template,
                                &resolved,
                                &invocation,
                                &filter,
                                &cx.cwd,
                                &EngineChoices::default(),
                                &mut unchecked,
                            ))
                        });
                    judged_hcl.unwrap_or_else(|d| d)
                }
            };
            return finish(
                unchecked.noted(diagnostics),
                Checked::Template(path.clone()),
            );
        }
        let text = read_file(cx, path)?;
        let diagnostics = if args.syntax_only {
            match imgs_template::Template::parse(path, text) {
                Ok(_) => Diagnostics::default(),
                Err(d) => d,
            }
        } else {
            let invocation = cx.invocation(&cx.cwd, &args.variables, real_time(), false)?;
            match imgs_template::Template::parse(path, text.clone()) {
                Err(d) => d,
                Ok(template) => match imgs_template::resolve_variables(&template, &invocation) {
                    Ok(resolved) => judged(
                        &template,
                        &resolved,
                        &invocation,
                        &filter,
                        &cx.cwd,
                        &EngineChoices::default(),
                        &mut unchecked,
                    ),
                    // `check` reports the variables' errors with the template-wide rules.
                    Err(_) => imgs_template::check(path, text, &invocation, &filter),
                },
            }
        };
        return finish(
            unchecked.noted(diagnostics),
            Checked::Template(path.clone()),
        );
    }
    let ws = cx.load_workspace()?;
    let selected = ws.select(&selection(cx, &ws, &args.selection))?;
    let selected =
        super::changed_since::narrow(cx, &ws, &args.selection, &args.variables, &filter, selected)?;
    let base = cx.invocation(&ws.root, &args.variables, real_time(), true)?;
    let mut all = Diagnostics::default();
    let mut checked = Vec::new();
    for name in &selected.needed {
        let image = ws.image(name).expect("selected names are workspace images");
        if !args.syntax_only {
            let invocation = Invocation {
                workspace_vars: workspace_variables(&ws, image),
                ..base.clone()
            };
            let resolved =
                imgs_template::instantiate(&image.template, &invocation).and_then(|template| {
                    let resolved = imgs_template::resolve_variables(&template, &invocation)?;
                    Ok((template, resolved))
                });
            match resolved {
                Ok((template, resolved)) => all.0.extend(
                    judged(
                        &template,
                        &resolved,
                        &invocation,
                        &filter,
                        &ws.root,
                        &image.engine,
                        &mut unchecked,
                    )
                    .0,
                ),
                Err(d) => all.0.extend(d.0),
            }
        }
        checked.push((name.clone(), image.template.path.clone()));
    }
    finish(unchecked.noted(all), Checked::Images(checked))
}

/// Types whose settings no one checked because Packer could not be run: said once, at the end.
#[derive(Default)]
struct Unchecked {
    error: Option<PackerError>,
    /// `the \`vagrant\` post-processor (images/app/template.json)`.
    parts: Vec<String>,
}

impl Unchecked {
    fn note(&mut self, error: PackerError, types: Vec<String>, path: &std::path::Path) {
        self.error.get_or_insert(error);
        for t in types {
            let part = format!("{t} ({})", path.display());
            if !self.parts.contains(&part) {
                self.parts.push(part);
            }
        }
    }

    /// `found` with one warning saying what was left unchecked, if anything was.
    fn noted(self, mut found: Diagnostics) -> Diagnostics {
        if let Some(error) = self.error {
            let mut d = imgs_diagnostic::Diagnostic::warning(format!(
                "{error}: the settings of {} were not validated",
                self.parts.join(", ")
            ));
            if let Some(hint) = error.hint() {
                d = d.hint(format!(
                    "imgs checks these types with `packer validate`; {hint}"
                ));
            }
            found.0.push(d);
        }
        found
    }
}

/// Packer's verdict on a template, and when Packer would accept it, what [`as_built`] finds; the
/// settings of types imgs does not know are Packer's to judge (`packer validate`), merged in.
fn judged(
    template: &imgs_template::Template,
    resolved: &imgs_template::ResolvedVariables,
    invocation: &Invocation,
    filter: &imgs_template::BuildFilter,
    working_dir: &std::path::Path,
    engines: &EngineChoices,
    unchecked: &mut Unchecked,
) -> Diagnostics {
    let mut found = imgs_template::validate(template, resolved, invocation, filter);
    // What only `imgs validate` says: a type of imgs's own makes the template imgs's alone.
    found.0.extend(imgs_template::extension_notes(template).0);
    if !found.has_errors() {
        found
            .0
            .extend(as_built(template, resolved, filter, working_dir, engines).0);
    }
    match imgs_build::validate_foreign(template, resolved, working_dir, filter) {
        ForeignCheck::NothingForeign => {}
        ForeignCheck::Checked(problems) => {
            for problem in problems {
                // Packer also reports what imgs found in the parts both know.
                if !found.0.iter().any(|d| d.message == problem.message) {
                    found.0.push(problem);
                }
            }
        }
        ForeignCheck::NotRun { error, types } => unchecked.note(error, types, &template.path),
    }
    found
}

/// What reading the selected builds as `imgs build` reads them finds beyond Packer's verdict: the
/// options and types imgs refuses (a `winrm` communicator, `elevated_user` on Puppet, …), so that
/// `imgs validate` says so rather than the build. Only asked of templates Packer would accept, so
/// nothing is reported twice.
fn as_built(
    template: &imgs_template::Template,
    resolved: &imgs_template::ResolvedVariables,
    filter: &imgs_template::BuildFilter,
    working_dir: &std::path::Path,
    engines: &EngineChoices,
) -> Diagnostics {
    let mut found = Diagnostics::default();
    for (builder_index, block) in template.builders.iter().enumerate() {
        if !filter.selects(&block.name) {
            continue;
        }
        let engine = engines.of(&block.name);
        // Packer reads the builds it runs; what imgs does not know of them is `packer validate`'s.
        if let Ok(decision) = imgs_build::engine::decide(template, block, engine)
            && decision.engine == imgs_template::Engine::Packer
        {
            // But an imgs extension in a build Packer runs is imgs's to refuse.
            if let Err(d) = imgs_build::engine::decide_located(template, block, &block.name, engine)
            {
                found.0.extend(d.0);
            }
            continue;
        }
        let input = imgs_build::BuildInput {
            template,
            builder_index,
            variables: resolved,
            working_dir,
            init_time: chrono::Utc::now(),
            labels: imgs_build::RunLabels::default(),
            outputs: None,
            // Validating writes nothing, so an existing output directory is no reason to refuse.
            force: true,
            engine,
        };
        if let Err(d) = imgs_build::prepare_build(&input) {
            found.0.extend(d.0);
        }
    }
    found
}

fn real_time() -> Volatile {
    Volatile::Real {
        init_time: chrono::Utc::now(),
    }
}

/// What `imgs validate` checked and found valid.
pub enum Checked {
    /// One template file, on its own.
    Template(PathBuf),
    /// Workspace images, each with its template's path, in build order.
    Images(Vec<(String, PathBuf)>),
}

/// A validation that passed: what was checked, and the warnings found.
pub struct Validated {
    pub checked: Checked,
    pub warnings: Diagnostics,
}

/// Warnings are part of the report; any error fails the command.
fn finish(diagnostics: Diagnostics, checked: Checked) -> Result<Validated, Failure> {
    if diagnostics.has_errors() {
        return Err(Failure::Input(diagnostics));
    }
    Ok(Validated {
        checked,
        warnings: diagnostics,
    })
}
