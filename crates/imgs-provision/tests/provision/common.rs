//! What the provisioner tests share: a private sshd with a session to it, and steps read from a
//! one-build template.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use imgs_provision::{
    BuildContext, ProvisionError, ProvisionerStep, Secrets, Stream, run_provisioner,
};
use imgs_ssh::{SshConfig, SshSession};
use imgs_template::Template;
use imgs_template::interpolate::{Context, Volatile};
use imgs_test_peers::TestSshd;
use indexmap::IndexMap;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A test's world: a private sshd, a session to it, and a directory that is both the working
/// directory (local files) and where scripts write (the "remote" side).
pub struct World {
    pub server: TestSshd,
    pub session: SshSession,
    pub dir: tempfile::TempDir,
}

impl World {
    pub async fn start() -> World {
        let server = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
        let config = SshConfig::from_settings(&server.settings())
            .unwrap_or_else(|problems| panic!("{problems}"));
        let session = SshSession::connect(&config, CancellationToken::new())
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        World {
            server,
            session,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `dir`, as a string for templates.
    pub fn at(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    pub fn write(&self, name: &str, content: &str) {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name))
            .unwrap_or_else(|e| panic!("cannot read {name}: {e}"))
    }

    /// The step for `provisioner` in a one-build template, with `password` a sensitive variable.
    pub fn step(&self, provisioner: Value) -> ProvisionerStep {
        step_in(self.dir.path(), provisioner).unwrap_or_else(|d| panic!("{d}"))
    }

    /// Runs the step, returning its result and its output as `out: …`, `err: …`, `imgs: …` lines.
    pub async fn run(&self, provisioner: Value) -> (Result<(), ProvisionError>, Vec<String>) {
        let step = self.step(provisioner);
        let mut lines = Vec::new();
        let mut output = |stream: Stream, line: &str| {
            let tag = match stream {
                Stream::Stdout => "out",
                Stream::Stderr => "err",
                Stream::Status => "imgs",
            };
            lines.push(format!("{tag}: {line}"));
        };
        let result = run_provisioner(
            Some(&self.session),
            &step,
            &mut output,
            &CancellationToken::new(),
        )
        .await;
        (result, lines)
    }
}

impl World {
    /// Runs `provisioner` through the communicator builders hand out, which knows its SSH settings
    /// (tools that connect by themselves need them); the output lines untagged.
    pub async fn run_connecting(
        &self,
        provisioner: Value,
    ) -> (Result<(), ProvisionError>, Vec<String>) {
        let config = SshConfig::from_settings(&self.server.settings())
            .unwrap_or_else(|problems| panic!("{problems}"));
        let comm = imgs_provision::ReconnectingSsh::connect(config, CancellationToken::new())
            .await
            .unwrap_or_else(|err| panic!("{err}"));
        let step = self.step(provisioner);
        let mut lines = Vec::new();
        let mut output = |_: Stream, line: &str| lines.push(line.to_string());
        let result =
            run_provisioner(Some(&comm), &step, &mut output, &CancellationToken::new()).await;
        (result, lines)
    }
}

/// Runs `provisioner` over a new SSH session to `sshd`, as a build of a template in `dir` would; the
/// output lines untagged.
pub async fn run_against(
    sshd: &TestSshd,
    dir: &Path,
    provisioner: Value,
) -> (Result<(), ProvisionError>, Vec<String>) {
    let config =
        SshConfig::from_settings(&sshd.settings()).unwrap_or_else(|problems| panic!("{problems}"));
    let session = SshSession::connect(&config, CancellationToken::new())
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let step = step_in(dir, provisioner).unwrap_or_else(|d| panic!("{d}"));
    let mut lines = Vec::new();
    let mut output = |_: Stream, line: &str| lines.push(line.to_string());
    let result = run_provisioner(
        Some(&session),
        &step,
        &mut output,
        &CancellationToken::new(),
    )
    .await;
    (result, lines)
}

/// Runs `provisioners` with Packer's null builder against `sshd`, in `dir`, with the variables of
/// [`step_in`]'s template; whether Packer succeeded, and its output.
pub fn packer_against(
    packer: &Path,
    sshd: &TestSshd,
    dir: &Path,
    provisioners: Value,
) -> (bool, String) {
    let template = json!({
        "variables": { "password": PASSWORD, "greeting": "hello" },
        "sensitive-variables": ["password"],
        "builders": [sshd.builder("null", json!({ "name": "app" }))],
        "provisioners": provisioners,
    });
    let path = dir.join("packer.json");
    std::fs::write(&path, serde_json::to_string_pretty(&template).unwrap()).unwrap();
    let output = std::process::Command::new(packer)
        .args(["build", "-color=false"])
        .arg(&path)
        .current_dir(dir)
        .env("CHECKPOINT_DISABLE", "1")
        .env("PACKER_CONFIG_DIR", dir)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

pub const PASSWORD: &str = "hunter2-secret";

pub fn step_in(
    pwd: &Path,
    provisioner: Value,
) -> Result<ProvisionerStep, imgs_diagnostic::Diagnostics> {
    let template = json!({
        "variables": { "password": PASSWORD, "greeting": "hello" },
        "sensitive-variables": ["password"],
        "builders": [{ "type": "null", "name": "app", "communicator": "none" }],
        "provisioners": [provisioner],
    });
    let path = Path::new("images/app/template.json");
    let template = Template::parse(path, serde_json::to_string_pretty(&template).unwrap())?;
    let user_variables: IndexMap<String, String> = [
        ("password".to_string(), PASSWORD.to_string()),
        ("greeting".to_string(), "hello".to_string()),
    ]
    .into_iter()
    .collect();
    let data = BTreeMap::new();
    let pwd = pwd.display().to_string();
    let ctx = Context {
        user_variables: &user_variables,
        env: None,
        build_name: Some("app"),
        build_type: Some("null"),
        template_dir: "images/app",
        pwd: &pwd,
        data: &data,
        volatile: &Volatile::Placeholder,
    };
    let secrets = Secrets::new([PASSWORD.to_string()]);
    let build = BuildContext {
        template: &template,
        raw_build_name: "app",
        ctx: &ctx,
        secrets: &secrets,
    };
    ProvisionerStep::from_block(&build, "provisioners[0]", &template.provisioners[0])
}
