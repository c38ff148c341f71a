//! Carrying out a [`PrunePlan`]: files first, then records, then directories left empty.

use std::fs;
use std::io;
use std::path::Path;

use crate::{Cache, PrunePlan};

/// Deletes what `plan` lists. Files go before the records that name them, so an interrupted prune leaves
/// records whose files are partly gone (the next prune finishes the job) rather than files no record
/// names (which no prune would find again). A file already gone counts as removed.
pub fn apply_prune(cache: &Cache, plan: &PrunePlan) -> io::Result<()> {
    for file in &plan.files {
        if file.is_dir {
            cache.remove_version(&file.path)?;
            continue;
        }
        match fs::remove_file(&file.path) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                return Err(io::Error::new(
                    err.kind(),
                    format!("cannot remove {}: {err}", file.path.display()),
                ));
            }
        }
        if let Some(dir) = file.path.parent() {
            remove_if_empty_inside(dir, cache.dir());
        }
    }
    for record in &plan.records {
        cache.remove(&record.image, &record.fingerprint)?;
        if let Ok(path) = cache.record_path(&record.image, &record.fingerprint)
            && let Some(dir) = path.parent()
        {
            remove_if_empty_inside(dir, cache.dir());
        }
    }
    Ok(())
}

/// Removes `dir` if it is empty and strictly inside the cache directory: an image's artifact or record
/// directory goes with its last file, while directories people made elsewhere in the workspace stay.
fn remove_if_empty_inside(dir: &Path, cache_dir: &Path) {
    let (Ok(dir), Ok(cache_dir)) = (fs::canonicalize(dir), fs::canonicalize(cache_dir)) else {
        return;
    };
    if dir != cache_dir && dir.starts_with(&cache_dir) {
        // Fails, as wanted, when the directory still holds something.
        let _ = fs::remove_dir(&dir);
    }
}
