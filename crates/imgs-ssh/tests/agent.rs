//! `ssh_agent_auth` against a private `ssh-agent` holding the test key. A test binary of its own: the
//! agent is found through `SSH_AUTH_SOCK`, which this process sets, and no other test may see it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use imgs_ssh::test_sshd::TestSshd;
use imgs_ssh::{SshConfig, SshError, SshSession};
use tokio_util::sync::CancellationToken;

/// An `ssh-agent` in the foreground, killed by its PID on drop.
struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_agent_logs_in_and_a_missing_agent_is_a_clear_error() {
    let server = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    let mut settings = server.settings();
    settings.remove("ssh_private_key_file");
    settings.insert("ssh_agent_auth".into(), "true".into());
    let config = SshConfig::from_settings(&settings).unwrap();

    // No agent: said plainly, at once.
    // SAFETY: this test binary has this one test, so no other thread reads the environment meanwhile.
    unsafe { std::env::remove_var("SSH_AUTH_SOCK") };
    let err = SshSession::connect(&config, CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SshError::Agent(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "cannot use the SSH agent: SSH_AUTH_SOCK is not set"
    );
    assert!(err.hint().unwrap().contains("ssh-add"));

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

    // SAFETY: as above.
    unsafe { std::env::set_var("SSH_AUTH_SOCK", &socket) };
    let session = SshSession::connect(&config, CancellationToken::new())
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let status = session.exec("true", |_, _| {}).await.unwrap();
    assert!(status.success());
    session.close().await.unwrap();
}
