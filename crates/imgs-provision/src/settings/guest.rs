//! The commands a provisioner that stages files on the machine sends to make, open up and remove its
//! directories: Packer 1.6.6's table per guest OS, with `sudo` in front on Unix unless prevented.

/// `guest_os_type` of the provisioners that stage files on the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestOs {
    Unix,
    Windows,
}

impl GuestOs {
    /// `guest_os_type` as Packer reads it: empty is `unix`, case does not matter; anything else is
    /// refused with Packer's words.
    pub(crate) fn parse(written: &str) -> Result<GuestOs, String> {
        match written.to_ascii_lowercase().as_str() {
            "" | "unix" => Ok(GuestOs::Unix),
            "windows" => Ok(GuestOs::Windows),
            other => Err(format!("Invalid guest_os_type: \"{other}\"")),
        }
    }
}

/// `guest_os_type` of a provisioner's configuration, or the located error Packer's words make.
pub(super) fn read_guest_os(
    r: &super::decode::Reader<'_>,
) -> Result<GuestOs, imgs_diagnostic::Diagnostic> {
    GuestOs::parse(&r.string("guest_os_type").unwrap_or_default()).map_err(|why| {
        r.error("guest_os_type", why)
            .hint("use `unix` (the default) or `windows`")
    })
}

/// How directories are made and removed on one machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestCommands {
    pub os: GuestOs,
    /// Prefix Unix commands with `sudo` (Packer: unless `prevent_sudo`).
    pub sudo: bool,
}

impl GuestCommands {
    pub fn create_dir(&self, path: &str) -> String {
        self.with_sudo(match self.os {
            GuestOs::Unix => format!("mkdir -p '{path}'"),
            GuestOs::Windows => format!(
                "powershell.exe -Command \"New-Item -ItemType directory -Force -ErrorAction \
                 SilentlyContinue -Path {}\"",
                escape_windows(path)
            ),
        })
    }

    pub fn chmod(&self, path: &str, mode: &str) -> String {
        self.with_sudo(match self.os {
            GuestOs::Unix => format!("chmod {mode} '{path}'"),
            // Packer sends a no-op that says what it skipped.
            GuestOs::Windows => format!("echo 'skipping chmod {mode} {}'", escape_windows(path)),
        })
    }

    pub fn stat_path(&self, path: &str) -> String {
        self.with_sudo(match self.os {
            GuestOs::Unix => format!("stat '{path}'"),
            GuestOs::Windows => format!(
                "powershell.exe -Command {{ if (test-path {}) {{ exit 0 }} else {{ exit 1 }} }}",
                escape_windows(path)
            ),
        })
    }

    pub fn move_path(&self, from: &str, to: &str) -> String {
        self.with_sudo(match self.os {
            GuestOs::Unix => format!("mv '{from}' '{to}'"),
            GuestOs::Windows => format!(
                "powershell.exe -Command \"mv {} {} -force\"",
                escape_windows(from),
                escape_windows(to)
            ),
        })
    }

    pub fn remove_dir(&self, path: &str) -> String {
        self.with_sudo(match self.os {
            GuestOs::Unix => format!("rm -rf '{path}'"),
            GuestOs::Windows => format!(
                "powershell.exe -Command \"rm {} -recurse -force\"",
                escape_windows(path)
            ),
        })
    }

    /// `command` with `sudo` in front on Unix when sudo is allowed (what every entry of the table
    /// gets; Salt puts it in front of its own commands, and of the table's `mv` once more).
    pub fn with_sudo(&self, command: impl Into<String>) -> String {
        let command = command.into();
        if self.os == GuestOs::Unix && self.sudo {
            format!("sudo {command}")
        } else {
            command
        }
    }
}

/// PowerShell's escape for a space in a path, as Packer writes it.
fn escape_windows(path: &str) -> String {
    path.replace(' ', "` ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_packers_for_each_os() {
        let unix = GuestCommands {
            os: GuestOs::Unix,
            sudo: true,
        };
        assert_eq!(unix.create_dir("/tmp/a b"), "sudo mkdir -p '/tmp/a b'");
        assert_eq!(unix.chmod("/tmp/a", "0777"), "sudo chmod 0777 '/tmp/a'");
        assert_eq!(
            GuestCommands {
                sudo: false,
                ..unix
            }
            .remove_dir("/tmp/a"),
            "rm -rf '/tmp/a'"
        );
        let windows = GuestCommands {
            os: GuestOs::Windows,
            sudo: true,
        };
        assert_eq!(
            windows.create_dir("C:/Program Files/x"),
            "powershell.exe -Command \"New-Item -ItemType directory -Force -ErrorAction \
             SilentlyContinue -Path C:/Program` Files/x\""
        );
        assert_eq!(
            windows.chmod("C:/x", "0777"),
            "echo 'skipping chmod 0777 C:/x'"
        );
        assert_eq!(
            windows.remove_dir("C:/x"),
            "powershell.exe -Command \"rm C:/x -recurse -force\""
        );
    }

    #[test]
    fn guest_os_type_reads_as_packer_reads_it() {
        assert_eq!(GuestOs::parse(""), Ok(GuestOs::Unix));
        assert_eq!(GuestOs::parse("Windows"), Ok(GuestOs::Windows));
        assert_eq!(
            GuestOs::parse("Linux"),
            Err("Invalid guest_os_type: \"linux\"".to_string())
        );
    }
}
