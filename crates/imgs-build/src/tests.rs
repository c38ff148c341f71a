//! Preparing builds: what each builder accepts, and the diagnostics for what it does not (snapshots,
//! since they are what a person reads).

use std::path::Path;

use imgs_template::{
    Engine, EngineChoice, Invocation, Template, interpolate::Volatile, resolve_variables,
};
use serde_json::{Value, json};

use crate::{Artifact, BuildError, BuildInput, OnError, PreparedBuild, prepare_build};

/// `template` parsed as `images/app/template.json` of workspace `ws` and its variables resolved as
/// for planning (placeholders for times), with `vars` as workspace variables.
pub(crate) fn planned(
    template: Value,
    vars: &[(&str, &str)],
) -> (Template, imgs_template::ResolvedVariables) {
    let text = serde_json::to_string_pretty(&template).unwrap();
    let template = Template::parse(Path::new("images/app/template.json"), text).unwrap();
    let invocation = Invocation {
        workspace_vars: vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        force: true,
        ..Invocation::new("ws", Volatile::Placeholder)
    };
    let variables = resolve_variables(&template, &invocation).unwrap();
    (template, variables)
}

fn prepare(template: Value) -> Result<PreparedBuild, String> {
    let dir = tempfile::tempdir().unwrap();
    prepare_in(dir.path(), template)
}

pub(crate) fn prepare_in(dir: &Path, template: Value) -> Result<PreparedBuild, String> {
    prepare_with(dir, template, EngineChoice::Auto)
}

fn prepare_with(
    dir: &Path,
    template: Value,
    engine: EngineChoice,
) -> Result<PreparedBuild, String> {
    let text = serde_json::to_string_pretty(&template).unwrap();
    let template = Template::parse(Path::new("images/app/template.json"), text).unwrap();
    let init_time = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let invocation = Invocation {
        force: true,
        ..Invocation::new(dir, Volatile::Real { init_time })
    };
    let variables = resolve_variables(&template, &invocation).unwrap();
    prepare_build(&BuildInput {
        template: &template,
        builder_index: 0,
        variables: &variables,
        working_dir: dir,
        init_time,
        labels: Default::default(),
        outputs: None,
        force: true,
        engine,
    })
    .map_err(|d| imgs_report_like(&d))
}

/// Runs a prepared build to the end (cleaning up on error): its outcome and its log lines.
pub(crate) fn run(build: PreparedBuild) -> (Result<Artifact, BuildError>, Vec<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut lines = Vec::new();
    let mut log = |l: &str| lines.push(l.to_string());
    let result = rt.block_on(build.run(&mut log, "run-1", OnError::Cleanup, &Default::default()));
    (result, lines)
}

/// Diagnostics as the CLI shows them, one after another.
fn imgs_report_like(d: &imgs_diagnostic::Diagnostics) -> String {
    d.0.iter().map(|d| format!("{d}\n\n")).collect()
}

#[test]
fn null_without_communicator_takes_no_provisioners() {
    let err = prepare(json!({
        "builders": [{ "type": "null", "communicator": "none" }],
        "provisioners": [{ "type": "shell", "inline": ["true"] }],
    }))
    .unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn null_with_communicator_none_and_nothing_to_run_is_fine() {
    let build =
        prepare(json!({ "builders": [{ "type": "null", "communicator": "none" }] })).unwrap();
    assert_eq!(build.builder_type, "null");
    assert_eq!(build.name, "null");
}

#[test]
fn null_over_ssh_needs_host_and_user_and_knows_its_keys() {
    let err = prepare(json!({
        "builders": [{ "type": "null", "comunicator": "ssh", "ssh_port": 2222 }],
    }))
    .unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn file_needs_a_target_and_an_existing_source() {
    let err = prepare(json!({
        "builders": [{ "type": "file", "source": "missing.txt" }],
    }))
    .unwrap_err();
    insta::assert_snapshot!(err);
}

#[test]
fn file_renders_its_settings_with_user_variables_and_build_name() {
    let dir = tempfile::tempdir().unwrap();
    let build = prepare_in(
        dir.path(),
        json!({
            "variables": { "who": "world" },
            "builders": [{ "type": "file", "name": "greeting",
                           "content": "hello {{user `who`}} from {{build_name}}", "target": "out/{{build_name}}.txt" }],
        }),
    )
    .unwrap();
    let (artifact, lines) = run(build);
    let artifact = artifact.unwrap();
    assert_eq!(artifact.id, "File");
    assert_eq!(artifact.handle(), "out/greeting.txt");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/greeting.txt")).unwrap(),
        "hello world from greeting"
    );
    assert_eq!(
        lines,
        [
            "Writing content to out/greeting.txt",
            "Stored file: out/greeting.txt"
        ]
    );
}

/// A build using types imgs does not run goes to the installed `packer`, unless Images.toml asks
/// for the native engine, which makes each such type a located error.
#[test]
fn types_imgs_does_not_run_go_to_packer_unless_native_is_asked_for() {
    let template = json!({
        "builders": [{ "type": "lxd", "image": "debian" }],
        "post-processors": [{ "type": "manifest", "output": "m.json" }, { "type": "vagrant-cloud", "box_tag": "r" }],
    });
    let dir = tempfile::tempdir().unwrap();
    if imgs_packer::find().is_ok() {
        let build = prepare_with(dir.path(), template.clone(), EngineChoice::Auto).unwrap();
        assert_eq!(build.engine.engine, Engine::Packer);
        assert_eq!(
            build.engine.reason.as_deref(),
            Some("imgs does not run the `lxd` builder and the `vagrant-cloud` post-processor")
        );
    }
    let err = prepare_with(dir.path(), template, EngineChoice::Native).unwrap_err();
    insta::assert_snapshot!(err);
}
