//! `imgs cache ls` and `imgs cache prune`: the local cache as a table or JSON, and what a prune removed.

use imgs_cache::{CacheRecord, Entry, Inventory, KeepReason, PrunePlan, Status};
use serde_json::{Value, json};

/// Every record grouped by image, then a total:
///
/// ```text
/// base
///   current  1a2b3c4d5e6f  2026-11-25 18:00:00  run-1  379.2 MiB  cache/artifacts/base/base.qcow2
///   older    9f8e7d6c5b4a  2026-11-24 09:12:44  run-0  0 B        cache/artifacts/base/base.qcow2 (missing)
/// 2 records (1 current, 1 older), 379.2 MiB in 1 file
/// ```
pub fn render_cache_ls(inventory: &Inventory) -> String {
    let mut out = String::new();
    if inventory.entries.is_empty() && inventory.unreadable.is_empty() {
        out.push_str("The cache holds no records.\n");
        return out;
    }
    let rows: Vec<[String; 5]> = inventory
        .entries
        .iter()
        .map(|e| {
            [
                e.status.as_str().to_owned(),
                e.record.fingerprint.short(),
                created(&e.record),
                e.record.run_id.clone(),
                human_bytes(inventory.entry_size(e)),
            ]
        })
        .collect();
    let width = |column: usize| rows.iter().map(|r| r[column].len()).max().unwrap_or(0);
    let widths = [width(0), width(1), width(2), width(3), width(4)];

    let mut image: Option<&str> = None;
    for (entry, row) in inventory.entries.iter().zip(&rows) {
        if image != Some(entry.record.image.as_str()) {
            image = Some(&entry.record.image);
            let note = if entry.status == Status::Orphaned {
                " (no longer in the workspace)"
            } else {
                ""
            };
            out.push_str(&format!("{}{note}\n", entry.record.image));
        }
        let [status, fingerprint, created, run, size] = row;
        out.push_str(&format!(
            "  {status:<w0$}  {fingerprint:<w1$}  {created:<w2$}  {run:<w3$}  {size:>w4$}  {artifact}\n",
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
            artifact = artifact(inventory, entry),
        ));
    }
    for u in &inventory.unreadable {
        out.push_str(&format!("unreadable: {}\n", u.error));
    }

    let count = |status| count_with(inventory, status);
    let mut parts: Vec<String> = [
        Status::Current,
        Status::Older,
        Status::Orphaned,
        Status::Unknown,
    ]
    .into_iter()
    .filter(|s| count(*s) > 0)
    .map(|s| format!("{} {}", count(s), s.as_str()))
    .collect();
    if !inventory.unreadable.is_empty() {
        parts.push(format!("{} unreadable", inventory.unreadable.len()));
    }
    let records = inventory.entries.len() + inventory.unreadable.len();
    let files = existing_files(inventory);
    out.push_str(&format!(
        "{} ({}), {} in {}\n",
        plural(records, "record"),
        parts.join(", "),
        human_bytes(inventory.total_size()),
        plural(files, "file"),
    ));
    out
}

/// The cache for tools (`--message-format json`): one object, records in the order of the table.
pub fn cache_ls_json(inventory: &Inventory) -> Value {
    let records: Vec<Value> = inventory
        .entries
        .iter()
        .map(|e| {
            let builds: Vec<Value> = e
                .record
                .builds
                .iter()
                .map(|b| {
                    let files: Vec<Value> = b
                        .files
                        .iter()
                        .map(|shown| {
                            let file = e.files.iter().find(|f| f.shown == *shown);
                            let path = file.map(|f| f.path.as_path());
                            json!({
                                "path": shown,
                                "exists": path.is_some_and(|p| exists(inventory, p)),
                                "size": path.map_or(0, |p| inventory.size(p)),
                            })
                        })
                        .collect();
                    json!({
                        "build": b.name,
                        "builder_type": b.builder_type,
                        "artifact_id": b.artifact_id,
                        "files": files,
                    })
                })
                .collect();
            json!({
                "image": e.record.image,
                "fingerprint": e.record.fingerprint.to_string(),
                "status": e.status.as_str(),
                "created_at": e.record.created_at,
                "run_id": e.record.run_id,
                "size": inventory.entry_size(e),
                "builds": builds,
            })
        })
        .collect();
    let unreadable: Vec<Value> = inventory
        .unreadable
        .iter()
        .map(|u| json!({"image": u.image, "path": inventory.shown(&u.path), "error": u.error}))
        .collect();
    let count = |status| count_with(inventory, status);
    json!({
        "reason": "cache-ls",
        "records": records,
        "unreadable": unreadable,
        "summary": {
            "records": inventory.entries.len(),
            "current": count(Status::Current),
            "older": count(Status::Older),
            "orphaned": count(Status::Orphaned),
            "unknown": count(Status::Unknown),
            "unreadable": inventory.unreadable.len(),
            "files": existing_files(inventory),
            "bytes": inventory.total_size(),
        },
    })
}

