//! The communicator against a real OpenSSH server (Debian's sshd, started privately per test).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use imgs_ssh::test_sshd::TestSshd;
use imgs_ssh::{ExitStatus, SshConfig, SshError, SshSession, Stream};
use tokio_util::sync::CancellationToken;

fn sshd() -> TestSshd {
    TestSshd::start().unwrap_or_else(|why| panic!("{why}"))
}

fn config(settings: &BTreeMap<String, String>) -> SshConfig {
    SshConfig::from_settings(settings).unwrap_or_else(|problems| panic!("{problems}"))
}

fn with(server: &TestSshd, extra: &[(&str, &str)]) -> SshConfig {
    let mut settings = server.settings();
    for (key, value) in extra {
        settings.insert(key.to_string(), value.to_string());
    }
    config(&settings)
}

async fn connect(config: &SshConfig) -> SshSession {
    SshSession::connect(config, CancellationToken::new())
        .await
        .unwrap_or_else(|err| panic!("{err}"))
}

/// Runs `command`, collecting its lines as `out: …` / `err: …`.
async fn run(session: &SshSession, command: &str) -> (ExitStatus, Vec<String>) {
    let mut lines = Vec::new();
    let status = session
        .exec(command, |stream, line| {
            let tag = match stream {
                Stream::Stdout => "out",
                Stream::Stderr => "err",
            };
            lines.push(format!("{tag}: {line}"));
        })
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    (status, lines)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn key_login_runs_commands_with_streamed_output_and_exit_status() {
    let server = sshd();
    let session = connect(&with(&server, &[("ssh_keep_alive_interval", "1s")])).await;

    let (status, lines) = run(
        &session,
        "echo one; echo two >&2; printf 'three\\nfour'; exit 3",
    )
    .await;
    assert_eq!(status, ExitStatus::Exited(3));
    let stdout: Vec<_> = lines.iter().filter(|l| l.starts_with("out")).collect();
    assert_eq!(stdout, ["out: one", "out: three", "out: four"]);
    assert!(lines.contains(&"err: two".to_string()), "{lines:?}");

    let (status, lines) = run(&session, "id -un").await;
    assert!(status.success());
    assert_eq!(lines, [format!("out: {}", server.user)]);

    let (status, _) = run(&session, "kill -KILL $$").await;
    assert_eq!(
        status,
        ExitStatus::Signaled {
            signal: "KILL".into(),
            core_dumped: false
        }
    );
    session.close().await.unwrap();
}

#[tokio::test]
async fn keep_alives_off_is_accepted() {
    let server = sshd();
    let session = connect(&with(&server, &[("ssh_keep_alive_interval", "-1s")])).await;
    let (status, _) = run(&session, "true").await;
    assert!(status.success());
}

#[tokio::test]
async fn a_key_the_server_does_not_know_is_a_clear_error() {
    let server = sshd();
    let stranger = server.dir().join("stranger");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(status.success());
    let config = with(
        &server,
        &[
            ("ssh_private_key_file", stranger.to_str().unwrap()),
            ("ssh_handshake_attempts", "1"),
        ],
    );
    let err = SshSession::connect(&config, CancellationToken::new())
        .await
        .err()
        .expect("login with an unknown key must fail");
    assert!(
        matches!(err, SshError::AuthenticationFailed { .. }),
        "{err}"
    );
    let shown = err
        .to_string()
        .replace(&server.port.to_string(), "PORT")
        .replace(&server.user, "USER")
        .replace(server.dir().to_str().unwrap(), "DIR");
    insta::assert_snapshot!(shown, @"authentication failed for user `USER` on 127.0.0.1:PORT with key `DIR/stranger`");
    assert!(err.hint().unwrap().contains("authorized_keys"));
}

/// Password login goes through the server's password check; no user with a known password exists on a
/// test machine, so the test proves the method is offered and a refusal reads well, and that the
/// password never shows up in the error.
#[tokio::test]
async fn a_wrong_password_is_refused_without_showing_it() {
    let server = sshd();
    let mut settings = server.settings();
    settings.remove("ssh_private_key_file");
    settings.insert("ssh_password".into(), "not-the-password".into());
    settings.insert("ssh_handshake_attempts".into(), "2".into());
    let err = SshSession::connect(&config(&settings), CancellationToken::new())
        .await
        .err()
        .expect("a wrong password must fail");
    let shown = err.to_string();
    assert!(shown.ends_with("with password"), "{shown}");
    assert!(!shown.contains("not-the-password"));
}

#[tokio::test]
async fn nothing_listening_is_a_timeout_after_bounded_retries() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let settings: BTreeMap<String, String> = [
        ("ssh_host", "127.0.0.1".to_string()),
        ("ssh_port", port.to_string()),
        ("ssh_username", "nobody".into()),
        ("ssh_password", "x".into()),
        ("ssh_timeout", "1s".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let err = SshSession::connect(&config(&settings), CancellationToken::new())
        .await
        .err()
        .expect("nothing listens there");
    let SshError::Timeout { attempts, .. } = &err else {
        panic!("expected a timeout, got {err}");
    };
    // 100ms, 200ms, 400ms pauses fit in a second: a handful of tries, never a busy loop.
    assert!((2..=6).contains(attempts), "{attempts} attempts");
    let shown = err
        .to_string()
        .replace(&port.to_string(), "PORT")
        .replace(&format!("({attempts} attempts)"), "(N attempts)");
    insta::assert_snapshot!(shown, @"cannot connect to 127.0.0.1:PORT within 1s: connection refused (N attempts)");
    assert!(err.hint().unwrap().contains("ssh_timeout"));
}

#[tokio::test]
async fn cancelling_stops_connecting() {
    let settings: BTreeMap<String, String> = [
        ("ssh_host", "127.0.0.1"),
        ("ssh_port", "1"),
        ("ssh_username", "nobody"),
        ("ssh_password", "x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = SshSession::connect(&config(&settings), cancel).await.err();
    assert!(matches!(err, Some(SshError::Cancelled)), "{err:?}");
}

#[tokio::test]
async fn a_missing_key_file_fails_at_once() {
    let server = sshd();
    let config = with(&server, &[("ssh_private_key_file", "/nonexistent/key")]);
    let err = SshSession::connect(&config, CancellationToken::new())
        .await
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "cannot read the private key `/nonexistent/key`: no such file"
    );
}

#[tokio::test]
async fn files_and_directories_go_up_and_come_back_with_their_modes() {
    let server = sshd();
    let session = connect(&with(&server, &[])).await;
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("local");
    std::fs::create_dir_all(local.join("tree/bin")).unwrap();
    std::fs::create_dir_all(local.join("tree/empty")).unwrap();
    std::fs::write(local.join("tree/README"), "hello\n").unwrap();
    std::fs::write(local.join("tree/bin/run.sh"), "#!/bin/sh\necho ran\n").unwrap();
    std::fs::set_permissions(
        local.join("tree/bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(local.join("tree/big.bin"), &big).unwrap();

    // The sshd side is this machine, so the remote paths are checked directly.
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let remote_str = remote.to_str().unwrap();

    // `tree` (no slash): the directory itself lands in the destination.
    session
        .upload(&local.join("tree"), remote_str)
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(remote.join("tree/README")).unwrap(),
        "hello\n"
    );
    assert_eq!(mode(&remote.join("tree/bin/run.sh")), 0o755);
    assert_eq!(mode(&remote.join("tree/README")), 0o644);
    assert!(remote.join("tree/empty").is_dir());
    assert_eq!(std::fs::read(remote.join("tree/big.bin")).unwrap(), big);
    let (status, lines) = run(&session, &format!("{remote_str}/tree/bin/run.sh")).await;
    assert!(status.success());
    assert_eq!(lines, ["out: ran"]);

    // `tree/` (slash): only its contents.
    let contents = remote.join("contents");
    std::fs::create_dir(&contents).unwrap();
    let source_with_slash = format!("{}/", local.join("tree").display());
    session
        .upload(Path::new(&source_with_slash), contents.to_str().unwrap())
        .await
        .unwrap();
    assert!(contents.join("README").is_file());
    assert!(!contents.join("tree").exists());

    // A single file, into a directory named with a trailing slash and to an exact path.
    session
        .upload(&local.join("tree/bin/run.sh"), &format!("{remote_str}/"))
        .await
        .unwrap();
    assert_eq!(mode(&remote.join("run.sh")), 0o755);
    session
        .upload(
            &local.join("tree/README"),
            &format!("{remote_str}/notes.txt"),
        )
        .await
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(remote.join("notes.txt")).unwrap(),
        "hello\n"
    );

    // And back down.
    let down = work.path().join("down");
    session
        .download(&format!("{remote_str}/tree"), &down)
        .await
        .unwrap();
    assert_eq!(std::fs::read(down.join("tree/big.bin")).unwrap(), big);
    assert_eq!(mode(&down.join("tree/bin/run.sh")), 0o755);
    assert!(down.join("tree/empty").is_dir());

    let flat = work.path().join("flat");
    session
        .download(&format!("{remote_str}/tree/"), &flat)
        .await
        .unwrap();
    assert!(flat.join("README").is_file());

    let single = work.path().join("single.sh");
    session
        .download(&format!("{remote_str}/run.sh"), &single)
        .await
        .unwrap();
    assert_eq!(mode(&single), 0o755);
    assert_eq!(
        std::fs::read_to_string(&single).unwrap(),
        "#!/bin/sh\necho ran\n"
    );

    // Missing directories are named in the error, on either side.
    let missing_remote = session
        .upload(&local.join("tree/README"), "/nonexistent-dir/README")
        .await
        .unwrap_err();
    insta::assert_snapshot!(missing_remote, @"cannot create `/nonexistent-dir/README` on the remote machine: no such file");
    assert!(
        missing_remote
            .hint()
            .unwrap()
            .contains("remote directory exists")
    );
    let missing_local = session
        .upload(Path::new("/nonexistent-local"), "/tmp/")
        .await
        .unwrap_err();
    insta::assert_snapshot!(missing_local, @"cannot read `/nonexistent-local`: no such file or directory");
}

#[tokio::test]
async fn a_bastion_carries_the_connection() {
    let bastion = sshd();
    let target = sshd();
    let bastion_key = bastion.client_key.display().to_string();
    let bastion_port = bastion.port.to_string();
    let bastion_user = bastion.user.clone();
    let config = with(
        &target,
        &[
            ("ssh_bastion_host", "127.0.0.1"),
            ("ssh_bastion_port", &bastion_port),
            ("ssh_bastion_username", &bastion_user),
            ("ssh_bastion_private_key_file", &bastion_key),
        ],
    );
    // A bastion that cannot reach the target: the retries name the bastion.
    let mut unreachable = config.clone();
    unreachable.port = 1;
    unreachable.timeout = std::time::Duration::from_millis(500);
    let err = SshSession::connect(&unreachable, CancellationToken::new())
        .await
        .err()
        .unwrap();
    let shown = err.to_string();
    assert!(
        shown.contains(&format!("through the bastion 127.0.0.1:{bastion_port}")),
        "{shown}"
    );

    let session = connect(&config).await;
    let (status, lines) = run(&session, "echo through").await;
    assert!(status.success());
    assert_eq!(lines, ["out: through"]);
    // Both servers are on this machine, so prove the path by cutting it: without the bastion the
    // session is gone.
    drop(bastion);
    let cut = session.exec("true", |_, _| {}).await;
    assert!(cut.is_err(), "the session outlived its bastion: {cut:?}");
}

#[tokio::test]
async fn cancelling_stops_a_running_command() {
    let server = sshd();
    let cancel = CancellationToken::new();
    let session = SshSession::connect(&with(&server, &[]), cancel.clone())
        .await
        .unwrap();
    // `read` waits on stdin, so the remote shell ends by itself once the channel is gone.
    let result = session
        .exec("echo started; read line", |_, line| {
            if line == "started" {
                cancel.cancel();
            }
        })
        .await;
    assert!(matches!(result, Err(SshError::Cancelled)), "{result:?}");
}
