//! `imgs fmt`: HCL2 files rewritten in Packer 1.6.6's canonical format (`packer fmt`).

use std::io::Read as _;
use std::path::{Path, PathBuf};

use imgs_diagnostic::{Diagnostic, Diagnostics};

use super::{Context, Failure, absolute};

#[derive(Clone, Debug, Default)]
pub struct FmtOptions {
    /// Files or directories; `-` is standard input. Empty: every HCL2 member of the workspace, or
    /// the current directory outside one.
    pub paths: Vec<PathBuf>,
    /// Only report: nothing is written, and the outcome says whether anything needs formatting.
    pub check: bool,
    pub diff: bool,
    /// Write the formatted files (Packer's `-write`, true unless `check`).
    pub write: bool,
}

/// What `imgs fmt` did: the text to print, and whether a file was not formatted (`--check`'s
/// exit status 3, as `packer fmt -check`).
#[derive(Debug, Default)]
pub struct Formatted {
    pub stdout: String,
    pub unformatted: bool,
}

pub fn fmt(cx: &Context, options: &FmtOptions) -> Result<Formatted, Failure> {
    let mut out = Formatted::default();
    if options.paths.iter().any(|p| p == Path::new("-")) {
        if options.paths.len() > 1 {
            return Err(
                Diagnostic::error("`-` (standard input) cannot be given with other paths")
                    .hint("format standard input alone: `imgs fmt - < FILE`")
                    .into(),
            );
        }
        let mut source = String::new();
        std::io::stdin()
            .read_to_string(&mut source)
            .map_err(|e| Failure::Other(format!("cannot read standard input: {e}")))?;
        return format_stdin(&source, options);
    }
    let files = files(cx, &options.paths)?;
    let mut errors = Diagnostics::default();
    for file in files {
        let shown = relative(&cx.cwd, &file);
        let source = std::fs::read_to_string(&file)
            .map_err(|e| Failure::Other(format!("cannot read `{}`: {e}", shown.display())))?;
        let formatted = match imgs_hcl_fmt::format(&source) {
            Ok(f) => f,
            Err(e) => {
                errors.0.push(parse_error(&shown, &e));
                continue;
            }
        };
        if formatted == source {
            continue;
        }
        out.unformatted = true;
        // Packer names each file it changes (or would change).
        out.stdout.push_str(&format!("{}\n", shown.display()));
        if options.diff {
            out.stdout
                .push_str(&diff(&source, &formatted, &shown.display().to_string()));
        }
        if options.write && !options.check {
            imgs_atomic_file::write_atomically(&file, formatted.as_bytes())
                .map_err(|e| Failure::Other(format!("cannot write `{}`: {e}", shown.display())))?;
        }
    }
    if errors.has_errors() {
        return Err(Failure::Input(errors));
    }
    Ok(out)
}

/// Standard input (an imgs addition: Packer 1.6.6 reads only files): the formatted text, or with
/// `--check` nothing (the exit status says), or with `--diff` the diff.
fn format_stdin(source: &str, options: &FmtOptions) -> Result<Formatted, Failure> {
    let formatted = imgs_hcl_fmt::format(source)
        .map_err(|e| Failure::Input(parse_error(Path::new("<stdin>"), &e).into()))?;
    let unformatted = formatted != source;
    let stdout = if options.diff {
        if unformatted {
            diff(source, &formatted, "<stdin>")
        } else {
            String::new()
        }
    } else if options.check {
        String::new()
    } else {
        formatted
    };
    Ok(Formatted {
        stdout,
        unformatted,
    })
}

/// A unified diff labelled as `packer fmt -diff` labels it (`diff -u --label=old/PATH
/// --label=new/PATH`).
fn diff(old: &str, new: &str, label: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .header(&format!("old/{label}"), &format!("new/{label}"))
        .to_string()
}

/// `file` as seen from `cwd` (`../web/web.pkr.hcl` from a sibling member): how Packer names a
/// file, given a relative path.
fn relative(cwd: &Path, file: &Path) -> PathBuf {
    let (cwd_parts, file_parts): (Vec<_>, Vec<_>) =
        (cwd.components().collect(), file.components().collect());
    let common = cwd_parts
        .iter()
        .zip(&file_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common == 0 {
        return file.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..cwd_parts.len() {
        out.push("..");
    }
    out.extend(&file_parts[common..]);
    out
}

fn parse_error(path: &Path, e: &imgs_hcl_fmt::FormatError) -> Diagnostic {
    Diagnostic::error(format!("cannot format `{}`: {}", path.display(), e.message))
        .at(imgs_diagnostic::Location::at_line_col(
            path, e.line, e.column,
        ))
        .hint("packer fmt formats only files that parse; fix the syntax first")
}

/// The HCL2 files named, or found in the directories named (not recursively, as Packer's fmt).
fn files(cx: &Context, paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let dirs: Vec<PathBuf> = if paths.is_empty() {
        match imgs_workspace::find_manifest(&cx.cwd) {
            Some(_) => {
                let ws = cx.load_workspace()?;
                ws.images
                    .iter()
                    .map(|i| ws.root.join(&i.dir))
                    .filter(|d| imgs_workspace::has_hcl_files(d))
                    .collect()
            }
            None => vec![cx.cwd.clone()],
        }
    } else {
        paths.iter().map(|p| absolute(&cx.cwd, p)).collect()
    };
    let mut out = Vec::new();
    for path in dirs {
        if path.is_file() {
            out.push(path);
            continue;
        }
        let entries = std::fs::read_dir(&path).map_err(|e| {
            Failure::from(
                Diagnostic::error(format!(
                    "cannot read `{}`: {e}",
                    relative(&cx.cwd, &path).display()
                ))
                .hint("give HCL2 files (*.pkr.hcl, *.pkrvars.hcl) or directories holding them"),
            )
        })?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                p.is_file() && (name.ends_with(".pkr.hcl") || name.ends_with(".pkrvars.hcl"))
            })
            .collect();
        if found.is_empty() {
            return Err(Diagnostic::error(format!(
                "Cannot tell whether {} contains HCL2 configuration data",
                relative(&cx.cwd, &path).display()
            ))
            .hint("imgs fmt formats *.pkr.hcl and *.pkrvars.hcl files")
            .into());
        }
        found.sort();
        out.extend(found);
    }
    Ok(out)
}
