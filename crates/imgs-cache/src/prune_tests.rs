//! The prune decision on hand-made inventories: which records and files go, shared files, backing chains,
//! and the inputs that refuse a prune.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imgs_fingerprint::{InputKey, InputSet};

use crate::{
    BuildArtifact, CacheRecord, Entry, FileState, Inventory, KeepReason, RecordFile, Status,
    Unreadable, VersionEntry, decide_prune,
};

const ROOT: &str = "/ws";

fn record(image: &str, version: &str, files: &[&str]) -> CacheRecord {
    let mut inputs = InputSet::new();
    inputs.insert(
        InputKey::Variable("version".into()),
        blake3::hash(version.as_bytes()),
    );
    let mut r = CacheRecord::new(
        image,
        inputs,
        vec![BuildArtifact {
            name: image.into(),
            builder_type: "qemu".into(),
            artifact_id: "VM".into(),
            files: files.iter().map(|f| f.to_string()).collect(),
        }],
        "run",
    );
    r.created_at = "2026-11-25T18:00:00Z".into();
    r
}

fn entry(image: &str, version: &str, status: Status, files: &[&str]) -> Entry {
    Entry {
        record: record(image, version, files),
        status,
        files: files
            .iter()
            .map(|f| RecordFile {
                shown: f.to_string(),
                path: Path::new(ROOT).join(f),
            })
            .collect(),
    }
}

fn file(size: u64) -> FileState {
    FileState::File {
        size,
        backing: None,
    }
}

fn layer(size: u64, backing: &str) -> FileState {
    FileState::File {
        size,
        backing: Some(Path::new(ROOT).join(backing)),
    }
}

fn inventory(entries: Vec<Entry>, files: &[(&str, FileState)]) -> Inventory {
    Inventory {
        root: PathBuf::from(ROOT),
        entries,
        unreadable: vec![],
        files: files
            .iter()
            .map(|(p, s)| (Path::new(ROOT).join(p), s.clone()))
            .collect::<BTreeMap<_, _>>(),
        versions: vec![],
    }
}

fn removed_files(inv: &Inventory) -> Vec<String> {
    decide_prune(inv)
        .unwrap()
        .files
        .into_iter()
        .map(|f| f.shown)
        .collect()
}

#[test]
fn older_and_orphaned_records_go_with_their_files() {
    let inv = inventory(
        vec![
            entry("app", "1", Status::Older, &["out/app-1.txt"]),
            entry("app", "2", Status::Current, &["out/app-2.txt"]),
            entry("gone", "1", Status::Orphaned, &["out/gone.txt"]),
        ],
        &[
            ("out/app-1.txt", file(10)),
            ("out/app-2.txt", file(20)),
            ("out/gone.txt", file(5)),
        ],
    );
    let plan = decide_prune(&inv).unwrap();
    let records: Vec<(&str, Status)> = plan
        .records
        .iter()
        .map(|r| (r.image.as_str(), r.status))
        .collect();
    assert_eq!(
        records,
        [("app", Status::Older), ("gone", Status::Orphaned)]
    );
    assert_eq!(removed_files(&inv), ["out/app-1.txt", "out/gone.txt"]);
    assert_eq!(plan.bytes(), 15);
    assert!(plan.kept.is_empty());
}

#[test]
fn nothing_to_do_when_every_record_is_current() {
    let inv = inventory(
        vec![entry("app", "2", Status::Current, &["out/app.txt"])],
        &[("out/app.txt", file(20))],
    );
    let plan = decide_prune(&inv).unwrap();
    assert!(plan.is_empty());
    assert_eq!(plan.bytes(), 0);
}

#[test]
fn a_file_a_current_record_also_names_stays() {
    // A rebuild writes its disk where the previous build did.
    let disk = "cache/artifacts/base/base.qcow2";
    let inv = inventory(
        vec![
            entry("base", "1", Status::Older, &[disk]),
            entry("base", "2", Status::Current, &[disk]),
        ],
        &[(disk, file(100))],
    );
    let plan = decide_prune(&inv).unwrap();
    assert_eq!(plan.records.len(), 1);
    assert!(plan.files.is_empty());
    let current = &inv.entries[1].record;
    assert_eq!(plan.kept.len(), 1);
    assert_eq!(plan.kept[0].shown, disk);
    assert_eq!(
        plan.kept[0].why,
        KeepReason::Named {
            image: "base".into(),
            fingerprint: current.fingerprint
        }
    );
}

#[test]
fn two_removed_records_naming_one_file_remove_it_once() {
    let inv = inventory(
        vec![
            entry("app", "1", Status::Older, &["out/app.txt"]),
            entry("app", "2", Status::Older, &["out/app.txt"]),
            entry("app", "3", Status::Current, &["out/app-3.txt"]),
        ],
        &[("out/app.txt", file(7)), ("out/app-3.txt", file(7))],
    );
    let plan = decide_prune(&inv).unwrap();
    assert_eq!(plan.records.len(), 2);
    assert_eq!(removed_files(&inv), ["out/app.txt"]);
    assert_eq!(plan.bytes(), 7);
}

