use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use imgs_diagnostic::Span;
use imgs_template::Expect;
use proptest::prelude::*;

use super::*;

const TEMPLATE: &str = r#"{
  "variables": {
    "version": "1.0",
    "password": "hunter2",
    "source_disk": null,
    "home": "{{env `HOME`}}"
  },
  "sensitive-variables": ["password"],
  "builders": [{ "type": "null", "name": "app", "communicator": "none" }],
  "provisioners": [
    { "type": "shell-local", "script": "images/app/setup.sh" },
    { "type": "file", "source": "images/app/files", "destination": "/tmp/files" },
    { "type": "shell-local", "script": "{{user `source_disk`}}" }
  ]
}
"#;

/// A workspace with one image, `app`, whose parent is `base`:
///
/// ```text
/// ws/images/app/template.json   the template above
/// ws/images/app/setup.sh        executable script
/// ws/images/app/files/motd      uploaded directory, with an empty directory in it
/// ws/images/app/files/empty/
/// shared/common.sh              extra input outside the workspace
/// ```
struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    template: Template,
    variables: ResolvedVariables,
    files: Vec<FileReference>,
    extra_inputs: Vec<PathBuf>,
    parent_variables: BTreeSet<String>,
    parent: Fingerprint,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        let app = root.join("images/app");
        fs::create_dir_all(app.join("files/empty")).unwrap();
        fs::create_dir_all(dir.path().join("shared")).unwrap();
        fs::write(app.join("setup.sh"), "#!/bin/sh\necho setup\n").unwrap();
        fs::set_permissions(app.join("setup.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(app.join("files/motd"), "hello\n").unwrap();
        fs::write(dir.path().join("shared/common.sh"), "echo common\n").unwrap();

        let mut fixture = Fixture {
            root: root.clone(),
            template: parse(&root, TEMPLATE),
            variables: ResolvedVariables {
                values: [
                    ("version", "1.0"),
                    ("password", "hunter2"),
                    ("source_disk", "imgs-parent-artifact-base"),
                    ("home", "/root"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                sensitive: BTreeSet::from(["password".to_owned()]),
                env_read: BTreeMap::from([("HOME".to_owned(), "/root".to_owned())]),
                warnings: Vec::new(),
                origins: BTreeMap::new(),
            },
            files: Vec::new(),
            extra_inputs: vec![dir.path().join("shared/common.sh")],
            parent_variables: BTreeSet::from(["source_disk".to_owned()]),
            parent: Fingerprint::from(blake3::hash(b"base")),
            _dir: dir,
        };
        fixture.files = vec![
            fixture.reference(
                "provisioners[0].script",
                "images/app/setup.sh",
                Expect::File,
            ),
            fixture.reference(
                "provisioners[1].source",
                "images/app/files",
                Expect::FileOrDirectory,
            ),
            // What the template crate reports for a path made of the parent's artifact.
            fixture.reference(
                "provisioners[2].script",
                "{{user `source_disk`}}",
                Expect::File,
            ),
        ];
        fixture
    }

    /// A reference as the template crate reports it: located at the written value, resolved against the
    /// workspace root.
    fn reference(&self, key: &str, written: &str, expect: Expect) -> FileReference {
        let start = TEMPLATE
            .find(written)
            .expect("the written value is in the template");
        let resolved = if written.starts_with("{{") {
            "imgs-parent-artifact-base"
        } else {
            written
        };
        FileReference {
            key: key.to_owned(),
            written: written.to_owned(),
            path: self.root.join(resolved),
            expect,
            span: Span::new(start - 1, start + written.len() + 1),
        }
    }

    fn inputs(&self) -> Result<InputSet, Diagnostics> {
        // A fresh hasher each time, so one computation's stat cache never vouches for the next.
        let hasher = FileHasher::open(&self.root.join("cache"));
        let inputs = ImageInputs {
            root: &self.root,
            template: &self.template,
            variables: &self.variables,
            builds: vec![("app", "null")],
            files: &self.files,
            extra_inputs: &self.extra_inputs,
            parent_variables: &self.parent_variables,
            parents: vec![("base", self.parent)],
        };
        image_inputs(&inputs, &hasher)
    }

    fn fingerprint(&self) -> Fingerprint {
        self.inputs().unwrap().fingerprint()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Diagnostics as shown to people, with the temporary directory replaced.
    fn shown(&self, diagnostics: &Diagnostics) -> String {
        let tmp = self.root.parent().unwrap().display().to_string();
        diagnostics.to_string().replace(&tmp, "[tmp]")
    }
}

fn parse(root: &Path, text: &str) -> Template {
    Template::parse(&root.join("images/app/template.json"), text.to_owned()).unwrap()
}

#[test]
fn covers_every_kind_of_input_with_stable_keys() {
    let fixture = Fixture::new();
    let inputs = fixture.inputs().unwrap();
    let keys: Vec<String> = inputs.iter().map(|(key, _)| key.to_string()).collect();
    insta::assert_snapshot!("input_keys", keys.join("\n"));
}

#[test]
fn fingerprints_do_not_depend_on_where_the_workspace_is() {
    let here = Fixture::new();
    let there = Fixture::new();
    assert_ne!(here.root, there.root);
    assert_eq!(here.fingerprint(), there.fingerprint());
}

#[test]
fn records_never_hold_variable_or_environment_values() {
    let fixture = Fixture::new();
    let json = serde_json::to_string(&fixture.inputs().unwrap()).unwrap();
    for value in ["hunter2", "/root", "1.0"] {
        assert!(!json.contains(value), "{value} in {json}");
        let plain = blake3::hash(value.as_bytes()).to_hex().to_string();
        assert!(
            !json.contains(&plain),
            "the plain hash of {value} is in {json}"
        );
    }
}

#[test]
fn marking_a_variable_sensitive_does_not_change_the_fingerprint() {
    let mut fixture = Fixture::new();
    let before = fixture.fingerprint();
    fixture.variables.sensitive.clear();
    assert_eq!(fixture.fingerprint(), before);
}

#[test]
fn a_parent_fingerprint_stands_in_for_the_parent_artifact() {
    let mut fixture = Fixture::new();
    let before = fixture.fingerprint();
    fixture.variables.values.insert(
        "source_disk".into(),
        "cache/artifacts/base/base.qcow2".into(),
    );
    assert_eq!(
        fixture.fingerprint(),
        before,
        "the artifact value is not an input"
    );
    fixture.parent = Fingerprint::from(blake3::hash(b"base, rebuilt"));
    let after = fixture.inputs().unwrap();
    assert_ne!(after.fingerprint(), before);
}

#[test]
fn reads_of_parent_variables_are_recognised_in_any_spelling() {
    let names = BTreeSet::from(["source_disk".to_owned()]);
    for text in [
        "{{user `source_disk`}}",
        "{{ user \"source_disk\" }}",
        "dir/{{user `source_disk`}}.qcow2",
    ] {
        assert!(reads_any_variable(text, &names), "{text}");
    }
    for text in [
        "source_disk",
        "{{user `other`}}",
        "{{env `source_disk`}}",
        "{{user `source_disk_2`}}",
        "{{",
    ] {
        assert!(!reads_any_variable(text, &names), "{text}");
    }
}

#[test]
fn a_file_reached_twice_counts_once() {
    let mut fixture = Fixture::new();
    let before = fixture.inputs().unwrap();
    let motd = fixture.reference(
        "provisioners[1].source",
        "images/app/files",
        Expect::FileOrDirectory,
    );
    fixture.files.push(FileReference {
        path: fixture.path("images/app/files/motd"),
        ..motd
    });
    assert_eq!(fixture.inputs().unwrap(), before);
}

#[test]
fn missing_files_are_located_at_the_referencing_key_with_a_hint() {
    let mut fixture = Fixture::new();
    // A near miss on disk gets a suggestion; a path with nothing like it gets told where it was looked for.
    fs::rename(
        fixture.path("images/app/setup.sh"),
        fixture.path("images/app/set-up.sh"),
    )
    .unwrap();
    fs::remove_file(fixture.root.parent().unwrap().join("shared/common.sh")).unwrap();
    let unrelated = fixture.reference(
        "provisioners[1].source",
        "images/app/files",
        Expect::FileOrDirectory,
    );
    fixture.files.push(FileReference {
        written: "{{template_dir}}/nothing-like-it".into(),
        path: fixture.path("images/app/zzzzzzzz"),
        ..unrelated
    });

    let diagnostics = fixture.inputs().unwrap_err();
    insta::assert_snapshot!("missing_files", fixture.shown(&diagnostics));
}

#[test]
fn a_directory_where_a_file_is_expected_is_refused() {
    let mut fixture = Fixture::new();
    // As if the template said `"script": "{{template_dir}}/files"` and `"roles_path": "images/app/setup.sh"`.
    fixture.files[0].written = "{{template_dir}}/files".into();
    fixture.files[0].path = fixture.path("images/app/files");
    let mut roles = fixture.reference(
        "provisioners[0].script",
        "images/app/setup.sh",
        Expect::Directory,
    );
    roles.key = "provisioners[3].roles_path".into();
    fixture.files.push(roles);

    let diagnostics = fixture.inputs().unwrap_err();
    insta::assert_snapshot!("wrong_kind", fixture.shown(&diagnostics));
}

#[test]
fn an_unreadable_file_inside_a_referenced_directory_names_both() {
    let fixture = Fixture::new();
    let socket = fixture.path("images/app/files/control.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let diagnostics = fixture.inputs().unwrap_err();
    insta::assert_snapshot!("special_file", fixture.shown(&diagnostics));
}

/// Templates from the workspace's own examples resolve and hash with the template crate's own references.
#[test]
fn the_template_crate_references_hash_end_to_end() {
    let fixture = Fixture::new();
    let invocation = imgs_template::Invocation {
        env: BTreeMap::from([("HOME".to_owned(), "/root".to_owned())]),
        workspace_vars: vec![("source_disk".into(), "imgs-parent-artifact-base".into())],
        ..imgs_template::Invocation::new(
            fixture.root.clone(),
            imgs_template::interpolate::Volatile::Placeholder,
        )
    };
    let variables = imgs_template::resolve_variables(&fixture.template, &invocation).unwrap();
    let files =
        imgs_template::referenced_files(&fixture.template, &variables, &invocation).unwrap();
    let hasher = FileHasher::open(&fixture.root.join("cache"));
    let inputs = ImageInputs {
        root: &fixture.root,
        template: &fixture.template,
        variables: &variables,
        builds: vec![("app", "null")],
        files: &files,
        extra_inputs: &fixture.extra_inputs,
        parent_variables: &fixture.parent_variables,
        parents: vec![("base", fixture.parent)],
    };
    let from_template_crate = image_inputs(&inputs, &hasher).unwrap();
    assert_eq!(from_template_crate, fixture.inputs().unwrap());
}

#[test]
fn unrelated_changes_keep_the_fingerprint() {
    let fixture = Fixture::new();
    let before = fixture.fingerprint();
    // A file next to the referenced ones, but not referenced.
    fs::write(fixture.path("images/app/notes.txt"), "not an input").unwrap();
    // Another image's files.
    fs::create_dir_all(fixture.path("images/web")).unwrap();
    fs::write(fixture.path("images/web/setup.sh"), "echo web").unwrap();
    // Mode bits other than the executable bit, and the mtime.
    fs::set_permissions(
        fixture.path("images/app/setup.sh"),
        fs::Permissions::from_mode(0o700),
    )
    .unwrap();
    fs::File::options()
        .write(true)
        .open(fixture.path("images/app/files/motd"))
        .unwrap()
        .set_modified(std::time::SystemTime::UNIX_EPOCH)
        .unwrap();
    assert_eq!(fixture.fingerprint(), before);
}

#[test]
fn an_added_empty_directory_changes_the_fingerprint() {
    let fixture = Fixture::new();
    let before = fixture.inputs().unwrap();
    fs::create_dir(fixture.path("images/app/files/empty/new")).unwrap();
    let after = fixture.inputs().unwrap();
    let changes: Vec<String> = after
        .diff(&before)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        changes,
        [
            "the file `images/app/files/empty` is no longer an input",
            "the file `images/app/files/empty/new` is new",
        ]
    );
}

/// Renders `value` as JSON with object keys rotated and whitespace varied as `noise` says, plus a
/// top-level comment key when `comment` is set.
fn render(value: &serde_json::Value, noise: &[u8], at: &mut usize, out: &mut String) {
    let next = |at: &mut usize| {
        let byte = noise.get(*at % noise.len().max(1)).copied().unwrap_or(0);
        *at += 1;
        byte
    };
    let space = |byte: u8| ["", " ", "\n  ", "\t", "\r\n"][usize::from(byte) % 5];
    match value {
        serde_json::Value::Object(members) => {
            let mut entries: Vec<(&String, &serde_json::Value)> = members.iter().collect();
            let shift = usize::from(next(at));
            if !entries.is_empty() {
                let len = entries.len();
                entries.rotate_left(shift % len);
            }
            if next(at) % 2 == 1 {
                entries.reverse();
            }
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(space(next(at)));
                out.push_str(&serde_json::to_string(key).unwrap());
                out.push_str(space(next(at)));
                out.push(':');
                out.push_str(space(next(at)));
                render(value, noise, at, out);
            }
            out.push_str(space(next(at)));
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(space(next(at)));
                render(item, noise, at, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

fn template_value(
    variables: &BTreeMap<String, String>,
    settings: &BTreeMap<String, String>,
) -> serde_json::Value {
    let mut builder = serde_json::Map::new();
    builder.insert("type".into(), "null".into());
    builder.insert("name".into(), "app".into());
    for (key, value) in settings {
        builder.insert(format!("x_{key}"), value.clone().into());
    }
    serde_json::json!({
        "description": "property test",
        "variables": variables,
        "builders": [builder],
    })
}

fn template_strategy() -> impl Strategy<Value = (BTreeMap<String, String>, BTreeMap<String, String>)>
{
    (
        prop::collection::btree_map("[a-z]{1,6}", "[a-z0-9 .-]{0,8}", 0..5),
        prop::collection::btree_map("[a-z]{1,6}", "[a-z0-9 .-]{0,8}", 0..5),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn template_key_order_whitespace_and_comments_do_not_matter(
        (variables, settings) in template_strategy(),
        noise_a in prop::collection::vec(any::<u8>(), 1..64),
        noise_b in prop::collection::vec(any::<u8>(), 1..64),
        comment in prop::option::of("[a-z ]{0,12}"),
    ) {
        let mut fixture = Fixture::new();
        fixture.files.clear();
        let value = template_value(&variables, &settings);
        let (mut a, mut b) = (String::new(), String::new());
        render(&value, &noise_a, &mut 0, &mut a);
        let mut commented = value.clone();
        if let Some(comment) = comment {
            commented["_comment"] = comment.into();
        }
        render(&commented, &noise_b, &mut 0, &mut b);

        fixture.template = parse(&fixture.root, &a);
        let first = fixture.fingerprint();
        fixture.template = parse(&fixture.root, &b);
        prop_assert_eq!(fixture.fingerprint(), first, "{}\nvs\n{}", a, b);
    }

    #[test]
    fn any_template_value_change_changes_the_fingerprint(
        (variables, settings) in template_strategy(),
        extra in "[a-z]{1,8}",
    ) {
        let mut fixture = Fixture::new();
        fixture.files.clear();
        fixture.template = parse(&fixture.root, &template_value(&variables, &settings).to_string());
        let before = fixture.fingerprint();
        let mut changed = settings.clone();
        let value = changed.entry("zzzzzzz".into()).or_default();
        value.push_str(&extra);
        fixture.template = parse(&fixture.root, &template_value(&variables, &changed).to_string());
        prop_assert_ne!(fixture.fingerprint(), before);
    }

    #[test]
    fn any_change_to_a_referenced_file_changes_the_fingerprint(
        contents in prop::collection::vec(any::<u8>(), 1..4096),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
        which in prop::sample::select(vec!["images/app/setup.sh", "images/app/files/motd"]),
    ) {
        let fixture = Fixture::new();
        fs::write(fixture.path(which), &contents).unwrap();
        let before = fixture.fingerprint();

        let mut edited = contents.clone();
        edited[at.index(contents.len())] ^= flip;
        fs::write(fixture.path(which), &edited).unwrap();
        let after_edit = fixture.fingerprint();
        prop_assert_ne!(after_edit, before);

        let mode = fs::metadata(fixture.path(which)).unwrap().permissions().mode();
        fs::set_permissions(fixture.path(which), fs::Permissions::from_mode(mode ^ 0o111)).unwrap();
        prop_assert_ne!(fixture.fingerprint(), after_edit);
    }

    #[test]
    fn any_change_to_a_variable_or_parent_changes_the_fingerprint(
        name in prop::sample::select(vec!["version", "password", "home"]),
        value in ".{0,16}",
        env_value in ".{0,16}",
        parent in any::<[u8; 32]>(),
    ) {
        let mut fixture = Fixture::new();
        let before = fixture.fingerprint();
        if fixture.variables.values[name] != value {
            fixture.variables.values.insert(name.to_owned(), value.clone());
            prop_assert_ne!(fixture.fingerprint(), before);
        }

        let mut fixture = Fixture::new();
        if env_value != "/root" {
            fixture.variables.env_read.insert("HOME".into(), env_value);
            prop_assert_ne!(fixture.fingerprint(), before);
        }

        let mut fixture = Fixture::new();
        if Fingerprint::from_bytes(parent) != fixture.parent {
            fixture.parent = Fingerprint::from_bytes(parent);
            prop_assert_ne!(fixture.fingerprint(), before);
        }
    }

    #[test]
    fn unread_environment_and_parent_artifacts_do_not_matter(
        artifact in ".{0,24}",
    ) {
        let mut fixture = Fixture::new();
        let before = fixture.fingerprint();
        fixture.variables.values.insert("source_disk".into(), artifact);
        prop_assert_eq!(fixture.fingerprint(), before);
    }
}
