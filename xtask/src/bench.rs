//! `cargo xtask bench`: imgs side by side with its references, in one run, written to BENCHMARKS.md.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::bench_hashing::{BenchResult, hashing_vs_b3sum};
use crate::{build_imgs, repo_root, setup};

pub fn run(args: &[String]) -> Result<()> {
    if args == ["--build-cost"] {
        return crate::bench_build_cost::run();
    }
    if args == ["docker"] {
        return crate::bench_docker::run_alone();
    }
    if args.first().map(String::as_str) == Some("layered-breakdown") {
        return crate::bench_layered_breakdown::run_alone(&args[1..]);
    }
    let qemu = args.iter().any(|arg| arg == "--qemu");
    if let Some(unknown) = args.iter().find(|arg| *arg != "--qemu") {
        bail!(
            "`cargo xtask bench` takes `--qemu`, or `--build-cost`, `docker` or `layered-breakdown` alone (got `{unknown}`)"
        );
    }
    setup::install_test_peers()?;
    let imgs = build_imgs(true)?;
    let work = tempfile::Builder::new().prefix("imgs-bench-").tempdir()?;
    let mut results = Vec::new();

    eprintln!("bench: hashing 1 GiB of provisioner files, imgs vs b3sum");
    results.extend(under_load(|| {
        hashing_vs_b3sum(&work.path().join("hashing")).map(|row| vec![row])
    })?);

    eprintln!("bench: SFTP upload of 256 MiB, imgs vs scp, to a private sshd on loopback");
    results.extend(under_load(|| {
        crate::bench_ssh::sftp_vs_scp(&work.path().join("ssh")).map(|row| vec![row])
    })?);

    eprintln!("bench: a 50-task Ansible playbook, imgs vs Packer vs ansible-playbook alone");
    results.extend(under_load(|| {
        crate::bench_ansible::fifty_tasks(&imgs, &work.path().join("ansible"))
    })?);

    eprintln!("bench: imgs plan --all on a generated 200-image workspace");
    let ws = work.path().join("ws200");
    generate_workspace(&ws, 20)?;
    let validate_200 = packer_validate_200(&ws)?;
    results.extend(under_load(|| plan_200(&imgs, &ws, validate_200, "images"))?);

    eprintln!("bench: imgs plan --all on the same 200 images written as HCL2 configurations");
    let ws_hcl = work.path().join("ws200-hcl");
    generate_workspace(&ws_hcl, 20)?;
    rewrite_as_hcl2(&ws_hcl)?;
    let validate_200_hcl = packer_validate_200(&ws_hcl)?;
    results.extend(under_load(|| {
        plan_200(&imgs, &ws_hcl, validate_200_hcl, "HCL2 images")
    })?);

    eprintln!("bench: imgs fmt --check on the 200 HCL2 members vs packer fmt -check on each");
    results.extend(under_load(|| {
        fmt_check_200(&imgs, &ws_hcl).map(|row| vec![row])
    })?);

    eprintln!("bench: no-op imgs build --all on the same 200 images, all cached");
    results.extend(under_load(|| {
        no_op_build_200(&imgs, &ws, validate_200).map(|row| vec![row])
    })?);

    eprintln!("bench: amazon-ebs build, imgs vs Packer 1.6.6, against moto and a loopback sshd");
    results.extend(under_load(|| {
        crate::bench_aws::ebs_build_vs_packer(&imgs, &work.path().join("aws")).map(|row| vec![row])
    })?);

    eprintln!(
        "bench: 13-image layered amazon-ebs workspace, imgs vs Packer glue (sequential, per level)"
    );
    results.extend(under_load(|| {
        crate::bench_layered::layered_vs_packer(&imgs, &work.path().join("layered"))
    })?);

    eprintln!("bench: a 10-member workspace, native engine vs the packer engine");
    results.extend(under_load(|| {
        crate::bench_engine::native_vs_packer_engine(&imgs, &work.path().join("engine"))
    })?);

    eprintln!(
        "bench: 100 images building at once, imgs vs 100 packer processes: makespan and memory"
    );
    results.extend(under_load(|| {
        crate::bench_rss::peak_rss_100(&imgs, &work.path().join("rss")).map(|row| vec![row])
    })?);

    eprintln!("bench: the examples/docker chain, imgs vs Packer glue (cold and no-op)");
    let docker_section =
        crate::bench_docker::section_for_full_run(&imgs, &work.path().join("docker"))?;

    if qemu {
        eprintln!(
            "bench: the qemu chain base → hardened → app-web, imgs vs Packer 1.6.6 (minutes)"
        );
        results.extend(under_load(|| {
            crate::bench_qemu::chain_vs_packer(&imgs, &work.path().join("qemu"))
        })?);
    } else {
        eprintln!("bench: the qemu chain is left out (minutes of TCG boots); `--qemu` measures it");
    }
    let mut report = render(&results);
    let previous = std::fs::read_to_string(repo_root().join("BENCHMARKS.md")).unwrap_or_default();
    if !qemu {
        report = crate::bench_qemu::keep_earlier_rows(report, &previous);
    }
    // The docker chain's own section; where Docker cannot run, the earlier one is kept.
    if let Some(section) = docker_section
        .as_deref()
        .or_else(|| crate::bench_docker::section_of(&previous))
    {
        report = crate::bench_docker::with_section(&report, section);
    }
    // The build-cost section comes from its own run (`--build-cost`, an hour), kept as it was.
    if let Some(section) = crate::bench_build_cost::section_of(&previous) {
        report = crate::bench_build_cost::with_section(&report, section);
    }
    std::fs::write(repo_root().join("BENCHMARKS.md"), &report)?;
    print!("{report}");
    Ok(())
}

