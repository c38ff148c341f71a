//! Processes and ports on this machine: what the peers need to start servers on free loopback ports,
//! and what tests need to check that nothing they started outlived them.

use std::net::{Ipv4Addr, TcpListener};
use std::process::{Command, Stdio};

/// A loopback port nothing listened on a moment ago (bound, then given back). Someone else may take
/// it before the caller binds it, so servers started on one retry with another.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

/// The PID a script wrote to `pid_file`, and whether that process ended within ten seconds: an
/// orphan of a killed script is reaped by whoever adopted it, a moment after the kill.
pub fn written_pid_ends(pid_file: &std::path::Path) -> (u32, bool) {
    let text = std::fs::read_to_string(pid_file)
        .unwrap_or_else(|e| panic!("no PID in {}: {e}", pid_file.display()));
    let pid: u32 = text
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} in {} is no PID: {e}", pid_file.display()));
    let ended = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(20));
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    });
    (pid, ended)
}

/// One process as /proc shows it.
#[derive(Clone, Debug)]
pub struct Process {
    pub pid: u32,
    pub parent: u32,
    /// The state letter of /proc/PID/stat: `R`, `S`, … `Z` for an exited child not yet reaped.
    pub state: char,
    /// The arguments joined by spaces.
    pub cmdline: String,
}

impl Process {
    /// Whether it still runs: an exited child its parent has not reaped yet does not.
    pub fn is_running(&self) -> bool {
        self.state != 'Z'
    }
}

/// Every process this one can see, read from /proc (those that exit meanwhile are left out).
pub fn processes() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let (state, parent) = state_and_parent(&stat)?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline)
                .trim_end_matches('\0')
                .replace('\0', " ");
            Some(Process {
                pid,
                parent,
                state,
                cmdline,
            })
        })
        .collect()
}

/// The processes whose parent is `parent`.
pub fn children_of(parent: u32) -> Vec<Process> {
    processes()
        .into_iter()
        .filter(|p| p.parent == parent)
        .collect()
}

/// The running qemu processes (`qemu-system-*`) whose command line mentions `needle` (a disk, a
/// directory a test works in), as `PID: command line`.
pub fn qemu_processes_mentioning(needle: &str) -> Vec<String> {
    processes()
        .into_iter()
        .filter(|p| {
            p.is_running() && p.cmdline.contains("qemu-system") && p.cmdline.contains(needle)
        })
        .map(|p| format!("{}: {}", p.pid, p.cmdline))
        .collect()
}

/// Sends SIGKILL to `pid`; a process that is already gone is not an error.
pub fn kill(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// The third and fourth fields of /proc/PID/stat. The second (the command name, in parentheses) may
/// hold spaces and parentheses itself, so the fields are counted from the last `)`.
fn state_and_parent(stat: &str) -> Option<(char, u32)> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_survive_odd_command_names() {
        assert_eq!(
            state_and_parent("123 (sshd: root) S 77 123 123 0"),
            Some(('S', 77))
        );
        assert_eq!(state_and_parent("9 (a) b)) R 1 9"), Some(('R', 1)));
        assert_eq!(state_and_parent("9 (a"), None);
    }

    #[test]
    fn this_process_is_listed_as_its_parents_child() {
        let me = std::process::id();
        let listed = processes().into_iter().find(|p| p.pid == me).unwrap();
        assert!(listed.is_running());
        assert!(
            children_of(listed.parent).iter().any(|p| p.pid == me),
            "{listed:?}"
        );
    }
}
