//! The `shell-local` provisioner's settings: the same as the post-processor's, checked by the same
//! code ([`ShellLocal::from_written`]); only reading them from the block differs.

use imgs_diagnostic::Diagnostic;
use imgs_post::shell_local::{ShellLocal, Written};

use super::decode::Reader;
use super::{BuildContext, LocalRun};

/// A shell-local step and what it needs from its build when it runs.
#[derive(Clone, Debug)]
pub struct ShellLocalSettings {
    pub shell: ShellLocal,
    /// `execute_command` is rendered per script, with `.Vars`, `.Script` and `.Command`.
    pub run: LocalRun,
}

pub(super) fn read(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<ShellLocalSettings, Vec<Diagnostic>> {
    let mut problems = Vec::new();
    let text = |key: &str| r.string(key).unwrap_or_default();
    let list = |key: &str| r.strings(key).unwrap_or_default();
    let valid_exit_codes = r.ints("valid_exit_codes").unwrap_or_else(|d| {
        problems.push(d);
        None
    });
    let written = Written {
        command: text("command"),
        inline: r.strings("inline"),
        script: text("script"),
        scripts: list("scripts"),
        environment_vars: list("environment_vars"),
        env_var_format: text("env_var_format"),
        // Unlike the post-processor's, the provisioner's execute_command has no one-string form:
        // a lone string is the program to run, as in Packer.
        execute_command: list("execute_command"),
        inline_shebang: text("inline_shebang"),
        only_on: list("only_on"),
        tempfile_extension: text("tempfile_extension"),
        use_linux_pathing: r.bool("use_linux_pathing"),
        valid_exit_codes: valid_exit_codes.unwrap_or_default(),
    };
    let shell = match ShellLocal::from_written(written) {
        Ok(shell) => Some(shell),
        Err(found) => {
            problems.extend(found.into_iter().map(|p| {
                let d = r.error(p.key, build.secrets.mask(&p.message));
                match p.hint {
                    Some(hint) => d.hint(hint),
                    None => d,
                }
            }));
            None
        }
    };
    match shell {
        Some(shell) if problems.is_empty() => Ok(ShellLocalSettings {
            shell,
            run: LocalRun::of(build),
        }),
        _ => Err(problems),
    }
}
