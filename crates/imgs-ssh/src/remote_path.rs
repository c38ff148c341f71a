//! Remote paths are `/`-separated strings, whatever machine imgs runs on, and Packer builds them
//! lexically: a join cleans the result (`a//b/../c` is `a/c`, no trailing slash), and the directory
//! and base name of a path follow Go's rules. Where a copy lands depends on these details (a
//! destination with a trailing slash is a different path from one without), so they are kept.

/// `dir` and `name` joined and cleaned; an empty part is left out (and two make an empty path).
pub fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(name),
        (false, true) => clean(dir),
        (false, false) => clean(&format!("{dir}/{name}")),
    }
}

/// Lexically cleaned: no repeated or trailing slashes, no `.` and no `..` that can be resolved;
/// `.` when nothing is left.
pub fn clean(path: &str) -> String {
    path_clean::clean(path).to_string_lossy().into_owned()
}

/// All but the last element, cleaned: `.` for a bare name, `/` for a name at the root. A trailing
/// slash ends an empty last element, so `a/b/` is in `a/b`.
pub fn parent(path: &str) -> String {
    match path.rfind('/') {
        Some(at) => clean(&path[..=at]),
        None => ".".to_string(),
    }
}

/// The last element, trailing slashes ignored: `.` for an empty path, `/` for the root.
pub fn base_name(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_are_clean() {
        assert_eq!(join("/srv/new/", "files"), "/srv/new/files");
        assert_eq!(join("/srv//new", "."), "/srv/new");
        assert_eq!(join("/srv/new", "a/../b"), "/srv/new/b");
        assert_eq!(join("", "x"), "x");
        assert_eq!(join("x/", ""), "x");
        assert_eq!(clean(""), ".");
    }

    #[test]
    fn parents_follow_the_last_slash() {
        assert_eq!(parent("/srv/new.txt"), "/srv");
        assert_eq!(parent("/srv/new/"), "/srv/new");
        assert_eq!(parent("/new"), "/");
        assert_eq!(parent("new"), ".");
        assert_eq!(parent("~/x"), "~");
    }

    #[test]
    fn base_names_ignore_trailing_slashes() {
        assert_eq!(base_name("/var/log/"), "log");
        assert_eq!(base_name("notes.txt"), "notes.txt");
        assert_eq!(base_name("/"), "/");
        assert_eq!(base_name(""), ".");
    }
}