/// Runs one benchmark and adds the machine's load (1-minute average, before → after) to each row's
/// notes: others' work on a shared machine shows in the figures, and this says how much there was.
fn under_load(bench: impl FnOnce() -> Result<Vec<BenchResult>>) -> Result<Vec<BenchResult>> {
    let before = load_average();
    let mut rows = bench()?;
    let after = load_average();
    for row in &mut rows {
        let _ = write!(row.notes, "; load {before} → {after}");
    }
    Ok(rows)
}

/// The 1-minute load average from /proc/loadavg, or `?` where there is none.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// `imgs build --all` when every image is fresh: after one real build of the workspace, the time a
/// no-op build takes (plan, find nothing to do, say so). Packer has no such thing; its reference is
/// the same `packer validate` × 200 as the plan rows, for scale.
fn no_op_build_200(imgs: &Path, ws: &Path, packer_validate: Duration) -> Result<BenchResult> {
    let build = || -> Result<Duration> {
        let start = Instant::now();
        let mut cmd = Command::new(imgs);
        cmd.current_dir(ws)
            .args(["build", "--all"])
            .stdin(Stdio::null());
        let output = cmd.output()?;
        crate::cmd::check_output(&cmd, &output)?;
        Ok(start.elapsed())
    };
    let first = build()?;
    let no_op: Vec<Duration> = (0..10).map(|_| build()).collect::<Result<_>>()?;
    Ok(BenchResult {
        name: "no-op `imgs build --all`, 200 cached images (median of 10)".into(),
        ours: median(no_op),
        reference_name: "`packer validate` × 200".into(),
        reference: packer_validate,
        notes: format!(
            "every image fresh after one build of all 200 ({:.2} s); goal: ≤ 50 ms",
            first.as_secs_f64()
        ),
    })
}

