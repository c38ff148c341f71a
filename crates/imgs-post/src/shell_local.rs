//! The `shell-local` post-processor: commands or scripts run on the machine running imgs, in the
//! build's working directory, as Packer 1.6.6 runs them.
//!
//! Each script runs through `execute_command` (default `/bin/sh -c '{{.Vars}} {{.Script}}'`), where
//! `.Vars` is every environment variable written with `env_var_format` (default `NAME='value' `),
//! sorted by name: `PACKER_BUILD_NAME`, `PACKER_BUILDER_TYPE` and `environment_vars`. `inline`
//! commands (or `command`) become a temporary script that starts with `#!inline_shebang`. Output
//! lines go to the log as they come; an exit code not in `valid_exit_codes` fails the step.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, AsyncRead, BufReader};
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
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| PostError::Io {
            action: "run",
            path: script.display().to_string(),
            reason: format!("{program}: {e}"),
        })?;
    let mut stdout = Lines::new(child.stdout.take());
    let mut stderr = Lines::new(child.stderr.take());
    while !(stdout.done && stderr.done) {
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = child.kill().await;
                return Err(PostError::Cancelled);
            }
            line = stdout.next(), if !stdout.done => {
                if let Some(line) = line { log(&format!("  {line}")); }
            }
            line = stderr.next(), if !stderr.done => {
                if let Some(line) = line { log(&format!("  {line}")); }
            }
        }
    }
    let status = tokio::select! {
        _ = cancel.cancelled() => {
            let _ = child.kill().await;
            return Err(PostError::Cancelled);
        }
        status = child.wait() => status,
    }
    .map_err(|e| PostError::Io {
        action: "wait for",
        path: script.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(status.code().map_or(-1, i64::from))
}

/// One output stream read line by line (lossily: a script may print any bytes).
struct Lines<R> {
    reader: Option<BufReader<R>>,
    /// A line read in part: kept here because `select!` may drop a read half-way, and
    /// `read_until` appends what it read to the buffer it is given.
    partial: Vec<u8>,
    done: bool,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    fn new(stream: Option<R>) -> Lines<R> {
        Lines {
            done: stream.is_none(),
            reader: stream.map(BufReader::new),
            partial: Vec::new(),
        }
    }

    /// The next line without its ending; `None` at the end (or on a read error, which ends it).
    async fn next(&mut self) -> Option<String> {
        let reader = self.reader.as_mut()?;
        let read = reader.read_until(b'\n', &mut self.partial).await;
        if matches!(read, Ok(0) | Err(_)) {
            self.done = true;
            if self.partial.is_empty() {
                return None;
            }
        }
        let mut line = std::mem::take(&mut self.partial);
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Some(String::from_utf8_lossy(&line).into_owned())
    }
}

#[cfg(test)]
mod tests;
