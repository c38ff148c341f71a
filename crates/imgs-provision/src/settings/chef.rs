//! The `chef-solo` and `chef-client` provisioners' settings, with Packer 1.6.6's defaults per guest
//! OS. Both install Chef the same way, write a config file and a JSON attribute file into a staging
//! directory and run one command; what they share is [`ChefSettings`].

use imgs_diagnostic::Diagnostic;
use imgs_template::Node;
use imgs_template::json::Value;

use super::decode::Reader;
use super::guest::{GuestCommands, GuestOs, read_guest_os};
use super::powershell::Elevated;
use super::{BuildContext, LocalPath, LocalRun};

/// What `chef-solo` and `chef-client` read alike.
#[derive(Clone, Debug)]
pub struct ChefSettings {
    pub guest: GuestCommands,
    pub staging_directory: String,
    pub skip_install: bool,
    /// `install_command` and `execute_command`, rendered when they run (`.Sudo`, `.Version`;
    /// `.ConfigPath`, `.JsonPath`).
    pub install_command: String,
    pub execute_command: String,
    pub version: String,
    pub encrypted_data_bag_secret_path: Option<LocalPath>,
    pub chef_environment: String,
    pub chef_license: String,
    /// A template of the config file (`solo.rb`, `client.rb`) to use instead of Packer's.
    pub config_template: Option<LocalPath>,
    /// The JSON attribute file: `json` with `run_list` added, as Go's `json.MarshalIndent` writes it.
    pub node_json: String,
    pub run: LocalRun,
}

#[derive(Clone, Debug)]
pub struct ChefSoloSettings {
    pub chef: ChefSettings,
    pub cookbook_paths: Vec<LocalPath>,
    /// Cookbook directories already on the machine, listed before the uploaded ones.
    pub remote_cookbook_paths: Vec<String>,
    pub roles_path: Option<LocalPath>,
    pub data_bags_path: Option<LocalPath>,
    pub environments_path: Option<LocalPath>,
}

/// `chef-client`: registers with a Chef server, converges, and (unless skipped) deletes its node and
/// client from the server again with `knife` on the machine.
#[derive(Clone, Debug)]
pub struct ChefClientSettings {
    pub chef: ChefSettings,
    pub server_url: String,
    /// The node's name; empty means Packer's `packer-<time-ordered id>`, made per run.
    pub node_name: String,
    /// Where the client's key is on the machine; empty means `client.pem` in the staging directory.
    pub client_key: String,
    pub validation_client_name: String,
    /// The organisation's validation key, uploaded as `validation.pem`.
    pub validation_key_path: Option<LocalPath>,
    pub policy_group: String,
    pub policy_name: String,
    pub ssl_verify_mode: String,
    /// A directory of trusted certificates on the machine.
    pub trusted_certs_dir: String,
    /// Rendered when it runs (`.Sudo`, `.Args`, `.Flags`).
    pub knife_command: String,
    pub skip_clean_node: bool,
    pub skip_clean_client: bool,
    pub skip_clean_staging_directory: bool,
    /// With `elevated_user`, Chef runs as a Windows scheduled task of that user.
    pub elevated: Option<Elevated>,
}

/// The commands Packer runs for one Chef tool (`chef-solo`, `chef-client`) on one guest OS.
struct ChefDefaults {
    execute: String,
    install: &'static str,
    staging: String,
}

const UNIX_INSTALL: &str = "curl -L https://omnitruck.chef.io/install.sh | {{if .Sudo}}sudo {{end}}bash -s --{{if .Version}} -v {{.Version}}{{end}}";
const WINDOWS_INSTALL: &str = "powershell.exe -Command \". { iwr -useb https://omnitruck.chef.io/install.ps1 } | iex; Install-Project{{if .Version}} -version {{.Version}}{{end}}\"";

fn defaults(tool: &str, os: GuestOs) -> ChefDefaults {
    match os {
        GuestOs::Unix => ChefDefaults {
            execute: format!(
                "{{{{if .Sudo}}}}sudo {{{{end}}}}{tool} --no-color -c {{{{.ConfigPath}}}} -j {{{{.JsonPath}}}}"
            ),
            install: UNIX_INSTALL,
            staging: format!("/tmp/packer-{tool}"),
        },
        GuestOs::Windows => ChefDefaults {
            execute: format!(
                "c:/opscode/chef/bin/{tool}.bat --no-color -c {{{{.ConfigPath}}}} -j {{{{.JsonPath}}}}"
            ),
            install: WINDOWS_INSTALL,
            staging: format!("C:/Windows/Temp/packer-{tool}"),
        },
    }
}

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

/// Packer's `client.rb` template.
pub const DEFAULT_CLIENT_RB: &str = r#"
log_level        :info
log_location     STDOUT
chef_server_url  "{{.ServerUrl}}"
client_key       "{{.ClientKey}}"
chef_license     "{{.ChefLicense}}"
{{if ne .EncryptedDataBagSecretPath ""}}
encrypted_data_bag_secret "{{.EncryptedDataBagSecretPath}}"
{{end}}
{{if ne .ValidationClientName ""}}
validation_client_name "{{.ValidationClientName}}"
{{else}}
validation_client_name "chef-validator"
{{end}}
{{if ne .ValidationKeyPath ""}}
validation_key "{{.ValidationKeyPath}}"
{{end}}
node_name "{{.NodeName}}"
{{if ne .ChefEnvironment ""}}
environment "{{.ChefEnvironment}}"
{{end}}
{{if ne .PolicyGroup ""}}
policy_group "{{.PolicyGroup}}"
{{end}}
{{if ne .PolicyName ""}}
policy_name "{{.PolicyName}}"
{{end}}
{{if ne .SslVerifyMode ""}}
ssl_verify_mode :{{.SslVerifyMode}}
{{end}}
{{if ne .TrustedCertsDir ""}}
trusted_certs_dir "{{.TrustedCertsDir}}"
{{end}}
"#;

