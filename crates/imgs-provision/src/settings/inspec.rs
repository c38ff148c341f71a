//! The `inspec` provisioner's settings, with Packer 1.6.6's defaults. Packer's `Prepare` checks are
//! imgs-template's; this reads what the run needs, and refuses a build whose InSpec is not installed
//! before the build starts rather than at its last step.

use std::path::Path;

use imgs_diagnostic::Diagnostic;

use super::decode::Reader;
use super::{BuildContext, LocalPath, LocalRun};

#[derive(Clone, Debug)]
pub struct InspecSettings {
    /// `command`: `inspec` by default.
    pub command: String,
    /// `subcommand`: `exec` by default.
    pub subcommand: String,
    pub extra_arguments: Vec<String>,
    /// `inspec_env_vars`, `NAME=value` each, set for the run after the process environment.
    pub env_vars: Vec<String>,
    /// The profile as written: InSpec resolves it (a directory, an archive, a URL).
    pub profile: String,
    /// Where the input file with the build's name and type is written (the temporary directory when
    /// unset).
    pub attributes_directory: Option<LocalPath>,
    /// `attributes`: input files passed to InSpec as written, before the build's own.
    pub attributes: Vec<String>,
    /// `backend`: `ssh` (the default), `docker`, `local` or `winrm`.
    pub backend: String,
    /// `user` as written; for the `ssh` backend InSpec logs in as the communicator's user.
    pub user: String,
    /// `host`, `127.0.0.1` by default; for the `ssh` backend InSpec connects to the communicator's
    /// host.
    pub host: String,
    pub run: LocalRun,
}

pub(super) fn read(
    r: &Reader<'_>,
    build: &BuildContext<'_>,
) -> Result<InspecSettings, Vec<Diagnostic>> {
    let pwd = build.ctx.pwd;
    let text = |key: &str, default: &str| {
        r.non_empty_string(key)
            .unwrap_or_else(|| default.to_string())
    };
    let command = text("command", "inspec");
    if !installed(&command, pwd) {
        return Err(vec![
            r.error(
                "command",
                format!("`{command}` is not installed on the machine running imgs: the inspec provisioner runs it here"),
            )
            .hint(
                "InSpec is a Ruby gem, not a Debian package: install Chef's `inspec` package or \
                 `gem install inspec-bin`, or set `command` to its path",
            ),
        ]);
    }
    Ok(InspecSettings {
        command,
        subcommand: text("subcommand", "exec"),
        extra_arguments: r.strings("extra_arguments").unwrap_or_default(),
        env_vars: r.strings("inspec_env_vars").unwrap_or_default(),
        profile: r.string("profile").unwrap_or_default(),
        attributes_directory: r
            .non_empty_string("attributes_directory")
            .map(|p| LocalPath::new(&p, pwd)),
        attributes: r.strings("attributes").unwrap_or_default(),
        backend: text("backend", "ssh"),
        user: r.string("user").unwrap_or_default(),
        host: text("host", "127.0.0.1"),
        run: LocalRun::of(build),
    })
}

/// Whether `program` runs: a path (relative to `pwd`) to an executable file, or a name found on
/// `PATH`.
fn installed(program: &str, pwd: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(&Path::new(pwd).join(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(program))))
}