#[test]
fn the_backing_chain_of_a_current_disk_stays_even_when_its_records_go() {
    // base v1 <- hardened v1 (both older); app (current) was built on hardened v1's disk.
    let base1 = "cache/artifacts/base/base-1.qcow2";
    let hard1 = "cache/artifacts/hardened/hardened-1.qcow2";
    let app = "cache/artifacts/app/app.qcow2";
    let base2 = "cache/artifacts/base/base-2.qcow2";
    let inv = inventory(
        vec![
            entry("app", "1", Status::Current, &[app]),
            entry("base", "1", Status::Older, &[base1]),
            entry("base", "2", Status::Current, &[base2]),
            entry("hardened", "1", Status::Older, &[hard1]),
        ],
        &[
            (app, layer(1, hard1)),
            (hard1, layer(2, base1)),
            (base1, file(300)),
            (base2, file(300)),
        ],
    );
    let plan = decide_prune(&inv).unwrap();
    assert_eq!(plan.records.len(), 2, "the records go: {plan:?}");
    assert!(plan.files.is_empty(), "no disk goes: {:?}", plan.files);
    let app_fingerprint = inv.entries[0].record.fingerprint;
    let kept: Vec<(&str, &KeepReason)> = plan
        .kept
        .iter()
        .map(|k| (k.shown.as_str(), &k.why))
        .collect();
    let backs = KeepReason::Backs {
        disk: app.into(),
        image: "app".into(),
        fingerprint: app_fingerprint,
    };
    assert_eq!(kept, [(base1, &backs), (hard1, &backs)]);
}

#[test]
fn an_older_disk_no_current_disk_stands_on_goes() {
    let base1 = "cache/artifacts/base/base-1.qcow2";
    let base2 = "cache/artifacts/base/base-2.qcow2";
    let app1 = "cache/artifacts/app/app-1.qcow2";
    let app2 = "cache/artifacts/app/app-2.qcow2";
    let inv = inventory(
        vec![
            entry("app", "1", Status::Older, &[app1]),
            entry("app", "2", Status::Current, &[app2]),
            entry("base", "1", Status::Older, &[base1]),
            entry("base", "2", Status::Current, &[base2]),
        ],
        &[
            (app1, layer(1, base1)),
            (app2, layer(1, base2)),
            (base1, file(300)),
            (base2, file(300)),
        ],
    );
    assert_eq!(removed_files(&inv), [app1, base1]);
}

#[test]
fn a_backing_chain_that_loops_ends() {
    let a = "cache/a.qcow2";
    let b = "cache/b.qcow2";
    let inv = inventory(
        vec![
            entry("x", "1", Status::Current, &[a]),
            entry("x", "0", Status::Older, &[b]),
        ],
        &[(a, layer(1, b)), (b, layer(1, a))],
    );
    let plan = decide_prune(&inv).unwrap();
    assert!(plan.files.is_empty());
}

#[test]
fn files_outside_the_workspace_directories_and_missing_files_are_not_deleted() {
    let inv = Inventory {
        files: [
            (PathBuf::from("/elsewhere/disk.qcow2"), file(9)),
            (PathBuf::from("/ws/out/dir"), FileState::NotAFile),
            (PathBuf::from("/ws/out/gone.txt"), FileState::Missing),
        ]
        .into(),
        ..inventory(
            vec![Entry {
                files: vec![
                    RecordFile {
                        shown: "/elsewhere/disk.qcow2".into(),
                        path: "/elsewhere/disk.qcow2".into(),
                    },
                    RecordFile {
                        shown: "out/dir".into(),
                        path: "/ws/out/dir".into(),
                    },
                    RecordFile {
                        shown: "out/gone.txt".into(),
                        path: "/ws/out/gone.txt".into(),
                    },
                ],
                ..entry("app", "1", Status::Orphaned, &[])
            }],
            &[],
        )
    };
    let plan = decide_prune(&inv).unwrap();
    assert_eq!(plan.records.len(), 1);
    assert!(plan.files.is_empty());
    let kept: Vec<(&str, &KeepReason)> = plan
        .kept
        .iter()
        .map(|k| (k.shown.as_str(), &k.why))
        .collect();
    assert_eq!(
        kept,
        [
            ("/elsewhere/disk.qcow2", &KeepReason::OutsideWorkspace),
            ("out/dir", &KeepReason::NotAFile),
        ]
    );
}

#[test]
fn an_unknown_workspace_refuses() {
    let inv = inventory(
        vec![
            entry("app", "1", Status::Unknown, &["out/app-1.txt"]),
            entry("app", "2", Status::Unknown, &["out/app-2.txt"]),
        ],
        &[("out/app-1.txt", file(1)), ("out/app-2.txt", file(1))],
    );
    let refusals = decide_prune(&inv).unwrap_err();
    assert_eq!(refusals.len(), 1);
    assert!(refusals[0].message.contains("not known"), "{refusals:?}");
}