/// What a prune removed (or, with `dry_run`, would remove), what it kept of it and why, and the bytes freed.
pub fn render_prune(inventory: &Inventory, plan: &PrunePlan, dry_run: bool) -> String {
    if plan.is_empty() && plan.kept.is_empty() {
        return format!(
            "Nothing to prune: every record is current ({}, {}).\n",
            plural(inventory.entries.len(), "record"),
            human_bytes(inventory.total_size())
        );
    }
    let verb = if dry_run { "Would remove" } else { "Removing" };
    let mut out = String::new();
    for r in &plan.records {
        let built = inventory
            .entries
            .iter()
            .find(|e| e.record.image == r.image && e.record.fingerprint == r.fingerprint)
            .map_or_else(|| r.created_at.clone(), |e| created(&e.record));
        out.push_str(&format!(
            "{verb:>12} record {} {} ({}, built {built})\n",
            r.image,
            r.fingerprint.short(),
            r.status.as_str(),
        ));
    }
    for f in &plan.files {
        let what = if f.is_dir { "version " } else { "" };
        out.push_str(&format!(
            "{verb:>12} {what}{} ({})\n",
            f.shown,
            human_bytes(f.size)
        ));
    }
    for k in &plan.kept {
        let why = match &k.why {
            KeepReason::Named { image, fingerprint } => {
                format!("also the artifact of {image} {}", fingerprint.short())
            }
            KeepReason::Backs {
                disk,
                image,
                fingerprint,
            } => format!("backing file of {image} {}: {disk}", fingerprint.short()),
            KeepReason::OutsideWorkspace => "outside the workspace".to_owned(),
            KeepReason::NotAFile => "not a regular file".to_owned(),
            KeepReason::Building { run } => format!("being built by run {run}"),
        };
        out.push_str(&format!("{:>12} {} ({why})\n", "Keeping", k.shown));
    }
    let dirs = plan.dirs();
    let mut parts = vec![plural(plan.records.len(), "record")];
    if dirs > 0 {
        parts.push(if dirs == 1 {
            "1 version directory".to_owned()
        } else {
            format!("{dirs} version directories")
        });
    }
    if dirs == 0 || plan.files.len() > dirs {
        parts.push(plural(plan.files.len() - dirs, "file"));
    }
    let what = match parts.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => unreachable!("records are always counted"),
    };
    let bytes = human_bytes(plan.bytes());
    if dry_run {
        out.push_str(&format!(
            "{:>12} {what} would be removed, freeing {bytes} (dry run: nothing was removed)\n",
            "Summary"
        ));
    } else {
        out.push_str(&format!(
            "{:>12} {what} removed, {bytes} freed\n",
            "Summary"
        ));
    }
    out
}

/// An AMI `imgs cache prune --deregister` removes (or would).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnusedAmi {
    pub region: String,
    pub ami_id: String,
    pub image: String,
    /// The fingerprint it was built for, in full.
    pub fingerprint: String,
    /// EC2's creation date as given.
    pub created_at: String,
    pub snapshots: usize,
}

/// The AMIs a `--deregister` prune removes, one line each, then a count:
///
/// ```text
/// Deregistering AMI ami-0abc in us-east-1 (mid 9f8e7d6c5b4a, created 2026-11-24 09:12:44, 1 snapshot)
///       Summary 1 AMI deregistered with its snapshots
/// ```
///
/// `failed` are the ones EC2 refused, with why.
pub fn render_deregister(amis: &[UnusedAmi], failed: &[(String, String)], dry_run: bool) -> String {
    if amis.is_empty() {
        return format!(
            "{:>12} no AMI of an older fingerprint to deregister\n",
            "AMIs"
        );
    }
    let verb = if dry_run {
        "Would deregister"
    } else {
        "Deregistering"
    };
    let mut out = String::new();
    for ami in amis {
        let short: String = ami.fingerprint.chars().take(12).collect();
        let created = chrono::DateTime::parse_from_rfc3339(&ami.created_at).map_or_else(
            |_| ami.created_at.clone(),
            |t| t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string(),
        );
        out.push_str(&format!(
            "{verb:>12} AMI {} in {} ({} {short}, created {created}, {})\n",
            ami.ami_id,
            ami.region,
            ami.image,
            plural(ami.snapshots, "snapshot")
        ));
    }
    for (ami, why) in failed {
        out.push_str(&format!("{:>12} {ami}: {why}\n", "Failed"));
    }
    let done = amis.len() - failed.len();
    if dry_run {
        out.push_str(&format!(
            "{:>12} {} would be deregistered with {} (dry run: nothing was deregistered)\n",
            "Summary",
            plural(amis.len(), "AMI"),
            plural(amis.iter().map(|a| a.snapshots).sum(), "snapshot")
        ));
    } else {
        out.push_str(&format!(
            "{:>12} {} deregistered with {snapshots}\n",
            "Summary",
            plural(done, "AMI"),
            snapshots = if failed.is_empty() {
                "their snapshots".to_owned()
            } else {
                format!("their snapshots, {} failed", failed.len())
            }
        ));
    }
    out
}

