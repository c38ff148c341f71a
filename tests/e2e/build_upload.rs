//! The `upload` post-processor (an imgs extension) end to end: a workspace of `file` builds whose
//! chains upload their artifacts with HTTP PUT to a private nginx (its WebDAV module; whole files
//! only) and to the in-process scripted server of `imgs_test_peers::put_server` (failures on
//! purpose, ranged PUTs). Checked: the bytes that arrived, the checksum header nginx saw, that a
//! header's secret is in no output and no cache file, retries and resuming, that against nginx a
//! broken upload is sent whole again, a refused upload, and `imgs validate`'s errors.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use imgs_test_peers::put_server::{PutAnswer, PutServer, PutServerOptions};
use imgs_test_peers::webdav::{TestWebdav, WebdavOptions};

use crate::support::{
    fingerprints, imgs, imgs_input_error, imgs_ok, new_workspace_with, settings, write,
    write_template,
};

/// The bearer token nginx wants, given to imgs as a sensitive variable.
const TOKEN: &str = "tok-3f9a1c7e-upload-secret";

/// A JSON image `note` (its file uploaded by name, and compressed then uploaded under its
/// fingerprint) and an HCL2 image `note-hcl`, both sending `Authorization: Bearer <token>`.
fn workspace(endpoint: &str) -> tempfile::TempDir {
    let dir = new_workspace_with(
        "imgs-upload-",
        &format!("variables = {{ endpoint = \"{endpoint}\" }}\n"),
    );
    let root = dir.path();
    let headers = serde_json::json!({ "Authorization": "Bearer {{user `upload_token`}}" });
    write_template(
        root,
        "note",
        &serde_json::json!({
            "variables": { "endpoint": "", "upload_token": "" },
            "sensitive-variables": ["upload_token"],
            "builders": [{
                "type": "file", "name": "note",
                "content": "a note for the upload test\n",
                "target": "cache/artifacts/note/note.txt",
            }],
            "post-processors": [
                { "type": "upload", "endpoint": "{{user `endpoint`}}/images/{{ .ImageName }}/",
                  "headers": headers },
                [
                    { "type": "compress", "output": "cache/artifacts/note/note.tar.gz" },
                    { "type": "upload", "endpoint": "{{user `endpoint`}}/by-fingerprint/",
                      "path": "{{ .Fingerprint }}/{{ .BuildName }}-{{ .FileName }}",
                      "headers": headers },
                ],
            ],
        }),
    );
    write(
        root,
        "images/note-hcl/template.pkr.hcl",
        r#"variable "endpoint" {
  type = string
}

variable "upload_token" {
  type      = string
  default   = ""
  sensitive = true
}

source "file" "note" {
  content = "an HCL2 note\n"
  target  = "cache/artifacts/note-hcl/note.txt"
}

build {
  sources = ["source.file.note"]

  post-processor "upload" {
    endpoint = "${var.endpoint}/images/{{ .ImageName }}/"
    headers = {
      Authorization = "Bearer ${var.upload_token}"
    }
  }
}
"#,
    );
    dir
}

