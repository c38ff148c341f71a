//! The provisioners against a real OpenSSH server (Debian's sshd, started privately per test). The
//! server runs on this machine, so the "remote" files are checked directly.

use std::path::Path;

use crate::common::{PASSWORD, World, step_in};
use imgs_provision::{ProvisionError, Stream, run_provisioner};
use serde_json::json;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn inline_commands_see_environment_vars_and_stream_their_output() {
    let w = World::start().await;
    let (result, lines) = w
        .run(json!({
            "type": "shell",
            "environment_vars": ["GREETING={{user `greeting`}}, it's me", "EMPTY="],
            "inline": [
                format!("echo \"$GREETING|$EMPTY|$PACKER_BUILD_NAME|$PACKER_BUILDER_TYPE\" > {}", w.at("env")),
                "echo to-stdout",
                "echo to-stderr >&2",
            ],
        }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("env"), "hello, it's me||app|null\n");
    assert!(lines.contains(&"out: to-stdout".to_string()), "{lines:?}");
    assert!(lines.contains(&"err: to-stderr".to_string()), "{lines:?}");
    assert_eq!(
        lines[0],
        "imgs: Provisioning with shell script: inline script"
    );
}

#[tokio::test]
async fn a_script_and_a_list_of_scripts_run_in_order() {
    let w = World::start().await;
    let log = w.at("log");
    w.write("one.sh", &format!("#!/bin/sh\necho one >> {log}\n"));
    // Windows line endings are converted, as Packer does unless `binary` is set.
    w.write("two.sh", &format!("#!/bin/sh\r\necho two >> {log}\r\n"));
    let (result, _) = w
        .run(json!({ "type": "shell", "scripts": ["one.sh", "two.sh"] }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("log"), "one\ntwo\n");

    let (result, lines) = w.run(json!({ "type": "shell", "script": "one.sh" })).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("log"), "one\ntwo\none\n");
    assert_eq!(lines[0], "imgs: Provisioning with shell script: one.sh");
}

#[tokio::test]
async fn execute_command_gets_vars_and_path() {
    let w = World::start().await;
    let out = w.at("out");
    w.write("args.sh", &format!("echo \"$1 $FOO $0\" > {out}\n"));
    let remote = w.at("remote-args.sh");
    let (result, lines) = w
        .run(json!({
            "type": "shell",
            "script": "args.sh",
            "environment_vars": ["FOO=bar"],
            "remote_path": remote,
            "execute_command": "echo running; {{.Vars}} sh {{.Path}} first",
        }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("out"), format!("first bar {remote}\n"));
    assert!(lines.contains(&"out: running".to_string()), "{lines:?}");
    // Cleaned up after it ran.
    assert!(!Path::new(&remote).exists());
}

#[tokio::test]
async fn exit_codes_are_judged_by_valid_exit_codes() {
    let w = World::start().await;
    w.write("fail.sh", "#!/bin/sh\necho about to fail\nexit 3\n");
    let (result, _) = w
        .run(json!({ "type": "shell", "script": "fail.sh", "valid_exit_codes": [0, 3] }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));

    let (result, lines) = w.run(json!({ "type": "shell", "script": "fail.sh" })).await;
    let err = result.unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"script `fail.sh` exited with status 3 (valid: 0)");
    insta::assert_snapshot!(err.hint().unwrap(), @"the script's output above says why; if that status means success, add it to `valid_exit_codes`");
    assert!(
        lines.contains(&"out: about to fail".to_string()),
        "{lines:?}"
    );
}

#[tokio::test]
async fn skip_clean_leaves_the_script_on_the_machine() {
    let w = World::start().await;
    let kept = w.at("kept.sh");
    let (result, _) = w
        .run(
            json!({ "type": "shell", "inline": ["true"], "remote_path": kept, "skip_clean": true }),
        )
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("kept.sh"), "#!/bin/sh -e\ntrue\n");
    assert_eq!(mode(&w.path("kept.sh")), 0o755);

    let removed = w.at("removed.sh");
    let (result, _) = w
        .run(json!({ "type": "shell", "inline": ["test -x {{user `greeting`}} || true"], "remote_folder": w.dir.path(), "remote_file": "removed.sh" }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert!(!Path::new(&removed).exists());
}

#[tokio::test]
async fn directories_upload_with_and_without_a_trailing_slash_and_files_download() {
    let w = World::start().await;
    w.write("site/index.html", "<h1>hi</h1>\n");
    w.write("site/css/main.css", "body {}\n");
    std::fs::create_dir_all(w.path("a")).unwrap();
    std::fs::create_dir_all(w.path("b")).unwrap();

    let (result, lines) = w
        .run(json!({ "type": "file", "source": "site", "destination": w.at("a") }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("a/site/css/main.css"), "body {}\n");
    assert_eq!(lines, [format!("imgs: Uploading site => {}", w.at("a"))]);

    let (result, _) = w
        .run(json!({ "type": "file", "source": "site/", "destination": w.at("b") }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("b/index.html"), "<h1>hi</h1>\n");
    assert!(!w.path("b/site").exists());

    let (result, _) = w
        .run(json!({
            "type": "file",
            "direction": "download",
            "source": w.at("a/site/index.html"),
            "destination": "fetched/",
        }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("fetched/index.html"), "<h1>hi</h1>\n");

    // A remote directory, named with a trailing slash: it arrives with its name, in a directory
    // created for it.
    let (result, _) = w
        .run(json!({
            "type": "file",
            "direction": "download",
            "source": format!("{}/", w.at("a/site")),
            "destination": "mirror/",
        }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("mirror/site/css/main.css"), "body {}\n");

    // A wildcard: what it matches. (Only one ending in `*`: Packer adds any other source's last
    // element to a destination ending with `/`, `pages/*.html` here, where nothing can be written.)
    let (result, _) = w
        .run(json!({
            "type": "file",
            "direction": "download",
            "source": format!("{}/*", w.at("a/site")),
            "destination": "pages/",
        }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("pages/index.html"), "<h1>hi</h1>\n");
    assert_eq!(w.read("pages/css/main.css"), "body {}\n");

    // Several sources into one directory.
    let (result, _) = w
        .run(json!({
            "type": "file",
            "sources": ["site/index.html", "site/css/main.css"],
            "destination": format!("{}/", w.at("b")),
        }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("b/main.css"), "body {}\n");

    let (result, _) = w
        .run(json!({ "type": "file", "source": "missing", "destination": w.at("a") }))
        .await;
    insta::assert_snapshot!(result.unwrap_err().to_string(), @"cannot upload `missing`: it does not exist");
}

#[tokio::test]
async fn a_step_that_runs_too_long_is_stopped_with_its_timeout_named() {
    let w = World::start().await;
    let (result, _) = w
        .run(json!({ "type": "shell", "inline": ["sleep 3"], "timeout": "300ms" }))
        .await;
    let err = result.unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"provisioner `shell` (provisioners[0]) did not finish within its timeout of 300ms");
}

#[tokio::test]
async fn max_retries_runs_a_failed_step_again() {
    let w = World::start().await;
    let marker = w.at("marker");
    let flaky = json!({
        "type": "shell",
        "inline": [format!("if [ -e {marker} ]; then exit 0; fi"), format!("touch {marker}"), "exit 1"],
        "max_retries": 2,
    });
    let (result, lines) = w.run(flaky).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    let retries: Vec<&String> = lines.iter().filter(|l| l.contains("retrying")).collect();
    insta::assert_snapshot!(retries[0], @"imgs: provisioner failed: script `inline script` exited with status 1 (valid: 0); retrying (2 tries left)");
    assert_eq!(retries.len(), 1);

    let (result, lines) = w
        .run(json!({ "type": "shell", "inline": ["exit 4"], "max_retries": "{{user `greeting` | len}}" }))
        .await;
    assert!(result.is_err());
    // `len "hello"` is 5 retries after the first try.
    assert_eq!(lines.iter().filter(|l| l.contains("retrying")).count(), 5);
}

#[tokio::test]
async fn sensitive_values_never_reach_the_output() {
    let w = World::start().await;
    let (result, lines) = w
        .run(json!({
            "type": "shell",
            "environment_vars": ["PASSWORD={{user `password`}}"],
            "inline": ["echo \"the secret is $PASSWORD\"", "echo \"$PASSWORD\" >&2", "exit 9"],
        }))
        .await;
    let err = result.unwrap_err().to_string();
    let step = w.step(json!({ "type": "shell", "environment_vars": ["PASSWORD={{user `password`}}"], "inline": ["true"] }));
    assert!(!format!("{step:?}").contains(PASSWORD));
    assert!(
        lines.contains(&"out: the secret is <sensitive>".to_string()),
        "{lines:?}"
    );
    assert!(lines.contains(&"err: <sensitive>".to_string()), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains(PASSWORD)), "{lines:?}");
    assert!(!err.contains(PASSWORD));
}

#[test]
fn settings_problems_are_located_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = step_in(
        dir.path(),
        json!({ "type": "shell", "inlin": ["true"], "inline": ["true"] }),
    )
    .unwrap_err();
    insta::assert_snapshot!(unknown.to_string(), @r"
    error: unknown key `inlin` in provisioner `shell`
      --> images/app/template.json:19:7
      = key: provisioners[0].inlin
      = hint: did you mean `inline`?
    ");
    let bad_env = step_in(
        dir.path(),
        json!({ "type": "shell", "inline": ["true"], "environment_vars": ["NAME", "PASSWORD{{user `password`}}"] }),
    )
    .unwrap_err();
    insta::assert_snapshot!(bad_env.to_string(), @r"
    error: environment variable `NAME` is not in the form KEY=value
      --> images/app/template.json:22:27
      = key: provisioners[0].environment_vars
      = hint: write each entry as NAME=value
    error: environment variable `PASSWORD<sensitive>` is not in the form KEY=value
      --> images/app/template.json:22:27
      = key: provisioners[0].environment_vars
      = hint: write each entry as NAME=value
    ");
    let empty = step_in(dir.path(), json!({ "type": "shell" })).unwrap_err();
    insta::assert_snapshot!(empty.to_string(), @r"
    error: the shell provisioner has nothing to run
      --> images/app/template.json:17:5
      = key: provisioners[0].inline
      = hint: add `inline` commands, a `script` or a list of `scripts`
    ");
    let other = step_in(
        dir.path(),
        json!({ "type": "azure-dtlartifact", "lab_name": "lab" }),
    )
    .unwrap_err();
    insta::assert_snapshot!(other.to_string(), @r"
    error: provisioner type `azure-dtlartifact` is checked by imgs as Packer checks it, but not run: it installs Azure DevTest Labs artifacts through Azure's API, and no builder imgs runs makes an Azure machine
      --> images/app/template.json:17:5
      = key: provisioners[0]
      = hint: build this template with Packer; imgs runs the `shell`, `file`, `shell-local`, `ansible`, `ansible-local`, `breakpoint`, `chef-client`, `chef-solo`, `converge`, `inspec`, `powershell`, `puppet-masterless`, `puppet-server`, `salt-masterless`, `sleep`, `windows-restart` and `windows-shell` provisioners
    ");
    let file = step_in(
        dir.path(),
        json!({ "type": "file", "direction": "sideways" }),
    )
    .unwrap_err();
    insta::assert_snapshot!(file.to_string(), @r"
    error: direction `sideways` is invalid
      --> images/app/template.json:19:20
      = key: provisioners[0].direction
      = hint: use `upload` (the default) or `download`
    error: the file provisioner needs a `source`
      --> images/app/template.json:17:5
      = key: provisioners[0].source
      = hint: name a file or directory in `source`, or several in `sources`
    error: the file provisioner needs a `destination`
      --> images/app/template.json:17:5
      = key: provisioners[0].destination
    ");
}

#[tokio::test]
async fn an_expected_disconnect_is_not_a_failure_and_the_script_is_removed_after_it() {
    // Killing the per-connection sshd process drops the connection under the running script, as a
    // reboot would.
    let drop_connection = "kill -KILL $PPID";
    let w = World::start().await;
    // The script is removed once the machine answers again, as Packer removes it: over a new
    // connection, which the communicator builders hand out makes.
    let (result, lines) = w
        .run_connecting(json!({
            "type": "shell",
            "inline": [drop_connection],
            "expect_disconnect": true,
            "remote_folder": w.dir.path(),
            "remote_file": "reboot.sh",
        }))
        .await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        lines.contains(&"The script disconnected, as expected".to_string()),
        "{lines:?}"
    );
    assert!(!w.path("reboot.sh").exists(), "the script was not removed");

    let w = World::start().await;
    let (result, _) = w
        .run(json!({ "type": "shell", "inline": [drop_connection] }))
        .await;
    let err = result.unwrap_err();
    insta::assert_snapshot!(err.to_string(), @"script `inline script` disconnected unexpectedly: its connection was lost before it finished");
    insta::assert_snapshot!(err.hint().unwrap(), @r#"if the script reboots the machine, set `"expect_disconnect": true` on this provisioner (`valid_exit_codes` cannot accept a disconnect, not even with 2300218)"#);
}

#[tokio::test]
async fn cancelling_stops_a_running_step() {
    let w = World::start().await;
    let step = w.step(json!({ "type": "shell", "inline": ["sleep 3"], "pause_before": "10ms" }));
    let cancel = CancellationToken::new();
    let mut lines = Vec::new();
    let mut output = |_: Stream, line: &str| lines.push(line.to_string());
    let run = run_provisioner(Some(&w.session), &step, &mut output, &cancel);
    let canceller = async {
        // Most likely while the script runs; earlier (during the pause) must cancel just as well.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        cancel.cancel();
    };
    let (result, ()) = tokio::join!(run, canceller);
    assert_eq!(result, Err(ProvisionError::Cancelled));
    assert_eq!(lines[0], "Pausing 10ms before the next provisioner...");
}

#[tokio::test]
async fn after_an_expected_disconnect_the_next_step_connects_again() {
    let w = World::start().await;
    let config = imgs_ssh::SshConfig::from_settings(&w.server.settings()).unwrap();
    let comm = imgs_provision::ReconnectingSsh::connect(config, CancellationToken::new())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let cancel = CancellationToken::new();
    let mut output = |_: Stream, _: &str| {};
    let reboot = w.step(
        json!({ "type": "shell", "inline": ["kill -KILL $PPID"], "expect_disconnect": true }),
    );
    run_provisioner(Some(&comm), &reboot, &mut output, &cancel)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let after =
        w.step(json!({ "type": "shell", "inline": [format!("echo back > {}", w.at("after"))] }));
    run_provisioner(Some(&comm), &after, &mut output, &cancel)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("after"), "back\n");
}

#[tokio::test]
async fn use_env_var_file_sources_the_variables_from_a_file_it_removes_after() {
    let w = World::start().await;
    let step = |skip_clean: bool| {
        json!({
            "type": "shell",
            "use_env_var_file": true,
            "environment_vars": ["GREETING=it's {{user `greeting`}}"],
            "remote_folder": w.dir.path(),
            "skip_clean": skip_clean,
            "inline": [format!("echo \"$GREETING|$PACKER_BUILD_NAME\" > {}", w.at("env"))],
        })
    };
    let var_files = || {
        std::fs::read_dir(w.dir.path())
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.starts_with("varfile_"))
            .collect::<Vec<_>>()
    };
    let (result, _) = w.run(step(false)).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(w.read("env"), "it's hello|app\n");
    assert_eq!(var_files(), Vec::<String>::new());

    let (result, _) = w.run(step(true)).await;
    result.unwrap_or_else(|e| panic!("{e}"));
    let kept = var_files();
    assert_eq!(kept.len(), 1);
    // The variables may be secrets: only the SSH user may read them.
    assert_eq!(mode(&w.path(&kept[0])), 0o600);
    assert_eq!(
        w.read(&kept[0]),
        "export GREETING='it'\"'\"'s hello'\nexport PACKER_BUILDER_TYPE='null'\nexport PACKER_BUILD_NAME='app'\n"
    );
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}