/// The record's files, or its artifact IDs when it has none; missing files marked.
fn artifact(inventory: &Inventory, entry: &Entry) -> String {
    if entry.files.is_empty() {
        return entry
            .record
            .builds
            .iter()
            .map(|b| b.artifact_id.clone())
            .collect::<Vec<_>>()
            .join(", ");
    }
    entry
        .files
        .iter()
        .map(|f| {
            if exists(inventory, &f.path) {
                f.shown.clone()
            } else {
                format!("{} (missing)", f.shown)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn exists(inventory: &Inventory, path: &std::path::Path) -> bool {
    !matches!(
        inventory.files.get(path),
        None | Some(imgs_cache::FileState::Missing)
    )
}

/// Distinct files named by records that exist.
fn existing_files(inventory: &Inventory) -> usize {
    let mut paths: Vec<&std::path::Path> = inventory
        .entries
        .iter()
        .flat_map(|e| e.files.iter().map(|f| f.path.as_path()))
        .filter(|p| exists(inventory, p))
        .collect();
    paths.sort();
    paths.dedup();
    paths.len()
}

/// The creation time in UTC, to the second; as written when it is not a valid time.
fn created(record: &CacheRecord) -> String {
    record.created().map_or_else(
        || record.created_at.clone(),
        |t| t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Bytes in binary units with one decimal, as `du -h` and cargo do: `0 B`, `17 B`, `4.0 KiB`, `379.2 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// How many of the inventory's records have `status`.
fn count_with(inventory: &Inventory, status: Status) -> usize {
    inventory
        .entries
        .iter()
        .filter(|e| e.status == status)
        .count()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use imgs_cache::{
        CacheRecord, Entry, FileState, Inventory, KeepReason, KeptFile, PrunePlan, RecordFile,
        RemovedFile, RemovedRecord, Status, Unreadable,
    };
    use serde_json::json;

    use super::*;

    fn record(image: &str, n: u8, files: &[&str], artifact_id: &str) -> CacheRecord {
        serde_json::from_value(json!({
            "schema": 1,
            "image": image,
            "fingerprint": format!("{n:x}").repeat(64),
            "inputs": {},
            "builds": [{"name": image, "builder_type": "qemu", "artifact_id": artifact_id, "files": files}],
            "created_at": format!("2026-11-2{n}T18:00:00.123+01:00"),
            "run_id": format!("0b7c9a1e-5f3d-4c2b-9e8a-00000000000{n}"),
        }))
        .unwrap()
    }

    fn entry(record: CacheRecord, status: Status) -> Entry {
        let files = record
            .builds
            .iter()
            .flat_map(|b| &b.files)
            .map(|f| RecordFile {
                shown: f.clone(),
                path: Path::new("/ws").join(f),
            })
            .collect();
        Entry {
            record,
            status,
            files,
        }
    }

    fn file(size: u64) -> FileState {
        FileState::File {
            size,
            backing: None,
        }
    }

    /// base: an older and a current record sharing one disk; app: current, on base's disk; an AMI-only
    /// record of an image no longer in the workspace; a corrupt record.
    fn inventory() -> Inventory {
        let base_disk = "cache/artifacts/base/base.qcow2";
        let app_disk = "cache/artifacts/app/app.qcow2";
        Inventory {
            root: PathBuf::from("/ws"),
            entries: vec![
                entry(record("app", 3, &[app_disk], "VM"), Status::Current),
                entry(
                    record("app", 2, &["cache/artifacts/app/app-old.qcow2"], "VM"),
                    Status::Older,
                ),
                entry(record("base", 1, &[base_disk], "VM"), Status::Older),
                entry(record("base", 4, &[base_disk], "VM"), Status::Current),
                entry(
                    record("legacy", 5, &[], "us-east-1:ami-0abc"),
                    Status::Orphaned,
                ),
            ],
            unreadable: vec![Unreadable {
                image: "web".into(),
                path: "/ws/cache/records/web/0123.json".into(),
                error: "cache record /ws/cache/records/web/0123.json is corrupt: not valid JSON"
                    .into(),
            }],
            files: [
                (
                    PathBuf::from("/ws").join(app_disk),
                    FileState::File {
                        size: 200 * 1024,
                        backing: Some(PathBuf::from("/ws").join(base_disk)),
                    },
                ),
                (
                    PathBuf::from("/ws").join(base_disk),
                    file(379 * 1024 * 1024 + 200 * 1024),
                ),
                (
                    PathBuf::from("/ws/cache/artifacts/app/app-old.qcow2"),
                    FileState::Missing,
                ),
            ]
            .into(),
            versions: vec![],
        }
    }

    #[test]
    fn ls_table() {
        insta::assert_snapshot!(render_cache_ls(&inventory()));
    }

    #[test]
    fn ls_json() {
        insta::assert_json_snapshot!(cache_ls_json(&inventory()));
    }

    #[test]
    fn ls_of_an_empty_cache() {
        let empty = Inventory {
            root: "/ws".into(),
            entries: vec![],
            unreadable: vec![],
            files: Default::default(),
            versions: vec![],
        };
        assert_eq!(render_cache_ls(&empty), "The cache holds no records.\n");
    }

    fn prune_plan(inventory: &Inventory) -> PrunePlan {
        let removed = |i: usize| {
            let e = &inventory.entries[i];
            RemovedRecord {
                image: e.record.image.clone(),
                fingerprint: e.record.fingerprint,
                status: e.status,
                created_at: e.record.created_at.clone(),
            }
        };
        let app = &inventory.entries[0].record;
        PrunePlan {
            records: vec![removed(1), removed(2), removed(4)],
            files: vec![
                RemovedFile {
                    path: "/ws/cache/artifacts/old/old.txt".into(),
                    shown: "cache/artifacts/old/old.txt".into(),
                    size: 1536,
                    is_dir: false,
                },
                RemovedFile {
                    path: "/ws/cache/artifacts/web/9f8e7d6c5b4a".into(),
                    shown: "cache/artifacts/web/9f8e7d6c5b4a/".into(),
                    size: 4 * 1024 * 1024,
                    is_dir: true,
                },
            ],
            kept: vec![
                KeptFile {
                    shown: "cache/artifacts/base/base.qcow2".into(),
                    why: KeepReason::Named {
                        image: "base".into(),
                        fingerprint: inventory.entries[3].record.fingerprint,
                    },
                },
                KeptFile {
                    shown: "cache/artifacts/base/base-1.qcow2".into(),
                    why: KeepReason::Backs {
                        disk: "cache/artifacts/app/app.qcow2".into(),
                        image: "app".into(),
                        fingerprint: app.fingerprint,
                    },
                },
                KeptFile {
                    shown: "/srv/disks/shared.qcow2".into(),
                    why: KeepReason::OutsideWorkspace,
                },
                KeptFile {
                    shown: "cache/artifacts/app/5e6f7a8b9c0d/".into(),
                    why: KeepReason::Building {
                        run: "4b0c2f6e-run".into(),
                    },
                },
            ],
        }
    }

    #[test]
    fn prune_output() {
        let inventory = inventory();
        let plan = prune_plan(&inventory);
        insta::assert_snapshot!("prune", render_prune(&inventory, &plan, false));
        insta::assert_snapshot!("prune_dry_run", render_prune(&inventory, &plan, true));
    }

    #[test]
    fn prune_with_nothing_to_do() {
        let inventory = inventory();
        assert_eq!(
            render_prune(&inventory, &PrunePlan::default(), false),
            "Nothing to prune: every record is current (5 records, 379.4 MiB).\n"
        );
    }

    #[test]
    fn bytes_in_binary_units() {
        let shown: Vec<String> = [
            0,
            17,
            1023,
            1024,
            1536,
            379 * 1024 * 1024,
            5 << 30,
            u64::MAX,
        ]
        .into_iter()
        .map(human_bytes)
        .collect();
        assert_eq!(
            shown,
            [
                "0 B",
                "17 B",
                "1023 B",
                "1.0 KiB",
                "1.5 KiB",
                "379.0 MiB",
                "5.0 GiB",
                "16.0 EiB"
            ]
        );
    }
}
