//! A tiny HTTP/1.1 server for upload tests, on a free loopback port, whose behaviour a test
//! scripts: what real servers do only now and then (a 503, a connection broken half-way through a
//! body) it does on the request the test says, and it can take `Content-Range` PUTs, which nginx's
//! WebDAV module cannot. Files are kept in memory; every request is recorded (method, path,
//! headers, body length). Threads of this process, not a child: dropping the server stops its
//! listener.
//!
//! - `PUT` stores the body (201, or 204 when it replaces a file), unless the script says otherwise
//!   for that PUT; with [`PutServerOptions::ranges`], a PUT with `Content-Range: bytes N-M/SIZE`
//!   appends to a file that holds exactly N bytes (204), and one that does not fit is answered 416;
//!   without it, such a PUT is answered 501, as nginx answers it.
//! - `HEAD` answers 200 with the file's length (and `Accept-Ranges: bytes` with `ranges`), or 404.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with one PUT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutAnswer {
    /// Takes it as described in the module doc.
    Store,
    /// Reads the body, keeps nothing, and answers this status (with `Retry-After` when given).
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Keeps the first `n` bytes of the body as the file (what a server that writes in place holds
    /// after a client vanished) and closes the connection without answering.
    CutAfter(u64),
}

/// How to start the server.
#[derive(Clone, Debug, Default)]
pub struct PutServerOptions {
    /// Answers for the PUTs in the order they come; once used up, every PUT is [`PutAnswer::Store`].
    pub script: Vec<PutAnswer>,
    /// Takes `Content-Range` PUTs and says `Accept-Ranges: bytes` on HEAD.
    pub ranges: bool,
}

/// One request the server saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Names lower-cased, in the order sent.
    pub headers: Vec<(String, String)>,
    /// The body bytes it read.
    pub body_len: u64,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<PutAnswer>,
    ranges: bool,
    files: BTreeMap<String, Vec<u8>>,
    requests: Vec<Recorded>,
}

pub struct PutServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    listener: Option<std::thread::JoinHandle<()>>,
}

impl PutServer {
    pub fn start(options: PutServerOptions) -> Result<PutServer, String> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening port: {e}"))?
            .port();
        let state = Arc::new(Mutex::new(State {
            script: options.script.into(),
            ranges: options.ranges,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || serve(stream, &state));
                }
            })
        };
        Ok(PutServer {
            port,
            state,
            stop,
            listener: Some(handle),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, without a final `/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The file at `path` (`/a/b`), if the server holds one.
    pub fn file(&self, path: &str) -> Option<Vec<u8>> {
        self.state().files.get(path).cloned()
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for PutServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the listener up so it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(handle) = self.listener.take() {
            let _ = handle.join();
        }
    }
}

/// Serves one connection, request after request, until the client closes it or the script breaks it.
fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut writer = writer;
    let mut reader = BufReader::new(stream);
    loop {
        let Some((method, path, headers)) = read_head(&mut reader) else {
            return;
        };
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let length: u64 = header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut lock = state.lock().unwrap_or_else(|e| e.into_inner());
        let answer = if method == "PUT" {
            lock.script.pop_front().unwrap_or(PutAnswer::Store)
        } else {
            PutAnswer::Store
        };
        drop(lock);
        let body_limit = match answer {
            PutAnswer::CutAfter(n) => n.min(length),
            _ => length,
        };
        let mut body = Vec::new();
        if (&mut reader)
            .take(body_limit)
            .read_to_end(&mut body)
            .is_err()
        {
            return;
        }
        let mut lock = state.lock().unwrap_or_else(|e| e.into_inner());
        lock.requests.push(Recorded {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
            body_len: body.len() as u64,
        });
        let (status, extra, reply_body): (u16, Vec<String>, Vec<u8>) =
            match (method.as_str(), answer) {
                ("PUT", PutAnswer::CutAfter(_)) => {
                    lock.files.insert(path, body);
                    drop(lock);
                    let _ = writer.shutdown(Shutdown::Both);
                    return;
                }
                (
                    "PUT",
                    PutAnswer::Status {
                        status,
                        retry_after,
                    },
                ) => (
                    status,
                    retry_after
                        .map(|s| format!("Retry-After: {s}"))
                        .into_iter()
                        .collect(),
                    format!("scripted {status}\n").into_bytes(),
                ),
                ("PUT", PutAnswer::Store) => match header("content-range") {
                    Some(_) if !lock.ranges => {
                        (501, Vec::new(), b"PUT with range is unsupported\n".to_vec())
                    }
                    Some(range) => match parse_range(&range) {
                        Some((from, _, _))
                            if lock.files.get(&path).map(|f| f.len() as u64) == Some(from) =>
                        {
                            lock.files.get_mut(&path).expect("checked").extend(body);
                            (204, Vec::new(), Vec::new())
                        }
                        _ => (416, Vec::new(), b"range does not fit\n".to_vec()),
                    },
                    None => {
                        let replaced = lock.files.insert(path, body).is_some();
                        (if replaced { 204 } else { 201 }, Vec::new(), Vec::new())
                    }
                },
                ("HEAD", _) => match lock.files.get(&path) {
                    Some(file) => {
                        let mut extra = vec![format!("Content-Length: {}", file.len())];
                        if lock.ranges {
                            extra.push("Accept-Ranges: bytes".into());
                        }
                        (200, extra, Vec::new())
                    }
                    None => (404, vec!["Content-Length: 0".into()], Vec::new()),
                },
                _ => (405, Vec::new(), Vec::new()),
            };
        drop(lock);
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
        for line in &extra {
            head.push_str(line);
            head.push_str("\r\n");
        }
        if method != "HEAD" {
            head.push_str(&format!("Content-Length: {}\r\n", reply_body.len()));
        }
        head.push_str("\r\n");
        if writer.write_all(head.as_bytes()).is_err()
            || (method != "HEAD" && writer.write_all(&reply_body).is_err())
        {
            return;
        }
    }
}

/// A request's method, path and headers (names lower-cased).
type Head = (String, String, Vec<(String, String)>);

/// The request line and headers; `None` at the end of the connection.
fn read_head(reader: &mut impl BufRead) -> Option<Head> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    Some((method, path, headers))
}

/// `bytes N-M/SIZE`.
fn parse_range(text: &str) -> Option<(u64, u64, u64)> {
    let rest = text.trim().strip_prefix("bytes ")?;
    let (span, size) = rest.split_once('/')?;
    let (from, to) = span.split_once('-')?;
    Some((from.parse().ok()?, to.parse().ok()?, size.parse().ok()?))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
