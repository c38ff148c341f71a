//! Properties of workspace fingerprints: formatting never matters; any real change to an image's inputs
//! changes exactly that image and everything built on it.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::*;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// The example workspace's lineage: image -> images built on it, transitively, itself included.
fn with_descendants(image: &str) -> BTreeSet<String> {
    let names: &[&str] = match image {
        "base" => &["base", "hardened", "app-web", "app-worker"],
        "hardened" => &["hardened", "app-web", "app-worker"],
        other => return [other.to_string()].into(),
    };
    names.iter().map(|s| s.to_string()).collect()
}

#[derive(Clone, Debug)]
enum Change {
    /// Append to a file an image references (script, file-provisioner directory, `inputs` glob).
    File {
        image: &'static str,
        path: &'static str,
    },
    /// Set a per-image variable in Images.toml.
    ManifestVariable {
        image: &'static str,
        key: &'static str,
    },
    /// Change a template's variable default.
    TemplateDefault { image: &'static str },
    /// Toggle the executable bit of a referenced script.
    Mode {
        image: &'static str,
        path: &'static str,
    },
}

fn change() -> impl Strategy<Value = (Change, String)> {
    let change = prop_oneof![
        Just(Change::File {
            image: "hardened",
            path: "images/hardened/harden.sh"
        }),
        Just(Change::File {
            image: "hardened",
            path: "images/hardened/files/etc/ssh/sshd_config.d/50-hardened.conf"
        }),
        Just(Change::File {
            image: "hardened",
            path: "scripts/common.sh"
        }),
        Just(Change::File {
            image: "app-web",
            path: "images/app-web/site/index.html"
        }),
        Just(Change::File {
            image: "app-worker",
            path: "images/app-worker/install.sh"
        }),
        Just(Change::ManifestVariable {
            image: "app-web",
            key: "site_title"
        }),
        Just(Change::ManifestVariable {
            image: "app-worker",
            key: "worker_threads"
        }),
        Just(Change::TemplateDefault { image: "base" }),
        Just(Change::TemplateDefault {
            image: "app-worker"
        }),
        Just(Change::Mode {
            image: "app-web",
            path: "images/app-web/install.sh"
        }),
    ];
    (change, "[a-z0-9 ]{1,12}")
}

fn apply(root: &Path, change: &Change, text: &str) -> &'static str {
    match change {
        Change::File { image, path } => {
            append(root, path, &format!("\n# {text}\n"));
            image
        }
        Change::ManifestVariable { image, key } => {
            let manifest = std::fs::read_to_string(root.join("Images.toml")).unwrap();
            let table = format!("[images.{image}]\n");
            let at = manifest.find(&table).unwrap() + table.len();
            let mut updated = manifest.clone();
            // A later key in the same table would be a duplicate; rewrite the line that sets it.
            let line_start = manifest[at..]
                .find(&format!("variables = {{ {key} = "))
                .map(|i| at + i)
                .unwrap();
            let line_end = line_start + manifest[line_start..].find('\n').unwrap();
            updated.replace_range(
                line_start..line_end,
                &format!("variables = {{ {key} = \"changed {text}\" }}"),
            );
            std::fs::write(root.join("Images.toml"), updated).unwrap();
            image
        }
        Change::TemplateDefault { image } => {
            let path = root.join(format!("images/{image}/template.json"));
            let t = std::fs::read_to_string(&path).unwrap();
            let t = t.replace(
                "\"initrd\": \"cache/base-image/initrd.img\"",
                &format!("\"initrd\": \"cache/base-image/initrd-{text}.img\""),
            );
            std::fs::write(&path, t).unwrap();
            image
        }
        Change::Mode { image, path } => {
            use std::os::unix::fs::PermissionsExt;
            let full = root.join(path);
            let mode = std::fs::metadata(&full).unwrap().permissions().mode();
            std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode ^ 0o111)).unwrap();
            image
        }
    }
}

proptest! {
    // Failures found are kept beside this file (`fingerprint_props.proptest-regressions`) and tried
    // first by every later run. (proptest's default would put them under tests/ now that this is a
    // module of a binary with a main.rs.)
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_change_reaches_exactly_the_image_and_its_descendants((change, text) in change()) {
        let ws = example_workspace();
        let before = fingerprints(ws.path());
        let image = apply(ws.path(), &change, &text);
        let after = fingerprints(ws.path());
        let changed: BTreeSet<String> = before.keys().filter(|k| before[*k] != after[*k]).cloned().collect();
        prop_assert_eq!(changed, with_descendants(image), "{:?}", change);
    }

    /// app-web is an HCL2 member: its configuration re-indented, with spaces around `=` and
    /// comments added and its top-level blocks in another order, has the same fingerprint; so has
    /// what `imgs fmt` makes of that, and formatting again changes nothing.
    #[test]
    fn hcl2_layout_comments_and_block_order_never_matter(pad in 0usize..4, around in 0usize..3, comments in any::<bool>(), reverse in any::<bool>()) {
        let ws = example_workspace();
        let before = fingerprints(ws.path());
        let path = ws.path().join("images/app-web/template.pkr.hcl");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut blocks: Vec<String> = Vec::new();
        for line in text.lines() {
            let starts_block = !line.starts_with([' ', '}', '#']) && !line.is_empty();
            if starts_block || blocks.is_empty() {
                blocks.push(String::new());
            }
            let block = blocks.last_mut().unwrap();
            let spaced = line.replacen(" = ", &format!("{}={}", " ".repeat(around + 1), " ".repeat(around)), 1);
            block.push_str(&" ".repeat(pad));
            block.push_str(spaced.trim_start());
            if comments && line.ends_with('{') {
                block.push_str(" # opened");
            }
            block.push('\n');
        }
        if reverse {
            blocks.reverse();
        }
        std::fs::write(&path, blocks.concat()).unwrap();
        prop_assert_eq!(&before, &fingerprints(ws.path()));
        imgs_ok(ws.path(), &["fmt", "images/app-web"]);
        prop_assert_eq!(&before, &fingerprints(ws.path()));
        let formatted = std::fs::read_to_string(&path).unwrap();
        imgs_ok(ws.path(), &["fmt", "--check", "images/app-web"]);
        prop_assert_eq!(formatted, std::fs::read_to_string(&path).unwrap());
    }

    #[test]
    fn formatting_and_key_order_never_matter(indent in 0usize..6, reverse in any::<bool>(), image in prop::sample::select(vec!["base", "hardened", "app-worker"])) {
        let ws = example_workspace();
        let before = fingerprints(ws.path());
        let path = ws.path().join(format!("images/{image}/template.json"));
        let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let value = if reverse { reversed(value) } else { value };
        let text = if indent == 0 {
            serde_json::to_string(&value).unwrap()
        } else {
            let mut out = Vec::new();
            let indent_str = " ".repeat(indent);
            let formatter = serde_json::ser::PrettyFormatter::with_indent(indent_str.as_bytes());
            let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
            serde::Serialize::serialize(&value, &mut ser).unwrap();
            String::from_utf8(out).unwrap()
        };
        std::fs::write(&path, text).unwrap();
        prop_assert_eq!(before, fingerprints(ws.path()));
    }
}

/// Object keys in reverse order, recursively (arrays keep their order: it is meaningful).
fn reversed(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.reverse();
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, reversed(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(reversed).collect())
        }
        other => other,
    }
}
