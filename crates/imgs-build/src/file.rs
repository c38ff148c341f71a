//! The `file` builder: writes `target` from `content` or a copy of `source`; no machine, no
//! communicator. Its artifact is Packer's: ID `File`, the target as its one file.

use std::path::{Path, PathBuf};

use imgs_diagnostic::Diagnostics;
use imgs_provision::Communicator;
use tokio_util::sync::CancellationToken;

use crate::OutputPlacement;
use crate::builder::{Builder, Log};
use crate::outputs::placed;
use crate::settings::Settings;
use crate::{Artifact, BuildError};

pub struct FileBuilder {
    /// As written, for the artifact; relative paths resolve against `working_dir`.
    target: String,
    what: Content,
    working_dir: PathBuf,
}

enum Content {
    Text(String),
    CopyOf(String),
}

/// Reads `source`, `content` and `target` as Packer 1.6.6 does: `target` is required, `source` wins
/// over `content` when both are set (Packer warns; so do we), and neither means an empty file.
pub fn read(
    settings: &Settings<'_>,
    working_dir: &Path,
    outputs: Option<&OutputPlacement>,
    warnings: &mut Vec<String>,
) -> Result<FileBuilder, Diagnostics> {
    let mut problems =
        settings.unknown_keys("builder `file`", &["source", "content", "target"], &[]);
    let target = settings.text("target").unwrap_or_default();
    if target.is_empty() {
        problems.push(
            settings
                .error("target", "`target` is required")
                .hint("name the file the build writes, e.g. `\"target\": \"out/motd.txt\"`"),
        );
    }
    let source = settings.text("source").unwrap_or_default();
    let content = settings.text("content").unwrap_or_default();
    let what = if !source.is_empty() {
        if !content.is_empty() {
            warnings.push("both `source` and `content` are set; `source` is used".into());
        }
        if !working_dir.join(&source).is_file() {
            problems.push(
                settings
                    .error("source", format!("source file `{source}` does not exist"))
                    .hint("relative paths are relative to the directory imgs runs in"),
            );
        }
        Content::CopyOf(source)
    } else {
        if content.is_empty() {
            warnings.push("both `source` and `content` are empty; the target will be empty".into());
        }
        Content::Text(content)
    };
    Diagnostics::check(problems)?;
    Ok(FileBuilder {
        // In a workspace, a target under the image's artifacts directory is versioned.
        target: placed(outputs, working_dir, &target, false),
        what,
        working_dir: working_dir.to_path_buf(),
    })
}

/// `std::fs::copy` (the copy gets the source's permissions), but whole or not at all.
fn copy_whole(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut source = std::fs::File::open(from)?;
    let permissions = source.metadata()?.permissions();
    let mut out = imgs_atomic_file::AtomicFile::create(to)?;
    std::io::copy(&mut source, out.file())?;
    out.commit()?;
    std::fs::set_permissions(to, permissions)
}

#[async_trait::async_trait]
impl Builder for FileBuilder {
    fn builder_type(&self) -> &'static str {
        "file"
    }

    fn has_communicator(&self) -> bool {
        false
    }

    async fn start(
        &mut self,
        log: Log<'_>,
        _cancel: &CancellationToken,
    ) -> Result<Option<Box<dyn Communicator>>, BuildError> {
        log.phase("writing file");
        let target = self.working_dir.join(&self.target);
        let io = |action: &'static str, path: &Path, e: std::io::Error| BuildError::Io {
            action,
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| io("create the directory", dir, e))?;
        }
        // Written whole or not at all (a temporary file beside the target, renamed over it): a
        // full disk leaves no half target, where Packer's leaves one, and a kill at worst a
        // dot-named temporary file, never half a file under the target's name.
        let written = match &self.what {
            Content::Text(text) => {
                log.line(&format!("Writing content to {}", self.target));
                let (text, to) = (text.clone(), target.clone());
                tokio::task::spawn_blocking(move || {
                    imgs_atomic_file::write_atomically(&to, text.as_bytes())
                })
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r)
                .map_err(|e| io("write", &target, e))
            }
            Content::CopyOf(source) => {
                log.line(&format!("Copying {source} to {}", self.target));
                let (from, to) = (self.working_dir.join(source), target.clone());
                tokio::task::spawn_blocking(move || copy_whole(&from, &to))
                    .await
                    .map_err(std::io::Error::other)
                    .and_then(|r| r)
                    .map_err(|e| io("copy to", &target, e))
            }
        };
        written?;
        Ok(None)
    }

    async fn finish(
        &mut self,
        _log: Log<'_>,
        _cancel: &CancellationToken,
    ) -> Result<Artifact, BuildError> {
        Ok(Artifact {
            builder_type: "file".into(),
            id: "File".into(),
            description: format!("Stored file: {}", self.target),
            files: vec![PathBuf::from(&self.target)],
            docker_tags: Vec::new(),
        })
    }
}
