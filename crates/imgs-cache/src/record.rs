//! What one cache record holds.

use imgs_fingerprint::{Fingerprint, InputSet};
use serde::{Deserialize, Serialize};

/// Version of the record file layout. Records with another version are reported, not guessed at.
pub const RECORD_SCHEMA: u32 = 1;

/// What one build of the image produced (Packer: one builder block).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildArtifact {
    /// The build's name (the builder's `name`, or its type when unnamed).
    pub name: String,
    pub builder_type: String,
    /// Packer's artifact ID: `us-east-1:ami-0abc…` for AMIs, a path for local images.
    pub artifact_id: String,
    /// Files the build produced, relative to the workspace root.
    #[serde(default)]
    pub files: Vec<String>,
}

/// The record of one successful build of one image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// [`RECORD_SCHEMA`] of the imgs that wrote it.
    pub schema: u32,
    pub image: String,
    pub fingerprint: Fingerprint,
    /// Every input the fingerprint covers, kept so the next run can say what changed.
    pub inputs: InputSet,
    pub builds: Vec<BuildArtifact>,
    /// When the build finished, RFC 3339.
    pub created_at: String,
    /// The run that built it (also tagged on cloud resources).
    pub run_id: String,
    /// The version directory its local outputs were written to (`cache/artifacts/<image>/<fingerprint>`,
    /// relative to the workspace root); absent when the build wrote nothing locally (an AMI) and in
    /// records written before artifacts had version directories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_dir: Option<String>,
}

impl CacheRecord {
    /// A record of the current schema, fingerprinted from `inputs` and stamped with the current time.
    pub fn new(
        image: impl Into<String>,
        inputs: InputSet,
        builds: Vec<BuildArtifact>,
        run_id: impl Into<String>,
    ) -> Self {
        Self {
            schema: RECORD_SCHEMA,
            image: image.into(),
            fingerprint: inputs.fingerprint(),
            inputs,
            builds,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            run_id: run_id.into(),
            artifact_dir: None,
        }
    }

    /// `created_at` as a point in time, if it is valid RFC 3339.
    pub fn created(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        chrono::DateTime::parse_from_rfc3339(&self.created_at).ok()
    }
}
