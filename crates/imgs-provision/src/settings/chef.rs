//! The `chef-solo` provisioner's settings, with Packer 1.6.6's defaults per guest OS.

use imgs_diagnostic::Diagnostic;
use imgs_template::Node;
use imgs_template::json::Value;

use super::decode::Reader;
use super::guest::{GuestCommands, GuestOs, read_guest_os};
use super::{BuildContext, LocalPath, LocalRun};

#[derive(Clone, Debug)]
pub struct ChefSoloSettings {
    pub guest: GuestCommands,
    pub staging_directory: String,
    pub skip_install: bool,
    /// `install_command` and `execute_command`, rendered when they run (`.Sudo`, `.Version`;
    /// `.ConfigPath`, `.JsonPath`).
    pub install_command: String,
    pub execute_command: String,
    pub version: String,
    pub cookbook_paths: Vec<LocalPath>,
    /// Cookbook directories already on the machine, listed before the uploaded ones.
    pub remote_cookbook_paths: Vec<String>,
    pub roles_path: Option<LocalPath>,
    pub data_bags_path: Option<LocalPath>,
    pub encrypted_data_bag_secret_path: Option<LocalPath>,
    pub environments_path: Option<LocalPath>,
    pub chef_environment: String,
    pub chef_license: String,
    /// A template of `solo.rb` to use instead of Packer's.
    pub config_template: Option<LocalPath>,
    /// `node.json`: `json` with `run_list` added, as Go's `json.MarshalIndent` writes it.
    pub node_json: String,
    pub run: LocalRun,
}

const UNIX_EXECUTE: &str =
    "{{if .Sudo}}sudo {{end}}chef-solo --no-color -c {{.ConfigPath}} -j {{.JsonPath}}";
const UNIX_INSTALL: &str = "curl -L https://omnitruck.chef.io/install.sh | {{if .Sudo}}sudo {{end}}bash -s --{{if .Version}} -v {{.Version}}{{end}}";
const WINDOWS_EXECUTE: &str =
    "c:/opscode/chef/bin/chef-solo.bat --no-color -c {{.ConfigPath}} -j {{.JsonPath}}";
const WINDOWS_INSTALL: &str = "powershell.exe -Command \". { iwr -useb https://omnitruck.chef.io/install.ps1 } | iex; Install-Project{{if .Version}} -version {{.Version}}{{end}}\"";

/// Packer's `solo.rb` template.
pub const DEFAULT_SOLO_RB: &str = "
chef_license \t\t\"{{.ChefLicense}}\"
cookbook_path \t[{{.CookbookPaths}}]
{{if .HasRolesPath}}
role_path\t\t\"{{.RolesPath}}\"
{{end}}
{{if .HasDataBagsPath}}
data_bag_path\t\"{{.DataBagsPath}}\"
{{end}}
{{if .HasEncryptedDataBagSecretPath}}
encrypted_data_bag_secret \"{{.EncryptedDataBagSecretPath}}\"
{{end}}
{{if .HasEnvironmentsPath}}
environment_path \"{{.EnvironmentsPath}}\"
environment \"{{.ChefEnvironment}}\"
{{end}}
";

