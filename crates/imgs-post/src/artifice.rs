//! The `artifice` post-processor: the artifact becomes the files the template lists, so the next
//! post-processor of the chain (compress, checksum, …) works on them — typically files a `file`
//! provisioner downloaded from the machine.
//!
//! Each entry of `files` is expanded as Go's `filepath.Glob` expands it, as Packer 1.6.6 does: a
//! pattern (`*`, `?`, `[…]`) gives its matches in sorted order (a `*` does not cross a `/`, and does
//! match a leading dot); a plain path gives itself when it exists and nothing when it does not (Packer
//! drops it silently); a malformed pattern is an error. Every file found must then be readable
//! (`stat` follows links), or the step fails.

use std::path::{Path, PathBuf};

use crate::{PostError, resolve};

/// The files `patterns` name, relative ones resolved against `working_dir` and listed as written
/// (relative when the pattern was).
pub fn expand(patterns: &[String], working_dir: &Path) -> Result<Vec<PathBuf>, PostError> {
    let mut files = Vec::new();
    for pattern in patterns {
        for file in glob_like_go(pattern, working_dir)? {
            let full = resolve(working_dir, &file);
            std::fs::metadata(&full).map_err(|e| PostError::io("read", &full, e))?;
            files.push(file);
        }
    }
    Ok(files)
}

/// Go's `filepath.Glob` of `pattern`, relative patterns against `working_dir`.
fn glob_like_go(pattern: &str, working_dir: &Path) -> Result<Vec<PathBuf>, PostError> {
    if pattern.is_empty() {
        return Ok(Vec::new());
    }
    let written = Path::new(pattern);
    if !pattern.contains(['*', '?', '[', '\\']) {
        // No pattern: the path itself when it exists (not following a final link), else nothing.
        let found = std::fs::symlink_metadata(resolve(working_dir, written)).is_ok();
        return Ok(if found {
            vec![written.to_path_buf()]
        } else {
            Vec::new()
        });
    }
    let bad = |reason: String| PostError::BadPattern {
        pattern: pattern.to_string(),
        reason,
    };
    // Go reports a malformed pattern even when nothing could match it.
    glob::Pattern::new(pattern).map_err(|e| bad(e.msg.to_string()))?;
    let (full, base) = if written.is_absolute() {
        (pattern.to_string(), None)
    } else {
        let root = working_dir.to_string_lossy();
        (
            format!("{}/{pattern}", glob::Pattern::escape(&root)),
            Some(working_dir),
        )
    };
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let matches = glob::glob_with(&full, options).map_err(|e| bad(e.msg.to_string()))?;
    let mut found = Vec::new();
    for entry in matches {
        // An unreadable directory on the way is skipped, as Go's Glob skips it.
        let Ok(path) = entry else { continue };
        found.push(match base {
            Some(base) => path
                .strip_prefix(base)
                .map(Path::to_path_buf)
                .unwrap_or(path),
            None => path,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, name).unwrap();
    }

    fn shown(files: Vec<PathBuf>) -> Vec<String> {
        files.iter().map(|f| f.display().to_string()).collect()
    }

    #[test]
    fn patterns_expand_as_go_globs_and_plain_paths_stay_as_written() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "out/b.log",
            "out/a.log",
            "out/.hidden.log",
            "out/sub/c.log",
            "x.txt",
        ] {
            touch(dir.path(), name);
        }
        let abs = dir.path().join("x.txt").display().to_string();
        let files = expand(
            &[
                "out/*.log".into(),
                "x.txt".into(),
                "missing.txt".into(),
                abs.clone(),
                "out/?/none".into(),
            ],
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            shown(files),
            ["out/.hidden.log", "out/a.log", "out/b.log", "x.txt", &abs]
        );
    }

    #[test]
    fn a_malformed_pattern_and_a_dangling_link_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = expand(&["out/[a".into()], dir.path()).unwrap_err();
        assert!(matches!(err, PostError::BadPattern { .. }), "{err}");
        std::os::unix::fs::symlink("nowhere", dir.path().join("link")).unwrap();
        let err = expand(&["link".into()], dir.path()).unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
    }

    #[test]
    fn a_working_directory_with_pattern_characters_is_taken_literally() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("odd[1]");
        touch(&dir, "f.txt");
        assert_eq!(shown(expand(&["*.txt".into()], &dir).unwrap()), ["f.txt"]);
    }
}
