//! What each fuzz target does with its input: the paths a user's text takes through imgs's parsers,
//! its validator and its template engines, without running anything.
//!
//! The AFL targets in `fuzz/` (built by `cargo xtask fuzz`) call [`Fixture::run`] with the
//! fuzzer's bytes; the corpus replay test of this crate calls it with every file of
//! `fuzz/corpus/<target>/` (the inputs that once crashed a target among them, as `crash-…`), so
//! `cargo test` catches a regression of what the fuzzer reached, without AFL. An input may be
//! refused with any number of diagnostics; what must never happen is a panic, an endless loop, or
//! a result that breaks a property checked here.
//!
//! | target          | input                          | through                                                         |
//! |-----------------|--------------------------------|-----------------------------------------------------------------|
//! | `images_toml`   | an `Images.toml`               | `Workspace::load` over fixed members, selection, and `imgs validate`'s per-image checks |
//! | `json_template` | a Packer JSON template         | parse, variables, `imgs_template::validate`, canonical JSON, referenced files |
//! | `hcl_template`  | `*.pkr.hcl` / `*.pkrvars.hcl`  | `imgs_hcl::read`, lowering with an invocation, validate, canonical text, inspect |
//! | `go_template`   | one JSON template string       | the Go-template engine (`{{user \`x\`}}`, `{{timestamp}}`, …) and its HCL2 translation |
//! | `hcl_expression`| one HCL2 expression            | Packer's HCL2 functions (`imgs_hcl_functions::evaluate`)        |
//!
//! Calls of HCL2's `bcrypt` are skipped: its cost is exponential by design, so a slow input there
//! is no hang to fix.
//!
//! The fixture is made once per process: a workspace directory whose members the `Images.toml`
//! target loads, and files the templates may name so both sides of file checks are reached.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::TimeZone;
use imgs_diagnostic::Diagnostics;
use imgs_template::interpolate::{self, Context, Hcl2Place, Volatile};
use imgs_template::{BuildFilter, Invocation, Template, VarFile};
use indexmap::IndexMap;

/// The fuzz targets, by the name `imgs-fuzz` (fuzz/) takes and their corpus directory has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    ImagesToml,
    JsonTemplate,
    HclTemplate,
    GoTemplate,
    HclExpression,
}

impl Target {
    pub const ALL: [Target; 5] = [
        Target::ImagesToml,
        Target::JsonTemplate,
        Target::HclTemplate,
        Target::GoTemplate,
        Target::HclExpression,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::ImagesToml => "images_toml",
            Target::JsonTemplate => "json_template",
            Target::HclTemplate => "hcl_template",
            Target::GoTemplate => "go_template",
            Target::HclExpression => "hcl_expression",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// The directories the targets read: a workspace with fixed members (for `Images.toml`) and a
/// working directory holding a few files templates may name.
pub struct Fixture {
    dir: FixtureDir,
}

enum FixtureDir {
    /// Removed when the fixture is dropped.
    Temporary(tempfile::TempDir),
    /// The caller's, left in place: an AFL target's fixture is shared by every process the fork
    /// server forks, so no one of them may remove it.
    Given(PathBuf),
}

/// The members every fuzzed `Images.toml` is loaded against, named as in the example workspace
/// (so its `Images.toml` is a valid input), plus one with its template elsewhere and one with
/// none. Null builders: nothing here needs a machine.
const MEMBERS: &[(&str, &str)] = &[
    (
        "images/base/template.json",
        r#"{
  "variables": { "ssh_username": "imgs", "memory": "512" },
  "builders": [{ "type": "null", "name": "base", "communicator": "none" }]
}"#,
    ),
    (
        "images/hardened/template.json",
        r#"{
  "variables": { "source_disk": null, "ssh_username": "imgs", "memory": "{{env `MEMORY`}}" },
  "builders": [{ "type": "null", "name": "hardened", "communicator": "none" }],
  "provisioners": [{ "type": "shell-local", "inline": ["echo {{user `source_disk`}} {{user `memory`}}"] }]
}"#,
    ),
    (
        "images/app-worker/template.json",
        r#"{
  "variables": { "source_disk": null, "worker_threads": "2" },
  "builders": [
    { "type": "null", "name": "worker", "communicator": "none" },
    { "type": "file", "name": "worker-conf", "content": "threads={{user `worker_threads`}}", "target": "out/worker.conf" }
  ]
}"#,
    ),
    (
        "images/app-web/template.pkr.hcl",
        r#"variable "source_disk" {
  type = string
}