/// A layered workspace of `roots * 10` images: each root has 3 children, each of those 2 children. Every
/// image has a template with a shell-local script and 4 extra input files, like a small real workspace.
/// The script is a `shell-local` post-processor: a host-side step after the `file` builder, which both
/// tools build, so the no-op build row can build the workspace first.
pub fn generate_workspace(dir: &Path, roots: usize) -> Result<()> {
    std::fs::create_dir_all(dir.join("images"))?;
    let mut manifest = String::from(
        "[workspace]\nmembers = [\"images/*\"]\nvariables = { region = \"us-east-1\" }\n",
    );
    let mut add = |name: &str, parent: Option<&str>| -> Result<()> {
        let image_dir = dir.join("images").join(name);
        std::fs::create_dir_all(image_dir.join("files"))?;
        let template = serde_json_template(name, parent.is_some());
        std::fs::write(image_dir.join("template.json"), template)?;
        let script = image_dir.join("provision.sh");
        std::fs::write(&script, format!("#!/bin/sh\necho provisioning {name}\n"))?;
        // shell-local runs the script itself, so it must be executable (Packer's rule too).
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        for i in 0..4 {
            std::fs::write(
                image_dir.join(format!("files/f{i}.conf")),
                format!("{name} {i}\n").repeat(200),
            )?;
        }
        if let Some(parent) = parent {
            writeln!(
                manifest,
                "\n[images.{name}]\nparents = {{ parent_artifact = \"{parent}\" }}\ninputs = [\"files/*\"]"
            )?;
        } else {
            writeln!(manifest, "\n[images.{name}]\ninputs = [\"files/*\"]")?;
        }
        Ok(())
    };
    for r in 0..roots {
        let root = format!("r{r:02}");
        add(&root, None)?;
        for m in 0..3 {
            let mid = format!("{root}-m{m}");
            add(&mid, Some(&root))?;
            for l in 0..2 {
                add(&format!("{mid}-l{l}"), Some(&mid))?;
            }
        }
    }
    std::fs::write(dir.join("Images.toml"), manifest)?;
    Ok(())
}

fn serde_json_template(name: &str, has_parent: bool) -> String {
    let parent_var = if has_parent {
        "\n    \"parent_artifact\": null,"
    } else {
        ""
    };
    format!(
        r#"{{
  "variables": {{{parent_var}
    "region": "eu-west-1",
    "version": "1.0.{len}"
  }},
  "builders": [{{ "type": "file", "name": "{name}", "target": "out/{name}.txt", "content": "{name} {{{{user `version`}}}}" }}],
  "post-processors": [{{ "type": "shell-local", "script": "{{{{template_dir}}}}/provision.sh" }}]
}}
"#,
        len = name.len()
    )
}

/// The generated workspace's templates rewritten as HCL2 members (`main.pkr.hcl`, no
/// `template.json`) that build the same thing.
fn rewrite_as_hcl2(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir.join("images"))? {
        let image_dir = entry?.path();
        let name = image_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        std::fs::remove_file(image_dir.join("template.json"))?;
        let config = format!(
            r#"variable "parent_artifact" {{
  type    = string
  default = ""
}}

variable "region" {{
  type    = string
  default = "eu-west-1"
}}

variable "version" {{
  type    = string
  default = "1.0.{len}"
}}

source "file" "{name}" {{
  target  = "out/{name}.txt"
  content = "{name} ${{var.version}}"
}}

build {{
  sources = ["source.file.{name}"]

  post-processor "shell-local" {{
    script = "${{path.root}}/provision.sh"
  }}
}}
"#,
            len = name.len()
        );
        std::fs::write(image_dir.join("main.pkr.hcl"), config)?;
    }
    Ok(())
}