/// Packer's `knife.rb` template, for deleting the node and client afterwards.
pub const DEFAULT_KNIFE_RB: &str = r#"
log_level        :info
log_location     STDOUT
chef_server_url  "{{.ServerUrl}}"
client_key       "{{.ClientKey}}"
node_name "{{.NodeName}}"
{{if ne .SslVerifyMode ""}}
ssl_verify_mode :{{.SslVerifyMode}}
{{end}}
{{if ne .TrustedCertsDir ""}}
trusted_certs_dir "{{.TrustedCertsDir}}"
{{end}}
"#;

fn read_chef(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
    tool: &str,
) -> Result<ChefSettings, Vec<Diagnostic>> {
    let pwd = build.ctx.pwd;
    let os = read_guest_os(r).map_err(|d| vec![d])?;
    let defaults = defaults(tool, os);
    let path = |key: &str| r.non_empty_string(key).map(|p| LocalPath::new(&p, pwd));
    let install_command = r
        .non_empty_string("install_command")
        .unwrap_or_else(|| defaults.install.to_string());
    let skip_install = r.bool("skip_install");
    // Packer accepts Chef's license on the user's behalf only when it installs Chef its own way.
    let mut chef_license = r.string("chef_license").unwrap_or_default();
    if !skip_install && install_command == defaults.install && chef_license.is_empty() {
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
    Ok(ChefSettings {
        guest: GuestCommands {
            os,
            sudo: !r.bool("prevent_sudo"),
        },
        staging_directory: r
            .non_empty_string("staging_directory")
            .unwrap_or(defaults.staging),
        skip_install,
        install_command,
        execute_command: r
            .non_empty_string("execute_command")
            .unwrap_or(defaults.execute),
        version: r.string("version").unwrap_or_default(),
        encrypted_data_bag_secret_path: path("encrypted_data_bag_secret_path"),
        chef_environment: r.string("chef_environment").unwrap_or_default(),
        chef_license,
        config_template: path("config_template"),
        node_json: go_json_object(&attributes, ""),
        run: LocalRun::of(build),
    })
}

pub(super) fn read_solo(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<ChefSoloSettings, Vec<Diagnostic>> {
    let pwd = build.ctx.pwd;
    let path = |key: &str| r.non_empty_string(key).map(|p| LocalPath::new(&p, pwd));
    Ok(ChefSoloSettings {
        chef: read_chef(r, build, "chef-solo")?,
        cookbook_paths: r
            .strings("cookbook_paths")
            .unwrap_or_default()
            .iter()
            .map(|p| LocalPath::new(p, pwd))
            .collect(),
        remote_cookbook_paths: r.strings("remote_cookbook_paths").unwrap_or_default(),
        roles_path: path("roles_path"),
        data_bags_path: path("data_bags_path"),
        environments_path: path("environments_path"),
    })
}

pub(super) fn read_client(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<ChefClientSettings, Vec<Diagnostic>> {
    let chef = read_chef(r, build, "chef-client")?;
    let knife_command = r.non_empty_string("knife_command").unwrap_or_else(|| {
        match chef.guest.os {
            GuestOs::Unix => "{{if .Sudo}}sudo {{end}}knife {{.Args}} {{.Flags}}",
            GuestOs::Windows => "c:/opscode/chef/bin/knife.bat {{.Args}} {{.Flags}}",
        }
        .to_string()
    });
    Ok(ChefClientSettings {
        server_url: r.string("server_url").unwrap_or_default(),
        node_name: r.string("node_name").unwrap_or_default(),
        client_key: r.string("client_key").unwrap_or_default(),
        validation_client_name: r.string("validation_client_name").unwrap_or_default(),
        validation_key_path: r
            .non_empty_string("validation_key_path")
            .map(|p| LocalPath::new(&home_expanded(&p), build.ctx.pwd)),
        policy_group: r.string("policy_group").unwrap_or_default(),
        policy_name: r.string("policy_name").unwrap_or_default(),
        ssl_verify_mode: r.string("ssl_verify_mode").unwrap_or_default(),
        trusted_certs_dir: r.string("trusted_certs_dir").unwrap_or_default(),
        knife_command,
        skip_clean_node: r.bool("skip_clean_node"),
        skip_clean_client: r.bool("skip_clean_client"),
        skip_clean_staging_directory: r.bool("skip_clean_staging_directory"),
        elevated: r.non_empty_string("elevated_user").map(|user| Elevated {
            user,
            password: r.string("elevated_password").unwrap_or_default(),
        }),
        chef,
    })
}

/// `~` and `~/…` as the user's home, as Packer expands the validation key's path.
fn home_expanded(path: &str) -> String {
    let rest = match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => return path.to_string(),
    };
    match std::env::var("HOME") {
        Ok(home) => format!("{home}{rest}"),
        Err(_) => path.to_string(),
    }
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
