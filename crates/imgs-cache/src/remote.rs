//! The remote cache's layout and record format, as data: which keys an image's record and files
//! live under, what a remote record holds, and what makes one trustworthy. Talking to the store is
//! the caller's (imgs-ops, through imgs-aws).
//!
//! Content-addressed by fingerprint, under the configured prefix:
//! - `<prefix>/records/<image>/<fingerprint>.json`: a [`RemoteRecord`], written last, so a record
//!   in the store means every file it lists was uploaded before it;
//! - `<prefix>/artifacts/<image>/<fingerprint>/<path>`: each file, `<path>` being the file's path
//!   relative to the workspace root where it was built (as local records name files).

use imgs_fingerprint::Fingerprint;
use serde::{Deserialize, Serialize};

use crate::CacheRecord;

/// Version of the remote record layout; another version is not read (a newer imgs wrote it).
pub const REMOTE_SCHEMA: u32 = 1;

/// One file of a remote record: where it goes, and what it must hash to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteFile {
    /// Relative to the workspace root, `/`-separated, without `.` or `..` parts.
    pub path: String,
    pub size: u64,
    /// blake3 of the file's bytes, hex: checked after each download.
    pub blake3: String,
}

/// What the remote cache holds for one image at one fingerprint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRecord {
    pub schema: u32,
    /// The cache record as the building machine stored it locally.
    pub record: CacheRecord,
    /// Every file the build left: those its record lists and the rest of its artifact directory.
    pub files: Vec<RemoteFile>,
}

/// The key of `image`'s record at `fingerprint` under `prefix`.
pub fn record_key(prefix: &str, image: &str, fingerprint: &Fingerprint) -> String {
    join(prefix, &format!("records/{image}/{fingerprint}.json"))
}

/// The key of the file at `path` (relative to the workspace root) of `image` at `fingerprint`.
pub fn artifact_key(prefix: &str, image: &str, fingerprint: &Fingerprint, path: &str) -> String {
    join(prefix, &format!("artifacts/{image}/{fingerprint}/{path}"))
}

fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else {
        format!("{prefix}/{rest}")
    }
}

/// Whether `path` can name a file inside the workspace: relative, no `.`, `..` or empty parts.
pub fn is_workspace_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

impl RemoteRecord {
    pub fn new(record: CacheRecord, files: Vec<RemoteFile>) -> RemoteRecord {
        RemoteRecord {
            schema: REMOTE_SCHEMA,
            record,
            files,
        }
    }

    /// The JSON the store holds.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut json = serde_json::to_vec_pretty(self).expect("records serialize");
        json.push(b'\n');
        json
    }

    /// Reads a remote record fetched for `image` at `fingerprint`, trusting it only whole: the
    /// schema this imgs reads, the image and fingerprint asked for, inputs that hash to that
    /// fingerprint, and file paths that stay inside the workspace (a record naming `../x` or
    /// `/etc/x` would otherwise write there).
    pub fn parse(bytes: &[u8], image: &str, fingerprint: &Fingerprint) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
        match value.get("schema").and_then(serde_json::Value::as_u64) {
            Some(schema) if schema == u64::from(REMOTE_SCHEMA) => {}
            Some(schema) => {
                return Err(format!(
                    "it has schema {schema}, but this imgs reads schema {REMOTE_SCHEMA} (another imgs version wrote it)"
                ));
            }
            None => return Err("it has no numeric `schema` field".to_string()),
        }
        let remote: RemoteRecord =
            serde_json::from_value(value).map_err(|e| format!("not a remote record: {e}"))?;
        let record = &remote.record;
        if record.image != image {
            return Err(format!("it is a record of `{}`", record.image));
        }
        if &record.fingerprint != fingerprint || &record.inputs.fingerprint() != fingerprint {
            return Err("its inputs do not hash to the fingerprint it is filed under".to_string());
        }
        let listed = record.builds.iter().flat_map(|b| &b.files);
        for path in listed
            .chain(remote.files.iter().map(|f| &f.path))
            .chain(&record.artifact_dir)
        {
            if !is_workspace_path(path) {
                return Err(format!(
                    "it names `{path}`, which is not inside a workspace"
                ));
            }
        }
        for listed in record.builds.iter().flat_map(|b| &b.files) {
            if !remote.files.iter().any(|f| &f.path == listed) {
                return Err(format!("it lists `{listed}` without its hash"));
            }
        }
        for file in &remote.files {
            let hex_ok =
                file.blake3.len() == 64 && file.blake3.bytes().all(|b| b.is_ascii_hexdigit());
            if !hex_ok {
                return Err(format!("the hash of `{}` is not a blake3 hash", file.path));
            }
        }
        Ok(remote)
    }

    /// The record as stored locally once its files are under `local_dir` (relative to the
    /// workspace root) instead of the building machine's artifact directory: the paths inside that
    /// directory moved there, others unchanged.
    pub fn local_record(&self, local_dir: Option<&str>) -> CacheRecord {
        let mut record = self.record.clone();
        if let (Some(from), Some(to)) = (self.record.artifact_dir.as_deref(), local_dir) {
            for build in &mut record.builds {
                for file in &mut build.files {
                    *file = relocate(file, from, to);
                }
                build.artifact_id = relocate(&build.artifact_id, from, to);
            }
            record.artifact_dir = Some(to.to_string());
        }
        record
    }
}

