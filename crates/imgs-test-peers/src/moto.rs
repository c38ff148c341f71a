//! A private EC2 API server for tests and benchmarks: moto's server on a free loopback port. Any
//! credentials work; every region lives in the one server. Dropping it kills the server by its PID.
//! The server runs in a directory of its own (temporary unless given), where its request recorder
//! writes its file.

use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::free_port;

const START_TIMEOUT: Duration = Duration::from_secs(30);
const INSTALL_HINT: &str = "the EC2 and S3 tests need moto's server: pip install 'moto[server,ec2,s3]' (`cargo xtask setup` installs it)";
/// The EC2 API version of the Query requests [`TestMoto::ec2_query`] sends.
const EC2_API_VERSION: &str = "2016-11-15";

/// How to start the server; `Default` is what a test wants.
#[derive(Clone, Debug, Default)]
pub struct MotoOptions {
    /// Where the server's output goes, its access log (one line per request) among it; nowhere when
    /// None. The server then runs in this file's directory.
    pub log: Option<PathBuf>,
    /// Runs the server in a process group of its own, so a Ctrl-C in the terminal that started it
    /// does not reach it: for a server that is to outlive its starter ([`TestMoto::detach`]).
    pub own_process_group: bool,
}

pub struct TestMoto {
    port: u16,
    ssl: bool,
    child: Child,
    log: Option<PathBuf>,
    detached: bool,
    // Removed after the server is killed (fields drop after `Drop::drop`); None when the server runs
    // in its log's directory.
    _dir: Option<tempfile::TempDir>,
}

/// A server left running on purpose ([`TestMoto::detach`]): whoever detached it stops it by `pid`.
#[derive(Clone, Debug)]
pub struct DetachedMoto {
    pub pid: u32,
    pub port: u16,
}

impl TestMoto {
    /// Starts a server and waits until it answers.
    pub fn start() -> Result<TestMoto, String> {
        TestMoto::start_with(&MotoOptions::default())
    }

    /// A server speaking HTTPS with a self-signed certificate (moto's `--ssl`): for clients told
    /// not to verify certificates. [`TestMoto::endpoint`] is then `https://…`, and the control API
    /// (reset, the request recorder) is out of reach.
    pub fn start_https() -> Result<TestMoto, String> {
        TestMoto::start_server(&MotoOptions::default(), true)
    }

    pub fn start_with(options: &MotoOptions) -> Result<TestMoto, String> {
        TestMoto::start_server(options, false)
    }

