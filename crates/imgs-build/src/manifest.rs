//! The `manifest` post-processor, writing Packer 1.6.6's format: `builds[]` entries (`name`,
//! `builder_type`, `build_time`, `files` as name and size, `artifact_id`, `packer_run_uuid`,
//! `custom_data`) appended to whatever the file already holds, and `last_run_uuid`.

use std::path::{Path, PathBuf};

use imgs_diagnostic::Diagnostics;
use indexmap::IndexMap;
use serde_json::{Value, json};

use crate::settings::Settings;
use crate::{Artifact, BuildError};

/// Packer's default output file.
const DEFAULT_OUTPUT: &str = "packer-manifest.json";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestSettings {
    /// As written; relative paths resolve against the working directory.
    pub output: String,
    /// `output` was left at Packer's default (a workspace build then writes it into its version
    /// directory).
    pub output_is_default: bool,
    /// Only file names in `files`, not their directories.
    pub strip_path: bool,
    /// Leave `build_time` out.
    pub strip_time: bool,
    /// `None` when not set (Packer then writes `null`).
    pub custom_data: Option<IndexMap<String, String>>,
}

pub fn read(settings: &Settings<'_>) -> Result<ManifestSettings, Diagnostics> {
    let mut problems = settings.unknown_keys(
        "post-processor `manifest`",
        &["output", "strip_path", "strip_time", "custom_data"],
        &[],
    );
    let flag = |key: &str| {
        settings
            .text(key)
            .is_some_and(|t| matches!(t.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True"))
    };
    let custom_data = match settings.values.get("custom_data").map(|(v, _)| v) {
        None | Some(Value::Null) => None,
        Some(Value::Object(members)) => Some(
            members
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect(),
        ),
        Some(_) => {
            problems.push(
                settings
                    .error("custom_data", "`custom_data` must be an object of strings")
                    .hint("e.g. `\"custom_data\": { \"version\": \"1.2\" }`"),
            );
            None
        }
    };
    let written = settings.text("output").filter(|o| !o.is_empty());
    let output_is_default = written.is_none();
    let output = written.unwrap_or_else(|| DEFAULT_OUTPUT.to_string());
    Diagnostics::check(problems)?;
    Ok(ManifestSettings {
        output,
        output_is_default,
        strip_path: flag("strip_path"),
        strip_time: flag("strip_time"),
        custom_data,
    })
}

impl ManifestSettings {
    /// Appends the entry for one build to the manifest file `output` (the setting's `output`, or where
    /// a workspace build places it).
    pub fn write(
        &self,
        output: &str,
        working_dir: &Path,
        build_name: &str,
        artifact: &Artifact,
        run_id: &str,
        build_time: i64,
    ) -> Result<PathBuf, BuildError> {
        let path = working_dir.join(output);
        let io = |action: &'static str, e: String| BuildError::Io {
            action,
            path: output.to_string(),
            reason: e,
        };
        let mut manifest = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<Value>(&text)
                .map_err(|e| io("read the manifest", e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({ "builds": [] }),
            Err(e) => return Err(io("read the manifest", e.to_string())),
        };
        let entry = self.entry(working_dir, build_name, artifact, run_id, build_time)?;
        let Some(object) = manifest.as_object_mut() else {
            return Err(io("read the manifest", "it is not a JSON object".into()));
        };
        match object.get_mut("builds") {
            Some(Value::Array(builds)) => builds.push(entry),
            _ => {
                object.insert("builds".into(), Value::Array(vec![entry]));
            }
        }
        object.insert("last_run_uuid".into(), Value::String(run_id.into()));
        let text = serde_json::to_string_pretty(&manifest).expect("JSON values serialize");
        // Whole or not at all: an interrupted write must not lose the builds already recorded.
        imgs_atomic_file::write_atomically(&path, text.as_bytes())
            .map_err(|e| io("write the manifest", e.to_string()))?;
        Ok(PathBuf::from(output))
    }

    fn entry(
        &self,
        working_dir: &Path,
        build_name: &str,
        artifact: &Artifact,
        run_id: &str,
        build_time: i64,
    ) -> Result<Value, BuildError> {
        let files = if artifact.files.is_empty() {
            Value::Null
        } else {
            let mut list = Vec::new();
            for file in &artifact.files {
                let size = std::fs::metadata(working_dir.join(file))
                    .map_err(|e| BuildError::Io {
                        action: "read the size of",
                        path: file.display().to_string(),
                        reason: e.to_string(),
                    })?
                    .len();
                let name = if self.strip_path {
                    file.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                } else {
                    file.display().to_string()
                };
                list.push(json!({ "name": name, "size": size }));
            }
            Value::Array(list)
        };
        let mut entry = serde_json::Map::new();
        entry.insert("name".into(), build_name.into());
        entry.insert("builder_type".into(), artifact.builder_type.clone().into());
        // Go's `omitempty`: a stripped (zero) time is left out.
        if !self.strip_time {
            entry.insert("build_time".into(), build_time.into());
        }
        entry.insert("files".into(), files);
        entry.insert("artifact_id".into(), artifact.id.clone().into());
        entry.insert("packer_run_uuid".into(), run_id.into());
        entry.insert(
            "custom_data".into(),
            match &self.custom_data {
                Some(data) => json!(data),
                None => Value::Null,
            },
        );
        Ok(Value::Object(entry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ManifestSettings {
        ManifestSettings {
            output: "out/manifest.json".into(),
            output_is_default: false,
            strip_path: false,
            strip_time: false,
            custom_data: Some([("a".to_string(), "b".to_string())].into_iter().collect()),
        }
    }

    fn artifact(files: &[&str]) -> Artifact {
        Artifact {
            builder_type: "file".into(),
            id: "File".into(),
            description: String::new(),
            files: files.iter().map(PathBuf::from).collect(),
            docker_tags: Vec::new(),
        }
    }

    #[test]
    fn entries_append_and_last_run_is_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("out")).unwrap();
        std::fs::write(dir.path().join("out/x.txt"), "hi").unwrap();
        let m = settings();
        m.write(
            &m.output,
            dir.path(),
            "f",
            &artifact(&["out/x.txt"]),
            "run-1",
            100,
        )
        .unwrap();
        m.write(&m.output, dir.path(), "n", &artifact(&[]), "run-2", 200)
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join("out/manifest.json")).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v,
            json!({
                "builds": [
                    { "name": "f", "builder_type": "file", "build_time": 100,
                      "files": [{ "name": "out/x.txt", "size": 2 }], "artifact_id": "File",
                      "packer_run_uuid": "run-1", "custom_data": { "a": "b" } },
                    { "name": "n", "builder_type": "file", "build_time": 200, "files": null,
                      "artifact_id": "File", "packer_run_uuid": "run-2", "custom_data": { "a": "b" } }
                ],
                "last_run_uuid": "run-2"
            })
        );
    }

    #[test]
    fn strip_path_and_strip_time() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("out")).unwrap();
        std::fs::write(dir.path().join("out/x.txt"), "hey").unwrap();
        let m = ManifestSettings {
            strip_path: true,
            strip_time: true,
            custom_data: None,
            ..settings()
        };
        m.write(
            &m.output,
            dir.path(),
            "f",
            &artifact(&["out/x.txt"]),
            "r",
            5,
        )
        .unwrap();
        let text = std::fs::read_to_string(dir.path().join("out/manifest.json")).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            v["builds"][0],
            json!({ "name": "f", "builder_type": "file", "files": [{ "name": "x.txt", "size": 3 }],
                    "artifact_id": "File", "packer_run_uuid": "r", "custom_data": null })
        );
    }
}