fn upload_settings(root: &Path, port: u16) -> insta::Settings {
    let mut s = settings(root);
    s.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-(\[fp\]|[0-9a-f]{12})",
        "[RUN]",
    );
    s.add_filter(&format!(":{port}\\b"), ":[PORT]");
    s.add_filter(r"\d+\.\d\ds", "[T]s");
    // The tar's size varies with its timestamps.
    s.add_filter(r"note\.tar\.gz \(\d+ bytes\)", "note.tar.gz ([N] bytes)");
    s
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn upload_sends_each_file_to_nginx_with_its_checksum_and_keeps_the_token_secret() {
    let nginx = TestWebdav::start_with(&WebdavOptions {
        bearer_token: Some(TOKEN.into()),
    })
    .unwrap_or_else(|why| panic!("{why}"));
    let ws = workspace(&nginx.url());
    let root = ws.path();
    let var = format!("upload_token={TOKEN}");

    let out = imgs(root, &["build", "--all", "-j", "1", "--var", &var]);
    assert_eq!(
        out.code,
        0,
        "{}{}\nnginx:\n{}",
        out.stdout,
        out.stderr,
        nginx.error_log()
    );
    upload_settings(root, nginx.port())
        .bind(|| insta::assert_snapshot!("upload_build", out.stdout));

    // The bytes that arrived are the artifact's.
    let version = |image: &str| root.join("cache/artifacts").join(image).join("current");
    // The fingerprint (the token counts in it, as a hash): the one directory under by-fingerprint,
    // named as the version directory begins.
    let fp = std::fs::read_dir(nginx.files_dir().join("by-fingerprint"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    let [fp] = fp.as_slice() else {
        panic!("one fingerprint directory: {fp:?}")
    };
    let current = std::fs::read_link(version("note")).unwrap();
    assert_eq!(fp.len(), 64, "{fp}");
    assert!(
        fp.starts_with(&*current.file_name().unwrap().to_string_lossy()),
        "{fp} {current:?}"
    );
    let sent = [
        (
            version("note").join("note.txt"),
            "images/note/note.txt".to_string(),
        ),
        (
            version("note").join("note.tar.gz"),
            format!("by-fingerprint/{fp}/note-note.tar.gz"),
        ),
        (
            version("note-hcl").join("note.txt"),
            "images/note-hcl/note.txt".to_string(),
        ),
    ];
    let log = nginx.access_log();
    for (artifact, url_path) in &sent {
        let landed = nginx.files_dir().join(url_path);
        assert_eq!(
            std::fs::read(&landed).unwrap_or_else(|e| panic!("{}: {e}", landed.display())),
            std::fs::read(artifact).unwrap(),
            "{url_path}"
        );
        // nginx saw the file's sha256 in X-Checksum-Sha256, and a whole-file PUT (no range).
        let size = std::fs::metadata(artifact).unwrap().len();
        let line = format!("PUT /{url_path} 201 {size} {} -", sha256(artifact));
        assert!(log.lines().any(|l| l == line), "{line:?} not in:\n{log}");
    }
    assert_eq!(log.lines().count(), 3, "one PUT per file:\n{log}");

    // The token is in no output and no cache file (records, manifest, stat cache, artifacts).
    for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert!(!text.contains(TOKEN), "the token is in {what}:\n{text}");
    }
    for file in files_under(&root.join("cache")) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(TOKEN),
            "the token is in {}",
            file.display()
        );
    }

    // Nothing changed: nothing is built, so nothing is sent again.
    let again = imgs_ok(root, &["build", "--all", "--var", &var]);
    assert!(!again.contains("Uploading"), "{again}");
    assert_eq!(nginx.access_log().lines().count(), 3);
}

#[test]
fn upload_retries_a_failing_server_and_resumes_where_it_takes_ranges() {
    // The first PUT is answered 503; the second breaks after 200 kB, which the server keeps and
    // reports; the rest goes as a ranged PUT.
    let server = PutServer::start(PutServerOptions {
        script: vec![
            PutAnswer::Status {
                status: 503,
                retry_after: None,
            },
            PutAnswer::CutAfter(200_000),
        ],
        ranges: true,
    })
    .unwrap();
    let dir = new_workspace_with("imgs-upload-retry-", "");
    let root = dir.path();
    let disk: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(root.join("disk.raw"), &disk).unwrap();
    write_template(
        root,
        "disk",
        &serde_json::json!({
            "builders": [{ "type": "file", "source": "disk.raw",
                           "target": "cache/artifacts/disk/disk.raw" }],
            "post-processors": [{
                "type": "upload", "endpoint": format!("{}/disks/", server.url()),
                "retries": 2, "retry_delay": "10ms",
            }],
        }),
    );
    let out = imgs(root, &["build"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(server.file("/disks/disk.raw").unwrap(), disk);
    let url = format!("{}/disks/disk.raw", server.url());
    for line in [
        format!("disk: PUT {url}: 503 Service Unavailable: scripted 503; retry 1 of 2 in 10ms"),
        "disk: The server holds 195.3 KiB of 976.6 KiB; sending the rest".to_string(),
        format!("disk: Uploaded cache/artifacts/disk/[V]/disk.raw to {url} (204 No Content)"),
    ] {
        let shown = out.stdout.replace(&fingerprints(root)["disk"][..12], "[V]");
        assert!(shown.contains(&line), "{line:?} not in:\n{shown}");
    }
    let ranged: Vec<_> = server
        .requests()
        .into_iter()
        .filter_map(|r| r.header("content-range").map(str::to_string))
        .collect();
    assert_eq!(ranged, ["bytes 200000-999999/1000000"]);
}

/// A TCP relay to `target` that breaks the first connection after `cut` bytes from the client
/// (the server sees a client vanish half-way through a body); later connections pass whole.
struct CuttingRelay {
    port: u16,
    connections: Arc<AtomicUsize>,
}

impl CuttingRelay {
    fn start(target: u16, cut: u64) -> CuttingRelay {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connections = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&connections);
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let n = count.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect((Ipv4Addr::LOCALHOST, target)) else {
                    continue;
                };
                let limit = if n == 0 { Some(cut) } else { None };
                relay(client, server, limit);
            }
        });
        CuttingRelay { port, connections }
    }
}

