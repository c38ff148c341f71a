//! Sessions, commands and transfers against a real OpenSSH server.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use imgs_ssh::{ExitStatus, SshConfig, SshError, SshSession, Stream};
use imgs_test_peers::TestSshd;
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
                Stream::Status => "status",
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

/// A local tree: `tree/README` (0644), `tree/bin/run.sh` (0755), `tree/empty/`, `tree/big.bin`
/// (3 MB, more than one chunk).
fn local_tree(work: &Path) -> Vec<u8> {
    let local = work.join("local");
    std::fs::create_dir_all(local.join("tree/bin")).unwrap();
    std::fs::create_dir_all(local.join("tree/empty")).unwrap();
    std::fs::write(local.join("tree/README"), "hello\n").unwrap();
    std::fs::write(local.join("tree/bin/run.sh"), "#!/bin/sh\necho ran\n").unwrap();
    set_mode(&local.join("tree/bin/run.sh"), 0o755);
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(local.join("tree/big.bin"), &big).unwrap();
    big
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `path` as a string with a trailing slash.
fn slashed(path: &Path) -> String {
    format!("{}/", path.display())
}

/// What both methods agree on, for destinations that exist.
#[tokio::test]
async fn files_and_directories_go_up_and_come_back_with_either_method() {
    let server = sshd();
    for method in ["scp", "sftp"] {
        let session = connect(&with(&server, &[("ssh_file_transfer_method", method)])).await;
        round_trip(&session).await;
        session.close().await.unwrap();
    }
}

async fn round_trip(session: &SshSession) {
    let work = tempfile::tempdir().unwrap();
    let big = local_tree(work.path());
    let local = work.path().join("local");
    // The sshd side is this machine, so the remote paths are checked directly.
    let remote = work.path().join("remote");
    std::fs::create_dir(&remote).unwrap();
    let remote_str = remote.to_str().unwrap();

    // `tree` (no slash): the directory itself lands in the destination.
    session
        .upload(&local.join("tree"), remote_str)
        .await
        .unwrap();
    assert_eq!(text(&remote.join("tree/README")), "hello\n");
    assert_eq!(mode(&remote.join("tree/bin/run.sh")), 0o755);
    assert_eq!(mode(&remote.join("tree/README")), 0o644);
    assert!(remote.join("tree/empty").is_dir());
    assert_eq!(std::fs::read(remote.join("tree/big.bin")).unwrap(), big);
    let (status, lines) = run(session, &format!("{remote_str}/tree/bin/run.sh")).await;
    assert!(status.success());
    assert_eq!(lines, ["out: ran"]);

    // `tree/` (slash): only its contents.
    let contents = remote.join("contents");
    std::fs::create_dir(&contents).unwrap();
    session
        .upload(
            Path::new(&slashed(&local.join("tree"))),
            contents.to_str().unwrap(),
        )
        .await
        .unwrap();
    assert!(contents.join("README").is_file());
    assert!(!contents.join("tree").exists());

    // A single file, into a directory named with a trailing slash and to an exact path.
    session
        .upload(&local.join("tree/bin/run.sh"), &slashed(&remote))
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
    assert_eq!(text(&remote.join("notes.txt")), "hello\n");

    // And back down: a directory named with a trailing slash arrives with its name.
    let down = work.path().join("down");
    session
        .download(&slashed(&remote.join("tree")), &down)
        .await
        .unwrap();
    assert_eq!(std::fs::read(down.join("tree/big.bin")).unwrap(), big);
    assert_eq!(mode(&down.join("tree/bin/run.sh")), 0o755);
    assert!(down.join("tree/empty").is_dir());

    // A wildcard: what it matches, into the destination.
    let matched = work.path().join("matched");
    session
        .download(
            &format!("{remote_str}/tree/*"),
            Path::new(&slashed(&matched)),
        )
        .await
        .unwrap();
    assert_eq!(text(&matched.join("README")), "hello\n");
    assert_eq!(text(&matched.join("bin/run.sh")), "#!/bin/sh\necho ran\n");

    // A file gets the usual mode for new files, not the remote one.
    let single = work.path().join("single.sh");
    session
        .download(&format!("{remote_str}/run.sh"), &single)
        .await
        .unwrap();
    assert_eq!(mode(&single), 0o644);
    assert_eq!(text(&single), "#!/bin/sh\necho ran\n");
    let into = work.path().join("into/");
    session
        .download(&format!("{remote_str}/notes.txt"), &into)
        .await
        .unwrap();
    assert_eq!(text(&into.join("notes.txt")), "hello\n");

    // A directory named without the slash is refused, and the destination is left empty.
    let refused = session
        .download(&format!("{remote_str}/tree"), &work.path().join("nodir"))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(text(&work.path().join("nodir")), "");

    let missing_local = session
        .upload(Path::new("/nonexistent-local"), "/tmp/")
        .await
        .unwrap_err();
    insta::allow_duplicates! {
        insta::assert_snapshot!(missing_local, @"cannot read `/nonexistent-local`: no such file or directory");
    }
}

/// A session to a fresh server with one transfer method, and a work directory with the local tree
/// (`local/`, see [`local_tree`]) and an empty `remote/`, where the sshd side (this machine) writes.
struct Transfers {
    // Fields drop in this order: the session before its server.
    session: SshSession,
    _server: TestSshd,
    _work: tempfile::TempDir,
    local: PathBuf,
    remote: PathBuf,
}

impl Transfers {
    async fn start(method: &str) -> Transfers {
        let server = sshd();
        let session = connect(&with(&server, &[("ssh_file_transfer_method", method)])).await;
        let work = tempfile::tempdir().unwrap();
        local_tree(work.path());
        let local = work.path().join("local");
        let remote = work.path().join("remote");
        std::fs::create_dir(&remote).unwrap();
        Transfers {
            session,
            _server: server,
            _work: work,
            local,
            remote,
        }
    }

    /// `name` under `remote/`, as a destination.
    fn at(&self, name: &str) -> String {
        self.remote.join(name).display().to_string()
    }
}

/// Where the destination does not exist yet, the remote scp decides, as it does for Packer.
#[tokio::test]
async fn scp_copies_into_new_destinations_as_the_remote_scp_does() {
    let t = Transfers::start("scp").await;
    let (session, local, remote) = (&t.session, &t.local, &t.remote);
    let at = |name: &str| t.at(name);

    // `tree` to a new path: the copy *is* that path.
    session
        .upload(&local.join("tree"), &at("new"))
        .await
        .unwrap();
    assert_eq!(text(&remote.join("new/README")), "hello\n");
    assert_eq!(mode(&remote.join("new/bin/run.sh")), 0o755);

    // `flat/` (files only) to a new path: each file is written to the path itself.
    std::fs::create_dir(local.join("flat")).unwrap();
    std::fs::write(local.join("flat/only.txt"), "only\n").unwrap();
    session
        .upload(Path::new(&slashed(&local.join("flat"))), &at("flat-new"))
        .await
        .unwrap();
    assert_eq!(text(&remote.join("flat-new")), "only\n");

    // A file to `missing/name`: written as `missing`.
    session
        .upload(&local.join("tree/README"), &at("missing/name.txt"))
        .await
        .unwrap();
    assert_eq!(text(&remote.join("missing")), "hello\n");

    // A missing parent two levels up fails, with the remote scp's own words.
    let err = session
        .upload(&local.join("tree"), &at("no/such/dir"))
        .await
        .unwrap_err();
    let shown = err.to_string().replace(remote.to_str().unwrap(), "REMOTE");
    insta::assert_snapshot!(shown, @"the remote scp failed: REMOTE/no/such/dir: No such file or directory");
    insta::assert_snapshot!(err.hint().unwrap(), @"check that the destination's directory exists and that the SSH user may write there; with scp, a directory's contents (`dir/`) go into the destination only when that is an existing directory");

    // Existing files keep their mode; new ones get theirs less the umask.
    std::fs::write(remote.join("kept.txt"), "old\n").unwrap();
    set_mode(&remote.join("kept.txt"), 0o600);
    session
        .upload(&local.join("tree/bin/run.sh"), &at("kept.txt"))
        .await
        .unwrap();
    assert_eq!(mode(&remote.join("kept.txt")), 0o600);
    assert_eq!(text(&remote.join("kept.txt")), "#!/bin/sh\necho ran\n");
}

#[tokio::test]
async fn sftp_creates_no_destination_unless_it_ends_with_a_slash() {
    let t = Transfers::start("sftp").await;
    let (session, local, remote) = (&t.session, &t.local, &t.remote);
    let at = |name: &str| t.at(name);
    let contents = slashed(&local.join("tree"));

    let err = session
        .upload(Path::new(&contents), &at("new"))
        .await
        .unwrap_err();
    let shown = err.to_string().replace(remote.to_str().unwrap(), "REMOTE");
    insta::assert_snapshot!(shown, @"cannot create `REMOTE/new/README` on the remote machine: no such file");
    assert!(!remote.join("new").exists());

    // With the slash the destination is a directory to create, with the source's mode.
    set_mode(&local.join("tree"), 0o750);
    session
        .upload(Path::new(&contents), &format!("{}/", at("new")))
        .await
        .unwrap();
    assert_eq!(text(&remote.join("new/README")), "hello\n");
    assert_eq!(mode(&remote.join("new")), 0o750);

    // Every mode exactly, whatever the umask and whatever was there.
    std::fs::write(local.join("wide.txt"), "wide\n").unwrap();
    set_mode(&local.join("wide.txt"), 0o666);
    std::fs::write(remote.join("wide.txt"), "old\n").unwrap();
    set_mode(&remote.join("wide.txt"), 0o600);
    session
        .upload(&local.join("wide.txt"), &at("wide.txt"))
        .await
        .unwrap();
    assert_eq!(mode(&remote.join("wide.txt")), 0o666);
}

/// Scripts must end up with exactly their mode, whatever the umask or a file left at the path.
#[tokio::test]
async fn upload_file_gives_exactly_the_local_mode_with_either_method() {
    let server = sshd();
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("script.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    set_mode(&script, 0o755);
    for method in ["scp", "sftp"] {
        let session = connect(&with(&server, &[("ssh_file_transfer_method", method)])).await;
        let target = work.path().join(format!("remote {method}.sh"));
        std::fs::write(&target, "old\n").unwrap();
        set_mode(&target, 0o600);
        session
            .upload_file(&script, target.to_str().unwrap())
            .await
            .unwrap();
        assert_eq!(mode(&target), 0o755, "{method}");
        assert_eq!(text(&target), "#!/bin/sh\n");
    }
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

/// An upload whose connection is cut halfway fails, with either transfer method, instead of
/// waiting for ever for the server to open its window again; the session says it is closed.
#[tokio::test]
async fn an_upload_cut_halfway_fails_and_the_session_knows_it_is_closed() {
    use imgs_test_peers::{Behaviour, CuttingProxy};
    let server = sshd();
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 8 << 20]).unwrap();
    for method in ["scp", "sftp"] {
        let proxy = CuttingProxy::start(server.port, Behaviour::Forward).unwrap();
        let port = proxy.port.to_string();
        let session = connect(&with(
            &server,
            &[("ssh_port", &port), ("ssh_file_transfer_method", method)],
        ))
        .await;
        proxy.cut_after_client_bytes(1 << 20);
        let target = dir.path().join(format!("copy-{method}"));
        let err = session
            .upload(&big, &target.display().to_string())
            .await
            .unwrap_err();
        assert!(
            matches!(err, SshError::Connection { .. }),
            "{method}: {err}"
        );
        assert!(session.is_closed(), "{method}");
    }
}

/// `connect_once` makes one try: a port that refuses is an error at once, whatever `ssh_timeout`
/// says, and a port that answers logs in.
#[tokio::test]
async fn connect_once_tries_once() {
    use imgs_test_peers::{Behaviour, CuttingProxy};
    let server = sshd();
    let proxy = CuttingProxy::start(server.port, Behaviour::Refuse).unwrap();
    let port = proxy.port.to_string();
    let config = with(&server, &[("ssh_port", &port), ("ssh_timeout", "1h")]);
    let err = SshSession::connect_once(&config, CancellationToken::new())
        .await
        .err()
        .expect("nothing listens");
    let shown = err.to_string().replace(&port, "PORT");
    insta::assert_snapshot!(shown, @"the SSH connection to 127.0.0.1:PORT failed: connection refused");
    proxy.set(Behaviour::Forward);
    let session = SshSession::connect_once(&config, CancellationToken::new())
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let (status, _) = run(&session, "true").await;
    assert_eq!(status, ExitStatus::Exited(0));
}
