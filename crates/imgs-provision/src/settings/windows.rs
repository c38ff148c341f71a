//! The settings of `windows-shell` and `windows-restart`, with Packer 1.6.6's defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use imgs_diagnostic::Diagnostic;

use super::decode::Reader;
use super::shell::go_format;
use super::{BuildContext, LocalPath, LocalRun, ShellScript};

const DEFAULT_START_RETRY_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Debug)]
pub struct WindowsShellSettings {
    /// Script files, then the inline commands as one script (a line each).
    pub scripts: Vec<ShellScript>,
    /// Where every script is uploaded (`c:/Windows/Temp/script.bat`).
    pub remote_path: String,
    /// `execute_command`, rendered when each script runs with `.Vars` and `.Path`.
    pub execute_command: String,
    /// `set "NAME=value" && ` per variable, sorted by name (`.Vars`).
    pub vars: String,
    pub valid_exit_codes: Vec<i64>,
    pub start_retry_timeout: Duration,
    pub run: LocalRun,
}

/// What `powershell` and `windows-shell` read alike (Packer's `shell.Provisioner` and the retry
/// timeout): the scripts, the environment, the exit codes and how long to retry.
pub(super) struct WindowsScripts {
    /// Script files, then the inline commands as one script (a line each).
    pub(super) scripts: Vec<ShellScript>,
    /// `PACKER_BUILD_NAME`, `PACKER_BUILDER_TYPE` and `environment_vars` (values through `escape`),
    /// sorted by name.
    pub(super) env: BTreeMap<String, String>,
    pub(super) valid_exit_codes: Vec<i64>,
    pub(super) start_retry_timeout: Duration,
}

impl WindowsScripts {
    pub(super) fn read(
        r: &Reader<'_>,
        build: &BuildContext<'_>,
        escape: fn(&str) -> String,
        problems: &mut Vec<Diagnostic>,
    ) -> WindowsScripts {
        let mut scripts: Vec<ShellScript> = r
            .non_empty_string("script")
            .into_iter()
            .chain(r.strings("scripts").unwrap_or_default())
            .map(|f| ShellScript::File(LocalPath::new(&f, build.ctx.pwd)))
            .collect();
        if let Some(lines) = r.strings("inline").filter(|l| !l.is_empty()) {
            scripts.push(ShellScript::Inline(
                lines.iter().map(|line| format!("{line}\n")).collect(),
            ));
        }
        let mut env = BTreeMap::from([
            (
                "PACKER_BUILD_NAME".to_string(),
                build.ctx.build_name.unwrap_or_default().to_string(),
            ),
            (
                "PACKER_BUILDER_TYPE".to_string(),
                build.ctx.build_type.unwrap_or_default().to_string(),
            ),
        ]);
        for entry in r.strings("environment_vars").unwrap_or_default() {
            match entry.split_once('=') {
                Some((name, value)) if !name.is_empty() => {
                    env.insert(name.to_string(), escape(value));
                }
                _ => problems.push(
                    r.error(
                        "environment_vars",
                        format!(
                            "Environment variable not in format 'key=value': {}",
                            build.secrets.mask(&entry)
                        ),
                    )
                    .hint("write each entry as NAME=value"),
                ),
            }
        }
        let valid_exit_codes = match r.ints("valid_exit_codes") {
            Ok(codes) => codes.filter(|c| !c.is_empty()).unwrap_or_else(|| vec![0]),
            Err(d) => {
                problems.push(d);
                Vec::new()
            }
        };
        let start_retry_timeout = r
            .duration("start_retry_timeout")
            .unwrap_or_else(|d| {
                problems.push(d);
                None
            })
            .unwrap_or(DEFAULT_START_RETRY_TIMEOUT);
        WindowsScripts {
            scripts,
            env,
            valid_exit_codes,
            start_retry_timeout,
        }
    }

