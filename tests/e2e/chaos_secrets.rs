//! The secrets audit: a two-image amazon-ebs workspace (moto and a real sshd on loopback) whose
//! secrets are unique marker strings — sensitive template variables (from `--var` and a var file),
//! the AWS secret key and session token (from the environment for one image, from a sensitive
//! variable for the other) and an SSH password — built at `-v` with `--message-format json` and
//! `--timings`, with a provisioner that prints the guest's environment, a manifest post-processor and
//! a failing build; then `plan`, `graph`, `cache ls` and `gc --dry-run`. Every byte imgs wrote
//! (stdout, stderr, everything under `cache/` and the manifest) is searched for each marker, as
//! written and in the encodings a leak could take (base64, URL, JSON escapes): zero hits.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::chaos;
use crate::support::ebs::Peers;
use crate::support::*;

const KEY_PAIR: &str = "imgs-secrets-key";

/// The secrets, each a string nothing else contains.
const MARKERS: [(&str, &str); 6] = [
    ("sensitive variable from --var", "Zq7SecretVarMarker41"),
    (
        "sensitive variable from a var file",
        "Zq7SecretFileMarker42",
    ),
    ("AWS secret key (environment)", "Zq7AwsSecretEnvMarker43"),
    ("AWS session token (environment)", "Zq7AwsTokenEnvMarker44"),
    (
        "AWS secret key (sensitive variable)",
        "Zq7AwsSecretVarMarker45",
    ),
    ("SSH password", "Zq7SshPasswordMarker46"),
];

fn marker(what: &str) -> &'static str {
    MARKERS.iter().find(|(w, _)| *w == what).unwrap().1
}

/// The forms a marker could leak in besides itself.
fn encodings(secret: &str) -> Vec<String> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    // Base64 of the secret at each of the three alignments a longer text could put it at, less the
    // edge characters that depend on the neighbours.
    let mut forms = vec![secret.to_string()];
    for pad in 0..3 {
        let text = format!("{}{secret}", "a".repeat(pad));
        let encoded = b64.encode(text.as_bytes());
        let skip = (pad * 4).div_ceil(3) + 1;
        if encoded.len() > skip + 8 {
            forms.push(encoded[skip..encoded.len() - 4].to_string());
        }
    }
    forms
}

fn workspace(peers: &Peers) -> tempfile::TempDir {
    let ws = new_workspace_with(
        "imgs-secrets-",
        "\n[images.child]\nparents = { parent_ami = \"base\" }\n",
    );
    let root = ws.path();
    let dump_env = serde_json::json!({
        "type": "shell",
        "environment_vars": [
            "DB_PASSWORD={{user `db_password`}}",
            "API_TOKEN={{user `api_token`}}",
        ],
        "inline": [
            "env | sort",
            "echo db password: $DB_PASSWORD; echo token: $API_TOKEN",
        ],
    });
    let mut base_builder = peers.ebs_builder(
        &peers.public_ami(),
        serde_json::json!({ "ami_name": "imgs-secrets-base-{{timestamp}}" }),
    );
    // The credentials come from the environment for this one.
    let fields = base_builder.as_object_mut().unwrap();
    fields.remove("access_key");
    fields.remove("secret_key");
    fields.insert("ssh_password".into(), marker("SSH password").into());
    write_template(
        root,
        "base",
        &serde_json::json!({
            "variables": { "db_password": "", "api_token": "" },
            "sensitive-variables": ["db_password", "api_token"],
            "builders": [base_builder],
            "provisioners": [dump_env.clone()],
            "post-processors": [{ "type": "manifest", "output": "cache/manifest-base.json" }],
        }),
    );
    let child_builder = peers.ebs_builder(
        "{{user `parent_ami`}}",
        serde_json::json!({
            "ami_name": "imgs-secrets-child-{{timestamp}}",
            "secret_key": "{{user `aws_secret`}}",
            "ssh_password": "{{user `ssh_pass`}}",
        }),
    );
    write_template(
        root,
        "child",
        &serde_json::json!({
            "variables": {
                "parent_ami": null,
                "db_password": "",
                "api_token": "",
                "aws_secret": "",
                "ssh_pass": marker("SSH password"),
            },
            "sensitive-variables": ["db_password", "api_token", "aws_secret", "ssh_pass"],
            "builders": [child_builder],
            "provisioners": [dump_env],
        }),
    );
    write(
        root,
        "secrets.json",
        &serde_json::json!({
            "api_token": marker("sensitive variable from a var file"),
            "aws_secret": marker("AWS secret key (sensitive variable)"),
        })
        .to_string(),
    );
    ws
}

