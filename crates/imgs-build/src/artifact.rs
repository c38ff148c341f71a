//! What a build produced, in Packer's terms.

use std::path::PathBuf;

/// A build's result: Packer's artifact (`Id()`, `String()`, `Files()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// The builder type that made it (`null`, `file`, `qemu`).
    pub builder_type: String,
    /// Packer's artifact ID: `Null`, `File`, `VM`.
    pub id: String,
    /// The sentence Packer prints for it at the end of a build.
    pub description: String,
    /// Files it consists of, as the build's settings named them (relative to the working directory
    /// when written relative).
    pub files: Vec<PathBuf>,
}

impl Artifact {
    /// What a child image receives in its parent variable: the artifact's first file (a disk, a file),
    /// or its ID when it has no files.
    pub fn handle(&self) -> String {
        match self.files.first() {
            Some(file) => file.display().to_string(),
            None => handle_of_id(&self.id),
        }
    }
}

/// What a child receives for an artifact ID: the ID, except that of AMIs (`region:ami-…` pairs,
/// sorted by region), where a child is launched from the AMI of the first region listed.
pub fn handle_of_id(id: &str) -> String {
    let first = id.split(',').next().unwrap_or(id);
    match first.split_once(':') {
        Some((_, ami)) if ami.starts_with("ami-") => ami.to_string(),
        _ => id.to_string(),
    }
}
