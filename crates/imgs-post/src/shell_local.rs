//! The `shell-local` post-processor: commands or scripts run on the machine running imgs, in the
//! build's working directory, as Packer 1.6.6 runs them.
//!
//! Each script runs through `execute_command` (default `/bin/sh -c '{{.Vars}} {{.Script}}'`), where
//! `.Vars` is every environment variable written with `env_var_format` (default `NAME='value' `),
//! sorted by name: `PACKER_BUILD_NAME`, `PACKER_BUILDER_TYPE` and `environment_vars`. `inline`
//! commands (or `command`) become a temporary script that starts with `#!inline_shebang`. Output
//! lines go to the log as they come; an exit code not in `valid_exit_codes` fails the step.
//!
//! Packer 1.6.6's shell-local provisioner and post-processor share these settings and this runner,
//! and so do imgs': [`ShellLocal::from_written`] checks a block as written for either, and
//! [`ShellLocal::run`] runs it. Each command runs in a process group of its own, so cancelling the
//! build (or a provisioner's `timeout`) stops whatever the script started, not only its shell.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::{PostError, resolve};

/// Packer's default on every system but Windows.
pub const DEFAULT_EXECUTE_COMMAND: [&str; 3] = ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"];
pub const DEFAULT_ENV_VAR_FORMAT: &str = "%s='%s' ";
pub const DEFAULT_INLINE_SHEBANG: &str = "/bin/sh -e";

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commands {
    /// Script files as written; relative paths resolve against the working directory.
    Scripts(Vec<PathBuf>),
    /// Lines of one temporary script (`command` is one such line).
    Inline(Vec<String>),
}

/// A shell-local step, with Packer's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellLocal {
    pub commands: Commands,
    pub inline_shebang: String,
    /// Without the leading dot; empty for none.
    pub tempfile_extension: String,
    /// `environment_vars`, split at the first `=`.
    pub environment_vars: Vec<(String, String)>,
    pub env_var_format: String,
    /// As written: rendered for each script with `.Vars`, `.Script` and `.Command`.
    pub execute_command: Vec<String>,
    /// Go's operating system names; empty runs everywhere.
    pub only_on: Vec<String>,
    pub valid_exit_codes: Vec<i64>,
}

/// A shell-local block's settings as written (rendered, decoded), before Packer's checks and
/// defaults. Empty strings and lists mean "not given", as in Packer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub command: String,
    /// `None` when absent: an `inline` that is present but empty still counts as given when Packer
    /// checks that scripts and inline commands are not both set.
    pub inline: Option<Vec<String>>,
    pub script: String,
    pub scripts: Vec<String>,
    pub environment_vars: Vec<String>,
    pub env_var_format: String,
    pub execute_command: Vec<String>,
    pub inline_shebang: String,
    pub only_on: Vec<String>,
    pub tempfile_extension: String,
    pub use_linux_pathing: bool,
    pub valid_exit_codes: Vec<i64>,
}

/// A setting Packer would refuse, with the key at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub key: &'static str,
    pub message: String,
    pub hint: Option<String>,
}

impl Problem {
    fn new(key: &'static str, message: impl Into<String>, hint: Option<&str>) -> Problem {
        Problem {
            key,
            message: message.into(),
            hint: hint.map(str::to_string),
        }
    }
}

/// Operating systems `only_on` may name (Go's names), as Packer checks them.
pub const OPERATING_SYSTEMS: [&str; 6] = [
    "darwin", "freebsd", "linux", "openbsd", "solaris", "windows",
];

/// The build a step runs for.
pub struct ShellBuild<'a> {
    pub build_name: &'a str,
    pub builder_type: &'a str,
    pub working_dir: &'a Path,
}

/// Renders a deferred setting with the given data fields.
pub type Render<'a> =
    &'a (dyn Fn(&str, &BTreeMap<String, String>) -> Result<String, String> + Sync);

/// Where progress and output lines go.
pub type Log<'a> = &'a mut (dyn FnMut(&str) + Send);

