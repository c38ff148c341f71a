use std::path::PathBuf;

use imgs_diagnostic::Diagnostics;
use imgs_template::Invocation;
use imgs_template::interpolate::Volatile;

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
                            Ok(judged(&template, &resolved, &invocation, &filter, &cx.cwd))
                        });
                    judged_hcl.unwrap_or_else(|d| d)
                }
            };
            return finish(diagnostics, Checked::Template(path.clone()));
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
                    Ok(resolved) => judged(&template, &resolved, &invocation, &filter, &cx.cwd),
                    // `check` reports the variables' errors with the template-wide rules.
                    Err(_) => imgs_template::check(path, text, &invocation, &filter),
                },
            }
        };
        return finish(diagnostics, Checked::Template(path.clone()));
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
                Ok((template, resolved)) => all
                    .0
                    .extend(judged(&template, &resolved, &invocation, &filter, &ws.root).0),
                Err(d) => all.0.extend(d.0),
            }
        }
        checked.push((name.clone(), image.template.path.clone()));
    }
    finish(all, Checked::Images(checked))
}

/// Packer's verdict on a template, and when Packer would accept it, what [`as_built`] finds.
fn judged(
    template: &imgs_template::Template,
    resolved: &imgs_template::ResolvedVariables,
    invocation: &Invocation,
    filter: &imgs_template::BuildFilter,
    working_dir: &std::path::Path,
) -> Diagnostics {
    let mut found = imgs_template::validate(template, resolved, invocation, filter);
    if !found.has_errors() {
        found
            .0
            .extend(as_built(template, resolved, filter, working_dir).0);
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
) -> Diagnostics {
    let mut found = Diagnostics::default();
    for (builder_index, block) in template.builders.iter().enumerate() {
        if !filter.selects(&block.name) {
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
