use std::path::Path;

use imgs_diagnostic::Diagnostic;
use imgs_template::Template;

use super::{Context, Failure, absolute};

/// `imgs inspect NAME|FILE`: the template of a workspace image, or a template file. The front end
/// renders it (`imgs_report::render_inspect`).
pub fn inspect(cx: &Context, target: &str) -> Result<Template, Failure> {
    if looks_like_file(cx, target) {
        return read_template(cx, Path::new(target));
    }
    let ws = cx.load_workspace()?;
    ws.select(&imgs_workspace::Selection {
        include: vec![target.to_string()],
        exclude: vec![],
    })?;
    let image = ws.image(target).expect("selection checked the name");
    Ok(image.template.clone())
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