/// `packer` is the time of [`packer_validate_200`] on the same workspace; `what` names the images.
fn plan_200(imgs: &Path, ws: &Path, packer: Duration, what: &str) -> Result<Vec<BenchResult>> {
    let plan = || -> Result<Duration> {
        let start = Instant::now();
        let mut cmd = Command::new(imgs);
        cmd.current_dir(ws)
            .args(["plan", "--all"])
            .stdout(Stdio::null());
        let status = cmd.status()?;
        crate::cmd::check_on_terminal(&cmd, status)?;
        Ok(start.elapsed())
    };
    let stat_cache_files = |ws: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(ws.join("cache"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut cold = Vec::new();
    for _ in 0..5 {
        for f in stat_cache_files(ws) {
            std::fs::remove_file(f)?;
        }
        cold.push(plan()?);
    }
    plan()?;
    let warm: Vec<Duration> = (0..10).map(|_| plan()).collect::<Result<_>>()?;

    Ok(vec![
        BenchResult {
            name: format!("`imgs plan --all`, 200 {what}, cold stat cache (median of 5)"),
            ours: median(cold),
            reference_name: "`packer validate` × 200".into(),
            reference: packer,
            notes: "cold: every file hashed; no goal, for scale".into(),
        },
        BenchResult {
            name: format!("`imgs plan --all`, 200 {what}, warm stat cache (median of 10)"),
            ours: median(warm),
            reference_name: "`packer validate` × 200".into(),
            reference: packer,
            notes: if what == "images" {
                "goal: ≤ 50 ms"
            } else {
                "goal: ≤ 60 ms"
            }
            .into(),
        },
    ])
}

/// `imgs fmt --check` over every HCL2 member of the workspace (one process) against `packer fmt
/// -check DIR` for each member (Packer formats one path per run). The files are formatted first,
/// so both only read and compare.
fn fmt_check_200(imgs: &Path, ws: &Path) -> Result<BenchResult> {
    let run = |cmd: &mut Command| -> Result<()> {
        let status = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status()?;
        // 3 is "not formatted", which the first (writing) run fixes.
        if !status.success() && status.code() != Some(3) {
            bail!("{cmd:?} failed ({status})");
        }
        Ok(())
    };
    run(Command::new(imgs).current_dir(ws).arg("fmt"))?;
    let ours = median(
        (0..5)
            .map(|_| {
                let start = Instant::now();
                run(Command::new(imgs).current_dir(ws).args(["fmt", "--check"]))?;
                Ok(start.elapsed())
            })
            .collect::<Result<_>>()?,
    );
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(ws.join("images"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let start = Instant::now();
    for dir in &dirs {
        run(Command::new("packer")
            .current_dir(ws)
            .env("CHECKPOINT_DISABLE", "1")
            .args(["fmt", "-check"])
            .arg(dir))?;
    }
    Ok(BenchResult {
        name: "`imgs fmt --check`, 200 HCL2 members (median of 5)".into(),
        ours,
        reference_name: "`packer fmt -check DIR` × 200".into(),
        reference: start.elapsed(),
        notes: "same files, already formatted; Packer takes one path per run".into(),
    })
}

/// Reference: what Packer 1.6.6 needs to merely validate the same 200 templates, one process each
/// (there is no Packer command that plans a workspace).
fn packer_validate_200(ws: &Path) -> Result<Duration> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(ws.join("images"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let start = Instant::now();
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        // An HCL2 member is validated as a directory, as `packer validate DIR` reads it.
        let target = if dir.join("template.json").exists() {
            format!("images/{name}/template.json")
        } else {
            format!("images/{name}")
        };
        let status = Command::new("packer")
            .current_dir(ws)
            .env("CHECKPOINT_DISABLE", "1")
            .args(["validate", "-var", "parent_artifact=x"])
            .arg(target)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("cannot run packer")?;
        if !status.success() {
            bail!("packer validate rejected the generated template of {name} ({status})");
        }
    }
    Ok(start.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn render(results: &[BenchResult]) -> String {
    let mut out = String::from(
        "# Benchmarks\n\nWritten by `cargo xtask bench`: imgs and its reference measured in the same run, on the same\n\
         machine and data. Ratio = reference time / imgs time (above 1: imgs is faster).\n\n",
    );
    let _ = writeln!(
        out,
        "Machine: {} cores; run on {}.\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        today()
    );
    out.push_str("| benchmark | imgs | reference | reference time | ratio | notes |\n|---|---|---|---|---|---|\n");
    for r in results {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2}× | {} |",
            r.name,
            fmt(r.ours),
            r.reference_name,
            fmt(r.reference),
            r.reference.as_secs_f64() / r.ours.as_secs_f64().max(1e-9),
            r.notes
        );
    }
    out
}

fn fmt(d: Duration) -> String {
    if d.as_secs_f64() >= 1.0 {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

pub fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
