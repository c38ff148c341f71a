use std::path::Path;

use imgs_diagnostic::Diagnostic;
use imgs_template::interpolate::Volatile;
use imgs_template::{HclInspection, Invocation, Template};

use super::{Context, Failure, absolute};

/// What `imgs inspect` shows: the template, and for an HCL2 configuration what its variables
/// and locals evaluate to in this invocation (the environment's `PKR_VAR_*` and HOME, Images.toml's
/// values, the clock), as `packer inspect` evaluates them.
pub struct Inspected {
    pub template: Template,
    pub hcl: Option<HclInspection>,
}

/// `imgs inspect NAME|FILE`: the template of a workspace image, or a template file. The front end
/// renders it (`imgs_report::render_inspect`).
pub fn inspect(cx: &Context, target: &str) -> Result<Inspected, Failure> {
    let now = Volatile::Real {
        init_time: chrono::Utc::now(),
    };
    let variables = crate::options::VariableOptions::default();
    if looks_like_file(cx, target) {
        let template = read_template(cx, Path::new(target))?;
        let hcl = match &template.hcl {
            Some(config) => Some(config.inspect(&cx.invocation(&cx.cwd, &variables, now, false)?)),
            None => None,
        };
        return Ok(Inspected { template, hcl });
    }
    let ws = cx.load_workspace()?;
    ws.select(&imgs_workspace::Selection {
        include: vec![target.to_string()],
        exclude: vec![],
    })?;
    let image = ws.image(target).expect("selection checked the name");
    let hcl = match &image.template.hcl {
        Some(config) => {
            // A parent's artifact is not known before the parent builds: shown as unknown, as
            // Packer shows a variable without a value.
            let workspace_vars = super::fingerprint::workspace_variables(&ws, image)
                .into_iter()
                .filter(|(name, _)| !image.parents.iter().any(|p| &p.variable == name))
                .collect();
            let invocation = Invocation {
                workspace_vars,
                ..cx.invocation(&ws.root, &variables, now, false)?
            };
            Some(config.inspect(&invocation))
        }
        None => None,
    };
    Ok(Inspected {
        template: image.template.clone(),
        hcl,
    })
}

/// A target names a template file when it has a path shape or exists as a file.
pub fn looks_like_file(cx: &Context, target: &str) -> bool {
    target.ends_with(".json")
        || target.ends_with(".pkr.hcl")
        || target.contains('/')
        || absolute(&cx.cwd, Path::new(target)).is_file()
        || imgs_workspace::has_hcl_files(&absolute(&cx.cwd, Path::new(target)))
}

/// A template given on the command line: a JSON file, or an HCL2 configuration (a directory, as
/// `packer validate DIR` reads it, or one `*.pkr.hcl` file).
pub fn read_template(cx: &Context, path: &Path) -> Result<Template, Failure> {
    if is_hcl(cx, path) {
        return Ok(imgs_workspace::read_hcl(path, &cx.cwd)?);
    }
    let text = read_file(cx, path)?;
    Ok(Template::parse(path, text)?)
}

/// Whether `path` names an HCL2 configuration rather than a JSON template.
pub fn is_hcl(cx: &Context, path: &Path) -> bool {
    path.to_string_lossy().ends_with(".pkr.hcl") || absolute(&cx.cwd, path).is_dir()
}

pub fn read_file(cx: &Context, path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(absolute(&cx.cwd, path)).map_err(|e| {
        Failure::from(
            Diagnostic::error(format!("cannot read template `{}`: {e}", path.display())).hint(
                "give the path of a Packer JSON template, an HCL2 directory or `*.pkr.hcl` file, or an image name inside a workspace",
            ),
        )
    })
}
