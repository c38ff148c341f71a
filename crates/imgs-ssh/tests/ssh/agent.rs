//! `ssh_agent_auth` against a private `ssh-agent` holding the test key. The agent is found through
//! `SSH_AUTH_SOCK`, which a process must not change while other tests run beside it: each login runs
//! in a process of its own, this test binary started again with the variable set (or removed) for it
//! alone, whose [`agent_login_in_a_child_process`] connects and reports.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imgs_ssh::{SshConfig, SshError, SshSession};
use imgs_test_peers::TestSshd;
use tokio_util::sync::CancellationToken;

/// Set in the child: the server's `ssh_*` settings, one `key=value` a line, with agent auth.
const CHILD_SETTINGS: &str = "IMGS_TEST_AGENT_SETTINGS";

/// An `ssh-agent` in the foreground, killed by its PID on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_agent_logs_in_and_a_missing_agent_is_a_clear_error() {
    let server = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    let mut settings = server.settings();
    settings.remove("ssh_private_key_file");
    settings.insert("ssh_agent_auth".into(), "true".into());
    let settings: String = settings
        .iter()
        .map(|(key, value)| format!("{key}={value}\n"))
        .collect();

    // No agent: said plainly, at once.
    let out = login_in_child(&settings, None);
    assert_eq!(
        out,
        "refused: cannot use the SSH agent: SSH_AUTH_SOCK is not set (hint mentions ssh-add)"
    );

    let socket = server.dir().join("agent.sock");
    let _agent = Agent(
        Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .spawn()
            .expect("ssh-agent (Debian `openssh-client`) must be installed"),
    );
    let started = Instant::now();
    while !socket.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "ssh-agent did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let added = Command::new("ssh-add")
        .arg("-q")
        .arg(&server.client_key)
        .env("SSH_AUTH_SOCK", &socket)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(added.success());

    assert_eq!(login_in_child(&settings, Some(&socket)), "logged in");
}

/// Runs [`agent_login_in_a_child_process`] in a new process of this binary with `SSH_AUTH_SOCK` set
/// to `agent` (removed when None); the line it printed.
fn login_in_child(settings: &str, agent: Option<&Path>) -> String {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "--exact",
            "agent::agent_login_in_a_child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_SETTINGS, settings)
        .stdin(Stdio::null());
    match agent {
        Some(socket) => child.env("SSH_AUTH_SOCK", socket),
        None => child.env_remove("SSH_AUTH_SOCK"),
    };
    let out = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the child failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The harness may start the line with the test's name (`test agent::… ... `).
    stdout
        .lines()
        .find_map(|line| Some(&line[line.find("agent login: ")? + "agent login: ".len()..]))
        .unwrap_or_else(|| panic!("the child said nothing about its login: {stdout}"))
        .to_string()
}

/// Not a test on its own: the child's side of the test above, which does nothing unless started by
/// [`login_in_child`]. It logs in with the agent its environment names and prints the outcome.
#[tokio::test]
async fn agent_login_in_a_child_process() {
    let Ok(settings) = std::env::var(CHILD_SETTINGS) else {
        return;
    };
    let settings: std::collections::BTreeMap<String, String> = settings
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect();
    let config = SshConfig::from_settings(&settings).unwrap();
    let outcome = match SshSession::connect(&config, CancellationToken::new()).await {
        Ok(session) => {
            let status = session.exec("true", |_, _| {}).await.unwrap();
            assert!(status.success());
            session.close().await.unwrap();
            "logged in".to_string()
        }
        Err(err) => {
            assert!(matches!(err, SshError::Agent(_)), "{err}");
            let hint = err.hint().unwrap_or_default();
            let mentions = if hint.contains("ssh-add") {
                "mentions"
            } else {
                "does not mention"
            };
            format!("refused: {err} (hint {mentions} ssh-add)")
        }
    };
    println!("agent login: {outcome}");
}