#[test]
fn an_unreadable_record_refuses() {
    let mut inv = inventory(
        vec![entry("app", "1", Status::Older, &["out/app-1.txt"])],
        &[("out/app-1.txt", file(1))],
    );
    inv.unreadable.push(Unreadable {
        image: "app".into(),
        path: "/ws/cache/records/app/x.json".into(),
        error: "not valid JSON".into(),
    });
    let refusals = decide_prune(&inv).unwrap_err();
    assert_eq!(refusals.len(), 1);
    assert_eq!(
        refusals[0].path.as_deref(),
        Some(Path::new("/ws/cache/records/app/x.json"))
    );
}

#[test]
fn a_kept_disk_with_an_unreadable_header_refuses() {
    let app = "cache/app.qcow2";
    let inv = inventory(
        vec![
            entry("app", "2", Status::Current, &[app]),
            entry("base", "1", Status::Older, &["cache/base.qcow2"]),
        ],
        &[
            (app, FileState::Unreadable("qcow2 version 9".into())),
            ("cache/base.qcow2", file(1)),
        ],
    );
    let refusals = decide_prune(&inv).unwrap_err();
    assert_eq!(refusals.len(), 1);
    assert!(
        refusals[0].message.contains("cache/app.qcow2"),
        "{refusals:?}"
    );
}

fn version(image: &str, name: &str, size: u64, building: Option<(&str, bool)>) -> VersionEntry {
    let shown = format!("cache/artifacts/{image}/{name}");
    VersionEntry {
        image: image.into(),
        path: Path::new(ROOT).join(&shown),
        shown,
        size,
        building: building.map(|(run, running)| (run.to_string(), running)),
    }
}

#[test]
fn version_directories_go_whole_unless_current_building_or_backing_a_kept_disk() {
    // base: v1 (older) under app's current disk, v2 current; web: v1 older, v2 current;
    // a version a killed run left, and one a running build is writing.
    let base1 = "cache/artifacts/base/aaaa/base.qcow2";
    let base2 = "cache/artifacts/base/bbbb/base.qcow2";
    let app = "cache/artifacts/app/cccc/app.qcow2";
    let web1 = "cache/artifacts/web/dddd/web.qcow2";
    let web2 = "cache/artifacts/web/eeee/web.qcow2";
    let with_dir = |mut e: Entry, dir: &str| {
        e.record.artifact_dir = Some(dir.into());
        e
    };
    let mut inv = inventory(
        vec![
            with_dir(
                entry("app", "1", Status::Current, &[app]),
                "cache/artifacts/app/cccc",
            ),
            with_dir(
                entry("base", "1", Status::Older, &[base1]),
                "cache/artifacts/base/aaaa",
            ),
            with_dir(
                entry("base", "2", Status::Current, &[base2]),
                "cache/artifacts/base/bbbb",
            ),
            with_dir(
                entry("web", "1", Status::Older, &[web1]),
                "cache/artifacts/web/dddd",
            ),
            with_dir(
                entry("web", "2", Status::Current, &[web2]),
                "cache/artifacts/web/eeee",
            ),
        ],
        &[
            (app, layer(1, base1)),
            (base1, file(300)),
            (base2, file(300)),
            (web1, file(50)),
            (web2, file(50)),
        ],
    );
    inv.versions = vec![
        version("app", "cccc", 1, None),
        version("base", "aaaa", 300, None),
        version("base", "bbbb", 300, None),
        version("base", "ffff", 80, Some(("killed-run", false))),
        version("web", "dddd", 60, None),
        version("web", "eeee", 60, None),
        version("web", "eeee-2", 10, Some(("live-run", true))),
    ];
    let plan = decide_prune(&inv).unwrap();
    let removed: Vec<(&str, bool)> = plan
        .files
        .iter()
        .map(|f| (f.shown.as_str(), f.is_dir))
        .collect();
    assert_eq!(
        removed,
        [
            ("cache/artifacts/base/ffff/", true),
            ("cache/artifacts/web/dddd/", true)
        ],
        "web1's disk goes with its directory, not on its own"
    );
    assert_eq!(plan.dirs(), 2);
    assert_eq!(plan.bytes(), 140);
    let kept: Vec<(&str, &KeepReason)> = plan
        .kept
        .iter()
        .map(|k| (k.shown.as_str(), &k.why))
        .collect();
    let backs = KeepReason::Backs {
        disk: app.into(),
        image: "app".into(),
        fingerprint: inv.entries[0].record.fingerprint,
    };
    let building = KeepReason::Building {
        run: "live-run".into(),
    };
    assert_eq!(
        kept,
        [
            ("cache/artifacts/base/aaaa/", &backs),
            ("cache/artifacts/web/eeee-2/", &building),
            (base1, &backs),
        ]
    );
}
