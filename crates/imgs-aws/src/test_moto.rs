//! A private EC2 API server for tests and benchmarks: moto's server on a free loopback port. Any
//! credentials work; every region lives in the one server. Dropping it kills the server by its PID.
//! The server runs in a temporary directory of its own, where its request recorder writes its file.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(30);
const INSTALL_HINT: &str = "the EC2 tests need moto's server: pip install 'moto[server,ec2]' (`cargo xtask setup` installs it)";

pub struct TestMoto {
    port: u16,
    child: Child,
    // Removed after the server is killed (fields drop after `Drop::drop`).
    _dir: tempfile::TempDir,
}

impl TestMoto {
    /// Starts a server and waits until it answers.
    pub fn start() -> Result<TestMoto, String> {
        let mut last_error = String::new();
        let dir = tempfile::Builder::new()
            .prefix("imgs-moto-")
            .tempdir()
            .map_err(|e| format!("cannot make moto's working directory: {e}"))?;
        // A port picked now may be taken by someone else before moto binds it; then try another.
        for _ in 0..3 {
            let port = free_port()?;
            let mut child = spawn(port, dir.path())?;
            match wait_until_answering(&mut child, port) {
                Ok(()) => {
                    return Ok(TestMoto {
                        port,
                        child,
                        _dir: dir,
                    });
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = why;
                }
            }
        }
        Err(format!("moto did not start: {last_error}"))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL to give as `custom_endpoint_ec2`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Forgets everything created so far (moto's `/moto-api/reset`).
    pub fn reset(&self) -> Result<(), String> {
        let response = http_post(self.port, "/moto-api/reset")?;
        if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
            Ok(())
        } else {
            Err(format!(
                "moto refused the reset: {}",
                response.lines().next().unwrap_or_default()
            ))
        }
    }

    /// Starts moto's request recorder afresh: what it held before is forgotten.
    pub fn start_recording(&self) -> Result<(), String> {
        control(self.port, "/moto-api/recorder/reset-recording")?;
        control(self.port, "/moto-api/recorder/start-recording")
    }

    /// Stops the recorder and returns the EC2 `Action` of every request it recorded, in order.
    pub fn recorded_actions(&self) -> Result<Vec<String>, String> {
        control(self.port, "/moto-api/recorder/stop-recording")?;
        let response = http_get(self.port, "/moto-api/recorder/download-recording")?;
        let (_, recording) = response
            .split_once("\r\n\r\n")
            .ok_or("moto sent no complete HTTP response")?;
        let mut actions = Vec::new();
        for line in recording.lines().filter(|l| !l.trim().is_empty()) {
            actions.extend(recorded_action(line)?);
        }
        Ok(actions)
    }
}

/// A POST to moto's control API that must answer 200.
fn control(port: u16, path: &str) -> Result<(), String> {
    let response = http_post(port, path)?;
    if response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(format!(
            "moto answered {path} with {}",
            response.lines().next().unwrap_or_default()
        ))
    }
}

/// The `Action` of one recorded request: a JSON line whose form body is base64 when `body_encoded`.
/// None for requests that are not EC2 calls (moto's own `/moto-api/` ones).
fn recorded_action(line: &str) -> Result<Option<String>, String> {
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
    Ok(body
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_string))
}

impl Drop for TestMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `moto_server` when on PATH, else the module through python3.
fn spawn(port: u16, dir: &std::path::Path) -> Result<Child, String> {
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
        match Command::new(program)
            .args(&args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
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

fn wait_until_answering(child: &mut Child, port: u16) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the server exited with {status} (is moto's server extra installed? {INSTALL_HINT})"
            ));
        }
        if http_get(port, "/moto-api/").is_ok_and(|r| r.starts_with("HTTP/1")) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("moto did not answer within {START_TIMEOUT:?}"))
}

fn http_get(port: u16, path: &str) -> Result<String, String> {
    request(
        port,
        &format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"),
    )
}

fn http_post(port: u16, path: &str) -> Result<String, String> {
    request(
        port,
        &format!("POST {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n"),
    )
}

/// One plain HTTP/1.0 exchange: enough for moto's control API without an HTTP client.
fn request(port: u16, text: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::recorded_action;

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
}
