//! Scaling a run out: per-region and per-builder limits on the 13-image layered amazon-ebs workspace
//! against the EC2 server, `--resume` after a failure, and the shard plan run wave by wave in
//! separate processes with separate caches.
//!
//! Concurrency is read from the run's JSON events (`started`, then `built` or `failed`), in the order
//! the run emitted them: no timing is measured.

use crate::layered_ebs::{KEY_PAIR, all_images, events, layered_workspace, parent_of};
use crate::support::ebs::{Peers, REGION};
use crate::support::fanout::{builds_on_ec2, built_by, run_waves, runner_copies};
use crate::support::*;

/// The most images building at once in a run, as its events tell.
fn most_at_once(events: &[serde_json::Value]) -> usize {
    let (mut now, mut most) = (0usize, 0usize);
    for e in events {
        match e["event"].as_str() {
            Some("started") => {
                now += 1;
                most = most.max(now);
            }
            Some("built" | "failed") if now > 0 => now -= 1,
            _ => {}
        }
    }
    most
}

#[test]
fn region_and_builder_limits_bound_how_many_build_at_once() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = layered_workspace(&peers, remote.path(), false);
    let root = ws.path();

    // Nine grandchildren are ready at once once their parents are built; two at a time in the region.
    let out = imgs(
        root,
        &[
            "build",
            "--all",
            "--max-per-region",
            "2",
            "--message-format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let run = events(&out.stdout);
    assert_eq!(run.last().unwrap()["built"], 13);
    assert_eq!(most_at_once(&run), 2, "{}", out.stdout);

    // The three children again, one amazon-ebs build at a time (their parent stays fresh).
    let out = imgs(
        root,
        &[
            "build",
            "-i",
            "a",
            "-i",
            "b",
            "-i",
            "c",
            "--force",
            "--max-per-builder",
            "amazon-ebs=1",
            "-j",
            "3",
            "--message-format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let run = events(&out.stdout);
    assert_eq!(run.last().unwrap()["built"], 3);
    assert_eq!(most_at_once(&run), 1, "{}", out.stdout);
    // A type no build has bounds nothing: -j is the only limit.
    let out = imgs(
        root,
        &[
            "build",
            "-i",
            "a",
            "-i",
            "b",
            "-i",
            "c",
            "--force",
            "--max-per-builder",
            "qemu=1",
            "--message-format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(most_at_once(&events(&out.stdout)), 3, "{}", out.stdout);

    // Images.toml's [workspace.limits] bounds every build; a flag overrides it.
    append(
        root,
        "Images.toml",
        "\n[workspace.limits]\nmax_per_region = 1\n",
    );
    let children = ["build", "-i", "a", "-i", "b", "-i", "c", "--force"];
    let json = ["--message-format", "json"];
    let out = imgs(root, &[&children[..], &json].concat());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(most_at_once(&events(&out.stdout)), 1, "{}", out.stdout);
    let flag = ["--max-per-region", "2"];
    let out = imgs(root, &[&children[..], &flag, &json].concat());
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(most_at_once(&events(&out.stdout)), 2, "{}", out.stdout);
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

#[test]
fn limits_are_checked_on_the_command_line() {
    let ws = new_workspace("imgs-limits-");
    let out = imgs(ws.path(), &["build", "--max-per-region", "0"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = imgs(ws.path(), &["build", "--max-per-builder", "amazon-ebs"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    settings(ws.path()).bind(|| insta::assert_snapshot!("builder_limit_without_count", out.stderr));
    append(
        ws.path(),
        "Images.toml",
        "\n[workspace.limits]\nmax_per_region = 0\nmax_per_builder = { amazon-ebs = -1 }\n",
    );
    let out = imgs_input_error(ws.path(), &["plan"]);
    settings(ws.path()).bind(|| insta::assert_snapshot!("workspace_limits_below_one", out));
}

#[test]
fn three_runners_build_the_layered_workspace_wave_by_wave_each_image_once() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = layered_workspace(&peers, remote.path(), false);
    let runners = runner_copies(ws.path(), 3);
    let roots: Vec<&std::path::Path> = runners.iter().map(|r| r.path()).collect();
    let images = all_images();
    // Every runner sees the same fingerprints, so what one builds the others find by tag.
    for root in &roots[1..] {
        assert_eq!(fingerprints(root), fingerprints(roots[0]));
    }

    // The shard plan: each image's wave and shard, the same on every runner.
    let plan = imgs_ok(
        roots[1],
        &[
            "plan",
            "--all",
            "--shard",
            "2/3",
            "--message-format",
            "json",
        ],
    );
    let plan: serde_json::Value = serde_json::from_str(&plan).unwrap();
    let placed: Vec<String> = plan["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| format!("{} wave {} shard {}", i["name"], i["wave"], i["shard"]))
        .collect();
    assert_eq!(
        placed,
        [
            r#""b" wave 1 shard 2"#,
            r#""a2" wave 2 shard 2"#,
            r#""b2" wave 2 shard 2"#,
            r#""c2" wave 2 shard 2"#
        ]
    );
    assert_eq!(
        (&plan["waves"], &plan["shard"]["count"]),
        (&3.into(), &3.into())
    );
    let human = imgs_ok(roots[0], &["plan", "--all", "--shard", "1/3"]);
    settings(roots[0]).bind(|| insta::assert_snapshot!("shard_plan_human", human));

    // A wave before its parents' wave has finished: a clear error, nothing built.
    let early = imgs(
        roots[2],
        &["build", "--all", "--wave", "1", "--shard", "3/3"],
    );
    assert_eq!(early.code, 2, "{}{}", early.stdout, early.stderr);
    settings(roots[2]).bind(|| insta::assert_snapshot!("wave_before_its_parents", early.stderr));
    assert!(peers.launches_of(REGION, "c").is_empty());

    // The fan-out: waves in turn, three jobs at once per wave, each on a runner with an empty cache.
    let jobs = run_waves(&roots, 3, &[]);
    let mut built: Vec<String> = jobs.iter().flatten().flat_map(built_by).collect();
    built.sort();
    let mut expected = images.clone();
    expected.sort();
    assert_eq!(built, expected, "every image built by exactly one job");
    // Wave 1's jobs found base fresh by its tag; wave 0's shards 2 and 3 had nothing to build.
    assert_eq!(built_by(&jobs[0][0]), ["base"]);
    assert!(built_by(&jobs[0][1]).is_empty() && built_by(&jobs[0][2]).is_empty());
    let (launches, amis) = builds_on_ec2(&peers, &images);
    assert!(launches.values().all(|n| *n == 1), "{launches:?}");
    assert_eq!(amis.len(), 13);
    assert!(amis.values().all(|n| *n == 1), "{amis:?}");
    // Each child was launched from its parent's AMI, built by another job on another runner.
    for image in &images {
        if let Some(parent) = parent_of(image) {
            let parent_ami = &peers.amis_of(REGION, &parent)[0].0;
            assert_eq!(&peers.launches_of(REGION, image)[0].source_ami, parent_ami);
        }
    }
    // Afterwards, every runner's whole plan is fresh.
    let summary = imgs_ok(roots[2], &["plan", "--all"]);
    assert!(summary.ends_with("0 to build, 13 fresh\n"), "{summary}");
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

#[test]
fn shard_and_wave_are_checked() {
    let ws = new_workspace_with(
        "imgs-shard-",
        "\n[images.app]\nparents = { base_file = \"base\" }\n",
    );
    write(
        ws.path(),
        "images/base/template.json",
        r#"{"builders":[{"type":"null","communicator":"none"}]}"#,
    );
    write(
        ws.path(),
        "images/app/template.json",
        r#"{"variables":{"base_file":""},"builders":[{"type":"null","communicator":"none"}]}"#,
    );
    let bad_shard = imgs(ws.path(), &["plan", "--shard", "4/3"]);
    assert_eq!(bad_shard.code, 2, "{}", bad_shard.stderr);
    let no_wave = imgs_input_error(ws.path(), &["build", "--wave", "2"]);
    settings(ws.path()).bind(|| {
        insta::assert_snapshot!("shard_out_of_range", bad_shard.stderr);
        insta::assert_snapshot!("no_such_wave", no_wave);
    });
    // Wave 1 of a single shard with its parent never built: the parent is named.
    let early = imgs_input_error(ws.path(), &["build", "--wave", "1"]);
    assert!(
        early.contains("parent `base` (wave 0) is not built"),
        "{early}"
    );
    // A shard with nothing in a wave builds nothing and succeeds.
    let empty = imgs_ok(ws.path(), &["plan", "--wave", "0", "--shard", "2/2"]);
    assert!(
        empty.contains("no image of the workspace is in this shard"),
        "{empty}"
    );
}

/// The `imgs:run` tag of an AMI.
fn run_tag(peers: &Peers, ami: &str) -> String {
    let out = peers
        .rt
        .block_on(peers.ec2.describe_images().image_ids(ami).send())
        .unwrap();
    out.images()[0]
        .tags()
        .iter()
        .find(|t| t.key() == Some("imgs:run"))
        .and_then(|t| t.value())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn resume_builds_what_a_failed_run_did_not_finish_under_its_run_id() {
    let peers = Peers::start(KEY_PAIR);
    let remote = tempfile::tempdir().unwrap();
    let ws = layered_workspace(&peers, remote.path(), false);
    let root = ws.path();

    let none = imgs(root, &["build", "--resume"]);
    assert_eq!(none.code, 1, "{}", none.stderr);
    assert!(
        none.stderr
            .contains("nothing to resume: no workspace build has run here")
    );

    // b fails; everything not built on it is built (--keep-going). The scripts write into another
    // directory than the templates' default, so a resume that forgot --var would rebuild it all.
    let elsewhere = tempfile::tempdir().unwrap();
    let var = format!("remote={}", elsewhere.path().display());
    let good = std::fs::read_to_string(root.join("images/b/setup.sh")).unwrap();
    write(
        root,
        "images/b/setup.sh",
        "#!/bin/sh\necho about to fail\nexit 3\n",
    );
    let out = imgs(
        root,
        &[
            "build",
            "--all",
            "--keep-going",
            "-j",
            "2",
            "--var",
            &var,
            "--message-format",
            "json",
        ],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    let first = events(&out.stdout);
    let run_id = first[0]["run_id"].as_str().unwrap().to_string();
    assert_eq!(first.last().unwrap()["built"], 9);

    // Fixed, and resumed: b and the three built on it, nothing else, under the first run's ID.
    write(root, "images/b/setup.sh", &good);
    // --var values are not kept (they may be secrets): the resume is given them again.
    let forgot = imgs(root, &["build", "--resume"]);
    assert_eq!(forgot.code, 1, "{}", forgot.stderr);
    settings(root).bind(|| insta::assert_snapshot!("resume_without_its_vars", forgot.stderr));
    let state = std::fs::read_to_string(root.join("cache/runs/last.json")).unwrap();
    assert!(
        !state.contains(&elsewhere.path().display().to_string()),
        "{state}"
    );
    let out = imgs(
        root,
        &[
            "build",
            "--resume",
            "--var",
            &var,
            "--message-format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let resumed = events(&out.stdout);
    assert_eq!(resumed[0]["run_id"], run_id.as_str());
    assert_eq!(resumed.last().unwrap()["run_id"], run_id.as_str());
    let mut built: Vec<&str> = resumed
        .iter()
        .filter(|e| e["event"] == "built")
        .map(|e| e["image"].as_str().unwrap())
        .collect();
    built.sort();
    assert_eq!(built, ["b", "b1", "b2", "b3"]);
    settings(root).bind(|| {
        insta::assert_snapshot!("resumed_outcomes", crate::layered_ebs::outcomes(&resumed))
    });
    for image in all_images() {
        let amis = peers.amis_of(REGION, &image);
        assert_eq!(amis.len(), 1, "{image}: {amis:?}");
        assert_eq!(
            run_tag(&peers, &amis[0].0),
            run_id,
            "{image}'s imgs:run tag"
        );
        // b twice: it failed the first time.
        let launches = if image == "b" { 2 } else { 1 };
        assert_eq!(peers.launches_of(REGION, &image).len(), launches, "{image}");
    }
    // The run finished: there is nothing left to resume.
    let again = imgs(root, &["build", "--resume", "--var", &var]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    settings(root).bind(|| {
        insta::assert_snapshot!("nothing_to_resume", again.stderr.replace(&run_id, "[RUN]"))
    });
    // What --resume repeats cannot be given again beside it.
    let mixed = imgs(root, &["build", "--resume", "-i", "a"]);
    assert_eq!(mixed.code, 2, "{}", mixed.stderr);
    assert_eq!(peers.left_by_imgs(), Vec::<String>::new());
}

/// The 13 images of the layered workspace (base; a, b, c on it; three on each of those), each a
/// null build: for what reads only the lineage.
fn null_layered_workspace() -> tempfile::TempDir {
    let mut manifest = String::new();
    for image in all_images() {
        if let Some(parent) = parent_of(&image) {
            manifest.push_str(&format!(
                "\n[images.{image}]\nparents = {{ parent_file = \"{parent}\" }}\n"
            ));
        }
    }
    let ws = new_workspace_with("imgs-ci-", &manifest);
    for image in all_images() {
        let variables = match parent_of(&image) {
            Some(_) => r#""variables":{"parent_file":""},"#,
            None => "",
        };
        write(
            ws.path(),
            &format!("images/{image}/template.json"),
            &format!(r#"{{{variables}"builders":[{{"type":"null","communicator":"none"}}]}}"#),
        );
    }
    ws
}

#[test]
fn ci_github_prints_one_job_per_wave_over_the_shards() {
    let ws = null_layered_workspace();
    let yaml = imgs_ok(ws.path(), &["ci", "github", "--shards", "3"]);
    insta::assert_snapshot!("ci_github_three_shards", yaml);

    let workflow: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
    let jobs = workflow["jobs"].as_mapping().unwrap();
    let names: Vec<&str> = jobs.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(names, ["wave-0", "wave-1", "wave-2"]);
    for (wave, name) in names.iter().enumerate() {
        let job = &jobs[*name];
        if wave == 0 {
            assert!(job.get("needs").is_none());
        } else {
            assert_eq!(job["needs"].as_str(), Some(names[wave - 1]));
        }
        let shards: Vec<u64> = job["strategy"]["matrix"]["shard"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|s| s.as_u64().unwrap())
            .collect();
        // One image in wave 0, three in wave 1, nine in wave 2.
        assert_eq!(shards, if wave == 0 { vec![1] } else { vec![1, 2, 3] });
        let steps = job["steps"].as_sequence().unwrap();
        assert_eq!(steps[0]["uses"].as_str(), Some("actions/checkout@v4"));
        assert_eq!(
            steps[1]["run"].as_str(),
            Some("cargo install --locked imgs")
        );
        assert_eq!(
            steps[2]["run"].as_str().unwrap(),
            format!(
                "imgs build --wave {wave} --shard ${{{{ matrix.shard }}}}/3 --locked --message-format json"
            )
        );
    }
    // The install command is the user's, quoted as YAML needs.
    let custom = imgs_ok(
        ws.path(),
        &[
            "ci",
            "github",
            "--install",
            "curl -sSf https://example.com/imgs: | sh",
        ],
    );
    let workflow: serde_norway::Value = serde_norway::from_str(&custom).unwrap();
    assert_eq!(
        workflow["jobs"]["wave-2"]["steps"][1]["run"].as_str(),
        Some("curl -sSf https://example.com/imgs: | sh")
    );
    assert!(
        custom.contains("--shard ${{ matrix.shard }}/2"),
        "two shards by default"
    );
}