variable "site_title" {
  type    = string
  default = "imgs"
}

source "null" "app-web" {
  communicator = "none"
}

build {
  sources = ["source.null.app-web"]

  provisioner "shell-local" {
    inline = ["echo ${var.source_disk} ${upper(var.site_title)}"]
  }
}
"#,
    ),
    (
        "images/custom/other.json",
        r#"{ "builders": [{ "type": "null", "communicator": "none" }] }"#,
    ),
    (
        "images/custom/hcl/main.pkr.hcl",
        r#"source "null" "custom" {
  communicator = "none"
}

build {
  sources = ["source.null.custom"]
}
"#,
    ),
    ("images/empty/README", "no template here\n"),
    ("scripts/common.sh", "echo common\n"),
    ("files/motd", "hello\n"),
];

/// The working directory templates are validated in.
const WORKING_DIR: &str = "work";

/// Files in the working directory (and, for HCL2's file functions, in [`FixtureFiles`]).
const WORKING_FILES: &[(&str, &str)] = &[
    ("script.sh", "#!/bin/sh\necho hi\n"),
    ("scripts/setup.sh", "#!/bin/sh\necho setup\n"),
    ("files/motd", "hello\n"),
    ("playbook.yml", "- hosts: all\n"),
    ("vars.json", "{\"a\": \"b\"}\n"),
];

/// The clock every target renders with, so a run is reproducible (2020-02-29 is a leap day).
fn fixed_time() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc
        .with_ymd_and_hms(2020, 2, 29, 23, 59, 59)
        .single()
        .unwrap_or(chrono::DateTime::UNIX_EPOCH)
}