/// Runs imgs as its own process with the secrets in its environment; (stdout, stderr, success).
fn run(root: &Path, args: &[&str]) -> (String, String, bool) {
    let out = Command::new(imgs_exe())
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .env("AWS_ACCESS_KEY_ID", imgs_test_peers::ec2::CREDENTIALS)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            marker("AWS secret key (environment)"),
        )
        .env(
            "AWS_SESSION_TOKEN",
            marker("AWS session token (environment)"),
        )
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files
}

#[test]
fn no_secret_reaches_any_byte_imgs_writes() {
    let peers = Peers::start(KEY_PAIR);
    let ws = workspace(&peers);
    let root = ws.path();
    let var = format!("db_password={}", marker("sensitive variable from --var"));
    let build_args = [
        "build",
        "--all",
        "-v",
        "--message-format",
        "json",
        "--timings",
        "--var",
        &var,
        "--var-file",
        "secrets.json",
    ];
    // What each run wrote to its two streams; files come after.
    let mut outputs: Vec<(String, String)> = Vec::new();
    let (stdout, stderr, ok) = run(root, &build_args);
    assert!(ok, "the build failed:\n{stdout}\n{stderr}");
    // The guest really saw the secrets: the environment dump printed them, masked.
    assert!(stdout.contains("DB_PASSWORD=<sensitive>"), "{stdout}");
    outputs.push((stdout, stderr));
    // A failing build: the error path's messages too.
    let mut failing = build_args.to_vec();
    failing.retain(|a| *a != "--all");
    failing.extend(["-i", "child"]);
    let mut template: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("images/child/template.json")).unwrap(),
    )
    .unwrap();
    template["provisioners"][0]["inline"]
        .as_array_mut()
        .unwrap()
        .push("echo failing with $DB_PASSWORD >&2; exit 3".into());
    write_template(root, "child", &template);
    let (stdout, stderr, ok) = run(root, &failing);
    assert!(!ok, "the failing build succeeded:\n{stdout}\n{stderr}");
    outputs.push((stdout, stderr));
    for args in [
        &["plan", "-v", "--var", &var, "--var-file", "secrets.json"][..],
        &[
            "plan",
            "--message-format",
            "json",
            "--var",
            &var,
            "--var-file",
            "secrets.json",
        ],
        &["graph", "--var", &var, "--var-file", "secrets.json"],
        &["cache", "ls", "--var", &var, "--var-file", "secrets.json"],
        &[
            "gc",
            "--dry-run",
            "--var",
            &var,
            "--var-file",
            "secrets.json",
        ],
    ] {
        let (stdout, stderr, _) = run(root, args);
        outputs.push((stdout, stderr));
    }

    let files = files_under(&root.join("cache"));
    let mut searched = 0usize;
    let mut hits: Vec<String> = Vec::new();
    let mut check = |place: &str, bytes: &[u8]| {
        searched += bytes.len();
        let text = String::from_utf8_lossy(bytes);
        for (what, secret) in MARKERS {
            for form in encodings(secret) {
                if text.contains(&form) {
                    hits.push(format!("{what} in {place}"));
                }
            }
        }
    };
    for (i, (stdout, stderr)) in outputs.iter().enumerate() {
        check(&format!("run {i} stdout"), stdout.as_bytes());
        check(&format!("run {i} stderr"), stderr.as_bytes());
    }
    for file in &files {
        let rel = file.strip_prefix(root).unwrap().display().to_string();
        check(&rel, &std::fs::read(file).unwrap());
    }
    assert!(
        files
            .iter()
            .any(|f| f.to_string_lossy().contains("timings")),
        "the timings report is among the files searched: {files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("manifest-base.json")),
        "{files:?}"
    );
    chaos::report(
        "secrets_audit",
        serde_json::json!({
            "markers": MARKERS.iter().map(|(what, _)| *what).collect::<Vec<_>>(),
            "forms_per_marker": encodings(MARKERS[0].1).len(),
            "runs": outputs.len(),
            "files_searched": files.len(),
            "bytes_searched": searched,
            "secret_hits": hits.len(),
        }),
    );
    assert_eq!(hits, Vec::<String>::new());
}