fn relay(client: TcpStream, server: TcpStream, limit: Option<u64>) {
    let (mut c_read, mut c_write) = (client.try_clone().unwrap(), client);
    let (mut s_read, mut s_write) = (server.try_clone().unwrap(), server);
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut s_read, &mut c_write);
        let _ = c_write.shutdown(Shutdown::Both);
    });
    std::thread::spawn(move || {
        let copied = match limit {
            Some(n) => std::io::copy(&mut (&mut c_read).take(n), &mut s_write),
            None => std::io::copy(&mut c_read, &mut s_write),
        };
        let _ = copied;
        let _ = s_write.flush();
        if limit.is_some() {
            // Both ends go: the client sees its connection break, nginx a body cut short.
            let _ = s_write.shutdown(Shutdown::Both);
            let _ = c_read.shutdown(Shutdown::Both);
        } else {
            let _ = s_write.shutdown(Shutdown::Write);
        }
    });
}

#[test]
fn against_nginx_a_broken_upload_is_sent_whole_again() {
    let nginx = TestWebdav::start().unwrap_or_else(|why| panic!("{why}"));
    let relay = CuttingRelay::start(nginx.port(), 300_000);
    let dir = new_workspace_with("imgs-upload-nginx-", "");
    let root = dir.path();
    let disk: Vec<u8> = (0..2_000_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(root.join("disk.raw"), &disk).unwrap();
    write_template(
        root,
        "disk",
        &serde_json::json!({
            "builders": [{ "type": "file", "source": "disk.raw",
                           "target": "cache/artifacts/disk/disk.raw" }],
            "post-processors": [{
                "type": "upload", "endpoint": format!("http://127.0.0.1:{}/disks/", relay.port),
                "retry_delay": "10ms",
            }],
        }),
    );
    let out = imgs(root, &["build"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert_eq!(
        std::fs::read(nginx.files_dir().join("disks/disk.raw")).unwrap(),
        disk
    );
    assert!(out.stdout.contains("retry 1 of 3"), "{}", out.stdout);
    assert!(!out.stdout.contains("sending the rest"), "{}", out.stdout);
    // nginx kept nothing of the broken PUT (the HEAD found no file), then took the whole file.
    let log = nginx.access_log();
    let methods: Vec<String> = log
        .lines()
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        methods.last().map(String::as_str),
        Some("PUT /disks/disk.raw 201"),
        "{log}"
    );
    assert!(
        methods.contains(&"HEAD /disks/disk.raw 404".to_string()),
        "{log}"
    );
    assert!(
        log.lines().all(|l| l.ends_with(" -")),
        "no Content-Range was sent:\n{log}"
    );
    assert!(relay.connections.load(Ordering::SeqCst) >= 2);
}

#[test]
fn a_refused_upload_fails_the_build_naming_url_and_status_and_caches_nothing() {
    let nginx = TestWebdav::start_with(&WebdavOptions {
        bearer_token: Some(TOKEN.into()),
    })
    .unwrap_or_else(|why| panic!("{why}"));
    let ws = workspace(&nginx.url());
    let root = ws.path();
    let out = imgs(
        root,
        &[
            "build",
            "-i",
            "note-hcl",
            "--var",
            "upload_token=not-the-token",
        ],
    );
    assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
    upload_settings(root, nginx.port()).bind(|| {
        insta::assert_snapshot!("upload_refused", format!("{}{}", out.stdout, out.stderr))
    });
    let url = format!("{}/images/note-hcl/note.txt", nginx.url());
    assert!(
        out.stderr.contains(&format!(
            "error: building `note-hcl` failed: cannot run `post-processors[0][0] (upload)`: PUT {url} failed: 401 Unauthorized ("
        )),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains("not-the-token") && !out.stderr.contains("not-the-token"));
    assert!(
        !root.join("cache/records/note-hcl").exists()
            || files_under(&root.join("cache/records/note-hcl")).is_empty(),
        "a failed build leaves no record"
    );
    assert!(
        nginx.access_log().lines().count() == 1,
        "a 401 is not retried"
    );
}

#[test]
fn upload_settings_are_checked_with_located_errors() {
    let dir = new_workspace_with("imgs-upload-invalid-", "");
    let root = dir.path();
    write_template(
        root,
        "bad",
        &serde_json::json!({
            "builders": [{ "type": "file", "content": "x", "target": "out/x.txt" }],
            "post-processors": [
                { "type": "upload", "endpont": "http://h/" },
                { "type": "upload", "path": "{{ .FileName }}" },
                { "type": "upload", "endpoint": "ftp://h/x/" },
                { "type": "upload", "endpoint": "http://h/",
                  "headers": { "Bad Name": "v", "Content-Length": "1" },
                  "checksum_type": "crc32", "retries": -1 },
                { "type": "upload", "endpoint": "http://h/", "headers": { "X-Token": ["a"] } },
            ],
        }),
    );
    let err = imgs_input_error(root, &["validate"]);
    settings(root).bind(|| insta::assert_snapshot!("upload_invalid", err));

    // A valid template passes, with a note that Packer would refuse it.
    write_template(
        root,
        "bad",
        &serde_json::json!({
            "builders": [{ "type": "file", "content": "x", "target": "out/x.txt" }],
            "post-processors": [{ "type": "upload", "endpoint": "http://127.0.0.1:8080/images/{{ .ImageName }}/" }],
        }),
    );
    let out = imgs(root, &["validate"]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stderr
            .contains("`upload` is an imgs extension, not a Packer 1.6.6 post-processor"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_build_packer_would_run_cannot_use_upload() {
    let dir = new_workspace_with("imgs-upload-packer-", "");
    let root = dir.path();
    write_template(
        root,
        "mixed",
        &serde_json::json!({
            "builders": [{ "type": "file", "content": "x", "target": "out/x.txt" }],
            "post-processors": [
                { "type": "upload", "endpoint": "http://127.0.0.1:8080/" },
                { "type": "vagrant-cloud", "box_tag": "a/b", "version": "1.0.0",
                  "access_token": "x" },
            ],
        }),
    );
    let err = imgs_input_error(root, &["plan"]);
    assert!(
        err.contains("build `file` is built by Packer (imgs does not run the `vagrant-cloud` post-processor), which has no `upload` post-processor: it is an imgs extension"),
        "{err}"
    );
    assert!(err.contains("images/mixed/template.json:"), "{err}");
}

/// Upload throughput against nginx, imgs beside `curl -T` on the same 100 MiB file in the same run:
/// `cargo test -p imgs --test e2e -- --ignored upload_throughput --nocapture`. imgs's time is a
/// build with the upload step less the same build without it (the `file` builder's copy).
#[test]
#[ignore = "a measurement: run by hand"]
fn upload_throughput_against_nginx_and_curl() {
    let nginx = TestWebdav::start().unwrap_or_else(|why| panic!("{why}"));
    let dir = new_workspace_with("imgs-upload-speed-", "");
    let root = dir.path();
    let size = 100 << 20;
    let disk: Vec<u8> = (0..size as u64)
        .map(|i| ((i * 2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(root.join("disk.raw"), &disk).unwrap();
    let timed_build = |post: serde_json::Value| {
        let mut template = serde_json::json!({
            "builders": [{ "type": "file", "source": "disk.raw",
                           "target": "cache/artifacts/disk/disk.raw" }],
        });
        if !post.is_null() {
            template["post-processors"] = serde_json::json!([post]);
        }
        write_template(root, "disk", &template);
        let started = std::time::Instant::now();
        imgs_ok(root, &["build"]);
        started.elapsed().as_secs_f64()
    };
    let copy_only = timed_build(serde_json::Value::Null);
    let plain = timed_build(serde_json::json!({
        "type": "upload", "endpoint": format!("{}/plain/", nginx.url()), "checksum_type": "none",
    }));
    let with_sha256 = timed_build(serde_json::json!({
        "type": "upload", "endpoint": format!("{}/sha256/", nginx.url()),
    }));
    let url = format!("{}/curl/disk.raw", nginx.url());
    let started = std::time::Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "--fail", "-T"])
        .arg(root.join("disk.raw"))
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let curl = started.elapsed().as_secs_f64();
    let mib = size as f64 / f64::from(1 << 20);
    let rate = |secs: f64| format!("{secs:.2} s, {:.0} MiB/s", mib / secs);
    println!(
        "100 MiB to nginx: imgs upload {} (sha256 header: {}); curl -T {}; the build without upload {copy_only:.2} s",
        rate(plain - copy_only),
        rate(with_sha256 - copy_only),
        rate(curl),
    );
    for sub in ["plain", "sha256", "curl"] {
        let landed = std::fs::metadata(nginx.files_dir().join(sub).join("disk.raw")).unwrap();
        assert_eq!(landed.len(), size as u64, "{sub}");
    }
}
