//! Scaling a run out: per-region and per-builder limits on the 13-image layered amazon-ebs workspace
//! against the EC2 server, `--resume` after a failure, and the shard plan run wave by wave in
//! separate processes with separate caches.
//!
//! Concurrency is read from the run's JSON events (`started`, then `built` or `failed`), in the order
//! the run emitted them: no timing is measured.

use crate::layered_ebs::{KEY_PAIR, events, layered_workspace};
use crate::support::ebs::Peers;
use crate::support::*;

/// The most images building at once in a run, as its events tell.
fn most_at_once(events: &[serde_json::Value]) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for e in events {
        match e["event"].as_str() {
            Some("started") => {
                now += 1;
                most = most.max(now);
            }
            Some("built" | "failed") if now > 0 => now -= 1,
            _ => {}
        }
    }
    most
}

#[test]
fn region_and_builder_limits_bound_how_many_build_at_once() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = layered_workspace(&peers, remote.path(), false);
    let root = ws.path();

    // Nine grandchildren are ready at once once their parents are built; two at a time in the region.
    let out = imgs(
        root,
        &[
            "build",
            "--all",
            "--max-per-region",
            "2",
            "--message-format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let run = events(&out.stdout);
    assert_eq!(run.last().unwrap()["built"], 13);
    assert_eq!(most_at_once(&run), 2, "{}", out.stdout);

    // The three children again, one amazon-ebs build at a time (their parent stays fresh).
    let out = imgs(
        root,
        &[
            "build",
            "-i",
            "a",
            "-i",
            "b",
            "-i",
            "c",
            "--force",
            "--max-per-builder",
            "amazon-ebs=1",
            "-j",
            "3",
            "--message-format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let run = events(&out.stdout);
    assert_eq!(run.last().unwrap()["built"], 3);
    assert_eq!(most_at_once(&run), 1, "{}", out.stdout);
    // A type no build has bounds nothing: -j is the only limit.
    let out = imgs(
        root,
        &[
            "build",
            "-i",
            "a",
            "-i",
            "b",
            "-i",
            "c",
            "--force",
            "--max-per-builder",
            "qemu=1",
            "--message-format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(most_at_once(&events(&out.stdout)), 3, "{}", out.stdout);
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

#[test]
fn limits_are_checked_on_the_command_line() {
    let ws = new_workspace("imgs-limits-");
    let out = imgs(ws.path(), &["build", "--max-per-region", "0"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = imgs(ws.path(), &["build", "--max-per-builder", "amazon-ebs"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    settings(ws.path()).bind(|| insta::assert_snapshot!("builder_limit_without_count", out.stderr));
}
