//! The `shell` provisioner's settings, with Packer 1.6.6's defaults.

use std::collections::BTreeMap;
use std::time::Duration;

use imgs_diagnostic::Diagnostic;
use imgs_template::interpolate::{self, Context};

use super::decode::Reader;
use super::{BuildContext, LocalPath};

const DEFAULT_EXECUTE_COMMAND: &str = "chmod +x {{.Path}}; {{.Vars}} {{.Path}}";
const DEFAULT_ENV_VAR_FORMAT: &str = "%s='%s' ";
/// With `use_env_var_file`, the variables go to a file the command sources instead.
const ENV_FILE_EXECUTE_COMMAND: &str = "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}";
const ENV_FILE_VAR_FORMAT: &str = "export %s='%s'\n";
const DEFAULT_SHEBANG: &str = "/bin/sh -e";
const DEFAULT_REMOTE_FOLDER: &str = "/tmp";
const DEFAULT_START_RETRY_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellSettings {
    /// Run one after the other, each uploaded to `remote_path`.
    pub scripts: Vec<ShellScript>,
    /// `execute_command` with `{{.Vars}}` and `{{.Path}}` filled in: what runs each script.
    pub command: String,
    pub remote_path: String,
    /// Upload scripts as they are; otherwise CRLF line endings become LF, as in Packer.
    pub binary: bool,
    pub valid_exit_codes: Vec<i64>,
    pub skip_clean: bool,
    pub expect_disconnect: bool,
    /// How long to keep trying to upload and start a script while the machine is unreachable.
    pub start_retry_timeout: Duration,
    pub pause_after: Option<Duration>,
    /// With `use_env_var_file`: the variables, uploaded once before the scripts run.
    pub env_var_file: Option<EnvVarFile>,
}

/// The environment as a file for `{{.EnvVarFile}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVarFile {
    /// `environment_vars` written with `env_var_format` (default `export NAME='value'`, a line each).
    pub content: String,
    pub remote_path: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellScript {
    /// `inline` commands, one per line, after a `#!` line with `inline_shebang`.
    Inline(String),
    File(LocalPath),
}

impl ShellScript {
    /// How messages name it.
    pub fn name(&self) -> &str {
        match self {
            ShellScript::Inline(_) => "inline script",
            ShellScript::File(path) => &path.written,
        }
    }
}

pub(super) fn read(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<ShellSettings, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let use_env_var_file = r.bool("use_env_var_file");

    let inline = r.strings("inline").filter(|lines| !lines.is_empty());
    let script = r.non_empty_string("script");
    let scripts = r.strings("scripts").unwrap_or_default();
    if script.is_some() && !scripts.is_empty() {
        problems.push(r.error("scripts", "only one of `script` and `scripts` may be given"));
    }
    let files: Vec<String> = script.into_iter().chain(scripts).collect();
    let shebang = r
        .non_empty_string("inline_shebang")
        .unwrap_or_else(|| DEFAULT_SHEBANG.to_string());
    let scripts: Vec<ShellScript> = match (inline, files.is_empty()) {
        (Some(lines), true) => vec![ShellScript::Inline(inline_script(&shebang, &lines))],
        (None, false) => files
            .iter()
            .map(|f| ShellScript::File(LocalPath::new(f, build.ctx.pwd)))
            .collect(),
        (Some(_), false) => {
            problems.push(r.error(
                "inline",
                "give either script files (`script`, `scripts`) or `inline` commands, not both",
            ));
            Vec::new()
        }
        (None, true) => {
            problems.push(
                r.error("inline", "the shell provisioner has nothing to run")
                    .hint("add `inline` commands, a `script` or a list of `scripts`"),
            );
            Vec::new()
        }
    };

    let env_vars = r.strings("environment_vars").unwrap_or_default();
    let mut env = BTreeMap::new();
    env.insert(
        "PACKER_BUILD_NAME".to_string(),
        build.ctx.build_name.unwrap_or_default().to_string(),
    );
    env.insert(
        "PACKER_BUILDER_TYPE".to_string(),
        build.ctx.build_type.unwrap_or_default().to_string(),
    );
    for entry in &env_vars {
        match entry.split_once('=') {
            Some((name, value)) if !name.is_empty() => {
                env.insert(name.to_string(), value.to_string());
            }
            _ => problems.push(
                r.error(
                    "environment_vars",
                    format!(
                        "environment variable `{}` is not in the form KEY=value",
                        build.secrets.mask(entry)
                    ),
                )
                .hint("write each entry as NAME=value"),
            ),
        }
    }
    let format = r.non_empty_string("env_var_format").unwrap_or_else(|| {
        if use_env_var_file {
            ENV_FILE_VAR_FORMAT
        } else {
            DEFAULT_ENV_VAR_FORMAT
        }
        .to_string()
    });
    let vars = match flatten_env(&format, &env) {
        Ok(vars) => vars,
        Err(message) => {
            problems.push(r.error("env_var_format", message).hint(
                "use %s for the name and then %s for the value, e.g. \"%s='%s' \" (the default)",
            ));
            String::new()
        }
    };

    let remote_folder = r
        .non_empty_string("remote_folder")
        .unwrap_or_else(|| DEFAULT_REMOTE_FOLDER.to_string());
    let remote_file = r
        .non_empty_string("remote_file")
        .unwrap_or_else(|| format!("script_{}.sh", random_below(10_000)));
    let remote_path = r
        .non_empty_string("remote_path")
        .unwrap_or_else(|| format!("{remote_folder}/{remote_file}"));

    let execute_command = r.non_empty_string("execute_command").unwrap_or_else(|| {
        if use_env_var_file {
            ENV_FILE_EXECUTE_COMMAND
        } else {
            DEFAULT_EXECUTE_COMMAND
        }
        .to_string()
    });
    let env_var_file = use_env_var_file.then(|| EnvVarFile {
        content: vars.clone(),
        remote_path: format!("{remote_folder}/varfile_{}.sh", random_below(10_000)),
    });
    let env_var_file_path = env_var_file.as_ref().map_or("", |f| f.remote_path.as_str());
    let command = match render_command(
        &execute_command,
        build.ctx,
        &vars,
        &remote_path,
        env_var_file_path,
    ) {
        Ok(command) => command,
        Err(message) => {
            problems.push(r.error("execute_command", message));
            String::new()
        }
    };

    let valid_exit_codes = match r.ints("valid_exit_codes") {
        Ok(codes) => codes.filter(|c| !c.is_empty()).unwrap_or_else(|| vec![0]),
        Err(d) => {
            problems.push(d);
            Vec::new()
        }
    };
    let mut duration = |key: &str| {
        r.duration(key).unwrap_or_else(|d| {
            problems.push(d);
            None
        })
    };
    let start_retry_timeout =
        duration("start_retry_timeout").unwrap_or(DEFAULT_START_RETRY_TIMEOUT);
    let pause_after = duration("pause_after");

    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(ShellSettings {
        scripts,
        command,
        remote_path,
        binary: r.bool("binary"),
        valid_exit_codes,
        skip_clean: r.bool("skip_clean"),
        expect_disconnect: r.bool("expect_disconnect"),
        start_retry_timeout,
        pause_after,
        env_var_file,
    })
}

