//! `cache/manifest.json`: after every workspace run, what each image of the run is, in the format of
//! Packer's `manifest` post-processor (so tools that read Packer manifests read it) plus, per build,
//! the image, its fingerprint, and whether it came from the cache. Written whole and atomically: a
//! reader never sees half a file, and a run that stops early still leaves a true manifest of what
//! it had. It is rewritten even by a run that built nothing: `last_run_uuid` and each build's
//! `cached` flag describe the latest run, and a reader comparing runs must see that one happened.

use std::path::Path;

use imgs_diagnostic::Diagnostic;
use serde_json::{Value, json};

use super::build::Done;

const FILE: &str = "manifest.json";

/// Writes the manifest of the images that are done in this run (built or fresh). imgs never reads
/// it back, so whatever the file held before (half a file, garbage) is simply replaced; a directory
/// standing in its place is removed first, and said so in the warning returned.
pub(super) fn write(
    cache_dir: &Path,
    run_id: &str,
    done: &[Done],
) -> Result<Option<Diagnostic>, String> {
    let root = cache_dir.parent().unwrap_or(cache_dir);
    let builds: Vec<Value> = done
        .iter()
        .flat_map(|d| {
            let record = &d.record;
            let build_time = chrono::DateTime::parse_from_rfc3339(&record.created_at)
                .map(|t| t.timestamp())
                .unwrap_or(0);
            record.builds.iter().map(move |b| {
                let files: Vec<Value> = b
                    .files
                    .iter()
                    .map(|f| {
                        let size = std::fs::metadata(root.join(f))
                            .map(|m| m.len())
                            .unwrap_or(0);
                        json!({ "name": f, "size": size })
                    })
                    .collect();
                let mut entry = json!({
                    "name": b.name,
                    "builder_type": b.builder_type,
                    "build_time": build_time,
                    "files": files,
                    "artifact_id": b.artifact_id,
                    "packer_run_uuid": record.run_id,
                    "custom_data": null,
                    "image": record.image,
                    "fingerprint": record.fingerprint.to_string(),
                    "cached": d.built_in.is_none(),
                });
                // The version directory holding everything the build wrote (not only its files).
                if let Some(dir) = &record.artifact_dir {
                    entry["artifact_dir"] = json!(dir);
                }
                entry
            })
        })
        .collect();
    let manifest = json!({ "builds": builds, "last_run_uuid": run_id });
    let text = serde_json::to_string_pretty(&manifest).expect("JSON values serialize") + "\n";
    let path = cache_dir.join(FILE);
    let damage = match imgs_atomic_file::remove_damage(&path) {
        Ok(true) => Some(
            Diagnostic::warning(format!(
                "`{}` was a directory, not imgs's run manifest; it was removed and the manifest \
                 written in its place",
                path.display()
            ))
            .hint("imgs owns the files in cache/; keep your own files elsewhere"),
        ),
        Ok(false) => None,
        Err(e) => {
            return Err(format!(
                "cannot write `{}`: a directory stands there and could not be removed: {e}",
                path.display()
            ));
        }
    };
    imgs_atomic_file::write_atomically(&path, text.as_bytes())
        .map(|()| damage)
        .map_err(|e| {
            let mut message = format!("cannot write `{}`: {e}", path.display());
            if e.kind() == std::io::ErrorKind::StorageFull {
                message.push_str(
                    " (the file system holding cache/ is full: free some space; the records of the \
                     images built are written, so the next run finds them fresh)",
                );
            }
            message
        })
}