pub(super) fn read_solo(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<ChefSoloSettings, Vec<Diagnostic>> {
    let pwd = build.ctx.pwd;
    let os = read_guest_os(r).map_err(|d| vec![d])?;
    let (default_execute, default_install, default_staging) = match os {
        GuestOs::Unix => (UNIX_EXECUTE, UNIX_INSTALL, "/tmp/packer-chef-solo"),
        GuestOs::Windows => (
            WINDOWS_EXECUTE,
            WINDOWS_INSTALL,
            "C:/Windows/Temp/packer-chef-solo",
        ),
    };
    let path = |key: &str| r.non_empty_string(key).map(|p| LocalPath::new(&p, pwd));
    let install_command = r
        .non_empty_string("install_command")
        .unwrap_or_else(|| default_install.to_string());
    let skip_install = r.bool("skip_install");
    // Packer accepts Chef's license on the user's behalf only when it installs Chef its own way.
    let mut chef_license = r.string("chef_license").unwrap_or_default();
    if !skip_install && install_command == default_install && chef_license.is_empty() {
        chef_license = "accept-silent".to_string();
    }
    let mut attributes = match r.node("json") {
        Some(node) => match &node.value {
            Value::Object(members) => members
                .iter()
                .map(|m| (m.key.clone(), m.value.clone()))
                .collect(),
            _ => {
                return Err(vec![
                    r.error("json", "`json` must be an object of node attributes"),
                ]);
            }
        },
        None => Vec::new(),
    };
    let run_list = r.strings("run_list").unwrap_or_default();
    if !run_list.is_empty() {
        attributes.retain(|(k, _)| k != "run_list");
        attributes.push((
            "run_list".to_string(),
            Node {
                value: Value::Array(
                    run_list
                        .iter()
                        .map(|item| Node {
                            value: Value::String(item.clone()),
                            span: Default::default(),
                        })
                        .collect(),
                ),
                span: Default::default(),
            },
        ));
    }
    Ok(ChefSoloSettings {
        guest: GuestCommands {
            os,
            sudo: !r.bool("prevent_sudo"),
        },
        staging_directory: r
            .non_empty_string("staging_directory")
            .unwrap_or_else(|| default_staging.to_string()),
        skip_install,
        install_command,
        execute_command: r
            .non_empty_string("execute_command")
            .unwrap_or_else(|| default_execute.to_string()),
        version: r.string("version").unwrap_or_default(),
        cookbook_paths: r
            .strings("cookbook_paths")
            .unwrap_or_default()
            .iter()
            .map(|p| LocalPath::new(p, pwd))
            .collect(),
        remote_cookbook_paths: r.strings("remote_cookbook_paths").unwrap_or_default(),
        roles_path: path("roles_path"),
        data_bags_path: path("data_bags_path"),
        encrypted_data_bag_secret_path: path("encrypted_data_bag_secret_path"),
        environments_path: path("environments_path"),
        chef_environment: r.string("chef_environment").unwrap_or_default(),
        chef_license,
        config_template: path("config_template"),
        node_json: go_json_object(&attributes, ""),
        run: LocalRun::of(build),
    })
}

/// An object as Go's `json.MarshalIndent(v, "", "  ")` writes a `map[string]interface{}`: keys
/// sorted, `<`, `>` and `&` escaped, empty objects as `{}`.
fn go_json_object(members: &[(String, Node)], indent: &str) -> String {
    if members.is_empty() {
        return "{}".to_string();
    }
    let mut sorted: Vec<&(String, Node)> = members.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    // A key written twice keeps its last value, as Go's decoder does.
    sorted.dedup_by(|later, earlier| {
        if later.0 == earlier.0 {
            std::mem::swap(later, earlier);
            true
        } else {
            false
        }
    });
    let inner = format!("{indent}  ");
    let entries: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{inner}{}: {}", go_json_string(k), go_json(v, &inner)))
        .collect();
    format!("{{\n{}\n{indent}}}", entries.join(",\n"))
}

fn go_json(node: &Node, indent: &str) -> String {
    match &node.value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_number(n),
        Value::String(s) => go_json_string(s),
        Value::Array(items) if items.is_empty() => "[]".to_string(),
        Value::Array(items) => {
            let inner = format!("{indent}  ");
            let entries: Vec<String> = items
                .iter()
                .map(|item| format!("{inner}{}", go_json(item, &inner)))
                .collect();
            format!("[\n{}\n{indent}]", entries.join(",\n"))
        }
        Value::Object(members) => {
            let members: Vec<(String, Node)> = members
                .iter()
                .map(|m| (m.key.clone(), m.value.clone()))
                .collect();
            go_json_object(&members, indent)
        }
    }
}

/// Numbers pass through Go's float64: `1.0` is written `1`, `1e3` is `1000`.
fn go_number(text: &str) -> String {
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Ok(f) if f.is_finite() => {
            let shown = f.to_string();
            if shown.contains('e') {
                text.to_string()
            } else {
                shown
            }
        }
        _ => text.to_string(),
    }
}

pub(super) fn go_json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_json_is_what_go_writes() {
        let node = imgs_template::parse_json(
            r#"{"b": {"y": [1, 2.50, "a<b"], "x": {}}, "a": true, "c": 1.0}"#,
        )
        .unwrap();
        let Value::Object(members) = node.value else {
            unreachable!()
        };
        let members: Vec<(String, Node)> = members.into_iter().map(|m| (m.key, m.value)).collect();
        insta::assert_snapshot!(go_json_object(&members, ""), @r#"
        {
          "a": true,
          "b": {
            "x": {},
            "y": [
              1,
              2.5,
              "a\u003cb"
            ]
          },
          "c": 1
        }
        "#);
    }
}