    /// The environment through the format in `key` (Go's two `%s`, name then value), or `default`.
    pub(super) fn flattened(
        &self,
        r: &Reader<'_>,
        key: &str,
        default: &str,
        problems: &mut Vec<Diagnostic>,
    ) -> String {
        let format = r
            .non_empty_string(key)
            .unwrap_or_else(|| default.to_string());
        let mut out = String::new();
        for (name, value) in &self.env {
            match go_format(&format, [name, value]) {
                Ok(text) => out.push_str(&text),
                Err(message) => {
                    problems.push(r.error(key, message));
                    break;
                }
            }
        }
        out
    }
}

pub(super) fn read_shell(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<WindowsShellSettings, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let read = WindowsScripts::read(r, build, str::to_string, &mut problems);
    let vars = read.flattened(r, "env_var_format", "set \"%s=%s\" && ", &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(WindowsShellSettings {
        scripts: read.scripts,
        remote_path: r
            .non_empty_string("remote_path")
            .unwrap_or_else(|| "c:/Windows/Temp/script.bat".to_string()),
        execute_command: r
            .non_empty_string("execute_command")
            .unwrap_or_else(|| "{{.Vars}}\"{{.Path}}\"".to_string()),
        vars,
        valid_exit_codes: read.valid_exit_codes,
        start_retry_timeout: read.start_retry_timeout,
        run: LocalRun::of(build),
    })
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowsRestartSettings {
    pub restart_command: String,
    /// A command of the template's that must succeed once the machine is back, before Packer's own
    /// check; `None` when it is Packer's own.
    pub restart_check_command: Option<String>,
    /// How long the restart may take, the restart command's retries included.
    pub restart_timeout: Duration,
    /// Keep waiting while any of `registry_keys` exists (a reboot is still pending).
    pub check_registry: bool,
    pub registry_keys: Vec<String>,
}

pub(super) fn read_restart(r: &Reader<'_>) -> Result<WindowsRestartSettings, Vec<Diagnostic>> {
    let restart_timeout = r
        .duration("restart_timeout")
        .map_err(|d| vec![d])?
        .unwrap_or(Duration::from_secs(5 * 60));
    let registry_keys = r
        .strings("registry_keys")
        .filter(|keys| !keys.is_empty())
        .unwrap_or_else(|| {
            DEFAULT_REGISTRY_KEYS
                .iter()
                .map(|k| k.to_string())
                .collect()
        });
    let default_check = restart_check_command();
    Ok(WindowsRestartSettings {
        restart_command: r
            .non_empty_string("restart_command")
            .unwrap_or_else(|| "shutdown /r /f /t 0 /c \"packer restart\"".to_string()),
        restart_check_command: r
            .non_empty_string("restart_check_command")
            .filter(|c| *c != default_check),
        restart_timeout,
        check_registry: r.bool("check_registry"),
        registry_keys,
    })
}

/// The keys whose presence says Windows still has a reboot to do.
const DEFAULT_REGISTRY_KEYS: &[&str] = &[
    "HKLM:SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootPending",
    "HKLM:SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\PackagesPending",
    "HKLM:Software\\Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\RebootInProgress",
];

/// Packer's check that the machine is back: its host name and "restarted.", from PowerShell.
pub fn restart_check_command() -> String {
    encoded_powershell("echo (\"{0} restarted.\" -f [System.Net.Dns]::GetHostName())")
}

/// A PowerShell command as `powershell.exe -EncodedCommand`, as Packer sends its own checks: the
/// command's bytes widened to UTF-16 (each byte as one code unit), in base64.
pub fn encoded_powershell(command: &str) -> String {
    let wide: Vec<u8> = command.bytes().flat_map(|b| [b, 0]).collect();
    format!(
        "powershell.exe -EncodedCommand {}",
        aws_smithy_types::base64::encode(wide)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoded_commands_are_utf16_base64() {
        assert_eq!(
            super::encoded_powershell("echo"),
            "powershell.exe -EncodedCommand ZQBjAGgAbwA="
        );
    }
}
