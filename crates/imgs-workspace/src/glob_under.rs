//! Matching a glob relative to a directory already known to exist (the workspace root, an image
//! directory), without the cost of handing `glob::glob` an absolute pattern: that walks the pattern from
//! `/` and stats every literal ancestor twice, once per image, which dominated a no-op build's system
//! calls. Wildcard components are matched against directory listings, whose entries already carry their
//! file type, so a matched regular file or directory costs no `stat` at all.
//!
//! The matching follows `glob::glob` with default options (a `*` matches a leading dot, matching is
//! case-sensitive, children are read in full and every unreadable directory is skipped). Patterns this
//! does not cover itself (`**`, `.` or `..` components, a trailing or doubled `/`, an absolute pattern)
//! are passed to `glob::glob` unchanged, so every pattern matches what it matched before.

use std::fs;
use std::path::{Path, PathBuf};

use glob::{MatchOptions, Pattern, PatternError};

/// One path a glob matched, with what it is (symlinks followed, as `Path::is_file` and `Path::is_dir` do).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobMatch {
    /// `base` joined with the matched components, spelled as `glob::glob` spells it.
    pub path: PathBuf,
    pub is_file: bool,
    pub is_dir: bool,
}

/// The paths under `base` matching `pattern` (relative to `base`), in no particular order. An invalid
/// pattern is the error `glob::glob` gives for `<escaped base>/<pattern>`, positions included.
pub fn glob_under(base: &Path, pattern: &str) -> Result<Vec<GlobMatch>, PatternError> {
    let full = format!("{}/{pattern}", Pattern::escape(&base.to_string_lossy()));
    Pattern::new(&full)?;
    let components: Vec<&str> = pattern.split('/').collect();
    let simple = !pattern.starts_with('/')
        && components
            .iter()
            .all(|c| !c.is_empty() && *c != "." && *c != ".." && !c.contains("**"));
    if !simple {
        return Ok(glob::glob(&full)?
            .filter_map(Result::ok)
            .map(|path| GlobMatch {
                is_file: path.is_file(),
                is_dir: path.is_dir(),
                path,
            })
            .collect());
    }
    let mut found = Vec::new();
    let components = components
        .iter()
        .map(|c| Pattern::new(c).map(|p| (*c, p)))
        .collect::<Result<Vec<_>, _>>()?;
    walk(base, &components, &mut found);
    Ok(found)
}

/// Matches `components` below `dir`, which is known to be a directory (or the walk ends at the listing).
fn walk(dir: &Path, components: &[(&str, Pattern)], found: &mut Vec<GlobMatch>) {
    let Some(((text, pattern), rest)) = components.split_first() else {
        return;
    };
    let has_metachars = text.contains(['*', '?', '[']);
    if !has_metachars {
        let path = dir.join(text);
        if rest
            .first()
            .is_some_and(|(next, _)| next.contains(['*', '?', '[']))
        {
            // Only a directory can match further, and listing it fails for anything else: no stat.
            walk(&path, rest, found);
            return;
        }
        // A literal component: no listing needed, only whether the entry exists (a dangling symlink
        // counts, as for `glob::glob`).
        let (is_file, is_dir) = match fs::metadata(&path) {
            Ok(metadata) => (metadata.is_file(), metadata.is_dir()),
            Err(_) if fs::symlink_metadata(&path).is_ok() => (false, false),
            Err(_) => return,
        };
        step(path, is_file, is_dir, rest, found);
        return;
    }
    let Ok(listing) = fs::read_dir(dir) else {
        return;
    };
    let options = MatchOptions::new();
    for entry in listing.filter_map(Result::ok) {
        let name = entry.file_name();
        // `glob::glob` matches names that are not UTF-8 lossily too.
        if !pattern.matches_with(&name.to_string_lossy(), options) {
            continue;
        }
        let path = entry.path();
        let (is_file, is_dir) = match entry.file_type() {
            Ok(kind) if !kind.is_symlink() => (kind.is_file(), kind.is_dir()),
            _ => fs::metadata(&path).map_or((false, false), |m| (m.is_file(), m.is_dir())),
        };
        step(path, is_file, is_dir, rest, found);
    }
}

fn step(
    path: PathBuf,
    is_file: bool,
    is_dir: bool,
    rest: &[(&str, Pattern)],
    found: &mut Vec<GlobMatch>,
) {
    if rest.is_empty() {
        found.push(GlobMatch {
            path,
            is_file,
            is_dir,
        });
    } else if is_dir || !rest[0].0.contains(['*', '?', '[']) {
        // A literal next component is looked up even under a non-directory, as `glob::glob` does; the
        // lookup then simply fails.
        walk(&path, rest, found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both matchers over the same tree, compared as sorted paths with their kinds.
    fn same_as_glob(base: &Path, pattern: &str) {
        let mut ours = glob_under(base, pattern).unwrap();
        ours.sort_by(|a, b| a.path.cmp(&b.path));
        let full = format!("{}/{pattern}", Pattern::escape(&base.to_string_lossy()));
        let mut theirs: Vec<GlobMatch> = glob::glob(&full)
            .unwrap()
            .filter_map(Result::ok)
            .map(|path| GlobMatch {
                is_file: path.is_file(),
                is_dir: path.is_dir(),
                path,
            })
            .collect();
        theirs.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(ours, theirs, "pattern `{pattern}`");
    }

    #[test]
    fn matches_what_glob_matches() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("a [weird] dir*");
        for sub in [
            "files/etc",
            "files/empty",
            "images/web",
            "images/db",
            "x/y/z",
        ] {
            fs::create_dir_all(base.join(sub)).unwrap();
        }
        for file in [
            "files/a.conf",
            "files/.hidden",
            "files/b.txt",
            "files/etc/motd",
            "images/web/template.json",
            "x/y/z/deep",
            "plain",
        ] {
            fs::write(base.join(file), "x").unwrap();
        }
        std::os::unix::fs::symlink("files/etc", base.join("link-to-dir")).unwrap();
        std::os::unix::fs::symlink("files/a.conf", base.join("link-to-file")).unwrap();
        std::os::unix::fs::symlink("nowhere", base.join("dangling")).unwrap();
        for pattern in [
            "files/*",
            "files/*.conf",
            "files/?.txt",
            "files/[ab].*",
            "files/*/motd",
            "images/*",
            "images/*/template.json",
            "*",
            "link-*",
            "link-to-dir/*",
            "dangling",
            "plain/x",
            "plain/*",
            "dangling/*",
            "link-to-file/*",
            "*/y/*/deep",
            "x/*/z",
            "missing/*",
            "files/**/motd",
            "**/*.conf",
            "files/../plain",
            "./files/*",
            "files//a.conf",
            "files/",
        ] {
            same_as_glob(&base, pattern);
        }
    }

    #[test]
    fn an_invalid_pattern_is_globs_error_for_the_full_pattern() {
        let base = Path::new("/ws/images/app");
        let ours = glob_under(base, "files/[").unwrap_err();
        let theirs = glob::glob("/ws/images/app/files/[").unwrap_err();
        assert_eq!(ours.to_string(), theirs.to_string());
    }
}
