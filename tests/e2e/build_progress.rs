//! What `imgs build` says about its progress: phase events in the JSON stream, and the `--timings`
//! report. (The plain lines with their phases are in the `build_null` snapshots.)

use std::path::Path;

use crate::support::*;
use imgs_test_peers::TestSshd;

/// `base` (null over SSH, two provisioners) and `child` built on it (file builder, a manifest).
fn workspace(sshd: &TestSshd) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-progress-",
        "\n[images.child]\nparents = { base_artifact = \"base\" }\n",
    );
    let root = dir.path();
    let base = serde_json::json!({
        "builders": [sshd.builder("null", serde_json::json!({}))],
        "provisioners": [
            { "type": "shell", "inline": ["echo one"] },
            { "type": "shell", "inline": ["echo two"] },
        ],
    });
    write_template(root, "base", &base);
    let child = serde_json::json!({
        "variables": { "base_artifact": null },
        "builders": [{ "type": "file", "content": "on {{user `base_artifact`}}\n", "target": "out/child.txt" }],
        "post-processors": [{ "type": "manifest", "output": "out/manifest.json" }],
    });
    write_template(root, "child", &child);
    dir
}

fn json_settings(dir: &Path, sshd: &TestSshd) -> insta::Settings {
    let mut s = run_settings(dir, sshd.port);
    s.add_filter(r#""seconds":[0-9.e-]+"#, r#""seconds":[T]"#);
    s
}

#[test]
fn json_output_has_a_phase_event_for_each_phase_of_each_build() {
    let sshd = TestSshd::start().unwrap_or_else(|why| panic!("{why}"));
    let ws = workspace(&sshd);
    let root = ws.path();
    // One at a time, so the order of the events is the same on every run.
    let out = imgs_ok(
        root,
        &["build", "--all", "-j", "1", "--message-format", "json"],
    );
    for line in out.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not one JSON object: {line}: {e}"));
    }
    json_settings(root, &sshd).bind(|| insta::assert_snapshot!("build_json_with_phases", out));
}

#[test]
fn timings_are_written_to_the_cache_and_where_asked() {
    let dir = new_workspace_with(
        "imgs-progress-",
        "\n[images.top]\nparents = { below = \"bottom\" }\n",
    );
    let root = dir.path();
    write(
        root,
        "images/bottom/template.json",
        r#"{ "builders": [{ "type": "file", "content": "bottom", "target": "out/bottom.txt" }] }"#,
    );
    write(
        root,
        "images/top/template.json",
        r#"{ "variables": { "below": null },
             "builders": [{ "type": "file", "content": "on {{user `below`}}", "target": "out/top.txt" }] }"#,
    );

    let out = imgs(root, &["build", "--all", "--timings"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let written = out
        .stderr
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("Timings "))
        .unwrap_or_else(|| panic!("where the report went: {}", out.stderr));
    assert!(
        written.starts_with("cache/timings/imgs-timing-") && written.ends_with(".html"),
        "{written}"
    );
    let report = std::fs::read_to_string(root.join(written)).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("cache/imgs-timing.html")).unwrap(),
        report,
        "the stable copy is the latest run's"
    );
    assert!(
        report.contains("bottom (") && report.contains("&rarr; top ("),
        "critical path: {report}"
    );
    assert!(report.contains("<svg"), "{report}");

    // Fresh images are in the report too; an explicit path is used as given.
    let out = imgs(root, &["build", "--all", "--timings=reports/t.html"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("Timings reports/t.html"),
        "{}",
        out.stderr
    );
    let report = std::fs::read_to_string(root.join("reports/t.html")).unwrap();
    assert!(report.contains("2 fresh"), "{report}");
}
