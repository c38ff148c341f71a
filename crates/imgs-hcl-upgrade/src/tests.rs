//! A conversion is right when the HCL2 configuration gives every plugin the settings the JSON
//! template gave it: both are read by imgs (the JSON with Packer's rendering of user variables,
//! the HCL2 through imgs-hcl's lowering) and every setting is compared as the plugin decodes it,
//! through the weak typing of imgs-settings — not through this crate's own conversions.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use imgs_settings::weak;
use imgs_template::interpolate::{RenderScope, Volatile, render};
use imgs_template::schema::setting_of;
use imgs_template::{Invocation, resolve_variables};

use super::*;

#[derive(Debug)]
struct NoFiles;

impl imgs_hcl::FileAccess for NoFiles {
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, String> {
        Err(format!("no such file: {}", path.display()))
    }
    fn is_file(&self, _: &Path) -> Result<bool, String> {
        Ok(false)
    }
    fn glob(&self, _: &Path, _: &str) -> Result<Vec<String>, String> {
        Ok(Vec::new())
    }
    fn uuid_v4(&self) -> String {
        "00000000-0000-4000-8000-000000000000".to_string()
    }
}

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// Every plugin of the template, its settings as the plugin decodes them, in order.
fn decoded_plugins(
    template: &Template,
    working_dir: &Path,
    invocation: &Invocation,
) -> Vec<String> {
    let variables = resolve_variables(template, invocation).expect("variables resolve");
    let scope = RenderScope::new(
        template,
        working_dir,
        &variables.values,
        invocation.volatile.clone(),
    );
    // Per build, as Packer runs it: the builder, the provisioners and post-processors that
    // apply to it (HCL2 writes one copy of each chain per source, limited with `only`).
    let mut out = Vec::new();
    for b in &template.builders {
        // Strings render in the build's context: `{{build_name}}` is the builder's name.
        let ctx = scope.build_context(&b.name, &b.kind);
        let rendered =
            |s: &str| render(s, &ctx).map_or_else(|e| format!("<error {e}>"), |r| r.text);
        let schema = schema::lookup(Section::Builder, &b.kind);
        out.push(format!(
            "builder {}: {}",
            b.kind,
            decoded(&b.config, schema, &[], &rendered)
        ));
        for (_, p) in template.provisioners_for(&b.name) {
            let schema = schema::lookup(Section::Provisioner, &p.kind);
            let config = match p.overrides.get(&b.name) {
                Some(extra) => merged(&p.config, extra),
                None => p.config.clone(),
            };
            out.push(format!(
                "  provisioner {} pause={:?} retries={:?} timeout={:?}: {}",
                p.kind,
                p.pause_before,
                p.max_retries,
                p.timeout,
                decoded(&config, schema, &[], &rendered)
            ));
        }
        for chain in &template.post_processors {
            let applies = |pp: &&imgs_template::PostProcessorBlock| {
                (pp.only.is_empty() || pp.only.contains(&b.name)) && !pp.except.contains(&b.name)
            };
            let applying: Vec<_> = chain.iter().filter(applies).collect();
            if applying.is_empty() {
                // An empty chain runs nothing: HCL2 cannot write one.
                continue;
            }
            for pp in applying {
                let schema = schema::lookup(Section::PostProcessor, &pp.kind);
                out.push(format!(
                    "  post-processor {} keep={:?}: {}",
                    pp.kind,
                    pp.keep_input_artifact,
                    decoded(&pp.config, schema, &[], &rendered)
                ));
            }
            out.push("  --".to_string());
        }
    }
    out.retain({
        let mut previous = String::new();
        move |line| {
            // An empty chain leaves two separators in a row.
            let keep = !(line == "  --" && previous == "  --");
            previous = line.clone();
            keep
        }
    });
    out
}

fn merged(config: &Node, extra: &Node) -> Node {
    let (Value::Object(base), Value::Object(more)) = (&config.value, &extra.value) else {
        return config.clone();
    };
    let mut members: Vec<Member> = base
        .iter()
        .filter(|m| !more.iter().any(|x| x.key == m.key))
        .cloned()
        .collect();
    members.extend(more.iter().cloned());
    Node {
        value: Value::Object(members),
        span: config.span,
    }
}

