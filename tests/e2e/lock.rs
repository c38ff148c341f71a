//! Images.lock against a real EC2 API server (moto): a `source_ami_filter` with `most_recent` is
//! locked to the AMI it picked, so a newer AMI matching the filter moves nothing until
//! `imgs update`; the update says what changed and what rebuilds (the base and what is built on
//! it), a reverted lock makes them fresh again, and `--locked` / `--offline` refuse a lock that
//! would have to change.
//!
//! The build's own launch is checked on the server: the instances imgs launched for the base list
//! the AMI they started from.

use std::path::Path;

use crate::support::ebs::{Peers, REGION};
use crate::support::*;

const KEY_PAIR: &str = "imgs-lock-key";

/// The name pattern of the base's source AMIs; imgs's own AMIs are named otherwise.
const BASE_NAMES: &str = "imgs-lock-base-*";

impl Peers {
    /// Registers an AMI of ours named `name` (matching [`BASE_NAMES`] when it starts so) and
    /// returns its ID and creation date.
    fn register_base_ami(&self, name: &str) -> (String, String) {
        let id = self
            .rt
            .block_on(self.ec2.register_image().name(name).send())
            .unwrap()
            .image_id()
            .unwrap()
            .to_string();
        let described = self
            .rt
            .block_on(self.ec2.describe_images().image_ids(&id).send())
            .unwrap();
        let created = described.images()[0]
            .creation_date()
            .unwrap_or_default()
            .to_string();
        (id, created)
    }