    fn start_server(options: &MotoOptions, ssl: bool) -> Result<TestMoto, String> {
        let (dir, temporary) = match &options.log {
            Some(log) => (log.parent().unwrap_or(Path::new(".")).to_path_buf(), None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("imgs-moto-")
                    .tempdir()
                    .map_err(|e| format!("cannot make moto's working directory: {e}"))?;
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        let mut last_error = String::new();
        // A port picked now may be taken by someone else before moto binds it; then try another.
        for _ in 0..3 {
            let port = free_port()?;
            let mut child = spawn(port, &dir, options, ssl)?;
            match wait_until_answering(&mut child, port, ssl) {
                Ok(()) => {
                    return Ok(TestMoto {
                        port,
                        ssl,
                        child,
                        log: options.log.clone(),
                        detached: false,
                        _dir: temporary,
                    });
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = match &options.log {
                        Some(log) => format!("{why}; its output is in {}", log.display()),
                        None => why,
                    };
                }
            }
        }
        Err(format!("moto did not start: {last_error}"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process ID: for reading its CPU time in /proc.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The URL to give as `custom_endpoint_ec2`.
    pub fn endpoint(&self) -> String {
        let scheme = if self.ssl { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The file the server's output goes to, when started with one.
    pub fn log(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Lets the server outlive this value (and this process): nothing is killed on drop. A server
    /// to detach should run in a process group of its own and write its log in a directory that
    /// outlives it ([`MotoOptions`]).
    pub fn detach(mut self) -> DetachedMoto {
        self.detached = true;
        DetachedMoto {
            pid: self.child.id(),
            port: self.port,
        }
    }

    /// Forgets everything created so far (moto's `/moto-api/reset`).
    pub fn reset(&self) -> Result<(), String> {
        self.control("/moto-api/reset")
    }

    /// Starts moto's request recorder afresh: what it held before is forgotten.
    pub fn start_recording(&self) -> Result<(), String> {
        self.control("/moto-api/recorder/reset-recording")?;
        self.control("/moto-api/recorder/start-recording")
    }

    /// Stops the recorder and returns the EC2 `Action` of every request it recorded, in order.
    pub fn recorded_actions(&self) -> Result<Vec<String>, String> {
        let mut actions = Vec::new();
        for line in self.recording()?.lines().filter(|l| !l.trim().is_empty()) {
            actions.extend(recorded_action(line)?);
        }
        Ok(actions)
    }

    /// Stops the recorder and returns the form parameters of every request it recorded (EC2's and
    /// STS's Query calls: `Action` and the call's parameters, decoded), in order.
    pub fn recorded_requests(&self) -> Result<Vec<Vec<(String, String)>>, String> {
        let mut requests = Vec::new();
        for line in self.recording()?.lines().filter(|l| !l.trim().is_empty()) {
            requests.extend(recorded_params(line)?);
        }
        Ok(requests)
    }

    /// Stops the recorder and returns every request it recorded, with the access key that signed
    /// it: which credentials a client used (an assumed role's, say), as well as what it asked.
    pub fn recorded_calls(&self) -> Result<Vec<RecordedCall>, String> {
        let mut calls = Vec::new();
        for line in self.recording()?.lines().filter(|l| !l.trim().is_empty()) {
            let Some(params) = recorded_params(line)? else {
                continue;
            };
            let record: serde_json::Value = serde_json::from_str(line)
                .map_err(|e| format!("a recorded request is not JSON: {e}"))?;
            let authorization = record["headers"]
                .as_object()
                .and_then(|headers| {
                    headers
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case("authorization"))
                })
                .and_then(|(_, value)| value.as_str())
                .unwrap_or_default();
            let access_key = authorization
                .split_once("Credential=")
                .and_then(|(_, rest)| rest.split('/').next())
                .map(str::to_string);
            calls.push(RecordedCall { params, access_key });
        }
        Ok(calls)
    }

    fn recording(&self) -> Result<String, String> {
        self.control("/moto-api/recorder/stop-recording")?;
        let (status, recording) = request(
            self.port,
            "GET",
            "/moto-api/recorder/download-recording",
            &[],
            "",
        )?;
        if status != 200 {
            return Err(format!(
                "moto answered the recording's download with {status}"
            ));
        }
        Ok(recording)
    }

    /// One EC2 Query API call (`Action` and its parameters, as in EC2's API reference), for callers
    /// without the SDK; the XML moto answered. moto checks no signature, but finds the service in
    /// the credential scope of the `Authorization` header.
    pub fn ec2_query(&self, region: &str, params: &[(&str, &str)]) -> Result<String, String> {
        self.query("ec2", EC2_API_VERSION, region, params)
    }

    /// One Query API call to another service moto serves on the same port (`iam` with version
    /// `2010-05-08`, `sts` with `2011-06-15`); the XML moto answered.
    pub fn query(
        &self,
        service: &str,
        version: &str,
        region: &str,
        params: &[(&str, &str)],
    ) -> Result<String, String> {
        let body: Vec<String> = params
            .iter()
            .chain(&[("Version", version)])
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=testing/20200101/{region}/{service}/aws4_request, \
             SignedHeaders=host, Signature=0"
        );
        let (status, response) = request(
            self.port,
            "POST",
            "/",
            &[
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            &body.join("&"),
        )?;
        if status != 200 {
            return Err(format!("moto answered {status} to {params:?}: {response}"));
        }
        Ok(response)
    }

    /// A POST to moto's control API that must answer 200.
    fn control(&self, path: &str) -> Result<(), String> {
        let (status, _) = request(self.port, "POST", path, &[], "")?;
        if status == 200 {
            Ok(())
        } else {
            Err(format!("moto answered {path} with {status}"))
        }
    }
}

impl Drop for TestMoto {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request moto's recorder saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedCall {
    /// Its form parameters, decoded, `Action` among them.
    pub params: Vec<(String, String)>,
    /// The access key ID in its signature.
    pub access_key: Option<String>,
}

impl RecordedCall {
    /// The value of parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn action(&self) -> Option<&str> {
        self.param("Action")
    }
}

/// The `Action` of one recorded request: a JSON line whose form body is base64 when `body_encoded`.
/// None for requests that are not EC2 calls (moto's own `/moto-api/` ones).
pub fn recorded_action(line: &str) -> Result<Option<String>, String> {
    Ok(recorded_params(line)?.and_then(|params| {
        params
            .into_iter()
            .find(|(k, _)| k == "Action")
            .map(|(_, v)| v)
    }))
}

/// The form parameters of one recorded request, decoded, in the order sent; None for moto's own
/// `/moto-api/` requests.
pub fn recorded_params(line: &str) -> Result<Option<Vec<(String, String)>>, String> {
    let record: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("a recorded request is not JSON: {e}"))?;
    let url = record["url"].as_str().unwrap_or_default();
    if url.contains("/moto-api/") {
        return Ok(None);
    }
    let body = record["body"].as_str().unwrap_or_default();
    let body = if record["body_encoded"].as_bool() == Some(true) {
        let bytes = aws_smithy_types::base64::decode(body)
            .map_err(|e| format!("a recorded body is not base64: {e}"))?;
        String::from_utf8_lossy(&bytes).into_owned()
    } else {
        body.to_string()
    };
    Ok(Some(
        body.split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (url_decode(k), url_decode(v))
            })
            .collect(),
    ))
}

/// `%XX` and `+` of a form-encoded value.
fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `moto_server` when on PATH, else the module through python3.
fn spawn(port: u16, dir: &Path, options: &MotoOptions, ssl: bool) -> Result<Child, String> {
    let port = port.to_string();
    let attempts: [(&str, Vec<&str>); 2] = [
        ("moto_server", vec!["-H", "127.0.0.1", "-p", &port]),
        (
            "python3",
            vec!["-m", "moto.server", "-H", "127.0.0.1", "-p", &port],
        ),
    ];
    for (program, args) in attempts {
        if program == "python3" && !python_has_moto() {
            break;
        }
        let mut cmd = Command::new(program);
        cmd.args(&args).current_dir(dir).stdin(Stdio::null());
        if ssl {
            cmd.arg("--ssl");
        }
        match &options.log {
            Some(log) => {
                let file = std::fs::File::create(log)
                    .map_err(|e| format!("cannot create {}: {e}", log.display()))?;
                let copy = file
                    .try_clone()
                    .map_err(|e| format!("cannot share {}: {e}", log.display()))?;
                cmd.stdout(copy).stderr(file);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        if options.own_process_group {
            cmd.process_group(0);
        }
        match cmd.spawn() {
            Ok(child) => return Ok(child),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(format!("cannot start {program}: {error}")),
        }
    }
    Err(format!("moto is not installed: {INSTALL_HINT}"))
}

fn python_has_moto() -> bool {
    Command::new("python3")
        .args(["-c", "import moto.server"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_until_answering(child: &mut Child, port: u16, ssl: bool) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the server exited with {status} (is moto's server extra installed? {INSTALL_HINT})"
            ));
        }
        let answering = if ssl {
            // HTTPS: the listening port is as far as a plain client can tell.
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
        } else {
            request(port, "GET", "/moto-api/", &[], "").is_ok()
        };
        if answering {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("moto did not answer within {START_TIMEOUT:?}"))
}

/// One plain HTTP/1.0 exchange on loopback, enough for moto without an HTTP client: the status and
/// the body.
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};
    let mut text = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("moto sent no complete HTTP response")?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("moto sent no HTTP status")?;
    Ok((status, body.to_string()))
}

fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{recorded_action, url_encode};

    #[test]
    fn a_recorded_ec2_request_gives_its_action_and_a_control_request_none() {
        let body = aws_smithy_types::base64::encode("Action=RunInstances&Version=2016-11-15");
        let ec2 = serde_json::json!({
            "url": "http://127.0.0.1:5000/", "body": body, "body_encoded": true,
        });
        assert_eq!(
            recorded_action(&ec2.to_string()).unwrap().as_deref(),
            Some("RunInstances")
        );
        let plain = serde_json::json!({
            "url": "http://127.0.0.1:5000/", "body": "Version=1&Action=DescribeImages", "body_encoded": false,
        });
        assert_eq!(
            recorded_action(&plain.to_string()).unwrap().as_deref(),
            Some("DescribeImages")
        );
        let control = serde_json::json!({
            "url": "http://127.0.0.1:5000/moto-api/reset", "body": "", "body_encoded": false,
        });
        assert_eq!(recorded_action(&control.to_string()).unwrap(), None);
        assert!(recorded_action("not json").is_err());
    }

    #[test]
    fn recorded_parameters_are_decoded() {
        let line = serde_json::json!({
            "url": "http://127.0.0.1:5000/",
            "body": "Action=CopyImage&KmsKeyId=alias%2Feu+west&Encrypted=true",
            "body_encoded": false,
        });
        let params = super::recorded_params(&line.to_string()).unwrap().unwrap();
        assert_eq!(
            params,
            [
                ("Action".to_string(), "CopyImage".to_string()),
                ("KmsKeyId".to_string(), "alias/eu west".to_string()),
                ("Encrypted".to_string(), "true".to_string()),
            ]
        );
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            url_encode("ssh-ed25519 AAAA+/=="),
            "ssh-ed25519%20AAAA%2B%2F%3D%3D"
        );
        assert_eq!(url_encode("a.b_c~d-e"), "a.b_c~d-e");
    }
}