fn environment() -> BTreeMap<String, String> {
    [
        ("HOME", "/nonexistent/home"),
        ("USER", "fuzz"),
        ("MEMORY", "1024"),
        ("PATH", "/usr/bin:/bin"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Fixture {
    /// Writes the fixture's files into a new temporary directory, removed when the fixture is.
    pub fn new() -> std::io::Result<Fixture> {
        let dir = tempfile::Builder::new().prefix("imgs-fuzz-").tempdir()?;
        Fixture::write(dir.path())?;
        Ok(Fixture {
            dir: FixtureDir::Temporary(dir),
        })
    }

    /// Writes the fixture's files into `dir` (created if missing), which stays when the fixture
    /// is dropped.
    pub fn at(dir: &Path) -> std::io::Result<Fixture> {
        Fixture::write(dir)?;
        Ok(Fixture {
            dir: FixtureDir::Given(dir.to_path_buf()),
        })
    }

    fn write(dir: &Path) -> std::io::Result<()> {
        let write = |rel: &str, text: &str| -> std::io::Result<()> {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)
        };
        for (rel, text) in MEMBERS {
            write(rel, text)?;
        }
        for (rel, text) in WORKING_FILES {
            write(&format!("{WORKING_DIR}/{rel}"), text)?;
        }
        Ok(())
    }

    fn path(&self) -> &Path {
        match &self.dir {
            FixtureDir::Temporary(dir) => dir.path(),
            FixtureDir::Given(dir) => dir,
        }
    }

    fn working_dir(&self) -> PathBuf {
        self.path().join(WORKING_DIR)
    }

    /// Feeds `data` to `target`. Input that is not UTF-8 is ignored: imgs reads every file as
    /// UTF-8 text and refuses it before any parser sees it.
    pub fn run(&self, target: Target, data: &[u8]) {
        let Ok(text) = std::str::from_utf8(data) else {
            return;
        };
        // bcrypt's work doubles with each step of its cost, by design (as in Packer, whose
        // `bcrypt("x", 31)` runs for days): a slow input there is the function doing its job,
        // not a hang to fix. Its hashes are checked by imgs-hcl-functions' unit tests.
        if matches!(target, Target::HclTemplate | Target::HclExpression) && text.contains("bcrypt")
        {
            return;
        }
        match target {
            Target::ImagesToml => self.images_toml(text),
            Target::JsonTemplate => self.json_template(text),
            Target::HclTemplate => self.hcl_template(text),
            Target::GoTemplate => go_template(text),
            Target::HclExpression => hcl_expression(text),
        }
    }

    fn invocation(&self, volatile: Volatile) -> Invocation {
        Invocation {
            env: environment(),
            ..Invocation::new(self.working_dir(), volatile)
        }
    }

    /// `Images.toml` as `imgs validate` reads it in a workspace: loaded (members, templates,
    /// lineage), every image selected, then each image's template with the values Images.toml
    /// gives it, validated.
    fn images_toml(&self, text: &str) {
        let manifest = self.path().join(imgs_workspace::MANIFEST_NAME);
        if std::fs::write(&manifest, text).is_err() {
            return;
        }
        let ws = match imgs_workspace::Workspace::load(&manifest) {
            Ok(ws) => ws,
            Err(diagnostics) => return shown(&diagnostics),
        };
        let selected = match ws.select(&imgs_workspace::Selection::default()) {
            Ok(selected) => selected,
            Err(diagnostics) => return shown(&diagnostics),
        };
        let _ = ws.lineage.topological_order();
        let base = Invocation {
            working_dir: ws.root.clone(),
            force: true,
            ..self.invocation(Volatile::Real {
                init_time: fixed_time(),
            })
        };
        for name in &selected.needed {
            let Some(image) = ws.image(name) else {
                continue;
            };
            let declared = |name: &str| image.template.variables.contains_key(name);
            let workspace_vars = ws
                .variables
                .iter()
                .filter(|(k, _)| declared(k))
                .cloned()
                .chain(image.variables.iter().cloned())
                .chain(
                    image
                        .parents
                        .iter()
                        .map(|p| (p.variable.clone(), format!("<artifact of {}>", p.image))),
                )
                .collect();
            let invocation = Invocation {
                workspace_vars,
                ..base.clone()
            };
            shown(&validated(&image.template, &invocation));
        }
    }

    /// A JSON template as `imgs validate FILE` and the fingerprint read it.
    fn json_template(&self, text: &str) {
        let path = Path::new("template.json");
        let template = match Template::parse(path, text.to_string()) {
            Ok(template) => template,
            Err(diagnostics) => return shown(&diagnostics),
        };
        let invocation = self.invocation(Volatile::Real {
            init_time: fixed_time(),
        });
        shown(&validated(&template, &invocation));
        // What the fingerprint reads: the canonical text (which must itself be JSON) and the
        // files the template names, rendered with placeholders for what changes per run.
        let canonical = imgs_template::canonical_json(&template);
        assert!(
            imgs_template::parse_json(&canonical).is_ok(),
            "the canonical form of a template is not JSON: {canonical}"
        );
        // The canonical form means the same template, so it is its own canonical form: otherwise
        // two spellings of one template would have two fingerprints.
        if let Ok(again) = Template::parse(path, canonical.clone()) {
            assert_eq!(
                imgs_template::canonical_json(&again),
                canonical,
                "the canonical form of a template changes when read again"
            );
        }
        let placeholders = self.invocation(Volatile::Placeholder);
        if let Ok(resolved) = imgs_template::resolve_variables(&template, &placeholders) {
            let _ = imgs_template::referenced_files(&template, &resolved, &placeholders);
        }
    }

    /// An HCL2 configuration. The input is one `main.pkr.hcl`, or several files, each after a
    /// line `#~ NAME` (`NAME` ending in `.pkr.hcl`, `.auto.pkrvars.hcl` or `.pkrvars.hcl`, the
    /// last given as `-var-file`).
    fn hcl_template(&self, text: &str) {
        let root = Path::new("config");
        let mut files = Vec::new();
        let mut auto_var_files = Vec::new();
        let mut var_files = Vec::new();
        for (name, body) in split_files(text) {
            let file = imgs_hcl::ConfigFile {
                path: root.join(&name),
                text: body.to_string(),
            };
            match imgs_hcl::classify(&name) {
                Some(imgs_hcl::FileRole::Config) => files.push(file),
                Some(imgs_hcl::FileRole::AutoVariables) => auto_var_files.push(file),
                Some(imgs_hcl::FileRole::Variables) => var_files.push(VarFile {
                    path: file.path,
                    text: file.text,
                }),
                None => {}
            }
        }
        let working_dir = self.working_dir();
        let template = match imgs_hcl::read(
            root,
            files,
            auto_var_files,
            Arc::new(FixtureFiles),
            &working_dir,
        ) {
            Ok(template) => template,
            Err(diagnostics) => return shown(&diagnostics),
        };
        let invocation = Invocation {
            var_files,
            cli_vars: vec![("from_cli".to_string(), "cli value".to_string())],
            ..self.invocation(Volatile::Real {
                init_time: fixed_time(),
            })
        };
        shown(&validated(&template, &invocation));
        let _ = imgs_template::canonical_json(&template);
        if let Some(config) = &template.hcl {
            let _ = config.inspect(&invocation);
        }
    }
}

/// `imgs validate`'s verdict on a template for an invocation (without `packer validate` of the
/// types imgs does not know, and without preparing the builds, which needs the builders).
fn validated(template: &Template, invocation: &Invocation) -> Diagnostics {
    let filter = BuildFilter::default();
    let instantiated = match imgs_template::instantiate(template, invocation) {
        Ok(t) => t,
        Err(diagnostics) => return diagnostics,
    };
    match imgs_template::resolve_variables(&instantiated, invocation) {
        Ok(resolved) => {
            let mut found = imgs_template::validate(&instantiated, &resolved, invocation, &filter);
            found
                .0
                .extend(imgs_template::extension_notes(&instantiated).0);
            found
        }
        Err(_) if !instantiated.is_hcl() => imgs_template::check(
            &instantiated.path,
            instantiated.text.clone(),
            invocation,
            &filter,
        ),
        Err(diagnostics) => diagnostics,
    }
}

/// Diagnostics as the command line prints them: rendering is part of what must not panic.
fn shown(diagnostics: &Diagnostics) {
    let _ = diagnostics.to_string();
}

/// The files of an `hcl_template` input: `(name, text)`, the first `main.pkr.hcl` unless the
/// input starts with a `#~ NAME` line. A name with a path separator is not a file of the
/// configuration's directory, so its text is skipped.
fn split_files(text: &str) -> Vec<(String, &str)> {
    const MARK: &str = "#~ ";
    let mut files = Vec::new();
    let mut name = "main.pkr.hcl".to_string();
    let mut start = 0;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(next) = line.strip_prefix(MARK) {
            if offset > start || start > 0 {
                files.push((name, &text[start..offset]));
            }
            name = next.trim().to_string();
            start = offset + line.len();
        }
        offset += line.len();
    }
    files.push((name, &text[start..]));
    files.retain(|(name, _)| !name.contains(['/', '\\']) && !name.is_empty());
    files
}

/// What HCL2's file functions see: the working files, nothing else.
#[derive(Debug)]
struct FixtureFiles;

fn fixture_file(path: &Path) -> Option<&'static str> {
    WORKING_FILES
        .iter()
        .find(|(name, _)| path.ends_with(name))
        .map(|(_, text)| *text)
}

