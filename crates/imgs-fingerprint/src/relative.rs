//! Input keys name files relative to the workspace root, so a fingerprint does not depend on where the
//! workspace is checked out.

use std::path::{Component, Path, PathBuf};

/// `path` relative to `root`, `/`-separated, with `../` steps when it lies outside; `.` for the root
/// itself. Both are made absolute and `.`/`..` resolved by text alone: the key names the path as the
/// template wrote it, even when a symlink makes `..` lead elsewhere on disk.
pub fn relative_key(root: &Path, path: &Path) -> String {
    let root = normalize(root);
    let path = normalize(path);
    let root_parts: Vec<Component> = root.components().collect();
    let path_parts: Vec<Component> = path.components().collect();
    let common = root_parts
        .iter()
        .zip(&path_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common == 0 {
        // Nothing shared (different Windows drives): only the full path names it.
        return path.to_string_lossy().replace('\\', "/");
    }

    let ups = root_parts.len() - common;
    let mut parts: Vec<String> = vec!["..".to_owned(); ups];
    parts.extend(
        path_parts[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// Absolute, without `.` or `..` components (resolved by text, not by following symlinks): two
/// spellings of a path that may not exist yet compare equal.
pub fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                // `/..` is `/`: popping past the root leaves the root.
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_the_root_are_relative_with_slashes() {
        let root = Path::new("/ws");
        assert_eq!(
            relative_key(root, Path::new("/ws/images/app/setup.sh")),
            "images/app/setup.sh"
        );
        assert_eq!(
            relative_key(root, Path::new("/ws/images/app/./files/../setup.sh")),
            "images/app/setup.sh"
        );
        assert_eq!(relative_key(root, Path::new("/ws")), ".");
        assert_eq!(relative_key(Path::new("/ws/"), Path::new("/ws/a")), "a");
    }

    #[test]
    fn paths_outside_the_root_climb_with_dot_dot() {
        let root = Path::new("/ws/project");
        assert_eq!(
            relative_key(root, Path::new("/ws/shared/x.sh")),
            "../shared/x.sh"
        );
        assert_eq!(
            relative_key(root, Path::new("/ws/project/images/../../shared")),
            "../shared"
        );
        assert_eq!(
            relative_key(root, Path::new("/etc/hosts")),
            "../../etc/hosts"
        );
        assert_eq!(
            relative_key(root, Path::new("/ws/project/../../../x")),
            "../../x"
        );
    }

    #[test]
    fn relative_paths_are_taken_from_the_current_directory() {
        let here = std::env::current_dir().unwrap();
        assert_eq!(
            relative_key(&here, Path::new("images/app/x.sh")),
            "images/app/x.sh"
        );
        assert_eq!(relative_key(Path::new("."), &here.join("y")), "y");
    }
}