fn decoded(
    node: &Node,
    plugin: Option<&'static TypeSchema>,
    path: &[&str],
    rendered: &dyn Fn(&str) -> String,
) -> String {
    let Value::Object(members) = &node.value else {
        return format!("{:?}", node.value);
    };
    let keys: Vec<(&'static str, ValueType)> = match (plugin, path) {
        (Some(p), []) => p.all_keys().collect(),
        (Some(p), path) => p
            .nested_keys_at(path)
            .map(<[_]>::to_vec)
            .unwrap_or_default(),
        (None, _) => Vec::new(),
    };
    let mut fields: Vec<String> = Vec::new();
    for m in members {
        // Comments, and the `packer_*` keys Packer sets itself over whatever is written.
        if m.key.starts_with('_') || m.key.starts_with("packer_") {
            continue;
        }
        let found = keys
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&m.key))
            .copied();
        let Some((key, ty)) = found else {
            fields.push(format!("{}={}", m.key, plain(&m.value, rendered)));
            continue;
        };
        let mut nested = path.to_vec();
        nested.push(key);
        let text = match ty {
            ValueType::Object => decoded(&m.value, plugin, &nested, rendered),
            ValueType::ObjectList => {
                let items: Vec<&Node> = match &m.value.value {
                    Value::Array(items) => items.iter().collect(),
                    Value::String(_) => Vec::new(),
                    Value::Object(o) if o.is_empty() => Vec::new(),
                    _ => vec![&m.value],
                };
                if items.is_empty() {
                    // No blocks and an empty list decode alike.
                    continue;
                }
                let parts: Vec<String> = items
                    .iter()
                    .map(|i| decoded(i, plugin, &nested, rendered))
                    .collect();
                format!("[{}]", parts.join(", "))
            }
            _ => {
                let setting = setting_of(&render_node(&m.value, rendered));
                match ty {
                    ValueType::String => format!("{:?}", weak::string(&setting)),
                    ValueType::Bool => format!("{:?}", weak::bool(&setting)),
                    ValueType::Int => format!("{:?}", weak::int(&setting)),
                    ValueType::Float => format!("{:?}", weak::float(&setting)),
                    ValueType::Duration => format!("{:?}", weak::duration(&setting)),
                    ValueType::StringList => format!("{:?}", weak::strings(&setting)),
                    ValueType::IntList => format!("{:?}", weak::ints(&setting)),
                    ValueType::ListOfStringLists => format!("{:?}", weak::string_lists(&setting)),
                    ValueType::Map => format!("{:?}", weak::map(&setting)),
                    _ => plain(&m.value, rendered),
                }
            }
        };
        if path.is_empty()
            && plugin.is_some_and(|p| schema::unsettable_in_hcl2(p.kind, key).is_some())
        {
            // HCL2 cannot write it; the upgrade leaves it out where it holds the default.
            continue;
        }
        if text == "Ok([])" {
            // An empty list or map decodes as an absent one.
            continue;
        }
        fields.push(format!("{key}={text}"));
    }
    fields.sort();
    format!("{{{}}}", fields.join(" "))
}

fn render_node(node: &Node, rendered: &dyn Fn(&str) -> String) -> Node {
    let value = match &node.value {
        Value::String(s) => Value::String(rendered(s)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|i| render_node(i, rendered)).collect())
        }
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|m| Member {
                    key: m.key.clone(),
                    key_span: m.key_span,
                    value: render_node(&m.value, rendered),
                })
                .collect(),
        ),
        other => other.clone(),
    };
    Node {
        value,
        span: node.span,
    }
}

fn plain(node: &Node, rendered: &dyn Fn(&str) -> String) -> String {
    match &render_node(node, rendered).value {
        Value::Object(members) => {
            let mut parts: Vec<String> = members
                .iter()
                .map(|m| format!("{}={}", m.key, plain(&m.value, rendered)))
                .collect();
            parts.sort();
            format!("{{{}}}", parts.join(" "))
        }
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| plain(i, rendered))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
    }
}

/// The run's start, the same for both forms.
fn init_time() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2020-12-03T15:04:05Z")
        .expect("a time")
        .with_timezone(&chrono::Utc)
}

