//! A machine that records what a provisioner asks of it, for the tools that cannot run here
//! (PowerShell, Chef, Windows itself): a private sshd whose every command goes through a wrapper
//! that writes the command to a log and then runs it with stand-ins for those tools first on `PATH`.
//! A stand-in records its arguments, working directory and chosen environment variables and does
//! what the test says (exit 0, print a line, fail). The same provisioner run by Packer 1.6.6 and by
//! imgs against one recording guest must leave the same log: that is how imgs is checked against
//! Packer where the real tool is out of reach.
//!
//! Every command runs in [`RecordingGuest::root`], so a Windows path such as `c:/Windows/Temp/x.ps1`
//! is an ordinary relative path there (its directories exist from the start). File transfers run as
//! usual: `scp -t …` is logged like any other command, SFTP is served unlogged.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::sshd::TestSshd;

pub struct RecordingGuest {
    pub sshd: TestSshd,
    dir: tempfile::TempDir,
}

/// Directories Windows provisioners write to, made below the root at the start.
const WINDOWS_DIRS: &[&str] = &["c:/Windows/Temp", "C:/Windows/Temp", "C:/Windows/Temp/"];

impl RecordingGuest {
    pub fn start() -> Result<RecordingGuest, String> {
        let dir = tempfile::Builder::new()
            .prefix("imgs-recording-guest-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let root = dir.path().join("root");
        for windows_dir in WINDOWS_DIRS {
            std::fs::create_dir_all(root.join(windows_dir))
                .map_err(|e| format!("cannot create {windows_dir}: {e}"))?;
        }
        std::fs::create_dir_all(dir.path().join("standins"))
            .map_err(|e| format!("cannot create the stand-in directory: {e}"))?;
        let wrapper = dir.path().join("run-command");
        write_executable(&wrapper, &wrapper_script(dir.path()))?;
        let sshd = TestSshd::start_forcing(&wrapper)?;
        Ok(RecordingGuest { sshd, dir })
    }

    /// Where every command runs and relative remote paths land.
    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Puts a stand-in for `program` first on the commands' `PATH`: it appends `> program [arg]…`,
    /// its working directory (`  cwd <root>/…`) and the environment variables whose names start with
    /// one of `env_prefixes` (`  env NAME=value`, sorted) to the log, then runs the shell snippet
    /// `then` with the same arguments (`exit 0` when empty).
    pub fn stand_in(&self, program: &str, env_prefixes: &[&str], then: &str) -> Result<(), String> {
        let log = self.dir.path().join("log");
        let pattern = if env_prefixes.is_empty() {
            "^$".to_string()
        } else {
            format!("^({})", env_prefixes.join("|"))
        };
        let then = if then.is_empty() { "exit 0" } else { then };
        let script = format!(
            "#!/bin/sh\n\
             {{\n  \
               printf '> %s' {program}\n  \
               for arg in \"$@\"; do printf ' [%s]' \"$arg\"; done\n  \
               printf '\\n  cwd %s\\n' \"$(pwd)\"\n  \
               env | grep -E '{pattern}' | sort | sed 's/^/  env /'\n\
             }} >> {log}\n\
             {then}\n",
            program = shell_quote(program),
            log = shell_quote(&log.display().to_string()),
        );
        write_executable(&self.dir.path().join("standins").join(program), &script)
    }

    /// Puts a program first on the commands' `PATH` that runs the shell snippet `script` without
    /// recording anything: for a program whose calls would interleave with a recorded one's (the two
    /// ends of a pipe).
    pub fn provide(&self, program: &str, script: &str) -> Result<(), String> {
        write_executable(
            &self.dir.path().join("standins").join(program),
            &format!("#!/bin/sh\n{script}\n"),
        )
    }

    /// The log so far, with the root shown as `<root>`, and a fresh log from here on.
    pub fn take_log(&self) -> String {
        let log = self.dir.path().join("log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        text.replace(&self.root().display().to_string(), "<root>")
    }

    /// Reads a file the provisioner left on the guest (a path relative to the root).
    pub fn read(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(self.root().join(path)).map_err(|e| format!("{path}: {e}"))
    }
}

/// The `ForceCommand`: SFTP is served as usual from the root; every other command is logged (its
/// continuation lines indented) and run by `/bin/sh` in the root with the stand-ins first on `PATH`.
fn wrapper_script(dir: &Path) -> String {
    let quoted = |p: PathBuf| shell_quote(&p.display().to_string());
    format!(
        "#!/bin/sh\n\
         cd {root} || exit 1\n\
         case \"$SSH_ORIGINAL_COMMAND\" in\n  \
           internal-sftp|*/sftp-server) exec /usr/lib/openssh/sftp-server ;;\n\
         esac\n\
         printf '%s\\n' \"$SSH_ORIGINAL_COMMAND\" | sed -e '1s/^/$ /' -e '2,$s/^/  /' >> {log}\n\
         PATH={standins}:$PATH\n\
         export PATH\n\
         exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
        root = quoted(dir.join("root")),
        log = quoted(dir.join("log")),
        standins = quoted(dir.join("standins")),
    )
}

fn write_executable(path: &Path, content: &str) -> Result<(), String> {
    std::fs::write(path, content).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot make {} executable: {e}", path.display()))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}
