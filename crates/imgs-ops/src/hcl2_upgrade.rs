//! `imgs hcl2-upgrade`: a JSON template, given by path or as a workspace image, written as an
//! HCL2 configuration beside it (see imgs-hcl-upgrade for what the conversion guarantees).

use std::path::{Path, PathBuf};

use imgs_diagnostic::{Diagnostic, Diagnostics};

use super::inspect::read_file;
use super::{Context, Failure, Output};

/// What to convert and where to write it.
#[derive(Clone, Debug, Default)]
pub struct UpgradeOptions {
    /// A template file, or the name of a workspace image.
    pub target: String,
    /// Where to write; by default `FILE.pkr.hcl` beside a file (Packer's choice: `x.json` gives
    /// `x.json.pkr.hcl`) and `template.pkr.hcl` in an image's directory. `-` prints it.
    pub output: Option<PathBuf>,
}

pub fn hcl2_upgrade(cx: &Context, options: &UpgradeOptions) -> Result<Output, Failure> {
    let as_file = cx.cwd.join(&options.target);
    let (template, default_output, member) = if as_file.is_file() {
        let output = PathBuf::from(format!("{}.pkr.hcl", options.target));
        (PathBuf::from(&options.target), output, None)
    } else {
        let ws = cx.load_workspace()?;
        let Some(image) = ws.image(&options.target) else {
            return Err(Diagnostic::error(format!(
                "`{}` is neither a template file nor an image of the workspace",
                options.target
            ))
            .hint("give a JSON template's path, or an image name from Images.toml")
            .into());
        };
        if image.template.hcl.is_some() {
            return Err(Diagnostic::error(format!(
                "image `{}` is already an HCL2 configuration",
                image.name
            ))
            .in_file(&image.template.path)
            .into());
        }
        let template = ws.root.join(&image.template.path);
        let output = ws.root.join(&image.dir).join("template.pkr.hcl");
        (template, output, Some(image.template.path.clone()))
    };
    let text = read_file(cx, &template)?;
    let upgraded = imgs_hcl_upgrade::upgrade(&template, &text)?;
    let output = options.output.clone().unwrap_or(default_output);
    let mut warnings = Diagnostics::default();
    for warning in &upgraded.warnings {
        warnings
            .0
            .push(Diagnostic::warning(warning.clone()).in_file(&template));
    }
    if output == Path::new("-") {
        return Ok(Output {
            stdout: upgraded.text,
            warnings,
        });
    }
    let path = cx.cwd.join(&output);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::Other(format!("cannot create `{}`: {e}", dir.display())))?;
    }
    imgs_atomic_file::write_atomically(&path, upgraded.text.as_bytes())
        .map_err(|e| Failure::Other(format!("cannot write `{}`: {e}", output.display())))?;
    let shown = path.strip_prefix(&cx.cwd).unwrap_or(&path);
    let mut stdout = format!("wrote {}\n", shown.display());
    if let Some(json) = member {
        // The loader prefers template.json when both exist, so the member keeps building from it.
        stdout.push_str(&format!(
            "the image builds from {} until it is removed (a directory with both builds from the JSON template)\n",
            json.display()
        ));
    }
    Ok(Output { stdout, warnings })
}