/// Go's name for the operating system imgs runs on (`only_on` uses Go's names).
pub fn this_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// Whether `format` is one imgs can fill: `%s` for the name, `%s` for the value, `%%` for `%`.
pub fn check_env_var_format(format: &str) -> Result<(), String> {
    let mut chars = format.chars();
    let mut strings = 0;
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('s') => strings += 1,
                Some('%') => {}
                Some(other) => {
                    return Err(format!(
                        "not supported yet: `%{other}` in env_var_format; use `%s` for the name and the value"
                    ));
                }
                None => return Err("env_var_format ends in a lone `%`".into()),
            }
        }
    }
    if strings == 2 {
        Ok(())
    } else {
        Err(format!(
            "env_var_format needs two `%s` (the name, then the value), not {strings}"
        ))
    }
}

/// `format` with its two `%s` filled, as Go's Sprintf fills them.
fn fill(format: &str, name: &str, value: &str) -> String {
    let mut out = String::with_capacity(format.len() + name.len() + value.len());
    let mut args = [name, value].into_iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('%', Some('s')) => {
                chars.next();
                out.push_str(args.next().unwrap_or_default());
            }
            ('%', Some('%')) => {
                chars.next();
                out.push('%');
            }
            _ => out.push(c),
        }
    }
    out
}

