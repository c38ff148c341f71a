//! The keep/remove decision of `imgs prune` and the lineage `imgs revoke --descendants` follows.

use chrono::{TimeZone, Utc};

use crate::{
    BuiltOn, ImageState, Kept, RetentionPolicy, Verdict, Version, decide_retention, descendants,
};

fn version(image: &str, fingerprint: &str, day: u32, ami: &str) -> Version {
    Version {
        image: image.into(),
        fingerprint: fingerprint.into(),
        created_at: format!("2026-01-{day:02}T00:00:00Z"),
        amis: if ami.is_empty() {
            vec![]
        } else {
            vec![ami.into()]
        },
        local: true,
        ..Version::default()
    }
}

fn on_ami(mut v: Version, source: &str) -> Version {
    v.built_on.push(BuiltOn::Ami(source.into()));
    v
}

fn image(name: &str, current: &str) -> ImageState {
    ImageState {
        name: name.into(),
        current: Some(current.into()),
        selected: true,
    }
}

fn policy(keep: usize) -> RetentionPolicy {
    RetentionPolicy {
        keep,
        older_than_days: None,
        channel_keep: false,
        now: Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap(),
    }
}

#[test]
fn keeps_the_newest_and_the_current_and_removes_the_rest() {
    let versions = [
        version("base", "b1", 1, "ami-1"),
        version("base", "b3", 3, "ami-3"),
        version("base", "b2", 2, "ami-2"),
    ];
    let verdicts = decide_retention(&[image("base", "b3")], &versions, &policy(1));
    assert_eq!(
        verdicts,
        [
            Verdict::Remove,
            Verdict::Keep(Kept::Current),
            Verdict::Remove
        ]
    );
    // A current fingerprint older than the newest (a change undone) is kept as well.
    let verdicts = decide_retention(&[image("base", "b1")], &versions, &policy(1));
    assert_eq!(
        verdicts,
        [
            Verdict::Keep(Kept::Current),
            Verdict::Keep(Kept::Newest),
            Verdict::Remove
        ]
    );
}

#[test]
fn a_kept_child_keeps_what_it_was_built_on_down_the_lineage() {
    let versions = [
        version("base", "b1", 1, "ami-b1"),
        version("base", "b2", 3, "ami-b2"),
        on_ami(version("mid", "m1", 2, "ami-m1"), "ami-b1"),
        on_ami(version("mid", "m2", 4, "ami-m2"), "ami-b2"),
        on_ami(version("app", "a1", 5, "ami-a1"), "ami-m1"),
    ];
    let mut app = image("app", "a1");
    app.selected = false;
    let verdicts = decide_retention(
        &[image("base", "b2"), image("mid", "m2"), app],
        &versions,
        &policy(1),
    );
    assert_eq!(
        verdicts,
        [
            Verdict::Keep(Kept::Parent {
                image: "mid".into(),
                fingerprint: "m1".into()
            }),
            Verdict::Keep(Kept::Current),
            Verdict::Keep(Kept::Parent {
                image: "app".into(),
                fingerprint: "a1".into()
            }),
            Verdict::Keep(Kept::Current),
            Verdict::Keep(Kept::NotSelected),
        ]
    );
}

#[test]
fn local_parents_are_followed_by_fingerprint() {
    let mut child = version("app", "a1", 3, "");
    child.built_on.push(BuiltOn::Version {
        image: "base".into(),
        fingerprint: "b1".into(),
    });
    let versions = [
        version("base", "b1", 1, ""),
        version("base", "b2", 2, ""),
        child,
    ];
    let verdicts = decide_retention(
        &[image("base", "b2"), image("app", "a1")],
        &versions,
        &policy(1),
    );
    assert!(verdicts[0].is_kept(), "{verdicts:?}");
}

#[test]
fn channel_versions_stay_and_count_unless_channel_keep() {
    let mut in_prod = version("base", "b2", 2, "ami-2");
    in_prod.channels = vec!["prod".into()];
    let versions = [
        version("base", "b1", 1, "ami-1"),
        in_prod,
        version("base", "b3", 3, "ami-3"),
        version("base", "b4", 4, "ami-4"),
    ];
    let images = [image("base", "b4")];
    let channel = Verdict::Keep(Kept::Channel(vec!["prod".into()]));
    assert_eq!(
        decide_retention(&images, &versions, &policy(2)),
        [
            Verdict::Remove,
            channel.clone(),
            Verdict::Keep(Kept::Newest),
            Verdict::Keep(Kept::Current)
        ]
    );
    // Counted: the channel's version is the second of two.
    assert_eq!(
        decide_retention(&images, &versions, &policy(1))[2],
        Verdict::Remove
    );
    let mut not_counted = policy(2);
    not_counted.channel_keep = true;
    assert_eq!(
        decide_retention(&images, &versions, &not_counted),
        [
            Verdict::Remove,
            channel,
            Verdict::Keep(Kept::Newest),
            Verdict::Keep(Kept::Current)
        ]
    );
}

#[test]
fn older_than_removes_only_old_versions() {
    let versions = [
        version("base", "b1", 1, ""),
        version("base", "b2", 28, ""),
        version("base", "b3", 30, ""),
    ];
    let mut p = policy(1);
    p.older_than_days = Some(7);
    assert_eq!(
        decide_retention(&[image("base", "b3")], &versions, &p),
        [
            Verdict::Remove,
            Verdict::Keep(Kept::Recent),
            Verdict::Keep(Kept::Current)
        ]
    );
}

#[test]
fn an_unreadable_time_is_never_old_enough() {
    let mut odd = version("base", "b1", 1, "");
    odd.created_at = "yesterday".into();
    let versions = [odd, version("base", "b2", 2, "")];
    let mut p = policy(1);
    p.older_than_days = Some(7);
    assert_eq!(
        decide_retention(&[image("base", "b2")], &versions, &p)[0],
        Verdict::Keep(Kept::Recent)
    );
}

#[test]
fn descendants_follow_amis_and_fingerprints_transitively() {
    let mut local = version("tool", "t1", 4, "");
    local.built_on.push(BuiltOn::Version {
        image: "app".into(),
        fingerprint: "a1".into(),
    });
    let versions = [
        version("base", "b1", 1, "ami-b1"),
        on_ami(version("mid", "m1", 2, "ami-m1"), "ami-b1"),
        on_ami(version("app", "a1", 3, "ami-a1"), "ami-m1"),
        local,
        on_ami(version("other", "o1", 3, "ami-o1"), "ami-public"),
    ];
    assert_eq!(descendants(&versions, &[0]), [1, 2, 3]);
    assert!(descendants(&versions, &[4]).is_empty());
}
