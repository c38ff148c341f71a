use imgs_diagnostic::Diagnostics;
use imgs_template::Invocation;
use imgs_template::interpolate::Volatile;

use super::fingerprint::workspace_variables;
use super::inspect::read_file;
use super::plan::selection;
use super::{Context, Failure, Output, build_filter};
use crate::options::ValidateOptions;

/// `imgs validate [FILE]`: one template on its own (as `packer validate FILE`), or the workspace —
/// Images.toml and every selected image's template.
/// Returns what was checked, with warnings; errors come back as `Failure::Input`.
pub fn validate(cx: &Context, args: &ValidateOptions) -> Result<Output, Failure> {
    let filter = build_filter(&args.filter);
    if let Some(path) = &args.template {
        let text = read_file(cx, path)?;
        let diagnostics = if args.syntax_only {
            match imgs_template::Template::parse(path, text) {
                Ok(_) => Diagnostics::default(),
                Err(d) => d,
            }
        } else {
            let invocation = cx.invocation(&cx.cwd, &args.variables, real_time(), false)?;
            imgs_template::check(path, text, &invocation, &filter)
        };
        return finish(diagnostics, format!("{}: valid\n", path.display()));
    }
    let ws = cx.load_workspace()?;
    let selected = ws.select(&selection(cx, &ws, &args.selection))?;
    let selected =
        super::changed_since::narrow(cx, &ws, &args.selection, &args.variables, &filter, selected)?;
    let base = cx.invocation(&ws.root, &args.variables, real_time(), true)?;
    let mut all = Diagnostics::default();
    let mut checked = String::new();
    for name in &selected.needed {
        let image = ws.image(name).expect("selected names are workspace images");
        if !args.syntax_only {
            let invocation = Invocation {
                workspace_vars: workspace_variables(&ws, image),
                ..base.clone()
            };
            match imgs_template::resolve_variables(&image.template, &invocation) {
                Ok(resolved) => all.0.extend(
                    imgs_template::validate(&image.template, &resolved, &invocation, &filter).0,
                ),
                Err(d) => all.0.extend(d.0),
            }
        }
        checked.push_str(&format!(
            "{:>12} {name} ({})\n",
            "Checked",
            image.template.path.display()
        ));
    }
    let n = selected.needed.len();
    checked.push_str(&format!(
        "{n} image{} valid\n",
        if n == 1 { "" } else { "s" }
    ));
    finish(all, checked)
}

fn real_time() -> Volatile {
    Volatile::Real {
        init_time: chrono::Utc::now(),
    }
}

/// Warnings are part of the report; any error fails the command.
fn finish(diagnostics: Diagnostics, ok: String) -> Result<Output, Failure> {
    if diagnostics.has_errors() {
        return Err(Failure::Input(diagnostics));
    }
    Ok(Output {
        stdout: ok,
        warnings: diagnostics,
    })
}