/// `path` with its leading directory `from` replaced by `to`.
pub fn relocate(path: &str, from: &str, to: &str) -> String {
    match path.strip_prefix(from) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => format!("{to}{rest}"),
        _ => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BuildArtifact;
    use imgs_fingerprint::{InputKey, InputSet};

    fn record() -> CacheRecord {
        let mut inputs = InputSet::new();
        inputs.insert(InputKey::Template, blake3::hash(b"t"));
        let mut record = CacheRecord::new(
            "base",
            inputs,
            vec![BuildArtifact {
                name: "file".into(),
                builder_type: "file".into(),
                artifact_id: "cache/artifacts/base/abc/out.txt".into(),
                files: vec!["cache/artifacts/base/abc/out.txt".into()],
            }],
            "run-1",
        );
        record.artifact_dir = Some("cache/artifacts/base/abc".into());
        record
    }

    fn file(path: &str) -> RemoteFile {
        RemoteFile {
            path: path.into(),
            size: 3,
            blake3: blake3::hash(b"abc").to_hex().to_string(),
        }
    }

    #[test]
    fn keys_are_content_addressed_under_the_prefix() {
        let fp = record().fingerprint;
        assert_eq!(
            record_key("team/ci", "base", &fp),
            format!("team/ci/records/base/{fp}.json")
        );
        assert_eq!(
            artifact_key("", "base", &fp, "cache/x.qcow2"),
            format!("artifacts/base/{fp}/cache/x.qcow2")
        );
    }

    #[test]
    fn a_record_reads_back_and_moves_to_the_local_directory() {
        let remote = RemoteRecord::new(record(), vec![file("cache/artifacts/base/abc/out.txt")]);
        let fp = remote.record.fingerprint;
        let read = RemoteRecord::parse(&remote.to_bytes(), "base", &fp).unwrap();
        assert_eq!(read, remote);
        let local = read.local_record(Some("cache/artifacts/base/abc-2"));
        assert_eq!(
            local.builds[0].files,
            ["cache/artifacts/base/abc-2/out.txt"]
        );
        assert_eq!(
            local.builds[0].artifact_id,
            "cache/artifacts/base/abc-2/out.txt"
        );
        assert_eq!(
            local.artifact_dir.as_deref(),
            Some("cache/artifacts/base/abc-2")
        );
    }

    #[test]
    fn a_record_is_refused_unless_it_is_whole_and_stays_inside() {
        let good = RemoteRecord::new(record(), vec![file("cache/artifacts/base/abc/out.txt")]);
        let fp = good.record.fingerprint;
        let parse = |r: &RemoteRecord| RemoteRecord::parse(&r.to_bytes(), "base", &fp);
        assert!(
            RemoteRecord::parse(&good.to_bytes(), "app", &fp)
                .unwrap_err()
                .contains("`base`")
        );
        let mut other = good.clone();
        other
            .record
            .inputs
            .insert(InputKey::Template, blake3::hash(b"u"));
        assert!(parse(&other).unwrap_err().contains("do not hash"));
        let mut escaping = good.clone();
        escaping.files.push(file("../outside"));
        assert!(parse(&escaping).unwrap_err().contains("`../outside`"));
        let mut unhashed = good.clone();
        unhashed.files.clear();
        assert!(parse(&unhashed).unwrap_err().contains("without its hash"));
        let mut newer = good.clone();
        newer.schema = 9;
        assert!(parse(&newer).unwrap_err().contains("schema 9"));
        assert!(
            RemoteRecord::parse(b"{", "base", &fp)
                .unwrap_err()
                .contains("JSON")
        );
    }
}
