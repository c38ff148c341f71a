//! A private HTTP PUT server for tests and benchmarks: Debian's nginx with its WebDAV module on a
//! free loopback port, its configuration, pid file, logs, temporary files and the files it receives
//! all in a temporary directory. One process (`master_process off`, which also keeps a root nginx
//! from switching to a worker user), in the foreground, killed by its PID when dropped.
//!
//! nginx's WebDAV module takes whole files only: a PUT with `Content-Range` is answered 501, and a
//! PUT's body goes to a temporary file that is renamed into place once complete, so a broken upload
//! leaves nothing at its URL. Its access log records, per request, the method, the path, the status,
//! the body's length and the `X-Checksum-Sha256` and `Content-Range` headers (never
//! `Authorization`).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::free_port;

const NGINX: &str = "/usr/sbin/nginx";
const START_TIMEOUT: Duration = Duration::from_secs(10);
const INSTALL_HINT: &str =
    "the upload tests need Debian's `nginx-light` (`cargo xtask setup` installs it)";

/// How to start the server; `Default` takes every PUT.
#[derive(Clone, Debug, Default)]
pub struct WebdavOptions {
    /// When set, a request without `Authorization: Bearer TOKEN` is answered 401.
    pub bearer_token: Option<String>,
}

pub struct TestWebdav {
    port: u16,
    dir: PathBuf,
    child: Child,
}

impl TestWebdav {
    /// Starts a server that takes every PUT, and waits until it answers.
    pub fn start() -> Result<TestWebdav, String> {
        TestWebdav::start_with(&WebdavOptions::default())
    }

    pub fn start_with(options: &WebdavOptions) -> Result<TestWebdav, String> {
        if !Path::new(NGINX).is_file() {
            return Err(format!("{NGINX} is missing: {INSTALL_HINT}"));
        }
        let dir = tempfile::Builder::new()
            .prefix("imgs-webdav-")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        for sub in ["files", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .map_err(|e| format!("cannot create nginx's {sub} directory: {e}"))?;
        }
        // A port picked now may be taken by someone else before nginx binds it; then try another.
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let config = dir.path().join("nginx.conf");
            std::fs::write(&config, nginx_config(dir.path(), port, options))
                .map_err(|e| format!("cannot write nginx.conf: {e}"))?;
            let error_log = dir.path().join("error.log");
            let mut child = Command::new(NGINX)
                .arg("-p")
                .arg(dir.path())
                .arg("-e")
                .arg(&error_log)
                .arg("-c")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("cannot start {NGINX}: {e}"))?;
            match wait_until_listening(&mut child, port) {
                Ok(()) => {
                    return Ok(TestWebdav {
                        port,
                        // From here on the server owns the directory and removes it on drop.
                        dir: dir.keep(),
                        child,
                    });
                }
                Err(why) => {
                    let _ = child.kill();
                    let output = child.wait_with_output().ok();
                    let stderr = output
                        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                        .unwrap_or_default();
                    let log = std::fs::read_to_string(&error_log).unwrap_or_default();
                    last_error = format!("{why}\nnginx said:\n{stderr}{log}");
                }
            }
        }
        Err(format!("nginx did not start: {last_error}"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, without a final `/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Where the files PUT to `/a/b` land: `files_dir()/a/b`.
    pub fn files_dir(&self) -> PathBuf {
        self.dir.join("files")
    }

    /// The access log so far: `METHOD PATH STATUS LENGTH CHECKSUM CONTENT-RANGE` per request, `-`
    /// for what a request did not have.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default()
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    /// The server's PID, to check that dropping it ends it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TestWebdav {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_until_listening(child: &mut Child, port: u16) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("nginx exited with {status}"));
        }
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("nginx did not listen within {START_TIMEOUT:?}"))
}

fn nginx_config(dir: &Path, port: u16, options: &WebdavOptions) -> String {
    let d = dir.display();
    let mut config = String::new();
    let mut line = |text: String| {
        let _ = writeln!(config, "{text}");
    };
    line("daemon off;".into());
    // One process: nothing forks, the PID is the server, and no worker switches user.
    line("master_process off;".into());
    line(format!("pid {d}/nginx.pid;"));
    line(format!("error_log {d}/error.log warn;"));
    line("events { worker_connections 256; }".into());
    line("http {".into());
    line(
        "  log_format upload '$request_method $uri $status $content_length $http_x_checksum_sha256 $http_content_range';"
            .into(),
    );
    line(format!("  access_log {d}/access.log upload;"));
    line(format!("  client_body_temp_path {d}/client_body;"));
    line(format!("  proxy_temp_path {d}/proxy;"));
    line(format!("  fastcgi_temp_path {d}/fastcgi;"));
    line(format!("  uwsgi_temp_path {d}/uwsgi;"));
    line(format!("  scgi_temp_path {d}/scgi;"));
    line("  server {".into());
    line(format!("    listen 127.0.0.1:{port};"));
    line(format!("    root {d}/files;"));
    line("    location / {".into());
    if let Some(token) = &options.bearer_token {
        line(format!(
            "      if ($http_authorization != \"Bearer {token}\") {{ return 401; }}"
        ));
    }
    line("      dav_methods PUT DELETE MKCOL;".into());
    line("      create_full_put_path on;".into());
    line("      dav_access user:rw group:r all:r;".into());
    line("      client_max_body_size 0;".into());
    line("    }".into());
    line("  }".into());
    line("}".into());
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PUT by hand (HTTP/1.0, so nginx closes the connection after answering): the status.
    fn put(port: u16, path: &str, headers: &str, body: &[u8]) -> u16 {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).unwrap();
        write!(
            stream,
            "PUT {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n{headers}\r\n",
            body.len()
        )
        .unwrap();
        stream.write_all(body).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    #[test]
    fn files_put_land_in_the_files_directory_and_ranges_are_refused() {
        let server = TestWebdav::start().unwrap_or_else(|why| panic!("{why}"));
        assert_eq!(put(server.port(), "/a/b/c.txt", "", b"hello"), 201);
        assert_eq!(
            std::fs::read(server.files_dir().join("a/b/c.txt")).unwrap(),
            b"hello"
        );
        assert_eq!(
            put(
                server.port(),
                "/a/b/c.txt",
                "Content-Range: bytes 5-9/10\r\n",
                b"world"
            ),
            501
        );
        assert!(
            server.access_log().contains("PUT /a/b/c.txt 201 5"),
            "{}",
            server.access_log()
        );
        let pid = server.pid();
        drop(server);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "nginx {pid} outlived its guard"
        );
    }

    #[test]
    fn a_token_is_required_when_given() {
        let server = TestWebdav::start_with(&WebdavOptions {
            bearer_token: Some("t0ken".into()),
        })
        .unwrap_or_else(|why| panic!("{why}"));
        assert_eq!(put(server.port(), "/x", "", b"x"), 401);
        assert_eq!(
            put(server.port(), "/x", "Authorization: Bearer wrong\r\n", b"x"),
            401
        );
        assert_eq!(
            put(server.port(), "/x", "Authorization: Bearer t0ken\r\n", b"x"),
            201
        );
    }
}