    /// Registers `name` so that it is newer than `than` (an AMI's creation date): EC2's creation
    /// dates may have whole seconds only, so registering again until the date is later is what
    /// makes "the newest" a fact rather than a race.
    fn register_newer_ami(&self, name: &str, than: &str) -> String {
        loop {
            let (id, created) = self.register_base_ami(name);
            if created.as_str() > than {
                return id;
            }
            self.rt
                .block_on(self.ec2.deregister_image().image_id(&id).send())
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

/// base (launched from the newest AMI named [`BASE_NAMES`]) → app → web.
fn lock_workspace(peers: &Peers) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-lock-",
        "\n[images.app]\nparents = { base_ami = \"base\" }\n\n\
         [images.web]\nparents = { app_ami = \"app\" }\n",
    );
    let root = dir.path();
    let builder = |source: serde_json::Value| {
        let mut settings = serde_json::json!({
            "ami_name": "built-{{build_name}}-{{uuid}}",
            "communicator": "none",
        });
        settings
            .as_object_mut()
            .unwrap()
            .extend(source.as_object().unwrap().clone());
        peers.ebs_settings(REGION, settings)
    };
    let base = serde_json::json!({
        "builders": [builder(serde_json::json!({
            "source_ami_filter": {
                "filters": { "name": BASE_NAMES },
                "owners": ["self"],
                "most_recent": true,
            },
        }))],
    });
    write_template(root, "base", &base);
    for (image, parent) in [("app", "base_ami"), ("web", "app_ami")] {
        let template = serde_json::json!({
            "variables": { parent: null },
            "builders": [builder(serde_json::json!({ "source_ami": format!("{{{{user `{parent}`}}}}") }))],
        });
        write_template(root, image, &template);
    }
    dir
}

fn lock_settings(root: &Path) -> insta::Settings {
    let mut s = settings(root);
    s.add_filter(r"\bami-[0-9a-f]+\b", "ami-[ID]");
    s
}

fn lock_text(root: &Path) -> String {
    std::fs::read_to_string(root.join("Images.lock")).unwrap()
}

#[test]
fn a_locked_source_ami_holds_until_imgs_update() {
    let peers = Peers::start(KEY_PAIR);
    let ws = lock_workspace(&peers);
    let root = ws.path();
    let (_, first_created) = peers.register_base_ami("imgs-lock-base-1");
    let second = peers.register_newer_ami("imgs-lock-base-2", &first_created);

    // The first build locks the newest AMI the filter finds, says so, and launches from it.
    let out = imgs(root, &["build", "--all"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains(&format!("Locking base: source AMI (us-east-1) {second}")),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("3 images built"), "{}", out.stdout);
    assert_eq!(
        peers.sources_of(REGION, "base"),
        std::slice::from_ref(&second)
    );
    let locked = lock_text(root);
    assert!(
        locked.contains(&format!("resolved = \"{second}\"")),
        "{locked}"
    );
    lock_settings(root).bind(|| insta::assert_snapshot!("images_lock", locked));

    // A newer AMI matches the filter: nothing moves, the plan is fresh from the lock, and a
    // forced rebuild still launches from the locked AMI.
    let second_created = peers
        .rt
        .block_on(peers.ec2.describe_images().image_ids(&second).send())
        .unwrap()
        .images()[0]
        .creation_date()
        .unwrap()
        .to_string();
    let third = peers.register_newer_ami("imgs-lock-base-3", &second_created);
    let plan = imgs(root, &["plan", "--all"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("0 to build, 3 fresh"),
        "{}",
        plan.stdout
    );
    assert!(!plan.stderr.contains("Locking"), "{}", plan.stderr);
    let forced = imgs_ok(root, &["build", "-i", "base", "--force"]);
    assert!(forced.contains("1 image built"), "{forced}");
    assert_eq!(
        peers.sources_of(REGION, "base"),
        [second.clone(), second.clone()]
    );
    // The forced build's AMI is the current base: make the rest fresh on it again.
    imgs_ok(root, &["build", "--all"]);
    let fresh = imgs_ok(root, &["plan", "--all"]);
    assert!(fresh.contains("0 to build, 3 fresh"), "{fresh}");

    // `imgs update --dry-run` says what would change and rebuild, and writes nothing.
    let before = lock_text(root);
    let dry = imgs_ok(root, &["update", "--dry-run"]);
    assert!(dry.contains(&format!("{second} -> {third}")), "{dry}");
    lock_settings(root).bind(|| insta::assert_snapshot!("update_dry_run", dry));
    assert_eq!(lock_text(root), before, "a dry run writes nothing");

    // `imgs update` rewrites the lock; then base and everything built on it rebuild.
    let update = imgs_ok(root, &["update"]);
    lock_settings(root).bind(|| insta::assert_snapshot!("update", update));
    assert!(lock_text(root).contains(&format!("resolved = \"{third}\"")));
    let plan = imgs_ok(root, &["plan", "--all"]);
    lock_settings(root).bind(|| insta::assert_snapshot!("plan_after_update", plan));
    assert!(plan.contains("3 to build, 0 fresh"), "{plan}");
    let again = imgs_ok(root, &["update"]);
    lock_settings(root).bind(|| insta::assert_snapshot!("update_unchanged", again));

    // The lock reverted (as `git checkout Images.lock` would): fresh again, nothing rebuilt.
    let updated = lock_text(root);
    write(root, "Images.lock", &before);
    let reverted = imgs_ok(root, &["plan", "--all"]);
    assert!(reverted.contains("0 to build, 3 fresh"), "{reverted}");
    write(root, "Images.lock", &updated);
    let built = imgs_ok(root, &["build", "--all"]);
    assert!(built.contains("3 images built"), "{built}");
    assert_eq!(
        peers.sources_of(REGION, "base").last(),
        Some(&third),
        "the updated lock is what the build launched from"
    );

    // `--locked` refuses a missing entry, and a stale one (the spec changed), naming the image,
    // build and input, with the hint; so does `--offline` for a missing one. Nothing is written.
    std::fs::remove_file(root.join("Images.lock")).unwrap();
    let missing = imgs_input_error(root, &["plan", "--all", "--locked"]);
    lock_settings(root).bind(|| insta::assert_snapshot!("locked_missing", missing));
    let offline = imgs_input_error(root, &["build", "--all", "--offline"]);
    assert!(offline.contains("`--offline` cannot ask EC2"), "{offline}");
    assert!(!root.join("Images.lock").exists());
    write(
        root,
        "Images.lock",
        &updated.replace("name=imgs-lock-base-*", "name=imgs-lock-older-*"),
    );
    let stale = imgs_input_error(root, &["build", "--all", "--locked"]);
    lock_settings(root).bind(|| insta::assert_snapshot!("locked_stale", stale));
    // Without `--locked` the stale entry is locked afresh, and said.
    let relocked = imgs(root, &["plan", "--all"]);
    assert_eq!(relocked.code, 0, "{}", relocked.stderr);
    assert!(
        relocked
            .stderr
            .contains(&format!("Locking base: source AMI (us-east-1) {third}")),
        "{}",
        relocked.stderr
    );
    assert_eq!(lock_text(root), updated);
    // With every entry in place, `--offline` and `--locked` plan from the lock alone.
    let (offline, writes) =
        peers.ec2_writes_during(|| imgs_ok(root, &["plan", "--all", "--offline", "--locked"]));
    assert!(offline.contains("0 to build, 3 fresh"), "{offline}");
    assert!(writes.is_empty(), "{writes:?}");
    // An entry of an image no longer in the workspace goes at the next update.
    let ghost = updated.replace("image = \"base\"", "image = \"ghost\"");
    write(
        root,
        "Images.lock",
        &format!("{updated}{}", &ghost[ghost.find("\n[[input]]").unwrap()..]),
    );
    let dropped = imgs_ok(root, &["update", "--dry-run"]);
    assert!(
        dropped.contains(&format!("Removing ghost: source AMI (us-east-1) {third}")),
        "{dropped}"
    );
    assert!(dropped.contains("nothing to rebuild"), "{dropped}");
    assert!(
        peers.left_by_imgs().is_empty(),
        "{:?}",
        peers.left_by_imgs()
    );
}
