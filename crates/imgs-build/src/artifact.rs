//! What a build produced, in Packer's terms.

use std::path::PathBuf;

/// A build's result: Packer's artifact (`Id()`, `String()`, `Files()`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
    /// Docker tags the artifact stands for besides its ID (Packer's `docker_tags` state, which
    /// `docker-tag` sets and `docker-push` pushes).
    pub docker_tags: Vec<String>,
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

/// What a child built in `region` receives for an artifact ID: of AMIs, the one in that region (an
/// AMI is launched only in its own region); `Err` with the regions the artifact has AMIs in when
/// none is in `region`. Other IDs as [`handle_of_id`].
pub fn handle_of_id_in_region(id: &str, region: &str) -> Result<String, Vec<String>> {
    let pairs: Vec<(&str, &str)> = id
        .split(',')
        .filter_map(|pair| pair.split_once(':'))
        .filter(|(_, ami)| ami.starts_with("ami-"))
        .collect();
    if pairs.is_empty() {
        return Ok(handle_of_id(id));
    }
    pairs
        .iter()
        .find(|(r, _)| *r == region)
        .map(|(_, ami)| ami.to_string())
        .ok_or_else(|| pairs.iter().map(|(r, _)| r.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_gets_the_ami_of_its_region() {
        let id = "eu-west-1:ami-2,us-east-1:ami-1";
        assert_eq!(handle_of_id(id), "ami-2");
        assert_eq!(handle_of_id_in_region(id, "us-east-1"), Ok("ami-1".into()));
        assert_eq!(handle_of_id_in_region(id, "eu-west-1"), Ok("ami-2".into()));
        assert_eq!(
            handle_of_id_in_region(id, "ap-south-1"),
            Err(vec!["eu-west-1".to_string(), "us-east-1".into()])
        );
        assert_eq!(handle_of_id_in_region("VM", "us-east-1"), Ok("VM".into()));
    }
}