/// What differs by design between the forms: JSON's `{{timestamp}}` is Unix seconds, the HCL2
/// `local.timestamp` the compact UTC time (see the README); UUIDs are random.
fn masked(lines: Vec<String>) -> Vec<String> {
    let unix = init_time().timestamp().to_string();
    let compact = init_time().format("%Y%m%d%H%M%S").to_string();
    lines
        .into_iter()
        .map(|line| {
            let line = line.replace(&unix, &compact);
            let chars: Vec<char> = line.chars().collect();
            let mut out = String::new();
            let mut i = 0;
            while i < chars.len() {
                let candidate: String = chars[i..(i + 36).min(chars.len())].iter().collect();
                let is_uuid = candidate.len() == 36
                    && candidate.char_indices().all(|(j, c)| {
                        if [8, 13, 18, 23].contains(&j) {
                            c == '-'
                        } else {
                            c.is_ascii_hexdigit()
                        }
                    });
                if is_uuid {
                    out.push_str("<uuid>");
                    i += 36;
                } else {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            out
        })
        .collect()
}

/// Upgrades `text` and reads the result back; `Err` when the upgrade refuses the template.
fn round_trip(
    path: &Path,
    text: &str,
    working_dir: &Path,
) -> Result<(String, Vec<String>, Vec<String>), String> {
    let upgraded = upgrade(path, text).map_err(|d| d.to_string())?;
    let json = Template::parse(path, text.to_string()).map_err(|d| d.to_string())?;
    let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let hcl = imgs_hcl::read(
        &dir,
        vec![imgs_hcl::ConfigFile {
            path: dir.join("template.pkr.hcl"),
            text: upgraded.text.clone(),
        }],
        Vec::new(),
        Arc::new(NoFiles),
        working_dir,
    )
    .map_err(|d| {
        format!(
            "the upgraded configuration does not read back:\n{d}\n{}",
            upgraded.text
        )
    })?;
    // Required variables get a value, the same on both sides.
    let invocation = Invocation {
        cli_vars: json
            .variables
            .values()
            .filter(|v| v.default.as_ref().is_none_or(|d| d.contains("{{env")))
            .map(|v| (v.name.clone(), format!("given-{}", v.name)))
            .collect(),
        ..Invocation::new(
            working_dir,
            Volatile::Real {
                init_time: init_time(),
            },
        )
    };
    let hcl = imgs_template::instantiate(&hcl, &invocation)
        .map_err(|d| {
            format!(
                "the upgraded configuration does not lower:\n{d}\n{}",
                upgraded.text
            )
        })?
        .into_owned();
    Ok((
        upgraded.text,
        masked(decoded_plugins(&json, working_dir, &invocation)),
        masked(decoded_plugins(&hcl, working_dir, &invocation)),
    ))
}

const REALISTIC: &str = r#"{
  "_comment": "An AMI and a disk",
  "min_packer_version": "1.6.0",
  "description": "base image",
  "variables": {
    "region": "eu-west-1",
    "ami_name": "base",
    "secret": "",
    "size": "8"
  },
  "sensitive-variables": ["secret"],
  "builders": [
    {
      "type": "amazon-ebs",
      "name": "ebs",
      "region": "{{user `region`}}",
      "instance_type": "t3.micro",
      "ami_name": "{{user `ami_name`}}-{{ packer_version }}",
      "ssh_username": "admin",
      "source_ami_filter": {
        "filters": {"name": "debian-12-*", "virtualization-type": "hvm"},
        "owners": "136693071363,amazon",
        "most_recent": "true"
      },
      "launch_block_device_mappings": [
        {"device_name": "/dev/xvda", "volume_size": "{{user `size`}}", "delete_on_termination": true}
      ],
      "tags": {"Name": "{{user `ami_name`}}", "Built-By": "imgs"},
      "ENA_SUPPORT": true
    },
    {
      "type": "qemu",
      "iso_url": "debian.iso",
      "iso_checksum": "none",
      "disk_size": 8192,
      "headless": "1",
      "boot_command": ["<esc> auto url=http://{{ .HTTPIP }}:{{ .HTTPPort }}/preseed.cfg<enter>"],
      "qemuargs": [["-m", "1024"], ["-smp", "2"]],
      "ssh_username": "root",
      "ssh_password": "{{user `secret`}}",
      "shutdown_command": "shutdown -P now"
    }
  ],
  "provisioners": [
    {
      "type": "shell",
      "inline": ["echo {{ user `region` | upper }}"],
      "only": ["ebs"],
      "pause_before": "5s",
      "max_retries": "2",
      "timeout": "10m",
      "override": {"ebs": {"execute_command": "sudo sh -c '{{ .Vars }} {{ .Path }}'"}}
    },
    {
      "type": "shell-local",
      "inline": "echo one,echo two",
      "except": ["qemu"]
    }
  ],
  "post-processors": [
    "checksum",
    [
      {"type": "compress", "output": "out/{{ .BuildName }}.tar.gz", "keep_input_artifact": true},
      {"type": "manifest", "output": "manifest.json", "strip_path": "true"}
    ]
  ]
}"#;

#[test]
fn a_realistic_template_reads_back_with_the_same_settings() {
    let path = Path::new("images/base/template.json");
    let (text, json, hcl) = round_trip(path, REALISTIC, Path::new("/ws")).expect("converts");
    assert_eq!(json, hcl, "settings differ; configuration:\n{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn what_has_no_hcl2_form_is_an_error_naming_it() {
    let cases = [
        r#"{"variables": {"a": "{{user `b`}}", "b": "x"}, "builders": [{"type": "null", "communicator": "none"}]}"#,
        r#"{"builders": [{"type": "file", "target": "t", "content": "{{ sed \"s/a/b/\" \"a\" }}"}]}"#,
        r#"{"builders": [{"type": "file", "target": "t", "content": "{{ if true }}x{{ end }}"}]}"#,
        r#"{"builders": [{"type": "file", "target": "t", "content": "x"}], "provisioners": [{"type": "shell-local", "inline": ["a"], "only": ["nope"]}]}"#,
        r#"{"builders": [{"type": "file", "target": "t", "content": "{{ isotime \"2006.000\" }}"}]}"#,
    ];
    let rendered: Vec<String> = cases
        .iter()
        .map(|json| match upgrade(Path::new("t.json"), json) {
            Ok(u) => format!("converted:\n{}", u.text),
            Err(d) => d.to_string(),
        })
        .collect();
    insta::assert_snapshot!(rendered.join("\n---\n"));
}

#[test]
fn a_variable_read_from_the_environment_becomes_required_with_a_warning() {
    let json = r#"{"variables": {"token": "{{env `TOKEN`}}"}, "builders": [{"type": "null", "communicator": "none"}]}"#;
    let upgraded = upgrade(Path::new("t.json"), json).expect("converts");
    assert!(
        upgraded.text.contains("set PKR_VAR_token instead"),
        "{}",
        upgraded.text
    );
    assert_eq!(upgraded.warnings.len(), 1);
}

/// Every JSON template of the example workspace and every valid case of the differential corpus
/// that takes no arguments converts to a configuration giving the plugins the same settings. The
/// `foreign-*` cases use types imgs has no schema for, whose settings imgs does not decode (a block
/// written once reads back as an object where JSON had a list of one, which Packer's weak decoding
/// takes alike); `packer validate` judges their conversion (e2e `hcl2::packer_accepts_…`).
#[test]
fn the_repository_templates_keep_their_settings() {
    let root = repo_root();
    let mut templates: Vec<PathBuf> = Vec::new();
    for dir in ["examples/workspace/images", "images"] {
        if let Ok(entries) = std::fs::read_dir(root.join(dir)) {
            for entry in entries.flatten() {
                let t = entry.path().join("template.json");
                if t.is_file() {
                    templates.push(t);
                }
            }
        }
    }
    let corpus = root.join("tests/differential");
    let verdicts = std::fs::read_to_string(corpus.join("verdicts.txt")).unwrap_or_default();
    for line in verdicts.lines() {
        if let Some(name) = line.strip_suffix(" valid")
            && !corpus.join(format!("{name}.args")).exists()
            && !name.starts_with("foreign-")
        {
            templates.push(corpus.join(format!("{name}.json")));
        }
    }
    templates.sort();
    assert!(templates.len() > 40, "found {} templates", templates.len());
    let mut converted = 0;
    let mut refused = Vec::new();
    let mut failures = Vec::new();
    for path in &templates {
        let text = std::fs::read_to_string(path).expect("read template");
        let working_dir = path.parent().expect("parent");
        match round_trip(path, &text, working_dir) {
            Ok((hcl, json, lowered)) => {
                converted += 1;
                if json != lowered {
                    failures.push(format!(
                        "{}:\n  json: {json:#?}\n  hcl:  {lowered:#?}\n{hcl}",
                        path.display()
                    ));
                }
            }
            Err(e) if e.contains("does not") => failures.push(format!("{}: {e}", path.display())),
            Err(e) => refused.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        converted * 10 >= templates.len() * 8,
        "only {converted} of {} converted; refused:\n{}",
        templates.len(),
        refused.join("\n")
    );
}
