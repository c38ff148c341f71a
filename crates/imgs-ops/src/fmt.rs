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
    /// The files that do not parse: like Packer, the others are still formatted and named.
    pub errors: Diagnostics,
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
    out.errors = errors;
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
        errors: Diagnostics::default(),
    })
}

/// A unified diff as `packer fmt -diff` prints it: Packer runs `diff -u --label=old/PATH
/// --label=new/PATH` on two temporary files, and so does imgs, since where lines repeat (`}`,
/// blank lines) GNU diff's choice of alignment is its own. Without a `diff` program, the same
/// format from `similar`.
fn diff(old: &str, new: &str, label: &str) -> String {
    gnu_diff(old, new, label).unwrap_or_else(|| builtin_diff(old, new, label))
}

fn gnu_diff(old: &str, new: &str, label: &str) -> Option<String> {
    let dir = tempfile::tempdir().ok()?;
    let (old_path, new_path) = (dir.path().join("old"), dir.path().join("new"));
    std::fs::write(&old_path, old).ok()?;
    std::fs::write(&new_path, new).ok()?;
    let out = std::process::Command::new("diff")
        .arg(format!("--label=old/{label}"))
        .arg(format!("--label=new/{label}"))
        .arg("-u")
        .args([&old_path, &new_path])
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    // Status 1: the files differ, which is the case here; anything else is trouble.
    (out.status.code() == Some(1))
        .then(|| String::from_utf8(out.stdout).ok())
        .flatten()
}

/// GNU diff's unified format: lines end at LF only (a lone CR is part of a line), three lines of
/// context, a last line without LF marked.
fn builtin_diff(old: &str, new: &str, label: &str) -> String {
    use similar::DiffTag;
    let old_lines: Vec<&str> = old.split_inclusive('\n').collect();
    let new_lines: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = similar::capture_diff_slices(similar::Algorithm::Myers, &old_lines, &new_lines);
    let mut out = format!("--- old/{label}\n+++ new/{label}\n");
    for hunk in similar::group_diff_ops(ops, 3) {
        let (Some(first), Some(last)) = (hunk.first(), hunk.last()) else {
            continue;
        };
        let old_range = first.old_range().start..last.old_range().end;
        let new_range = first.new_range().start..last.new_range().end;
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            hunk_range(&old_range),
            hunk_range(&new_range)
        ));
        let mut push = |sign: char, line: &str| {
            out.push(sign);
            out.push_str(line);
            if !line.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        };
        for op in &hunk {
            let (tag, old_part, new_part) = op.as_tag_tuple();
            match tag {
                DiffTag::Equal => old_lines[old_part].iter().for_each(|l| push(' ', l)),
                DiffTag::Delete => old_lines[old_part].iter().for_each(|l| push('-', l)),
                DiffTag::Insert => new_lines[new_part].iter().for_each(|l| push('+', l)),
                DiffTag::Replace => {
                    old_lines[old_part].iter().for_each(|l| push('-', l));
                    new_lines[new_part].iter().for_each(|l| push('+', l));
                }
            }
        }
    }
    out
}

/// A hunk's line range as GNU diff writes it: `START,COUNT`, `START` alone for one line, and the
/// line before for none.
fn hunk_range(range: &std::ops::Range<usize>) -> String {
    match range.len() {
        0 => format!("{},0", range.start),
        1 => format!("{}", range.start + 1),
        n => format!("{},{n}", range.start + 1),
    }
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
            // Packer formats a file named on the command line only by its HCL2 extension.
            if !is_hcl2_file_name(&path) {
                return Err(not_hcl2(&relative(&cx.cwd, &path)));
            }
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
            .filter(|p| p.is_file() && is_hcl2_file_name(p))
            .collect();
        if found.is_empty() {
            return Err(not_hcl2(&relative(&cx.cwd, &path)));
        }
        // Packer's order: configuration files, then variable files, each by name.
        found.sort_by_key(|p| (p.to_string_lossy().ends_with(".pkrvars.hcl"), p.clone()));
        out.extend(found);
    }
    Ok(out)
}

fn is_hcl2_file_name(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.ends_with(".pkr.hcl") || name.ends_with(".pkrvars.hcl")
}

/// Packer's words for a path that holds no HCL2 file.
fn not_hcl2(shown: &Path) -> Failure {
    Diagnostic::error(format!(
        "Cannot tell whether {} contains HCL2 configuration data",
        shown.display()
    ))
    .hint("imgs fmt formats *.pkr.hcl and *.pkrvars.hcl files")
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without `diff`, the same text GNU diff prints where the alignment is not in doubt: hunks,
    /// a lone CR inside a line, a last line without LF.
    #[test]
    fn builtin_diff_is_gnu_diffs_format() {
        let old = "a\nb=1\nc\nd\ne\nf\ng\nh\ni\nj\nk=2 # x\ry\nend";
        let new = "a\nb = 1\nc\nd\ne\nf\ng\nh\ni\nj\nk = 2 # x\ry\nend ";
        let ours = builtin_diff(old, new, "x.pkr.hcl");
        assert!(ours.contains("\\ No newline at end of file\n"), "{ours}");
        if let Some(theirs) = gnu_diff(old, new, "x.pkr.hcl") {
            assert_eq!(ours, theirs);
        }
        assert_eq!(hunk_range(&(3..3)), "3,0");
        assert_eq!(hunk_range(&(3..4)), "4");
        assert_eq!(hunk_range(&(3..6)), "4,3");
    }
}
