use super::*;

/// The three fields imgs's renderer fills, by plain replacement (the template engine is tested where
/// it lives).
fn render(text: &str, data: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = text.to_string();
    for (name, value) in data {
        out = out.replace(&format!("{{{{.{name}}}}}"), value);
    }
    if out.contains("{{") {
        return Err(format!("cannot render `{out}`"));
    }
    Ok(out)
}

fn step(commands: Commands) -> ShellLocal {
    ShellLocal {
        commands,
        inline_shebang: DEFAULT_INLINE_SHEBANG.into(),
        tempfile_extension: String::new(),
        environment_vars: vec![("GREETING".into(), "it's me".into())],
        env_var_format: DEFAULT_ENV_VAR_FORMAT.into(),
        execute_command: DEFAULT_EXECUTE_COMMAND.map(String::from).to_vec(),
        only_on: Vec::new(),
        valid_exit_codes: vec![0],
    }
}

fn inline(lines: &[&str]) -> ShellLocal {
    step(Commands::Inline(
        lines.iter().map(|l| l.to_string()).collect(),
    ))
}

/// Runs `step` in `dir`, cancelled when it prints `started`; the log with the directory and
/// temporary script names redacted.
fn run(
    step: &ShellLocal,
    dir: &Path,
    cancel: &CancellationToken,
) -> (Result<(), PostError>, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let build = ShellBuild {
        build_name: "note",
        builder_type: "file",
        working_dir: dir,
    };
    let mut lines = Vec::new();
    let mut log = |l: &str| {
        // A script says `started` when it is ready to be cancelled.
        if l.trim() == "started" {
            cancel.cancel();
        }
        lines.push(l.to_string());
    };
    let result = rt.block_on(step.run(&build, &render, &mut log, cancel));
    let dir_text = dir.display().to_string();
    let temp = std::env::temp_dir().display().to_string();
    let text = lines
        .iter()
        .map(|l| {
            let l = l.replace(&dir_text, "[dir]");
            match l.find(&format!("{temp}/packer-shell")) {
                Some(at) => format!("{}[inline script]", &l[..at]),
                None => l,
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    (result, text)
}

#[test]
fn vars_are_sorted_formatted_and_quoted() {
    let build = ShellBuild {
        build_name: "note",
        builder_type: "file",
        working_dir: Path::new("."),
    };
    let mut s = inline(&["true"]);
    s.environment_vars.push(("A_FIRST".into(), "x=y".into()));
    insta::assert_snapshot!(s.flattened_vars(&build), @r#"A_FIRST='x=y' GREETING='it'"'"'s me' PACKER_BUILDER_TYPE='file' PACKER_BUILD_NAME='note' "#);
    s.env_var_format = "export %s=\"%s\"; 100%% ".into();
    insta::assert_snapshot!(s.flattened_vars(&build), @r#"export A_FIRST="x=y"; 100% export GREETING="it'"'"'s me"; 100% export PACKER_BUILDER_TYPE="file"; 100% export PACKER_BUILD_NAME="note"; 100% "#);
}

#[test]
fn env_var_formats_imgs_cannot_fill_are_refused() {
    assert_eq!(check_env_var_format(DEFAULT_ENV_VAR_FORMAT), Ok(()));
    assert_eq!(check_env_var_format("set %s=%s && "), Ok(()));
    insta::assert_snapshot!(check_env_var_format("%s=%d").unwrap_err(), @"not supported yet: `%d` in env_var_format; use `%s` for the name and the value");
    insta::assert_snapshot!(check_env_var_format("%s only").unwrap_err(), @"env_var_format needs two `%s` (the name, then the value), not 1");
}

#[test]
fn inline_commands_run_in_the_working_directory_with_the_build_in_their_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (result, log) = run(
        &inline(&[
            "echo \"build=$PACKER_BUILD_NAME type=$PACKER_BUILDER_TYPE greeting=$GREETING\"",
            "echo \"in $(pwd)\"",
            "echo 'to stderr' >&2",
            "printf 'no newline at the end'",
        ]),
        dir.path(),
        &CancellationToken::new(),
    );
    result.unwrap();
    // stdout and stderr interleave as they come; sort the output lines for a stable snapshot.
    let mut lines: Vec<&str> = log.lines().collect();
    lines[1..].sort();
    insta::assert_snapshot!(lines.join("\n"), @r"
    Running local shell script: [inline script]
      build=note type=file greeting=it's me
      in [dir]
      no newline at the end
      to stderr
    ");
    // The temporary script is gone.
    let left = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("packer-shell"))
        .filter(|e| {
            std::fs::read_to_string(e.path()).is_ok_and(|t| t.contains("greeting=$GREETING"))
        })
        .count();
    assert_eq!(left, 0);
}

#[test]
fn scripts_run_in_turn_and_an_unlisted_exit_code_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scripts")).unwrap();
    let script = |name: &str, body: &str| {
        use std::os::unix::fs::PermissionsExt as _;
        let path = dir.path().join("scripts").join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script("one.sh", "echo one");
    script("three.sh", "echo three; exit 3");
    script("never.sh", "echo never");
    let mut s = step(Commands::Scripts(
        ["scripts/one.sh", "scripts/three.sh", "scripts/never.sh"]
            .map(PathBuf::from)
            .to_vec(),
    ));
    let (result, log) = run(&s, dir.path(), &CancellationToken::new());
    let err = result.unwrap_err();
    insta::assert_snapshot!(format!("{log}\n--- {err}\n--- hint: {}", err.hint().unwrap()), @r"
    Running local shell script: scripts/one.sh
      one
    Running local shell script: scripts/three.sh
      three
    --- script `scripts/three.sh` exited with status 3; allowed exit codes are [0]
    --- hint: its output is above; list other acceptable codes in `valid_exit_codes`
    ");
    s.valid_exit_codes = vec![0, 3];
    let (result, log) = run(&s, dir.path(), &CancellationToken::new());
    result.unwrap();
    assert!(
        log.ends_with("Running local shell script: scripts/never.sh\n  never"),
        "{log}"
    );
}

#[test]
fn execute_command_is_rendered_per_script() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = inline(&["echo \"args: $*\""]);
    s.execute_command = vec![
        "/bin/sh".into(),
        "-c".into(),
        "{{.Vars}} {{.Command}} first second".into(),
    ];
    s.tempfile_extension = "sh".into();
    let (result, log) = run(&s, dir.path(), &CancellationToken::new());
    result.unwrap();
    insta::assert_snapshot!(log, @r"
    Running local shell script: [inline script]
      args: first second
    ");
}

#[test]
fn only_on_other_systems_skips_and_a_missing_program_is_said() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = inline(&["exit 1"]);
    s.only_on = vec!["windows".into()];
    let (result, log) = run(&s, dir.path(), &CancellationToken::new());
    result.unwrap();
    assert_eq!(log, "Skipping shell-local due to runtime OS");

    let mut s = inline(&["true"]);
    s.only_on = vec![this_os().into()];
    s.execute_command = vec!["/nonexistent/sh".into(), "{{.Script}}".into()];
    let (result, _) = run(&s, dir.path(), &CancellationToken::new());
    let err = result.unwrap_err().to_string();
    let err = err[..err.find("packer-shell").unwrap()].to_string() + "…";
    insta::assert_snapshot!(err, @"cannot run `/tmp/…");
}

#[test]
fn cancelling_kills_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = CancellationToken::new();
    cancel.cancel();
    let (result, _) = run(&inline(&["sleep 600"]), dir.path(), &cancel);
    assert!(matches!(result, Err(PostError::Cancelled)));
}

#[test]
fn written_settings_get_packers_defaults() {
    let shell = ShellLocal::from_written(Written {
        command: "echo hi".into(),
        tempfile_extension: ".sh".into(),
        ..Written::default()
    })
    .unwrap();
    assert_eq!(shell.commands, Commands::Inline(vec!["echo hi".into()]));
    assert_eq!(shell.tempfile_extension, "sh");
    assert_eq!(shell.inline_shebang, DEFAULT_INLINE_SHEBANG);
    assert_eq!(shell.env_var_format, DEFAULT_ENV_VAR_FORMAT);
    assert_eq!(shell.execute_command, DEFAULT_EXECUTE_COMMAND);
    assert_eq!(shell.valid_exit_codes, [0]);
    let scripts = ShellLocal::from_written(Written {
        script: "a.sh".into(),
        environment_vars: vec!["A=1=2".into()],
        ..Written::default()
    })
    .unwrap();
    assert_eq!(scripts.commands, Commands::Scripts(vec!["a.sh".into()]));
    assert_eq!(scripts.environment_vars, [("A".into(), "1=2".into())]);
}

#[test]
fn written_settings_packer_refuses_are_each_named() {
    let problems = |written: Written| {
        ShellLocal::from_written(written)
            .unwrap_err()
            .iter()
            .map(|p| {
                format!(
                    "{}: {} ({})",
                    p.key,
                    p.message,
                    p.hint.as_deref().unwrap_or("-")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    insta::assert_snapshot!(problems(Written::default()), @"inline: shell-local has nothing to run (give one of `command`, `inline`, `script` or `scripts`)");
    insta::assert_snapshot!(problems(Written {
        command: "true".into(),
        script: "a.sh".into(),
        environment_vars: vec!["=x".into(), "NOVALUE".into()],
        env_var_format: "%s".into(),
        only_on: vec!["linux".into(), "plan9".into()],
        use_linux_pathing: true,
        ..Written::default()
    }), @r#"
    command: only one of command, inline, script and scripts may be given (consolidate these options into one)
    only_on: invalid OS `plan9` in only_on (use one of: darwin, freebsd, linux, openbsd, solaris, windows)
    use_linux_pathing: not supported yet: use_linux_pathing (it is for the Windows Subsystem for Linux, which imgs does not run on; remove it)
    environment_vars: environment variable not in the form NAME=value: `=x` (e.g. `"environment_vars": ["VERSION=1.2"]`)
    environment_vars: environment variable not in the form NAME=value: `NOVALUE` (e.g. `"environment_vars": ["VERSION=1.2"]`)
    env_var_format: env_var_format needs two `%s` (the name, then the value), not 1 (-)
    "#);
}

#[test]
fn cancelling_kills_what_the_script_started_too() {
    let dir = tempfile::tempdir().unwrap();
    let step = inline(&[
        // A grandchild that would outlive its shell if only the shell were killed.
        "sleep 300 &",
        "echo $! > background.pid",
        "echo started",
        "wait",
    ]);
    let (result, _) = run(&step, dir.path(), &CancellationToken::new());
    assert!(matches!(result, Err(PostError::Cancelled)), "{result:?}");
    let (pid, gone) =
        imgs_test_peers::process::written_pid_ends(&dir.path().join("background.pid"));
    assert!(
        gone,
        "the script's background `sleep` ({pid}) survived the cancellation"
    );
}
