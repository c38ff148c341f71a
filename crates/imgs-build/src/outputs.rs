//! Where a workspace build's outputs go.
//!
//! A template says where Packer writes its outputs (`output_directory`, a file builder's `target`, a
//! post-processor's `output`), relative to the directory Packer runs in. In a workspace, imgs owns
//! `cache/artifacts/<image>/` the way cargo owns `target/`: every build of an image writes into a
//! version directory of its own there (`cache/artifacts/<image>/<fingerprint>/`, see imgs-cache), so
//! a rebuild never touches the files another version, or a child built on it, still uses. The rule:
//!
//! - a path inside `cache/artifacts/<image>/` keeps what follows that prefix, under the version
//!   directory: `cache/artifacts/base` is the version directory itself, `cache/artifacts/base/sums`
//!   is `sums` in it;
//! - an output the template leaves at Packer's default (qemu's `output-<build>` directory, the
//!   `packer-manifest.json` of `manifest`, the default names of `checksum` and `compress`) goes into
//!   the version directory too: the template did not choose a place, so imgs does;
//! - any other path is written where the template says, as Packer writes it. Scripts may read such
//!   a path by name (a `shell-local` step reading the file builder's target), so it is not moved;
//!   being outside imgs's directory, it is not versioned either.
//!
//! A template built on its own (`imgs build FILE`) has no placement: its paths mean what they say.

use std::path::{Path, PathBuf};

use imgs_fingerprint::normalize;

/// The image's artifacts directory and the version directory this build writes into instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputPlacement {
    /// `<workspace>/cache/artifacts/<image>`, absolute.
    pub image_dir: PathBuf,
    /// `<image_dir>/<fingerprint>`, absolute.
    pub version_dir: PathBuf,
}

impl OutputPlacement {
    /// Where an output the template names `written` (relative paths mean `working_dir`) is written;
    /// relative to `working_dir` when it was written relative, absolute otherwise.
    pub fn place(&self, working_dir: &Path, written: &Path) -> PathBuf {
        let absolute = normalize(&working_dir.join(written));
        match absolute.strip_prefix(&self.image_dir) {
            Ok(rest) => shown(working_dir, written, &self.version_dir.join(rest)),
            Err(_) => written.to_path_buf(),
        }
    }

    /// Where an output left at Packer's default name `default` (a relative path) is written: in the
    /// version directory, relative to `working_dir` when inside it.
    pub fn default_output(&self, working_dir: &Path, default: &Path) -> PathBuf {
        let placed = if default.as_os_str().is_empty() {
            self.version_dir.clone()
        } else {
            self.version_dir.join(default)
        };
        shown(working_dir, default, &placed)
    }
}

/// `placed` relative to `working_dir` when `written` was relative and `placed` is inside it.
fn shown(working_dir: &Path, written: &Path, placed: &Path) -> PathBuf {
    match placed.strip_prefix(working_dir) {
        Ok(rest) if written.is_relative() => rest.to_path_buf(),
        _ => placed.to_path_buf(),
    }
}

/// Where a build writes the output `written` (`is_default`: left at Packer's default): placed when
/// the build has a placement, as written otherwise.
pub(crate) fn placed(
    placement: Option<&OutputPlacement>,
    working_dir: &Path,
    written: &str,
    is_default: bool,
) -> String {
    let written = Path::new(written);
    match placement {
        Some(p) if is_default => p.default_output(working_dir, written),
        Some(p) => p.place(working_dir, written),
        None => written.to_path_buf(),
    }
    .display()
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placement() -> OutputPlacement {
        OutputPlacement {
            image_dir: "/ws/cache/artifacts/base".into(),
            version_dir: "/ws/cache/artifacts/base/1a2b3c4d5e6f".into(),
        }
    }

    fn place(written: &str) -> String {
        placed(Some(&placement()), Path::new("/ws"), written, false)
    }

    #[test]
    fn paths_in_the_images_artifacts_directory_move_into_the_version() {
        assert_eq!(
            place("cache/artifacts/base"),
            "cache/artifacts/base/1a2b3c4d5e6f"
        );
        assert_eq!(
            place("cache/artifacts/base/"),
            "cache/artifacts/base/1a2b3c4d5e6f"
        );
        assert_eq!(
            place("./cache/artifacts/base/sums/base.sha256"),
            "cache/artifacts/base/1a2b3c4d5e6f/sums/base.sha256"
        );
        assert_eq!(
            place("/ws/cache/artifacts/base/manifest.json"),
            "/ws/cache/artifacts/base/1a2b3c4d5e6f/manifest.json",
            "absolute inside the artifacts directory: placed, and stays absolute"
        );
    }

    #[test]
    fn defaults_go_into_the_version_and_other_paths_stay() {
        let default = |name| placed(Some(&placement()), Path::new("/ws"), name, true);
        assert_eq!(
            default("packer-manifest.json"),
            "cache/artifacts/base/1a2b3c4d5e6f/packer-manifest.json"
        );
        assert_eq!(default(""), "cache/artifacts/base/1a2b3c4d5e6f");
        assert_eq!(place("out/motd.txt"), "out/motd.txt");
        assert_eq!(place("/srv/images/base"), "/srv/images/base");
        assert_eq!(place("../outside/base"), "../outside/base");
        assert_eq!(
            place("cache/artifacts/hardened/x"),
            "cache/artifacts/hardened/x",
            "another image's directory is not this build's to place"
        );
        assert_eq!(
            placed(None, Path::new("/ws"), "cache/artifacts/base", false),
            "cache/artifacts/base"
        );
    }
}