fn inline_script(shebang: &str, lines: &[String]) -> String {
    let mut script = format!("#!{shebang}\n");
    for line in lines {
        script.push_str(line);
        script.push('\n');
    }
    script
}

/// `{{.Vars}}`: every variable through `format` (Go's `%s` twice: name, value), sorted by name, with
/// single quotes in values written `'"'"'` so they survive the default single-quoted format.
fn flatten_env(format: &str, env: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    for (name, value) in env {
        let value = value.replace('\'', r#"'"'"'"#);
        out.push_str(&go_format(format, [name.as_str(), value.as_str()])?);
    }
    Ok(out)
}

/// The part of Go's `Sprintf` that `env_var_format` uses: `%s` takes the next argument, `%%` is `%`.
pub(super) fn go_format(format: &str, args: [&str; 2]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.into_iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s') => match args.next() {
                Some(arg) => out.push_str(arg),
                None => return Err(format!("`env_var_format` `{format}` has more than two %s")),
            },
            Some(other) => {
                return Err(format!(
                    "`env_var_format` `{format}` uses %{other}; only %s (and %% for a percent sign) is supported"
                ));
            }
            None => return Err(format!("`env_var_format` `{format}` ends in a lone %")),
        }
    }
    if args.next().is_some() {
        return Err(format!(
            "`env_var_format` `{format}` must use %s twice: the name, then the value"
        ));
    }
    Ok(out)
}

fn render_command(
    template: &str,
    ctx: &Context<'_>,
    vars: &str,
    path: &str,
    env_var_file: &str,
) -> Result<String, String> {
    let data = BTreeMap::from([
        ("Vars".to_string(), vars.to_string()),
        ("Path".to_string(), path.to_string()),
        ("EnvVarFile".to_string(), env_var_file.to_string()),
    ]);
    let ctx = Context {
        data: &data,
        ..*ctx
    };
    interpolate::render(template, &ctx)
        .map(|r| r.text)
        .map_err(|e| format!("cannot render `execute_command`: {}", e.message))
}

/// A number in `0..bound` that differs from run to run, for Packer's `script_NNNN.sh` names. The
/// standard library's hasher keys are random per process, which is all the randomness this needs.
fn random_below(bound: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish() % bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vars_are_sorted_and_single_quoted_as_packer_does() {
        let env = BTreeMap::from([
            ("B".to_string(), "it's".to_string()),
            ("A".to_string(), "1".to_string()),
        ]);
        assert_eq!(
            flatten_env(DEFAULT_ENV_VAR_FORMAT, &env).unwrap(),
            r#"A='1' B='it'"'"'s' "#
        );
        assert_eq!(
            flatten_env("export %s=\"%s\"; ", &env).unwrap(),
            r#"export A="1"; export B="it'"'"'s"; "#
        );
    }

    #[test]
    fn env_var_format_errors_name_the_problem() {
        let env = BTreeMap::from([("A".to_string(), "1".to_string())]);
        insta::assert_snapshot!(flatten_env("%s=%d", &env).unwrap_err(), @"`env_var_format` `%s=%d` uses %d; only %s (and %% for a percent sign) is supported");
        insta::assert_snapshot!(flatten_env("%s ", &env).unwrap_err(), @"`env_var_format` `%s ` must use %s twice: the name, then the value");
        assert_eq!(go_format("%s=%s 100%%", ["a", "b"]).unwrap(), "a=b 100%");
    }

    #[test]
    fn inline_commands_follow_the_shebang() {
        assert_eq!(
            inline_script("/bin/bash -e", &["echo a".into(), "echo b".into()]),
            "#!/bin/bash -e\necho a\necho b\n"
        );
    }

    #[test]
    fn random_names_stay_in_range() {
        assert!((0..50).all(|_| random_below(10_000) < 10_000));
    }
}
