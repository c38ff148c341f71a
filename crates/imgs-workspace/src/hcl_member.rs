//! Reading an HCL2 configuration from disk: the directory's `*.pkr.hcl` files (or one such file)
//! and its `*.auto.pkrvars.hcl` files, in name order as Packer lists them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use imgs_diagnostic::{Diagnostic, Diagnostics};
use imgs_hcl::{ConfigFile, FileRole};
use imgs_template::Template;

/// Whether `dir` (absolute) holds at least one `*.pkr.hcl` file.
pub fn has_hcl_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| imgs_hcl::classify(n) == Some(FileRole::Config))
        })
    })
}

/// Read the configuration at `path` (a directory of `*.pkr.hcl` files or one such file), given
/// relative to `working_dir` or absolute: files are named as `path` names them, and `path` is
/// the configuration's `path.root` (its directory, for a file).
pub fn read_hcl(path: &Path, working_dir: &Path) -> Result<Template, Diagnostics> {
    let full = working_dir.join(path);
    let (root, names) = if full.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&full)
            .map_err(|e| unreadable(path, &e))?
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        (path.to_path_buf(), names)
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (
            path.parent().map(Path::to_path_buf).unwrap_or_default(),
            vec![name],
        )
    };
    let mut files = Vec::new();
    let mut auto_var_files = Vec::new();
    for name in names {
        let role = imgs_hcl::classify(&name);
        let rel = if full.is_dir() {
            root.join(&name)
        } else {
            path.to_path_buf()
        };
        let read = |rel: PathBuf| -> Result<ConfigFile, Diagnostics> {
            let text = std::fs::read_to_string(working_dir.join(&rel))
                .map_err(|e| unreadable(&rel, &e))?;
            Ok(ConfigFile { path: rel, text })
        };
        match role {
            Some(FileRole::Config) => files.push(read(rel)?),
            Some(FileRole::AutoVariables) if full.is_dir() => auto_var_files.push(read(rel)?),
            _ => {}
        }
    }
    imgs_hcl::read(
        &root,
        files,
        auto_var_files,
        Arc::new(DiskFiles),
        working_dir,
    )
}

fn unreadable(path: &Path, e: &std::io::Error) -> Diagnostics {
    Diagnostic::error(format!("cannot read `{}`: {e}", path.display()))
        .in_file(path)
        .into()
}

/// The real file system, for `file()`, `fileexists()`, `fileset()`.
#[derive(Debug)]
struct DiskFiles;

impl imgs_hcl::FileAccess for DiskFiles {
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, String> {
        std::fs::read(path).map_err(|e| format!("no file exists at {}: {e}", path.display()))
    }

    fn is_file(&self, path: &Path) -> Result<bool, String> {
        match std::fs::metadata(path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(format!("cannot stat {}: {e}", path.display())),
        }
    }

    fn glob(&self, base: &Path, pattern: &str) -> Result<Vec<String>, String> {
        let full = base.join(pattern);
        let paths = glob::glob(&full.to_string_lossy()).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for entry in paths {
            let path = entry.map_err(|e| e.to_string())?;
            if path.is_file()
                && let Ok(rel) = path.strip_prefix(base)
            {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        out.sort();
        Ok(out)
    }

    fn uuid_v4(&self) -> String {
        uuid::Uuid::new_v4().to_string()
    }
}

/// Packer's verdict on the HCL2 configuration at `path` (`packer validate PATH` run in the
/// invocation's working directory): read, lowered with the invocation's variables, validated
/// plugin by plugin. `imgs_template::check` is the same for a JSON template.
pub fn check_hcl(
    path: &Path,
    invocation: &imgs_template::Invocation,
    filter: &imgs_template::BuildFilter,
) -> Diagnostics {
    let judged = read_hcl(path, &invocation.working_dir).and_then(|parsed| {
        let template = imgs_template::instantiate(&parsed, invocation)?;
        let resolved = imgs_template::resolve_variables(&template, invocation)?;
        Ok(imgs_template::validate(
            &template, &resolved, invocation, filter,
        ))
    });
    judged.unwrap_or_else(|d| d)
}