impl ShellLocal {
    /// Packer's checks and defaults (its `Validate`) over a block as written; every problem found.
    /// The post-processor's one-string `execute_command` (run through `sh -c`) is its caller's
    /// business, as in Packer.
    pub fn from_written(written: Written) -> Result<ShellLocal, Vec<Problem>> {
        let Written {
            command,
            mut inline,
            script,
            mut scripts,
            environment_vars,
            env_var_format,
            execute_command,
            inline_shebang,
            only_on,
            tempfile_extension,
            use_linux_pathing,
            valid_exit_codes,
        } = written;
        let mut problems = Vec::new();
        let too_many = |key| {
            Problem::new(
                key,
                "only one of command, inline, script and scripts may be given",
                Some("consolidate these options into one"),
            )
        };
        let inline_lines = inline.as_ref().is_some_and(|l| !l.is_empty());
        if !command.is_empty() {
            if inline_lines || !scripts.is_empty() || !script.is_empty() {
                problems.push(too_many("command"));
            } else {
                inline = Some(vec![command.clone()]);
            }
        }
        if !script.is_empty() {
            if !scripts.is_empty() || inline.as_ref().is_some_and(|l| !l.is_empty()) {
                problems.push(too_many("script"));
            } else {
                scripts = vec![script.clone()];
            }
        }
        let commands = match inline {
            _ if !scripts.is_empty() => {
                if inline.is_some() && command.is_empty() {
                    problems.push(too_many("inline"));
                }
                Commands::Scripts(scripts.iter().map(PathBuf::from).collect())
            }
            Some(lines) if !lines.is_empty() => Commands::Inline(lines),
            _ => {
                problems.push(Problem::new(
                    "inline",
                    "shell-local has nothing to run",
                    Some("give one of `command`, `inline`, `script` or `scripts`"),
                ));
                Commands::Inline(Vec::new())
            }
        };
        if let Some(os) = only_on
            .iter()
            .find(|os| !OPERATING_SYSTEMS.contains(&os.as_str()))
        {
            problems.push(Problem {
                key: "only_on",
                message: format!("invalid OS `{os}` in only_on"),
                hint: Some(format!("use one of: {}", OPERATING_SYSTEMS.join(", "))),
            });
        }
        if use_linux_pathing {
            problems.push(Problem::new(
                "use_linux_pathing",
                "not supported yet: use_linux_pathing",
                Some("it is for the Windows Subsystem for Linux, which imgs does not run on; remove it"),
            ));
        }
        let mut vars = Vec::new();
        for entry in environment_vars {
            match entry.split_once('=') {
                Some((name, value)) if !name.is_empty() => {
                    vars.push((name.to_string(), value.to_string()));
                }
                _ => problems.push(Problem::new(
                    "environment_vars",
                    format!("environment variable not in the form NAME=value: `{entry}`"),
                    Some("e.g. `\"environment_vars\": [\"VERSION=1.2\"]`"),
                )),
            }
        }
        let env_var_format = Some(env_var_format)
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| DEFAULT_ENV_VAR_FORMAT.to_string());
        if let Err(message) = check_env_var_format(&env_var_format) {
            problems.push(Problem::new("env_var_format", message, None));
        }
        let execute_command = if execute_command.is_empty() {
            DEFAULT_EXECUTE_COMMAND.map(String::from).to_vec()
        } else {
            execute_command
        };
        let shell = ShellLocal {
            commands,
            inline_shebang: Some(inline_shebang)
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_INLINE_SHEBANG.to_string()),
            tempfile_extension: tempfile_extension.trim_start_matches('.').to_string(),
            environment_vars: vars,
            env_var_format,
            execute_command,
            only_on,
            valid_exit_codes: if valid_exit_codes.is_empty() {
                vec![0]
            } else {
                valid_exit_codes
            },
        };
        if problems.is_empty() {
            Ok(shell)
        } else {
            Err(problems)
        }
    }

    /// `.Vars`: every variable with `env_var_format`, sorted by name. Single quotes in
    /// `environment_vars` values are escaped for the default format's quoting, as Packer does.
    pub fn flattened_vars(&self, build: &ShellBuild<'_>) -> String {
        let mut vars = BTreeMap::new();
        vars.insert("PACKER_BUILD_NAME", build.build_name.to_string());
        vars.insert("PACKER_BUILDER_TYPE", build.builder_type.to_string());
        for (name, value) in &self.environment_vars {
            vars.insert(name.as_str(), value.replace('\'', r#"'"'"'"#));
        }
        vars.iter()
            .map(|(name, value)| fill(&self.env_var_format, name, value))
            .collect()
    }

    /// Runs every script in turn; the first failure stops.
    pub async fn run(
        &self,
        build: &ShellBuild<'_>,
        render: Render<'_>,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<(), PostError> {
        if !self.only_on.is_empty() && !self.only_on.iter().any(|os| os == this_os()) {
            log("Skipping shell-local due to runtime OS");
            return Ok(());
        }
        // The temporary script lives until every command ran, then goes.
        let (_inline, scripts) = match &self.commands {
            Commands::Scripts(scripts) => (None, scripts.clone()),
            Commands::Inline(lines) => {
                let path = self.inline_script(lines)?;
                let scripts = vec![path.to_path_buf()];
                (Some(path), scripts)
            }
        };
        let vars = self.flattened_vars(build);
        for script in &scripts {
            let absolute = resolve(build.working_dir, script);
            let data = BTreeMap::from([
                ("Vars".to_string(), vars.clone()),
                ("Script".to_string(), absolute.display().to_string()),
                ("Command".to_string(), absolute.display().to_string()),
            ]);
            let argv = self
                .execute_command
                .iter()
                .map(|word| {
                    render(word, &data).map_err(|reason| PostError::Render {
                        key: "execute_command",
                        reason,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            log(&format!("Running local shell script: {}", script.display()));
            let code = run_command(&argv, build.working_dir, &absolute, log, cancel).await?;
            if !self.valid_exit_codes.contains(&code) {
                return Err(PostError::ExitCode {
                    script: script.display().to_string(),
                    code,
                    allowed: self.valid_exit_codes.clone(),
                });
            }
        }
        Ok(())
    }

    /// Writes the inline lines to an executable temporary script, closed so it can be executed.
    fn inline_script(&self, lines: &[String]) -> Result<tempfile::TempPath, PostError> {
        let suffix = match self.tempfile_extension.as_str() {
            "" => String::new(),
            ext => format!(".{ext}"),
        };
        let failed = |e: std::io::Error| PostError::Io {
            action: "write",
            path: "the inline script".into(),
            reason: e.to_string(),
        };
        let mut file = tempfile::Builder::new()
            .prefix("packer-shell")
            .suffix(&suffix)
            .tempfile()
            .map_err(failed)?;
        let mut text = String::new();
        if !self.inline_shebang.is_empty() {
            text.push_str(&format!("#!{}\n", self.inline_shebang));
        }
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        file.write_all(text.as_bytes()).map_err(failed)?;
        {
            use std::os::unix::fs::PermissionsExt as _;
            file.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o700))
                .map_err(failed)?;
        }
        Ok(file.into_temp_path())
    }
}

/// Runs `argv` in `dir`, its output lines logged as they come; returns its exit code (-1 when a
/// signal ended it, as Go reports it).
async fn run_command(
    argv: &[String],
    dir: &Path,
    script: &Path,
    log: Log<'_>,
    cancel: &CancellationToken,
) -> Result<i64, PostError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(PostError::Render {
            key: "execute_command",
            reason: "it is empty".into(),
        });
    };
    let mut command = tokio::process::Command::new(program);
    command.args(args).current_dir(dir);
    crate::local_command::run(command, &script.display().to_string(), log, cancel).await
}

#[cfg(test)]
mod tests;