impl imgs_hcl::FileAccess for FixtureFiles {
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, String> {
        fixture_file(path)
            .map(|text| text.as_bytes().to_vec())
            .ok_or_else(|| format!("no file exists at {}", path.display()))
    }

    fn is_file(&self, path: &Path) -> Result<bool, String> {
        Ok(fixture_file(path).is_some())
    }

    fn glob(&self, _base: &Path, pattern: &str) -> Result<Vec<String>, String> {
        let pattern = GlobPattern(pattern.to_string());
        Ok(WORKING_FILES
            .iter()
            .map(|(name, _)| name.to_string())
            .filter(|name| pattern.matches(name))
            .collect())
    }

    fn uuid_v4(&self) -> String {
        "6f1c2d3e-4a5b-4c6d-8e7f-a0b1c2d3e4f5".to_string()
    }
}

/// A minimal matcher for the fixture's few names: `*` within a segment, `?`, literal otherwise.
struct GlobPattern(String);

impl GlobPattern {
    fn matches(&self, name: &str) -> bool {
        fn go(p: &[char], n: &[char]) -> bool {
            match (p.first(), n.first()) {
                (None, None) => true,
                (Some('*'), _) => {
                    go(&p[1..], n) || (n.first().is_some_and(|c| *c != '/') && go(p, &n[1..]))
                }
                (Some('?'), Some(c)) if *c != '/' => go(&p[1..], &n[1..]),
                (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
                _ => false,
            }
        }
        let p: Vec<char> = self.0.chars().collect();
        let n: Vec<char> = name.chars().collect();
        go(&p, &n)
    }
}

/// One string of a JSON template through the Go-template engine in each context it is rendered
/// in (a builder setting with build data, a variable default with the environment, a setting of
/// a builder that has `clean_resource_name`), rendered until stable as build names are, checked
/// for syntax as `packer validate` checks it, and translated for `imgs hcl2-upgrade`, whose result
/// must be an HCL2 string.
fn go_template(text: &str) {
    let user = IndexMap::from([
        ("name".to_string(), "app".to_string()),
        ("nested".to_string(), "{{user `name`}}-v1".to_string()),
        ("self".to_string(), "x{{user `self`}}".to_string()),
    ]);
    let env = environment();
    let data = BTreeMap::from([
        ("Path".to_string(), "/tmp/script.sh".to_string()),
        ("Vars".to_string(), "A=1 B=2".to_string()),
        ("HTTPIP".to_string(), "10.0.2.2".to_string()),
    ]);
    let no_data = BTreeMap::new();
    let real = Volatile::Real {
        init_time: fixed_time(),
    };
    let contexts = [
        (None, Some("qemu"), &data, &real),
        (Some(&env), None, &no_data, &Volatile::Placeholder),
        (None, Some("amazon-ebs"), &no_data, &real),
    ];
    for (env, build_type, data, volatile) in contexts {
        let ctx = Context {
            user_variables: &user,
            env,
            build_name: Some("app"),
            build_type,
            template_dir: "/ws/images/app",
            pwd: "/ws",
            data,
            volatile,
        };
        if let Err(e) = interpolate::render(text, &ctx) {
            assert!(
                e.offset <= text.len(),
                "error offset {} past the end of the input",
                e.offset
            );
        }
        if build_type == Some("qemu") {
            let _ = interpolate::render_until_stable(text, &ctx);
        }
        let _ = interpolate::check_syntax(text, build_type);
    }
    for place in [
        Hcl2Place::Builder {
            name: "app",
            kind: "amazon-ebs",
        },
        Hcl2Place::Plugin,
        Hcl2Place::Template,
    ] {
        if let Ok(converted) = interpolate::to_hcl2_string(text, place) {
            let quoted = format!("\"{}\"", converted.text);
            if let Err(e) = quoted.parse::<hcl::Expression>() {
                panic!("to_hcl2_string wrote a string HCL2 cannot read: {quoted} ({e})");
            }
        }
    }
}

/// One expression as `packer console` evaluates it, with `var` and `local` values declared and
/// a host whose files and clock are fixed; its value printed as Packer prints it.
fn hcl_expression(text: &str) {
    let Ok(expr) = text.parse::<hcl::Expression>() else {
        return;
    };
    let mut ctx = imgs_hcl_functions::context();
    let object = |pairs: &[(&str, hcl::Value)]| {
        hcl::Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    };
    ctx.declare_var(
        "var",
        object(&[
            ("name", hcl::Value::from("app")),
            ("count", hcl::Value::from(3)),
            (
                "list",
                hcl::Value::Array(vec!["a".into(), "b".into(), "c".into()]),
            ),
            ("map", object(&[("k", "v".into()), ("n", 1.into())])),
        ]),
    );
    ctx.declare_var("local", object(&[("prefix", "imgs".into())]));
    if let Ok(value) = imgs_hcl_functions::evaluate(&expr, &ctx, &FixtureHost) {
        let _ = imgs_hcl_functions::printable(&value);
    }
}

/// The machine as HCL2's functions see it in `hcl_expression`: fixed directories, files, clock.
struct FixtureHost;

impl imgs_hcl_functions::Host for FixtureHost {
    fn working_dir(&self) -> PathBuf {
        PathBuf::from("/ws")
    }
    fn base_dir(&self) -> PathBuf {
        PathBuf::from("/ws/images/app")
    }
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, String> {
        imgs_hcl::FileAccess::read_file(&FixtureFiles, path)
    }
    fn is_file(&self, path: &Path) -> Result<bool, String> {
        imgs_hcl::FileAccess::is_file(&FixtureFiles, path)
    }
    fn glob(&self, base: &Path, pattern: &str) -> Result<Vec<String>, String> {
        imgs_hcl::FileAccess::glob(&FixtureFiles, base, pattern)
    }
    fn home_dir(&self) -> Option<PathBuf> {
        Some(PathBuf::from("/home/fuzz"))
    }
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        fixed_time()
    }
    fn uuid_v4(&self) -> String {
        imgs_hcl::FileAccess::uuid_v4(&FixtureFiles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hcl_input_splits_into_named_files() {
        assert_eq!(
            split_files("a = 1\n"),
            vec![("main.pkr.hcl".into(), "a = 1\n")]
        );
        assert_eq!(
            split_files("#~ x.pkr.hcl\nb {}\n#~ v.auto.pkrvars.hcl\nv = 1\n#~ ../y.pkr.hcl\nz"),
            vec![
                ("x.pkr.hcl".into(), "b {}\n"),
                ("v.auto.pkrvars.hcl".into(), "v = 1\n"),
            ]
        );
        assert_eq!(
            split_files("a {}\n#~ v.pkrvars.hcl\nv = 1"),
            vec![
                ("main.pkr.hcl".into(), "a {}\n"),
                ("v.pkrvars.hcl".into(), "v = 1"),
            ]
        );
    }

    #[test]
    fn fileset_patterns_match_within_a_segment() {
        let p = GlobPattern("scripts/*.sh".into());
        assert!(p.matches("scripts/setup.sh"));
        assert!(!p.matches("script.sh"));
        assert!(GlobPattern("*".into()).matches("script.sh"));
        assert!(!GlobPattern("*".into()).matches("files/motd"));
    }

    #[test]
    fn every_target_has_a_name_that_finds_it() {
        for target in Target::ALL {
            assert_eq!(Target::from_name(target.name()), Some(target));
        }
    }
}
