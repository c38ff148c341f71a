//! The `powershell` provisioner's settings, with Packer 1.6.6's defaults: where scripts and the
//! environment file go on the machine, and the command lines that run them.

use std::time::Duration;

use imgs_diagnostic::Diagnostic;
use imgs_template::schema::EXECUTION_POLICIES;

use super::decode::Reader;
use super::windows::WindowsScripts;
use super::{BuildContext, LocalRun, ShellScript};

const DEFAULT_ENV_VAR_FORMAT: &str = "$env:%s=\"%s\"; ";

#[derive(Clone, Debug)]
pub struct PowerShellSettings {
    /// Script files, then the inline commands as one script (a line each).
    pub scripts: Vec<ShellScript>,
    /// Where each script is uploaded; a path ending in `\` gets the script's file name added (and
    /// keeps it for the scripts after, as in Packer).
    pub remote_path: String,
    pub remote_env_var_path: String,
    /// The clean-up script's path; it removes the scripts, the environment file and itself.
    pub remote_cleanup_path: String,
    /// `execute_command` and `elevated_execute_command`, rendered when each script runs with `.Path`
    /// and `.Vars` (the environment file).
    pub execute_command: String,
    pub elevated_execute_command: String,
    /// `$env:NAME="value"; ` per variable (sorted by name, values escaped for PowerShell): the
    /// content of the environment file, for a plain or an elevated run.
    pub env_vars: String,
    pub elevated_env_vars: String,
    pub valid_exit_codes: Vec<i64>,
    pub skip_clean: bool,
    pub start_retry_timeout: Duration,
    /// With an `elevated_user`, each command runs as a Windows scheduled task of that user.
    pub elevated: Option<Elevated>,
    pub run: LocalRun,
}

/// The user (and password) a Windows scheduled task runs an elevated command as.
#[derive(Clone, Debug)]
pub struct Elevated {
    pub user: String,
    pub password: String,
}

/// PowerShell's escapes for what would end or expand a double-quoted string, as Packer applies them
/// to environment values and the elevated user's name and password.
pub fn powershell_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '$' | '"' | '`' | '\'') {
            out.push('`');
        }
        out.push(c);
    }
    out
}

/// Packer's default command, for both plain and elevated runs.
fn default_execute_command(policy: &str, debug_mode: i64) -> String {
    let mut command = "& { if (Test-Path variable:global:ProgressPreference)\
                       {set-variable -name variable:global:ProgressPreference -value 'SilentlyContinue'};"
        .to_string();
    if debug_mode != 0 {
        command.push_str(&format!("Set-PsDebug -Trace {debug_mode};"));
    }
    command.push_str(". {{.Vars}}; &'{{.Path}}'; exit $LastExitCode }");
    if policy == "none" {
        command
    } else {
        format!("powershell -executionpolicy {policy} \"{command}\"")
    }
}

/// `execution_policy` by name: a name as written, or a number (Go's `ExecutionPolicy(n)` for one
/// Packer has no name for).
fn execution_policy(written: Option<String>) -> String {
    let Some(written) = written.filter(|w| !w.is_empty()) else {
        return "bypass".to_string();
    };
    match written.trim().parse::<i64>() {
        Ok(n) => usize::try_from(n)
            .ok()
            .and_then(|i| EXECUTION_POLICIES.get(i))
            .map_or_else(|| format!("ExecutionPolicy({n})"), |p| p.to_string()),
        Err(_) => written,
    }
}

pub(super) fn read(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<PowerShellSettings, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let read = WindowsScripts::read(r, build, powershell_escape, &mut problems);
    let env_vars = read.flattened(r, "env_var_format", DEFAULT_ENV_VAR_FORMAT, &mut problems);
    let elevated_env_vars = read.flattened(
        r,
        "elevated_env_var_format",
        DEFAULT_ENV_VAR_FORMAT,
        &mut problems,
    );
    let policy = execution_policy(r.string("execution_policy"));
    let debug_mode = r
        .string("debug_mode")
        .and_then(|d| d.trim().parse::<i64>().ok())
        .unwrap_or(0);
    let default_command = default_execute_command(&policy, debug_mode);
    if !problems.is_empty() {
        return Err(problems);
    }
    let command = |key: &str| {
        r.non_empty_string(key)
            .unwrap_or_else(|| default_command.clone())
    };
    Ok(PowerShellSettings {
        scripts: read.scripts,
        remote_path: r
            .non_empty_string("remote_path")
            .unwrap_or_else(|| format!("c:/Windows/Temp/script-{}.ps1", uuid::Uuid::new_v4())),
        remote_env_var_path: r
            .non_empty_string("remote_env_var_path")
            .unwrap_or_else(|| {
                format!(
                    "c:/Windows/Temp/packer-ps-env-vars-{}.ps1",
                    uuid::Uuid::new_v4()
                )
            }),
        remote_cleanup_path: format!(
            "c:/Windows/Temp/packer-cleanup-{}.ps1",
            uuid::Uuid::new_v4()
        ),
        execute_command: command("execute_command"),
        elevated_execute_command: command("elevated_execute_command"),
        env_vars,
        elevated_env_vars,
        valid_exit_codes: read.valid_exit_codes,
        skip_clean: r.bool("skip_clean"),
        start_retry_timeout: read.start_retry_timeout,
        elevated: r.non_empty_string("elevated_user").map(|user| Elevated {
            user,
            password: r.string("elevated_password").unwrap_or_default(),
        }),
        run: LocalRun::of(build),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_command_is_packers() {
        insta::assert_snapshot!(default_execute_command("bypass", 0), @r#"powershell -executionpolicy bypass "& { if (Test-Path variable:global:ProgressPreference){set-variable -name variable:global:ProgressPreference -value 'SilentlyContinue'};. {{.Vars}}; &'{{.Path}}'; exit $LastExitCode }""#);
        insta::assert_snapshot!(default_execute_command("none", 2), @"& { if (Test-Path variable:global:ProgressPreference){set-variable -name variable:global:ProgressPreference -value 'SilentlyContinue'};Set-PsDebug -Trace 2;. {{.Vars}}; &'{{.Path}}'; exit $LastExitCode }");
    }

    #[test]
    fn execution_policies_read_by_name_or_number() {
        assert_eq!(execution_policy(None), "bypass");
        assert_eq!(execution_policy(Some("3".into())), "remotesigned");
        assert_eq!(execution_policy(Some("none".into())), "none");
        assert_eq!(execution_policy(Some("-1".into())), "ExecutionPolicy(-1)");
    }

    #[test]
    fn values_are_escaped_for_powershell() {
        assert_eq!(powershell_escape(r#"a$b"c`d'e"#), r#"a`$b`"c``d`'e"#);
    }
}
