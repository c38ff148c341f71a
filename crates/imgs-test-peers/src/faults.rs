//! A fault-injecting HTTP/1.1 proxy in front of an EC2 API server (a [`TestMoto`](crate::TestMoto)):
//! a client reaches it through `custom_endpoint_ec2` exactly as it reaches the server, and the proxy
//! fails some of the calls the way EC2 fails them. Threads of this process, not a child: dropping the
//! proxy stops its listener, breaks its open connections and joins every thread.
//!
//! Each request's EC2 Query `Action` is read from its form body (or its query string). A
//! [`FaultPlan`] says what share of each action's calls to fail (`*` for every action it does not
//! name) and with which [`FaultKind`]s, by weight. Whether the n-th call of an action is failed, and
//! how, depends only on the seed, the action and n, so a seed gives the same faults to the same calls
//! whatever order concurrent calls arrive in.
//!
//! The kinds, and what the AWS SDK for Rust's standard retry strategy makes of them
//! (`aws-runtime`'s `AwsErrorCodeClassifier`, `aws-smithy-runtime`'s `HttpStatusCodeClassifier`
//! and `TransientErrorClassifier`):
//!
//! | kind | answer | SDK |
//! |---|---|---|
//! | [`FaultKind::RequestLimitExceeded`] | 400 `RequestLimitExceeded`, how EC2 throttles an account | retried: a throttling code |
//! | [`FaultKind::Throttling`] | 503 `Throttling` | retried: a throttling code (and a 503) |
//! | [`FaultKind::InternalError`] | 500 `InternalError` | retried: a transient status (500, 502, 503, 504) |
//! | [`FaultKind::Unavailable`] | 503 `Unavailable` | retried: a transient status |
//! | [`FaultKind::Reset`] | the connection closed without an answer; the server never sees the call | retried: an I/O error |
//! | [`FaultKind::Delay`] | the call forwarded after a pause of the plan's delay | an answer, late |
//!
//! The SDK retries no other 4xx code: `RequestLimitExceeded` is retried for its code, not its status.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the proxy waits for the server's answer to one call.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(120);
/// How long an idle client connection is kept open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// One way of failing a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// HTTP 400 with code `RequestLimitExceeded`: EC2's throttling.
    RequestLimitExceeded,
    /// HTTP 503 with code `Throttling`.
    Throttling,
    /// HTTP 500 with code `InternalError`.
    InternalError,
    /// HTTP 503 with code `Unavailable`.
    Unavailable,
    /// The connection closed without an answer; the call never reaches the server.
    Reset,
    /// The call is forwarded after a pause (the plan's delay), and its answer passed on.
    Delay,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 6] = [
        FaultKind::RequestLimitExceeded,
        FaultKind::Throttling,
        FaultKind::InternalError,
        FaultKind::Unavailable,
        FaultKind::Reset,
        FaultKind::Delay,
    ];

    /// Its name in counts and reports: `request_limit_exceeded`, `reset`, ...
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::RequestLimitExceeded => "request_limit_exceeded",
            FaultKind::Throttling => "throttling",
            FaultKind::InternalError => "internal_error",
            FaultKind::Unavailable => "unavailable",
            FaultKind::Reset => "reset",
            FaultKind::Delay => "delay",
        }
    }

    /// The HTTP status, EC2 error code and message of an error answer; None for the kinds that
    /// answer no error.
    fn error_answer(self) -> Option<(u16, &'static str, &'static str)> {
        match self {
            FaultKind::RequestLimitExceeded => {
                Some((400, "RequestLimitExceeded", "Request limit exceeded."))
            }
            FaultKind::Throttling => Some((503, "Throttling", "Rate exceeded")),
            FaultKind::InternalError => {
                Some((500, "InternalError", "An internal error has occurred."))
            }
            FaultKind::Unavailable => Some((
                503,
                "Unavailable",
                "The server is overloaded and can't handle the request.",
            )),
            FaultKind::Reset | FaultKind::Delay => None,
        }
    }
}

/// Which calls to fail, and how. The default fails nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// The share of calls failed (0 to 1), by action; `*` for the actions not named.
    rates: BTreeMap<String, f64>,
    /// The kinds a failed call gets, by weight; [`FaultKind::RequestLimitExceeded`] when empty.
    kinds: Vec<(FaultKind, u32)>,
    /// The shortest and longest pause of [`FaultKind::Delay`].
    delay: (Duration, Duration),
    /// How many calls the plan fails at most; no limit when None.
    budget: Option<u64>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan::none()
    }
}

impl FaultPlan {
    /// Fails nothing: every call is forwarded.
    pub fn none() -> FaultPlan {
        FaultPlan {
            rates: BTreeMap::new(),
            kinds: Vec::new(),
            delay: (Duration::from_secs(1), Duration::from_secs(3)),
            budget: None,
        }
    }

    /// Every call of `action` (`*`: of every action not named otherwise) fails with `kind`.
    pub fn always(action: &str, kind: FaultKind) -> FaultPlan {
        FaultPlan::none().rate(action, 1.0).kind(kind, 1)
    }

    /// `rate` of every action's calls fail, with every kind: mostly errors and resets, and a small
    /// share of delays (one in eleven faults) of 1 to 3 s.
    pub fn mixed(rate: f64) -> FaultPlan {
        FaultPlan::none()
            .rate("*", rate)
            .kind(FaultKind::RequestLimitExceeded, 3)
            .kind(FaultKind::Throttling, 2)
            .kind(FaultKind::InternalError, 2)
            .kind(FaultKind::Unavailable, 2)
            .kind(FaultKind::Reset, 1)
            .kind(FaultKind::Delay, 1)
    }

    /// Fails `rate` (0 to 1) of the calls of `action`, or with `*` of every action not named.
    pub fn rate(mut self, action: &str, rate: f64) -> FaultPlan {
        self.rates.insert(action.to_string(), rate.clamp(0.0, 1.0));
        self
    }

    /// A failed call gets `kind` with this weight among the kinds given.
    pub fn kind(mut self, kind: FaultKind, weight: u32) -> FaultPlan {
        self.kinds.retain(|(k, _)| *k != kind);
        self.kinds.push((kind, weight));
        self
    }

    /// [`FaultKind::Delay`] pauses between `min` and `max`.
    pub fn delays(mut self, min: Duration, max: Duration) -> FaultPlan {
        self.delay = (min, max.max(min));
        self
    }

    /// Fails no more than `n` calls in all, then lets every call through: with a rate of 1 on one
    /// action, its first `n` calls fail.
    pub fn at_most(mut self, n: u64) -> FaultPlan {
        self.budget = Some(n);
        self
    }

    fn rate_for(&self, action: &str) -> f64 {
        self.rates
            .get(action)
            .or_else(|| self.rates.get("*"))
            .copied()
            .unwrap_or(0.0)
    }

    /// The fault of a call, from two numbers drawn for it (uniform in [0, 1)).
    fn decide(&self, action: &str, draw: f64, pick: f64, pause: f64) -> Option<Fault> {
        if draw >= self.rate_for(action) {
            return None;
        }
        let total: u32 = self.kinds.iter().map(|(_, w)| w).sum();
        let kind = if total == 0 {
            FaultKind::RequestLimitExceeded
        } else {
            let mut point = pick * f64::from(total);
            let mut chosen = self.kinds.last().map(|(k, _)| *k).expect("total > 0");
            for (kind, weight) in &self.kinds {
                if point < f64::from(*weight) {
                    chosen = *kind;
                    break;
                }
                point -= f64::from(*weight);
            }
            chosen
        };
        let (min, max) = self.delay;
        Some(Fault {
            kind,
            delay: min + (max - min).mul_f64(pause),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Fault {
    kind: FaultKind,
    delay: Duration,
}

/// What the proxy did so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Every call that carried an EC2 `Action`.
    pub requests: u64,
    /// Calls forwarded as they came, without a fault.
    pub passed: u64,
    /// Faults by kind ([`FaultKind::name`]).
    pub faults: BTreeMap<String, u64>,
    /// Per action: its calls, and its faults by kind.
    pub actions: BTreeMap<String, ActionCounts>,
}

impl FaultCounts {
    /// Every fault, of every kind.
    pub fn total_faults(&self) -> u64 {
        self.faults.values().sum()
    }

    /// Faults of `action`, of every kind.
    pub fn faults_of(&self, action: &str) -> u64 {
        self.actions
            .get(action)
            .map_or(0, |a| a.faults.values().sum())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ActionCounts {
    pub requests: u64,
    pub faults: BTreeMap<String, u64>,
}

struct State {
    plan: FaultPlan,
    counts: FaultCounts,
    /// How many calls of each action came so far: the n of the n-th call's draw.
    seen: HashMap<String, u64>,
    /// Calls failed since the plan was set, against its budget.
    failed_under_plan: u64,
}

struct Shared {
    seed: u64,
    upstream_port: u16,
    state: Mutex<State>,
    stop: AtomicBool,
    /// The sockets of open connections (clients' and the server's), by connection: shut down when
    /// the proxy is dropped, so no thread waits on them.
    sockets: Mutex<HashMap<u64, Vec<TcpStream>>>,
    next_connection: AtomicU64,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, connection: u64, socket: &TcpStream) {
        if let Ok(clone) = socket.try_clone() {
            self.sockets
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(connection)
                .or_default()
                .push(clone);
        }
    }

    fn forget(&self, connection: u64) {
        self.sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&connection);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The fault for the next call of `action`, counted.
    fn verdict(&self, action: &str) -> Option<Fault> {
        let mut state = self.state();
        let n = {
            let seen = state.seen.entry(action.to_string()).or_default();
            *seen += 1;
            *seen
        };
        let mut rng = SplitMix::new(self.seed ^ fnv1a(action) ^ n.wrapping_mul(0x9e37_79b9));
        let spent = state
            .plan
            .budget
            .is_some_and(|budget| state.failed_under_plan >= budget);
        let fault = state
            .plan
            .decide(action, rng.unit(), rng.unit(), rng.unit())
            .filter(|_| !spent);
        if fault.is_some() {
            state.failed_under_plan += 1;
        }
        let counts = &mut state.counts;
        counts.requests += 1;
        let per_action = counts.actions.entry(action.to_string()).or_default();
        per_action.requests += 1;
        match fault {
            Some(fault) => {
                let name = fault.kind.name().to_string();
                *per_action.faults.entry(name.clone()).or_default() += 1;
                *counts.faults.entry(name).or_default() += 1;
            }
            None => counts.passed += 1,
        }
        fault
    }
}

/// The proxy: a listener on a free loopback port forwarding to the server on `upstream_port`.
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy in front of the EC2 API server on loopback port `upstream_port`, failing
    /// calls as `plan` says with draws from `seed`.
    pub fn start(upstream_port: u16, seed: u64, plan: FaultPlan) -> Result<FaultProxy, String> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| format!("cannot listen on loopback: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening port: {e}"))?
            .port();
        let shared = Arc::new(Shared {
            seed,
            upstream_port,
            state: Mutex::new(State {
                plan,
                counts: FaultCounts::default(),
                seen: HashMap::new(),
                failed_under_plan: 0,
            }),
            stop: AtomicBool::new(false),
            sockets: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(0),
            workers: Mutex::new(Vec::new()),
        });
        let accepting = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || accept(&listener, &accepting))
            .map_err(|e| format!("cannot start the proxy's thread: {e}"))?;
        Ok(FaultProxy {
            port,
            shared,
            listener: Some(handle),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL to give as `custom_endpoint_ec2`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the plan from the next call on (calls already decided keep their fault): with
    /// [`FaultPlan::none`], to let a clean-up or `imgs gc` through.
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut state = self.shared.state();
        state.plan = plan;
        state.failed_under_plan = 0;
    }

    /// The calls seen, passed and failed so far.
    pub fn counts(&self) -> FaultCounts {
        self.shared.state().counts.clone()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the listener up so it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(handle) = self.listener.take() {
            let _ = handle.join();
        }
        let sockets: Vec<TcpStream> = self
            .shared
            .sockets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .flat_map(|(_, sockets)| sockets)
            .collect();
        for socket in sockets {
            let _ = socket.shutdown(Shutdown::Both);
        }
        let workers = std::mem::take(
            &mut *self
                .shared
                .workers
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for worker in workers {
            let _ = worker.join();
        }
    }
}

fn accept(listener: &TcpListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping() {
            break;
        }
        let Ok(stream) = stream else { continue };
        let connection = shared.next_connection.fetch_add(1, Ordering::SeqCst);
        shared.register(connection, &stream);
        let serving = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("fault-proxy-conn".into())
            .spawn(move || {
                serve(stream, connection, &serving);
                serving.forget(connection);
            });
        let mut workers = shared.workers.lock().unwrap_or_else(|e| e.into_inner());
        workers.retain(|w| !w.is_finished());
        if let Ok(worker) = spawned {
            workers.push(worker);
        }
    }
}

/// Serves one client connection, call after call, until the client closes it, a fault resets it,
/// or the proxy stops.
fn serve(stream: TcpStream, connection: u64, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !shared.stopping() {
        let Some(request) = Request::read(&mut reader) else {
            return;
        };
        let fault = request.action().and_then(|action| shared.verdict(&action));
        let answer = match fault.map(|f| (f, f.kind.error_answer())) {
            Some((_, Some((status, code, message)))) => error_response(status, code, message),
            Some((fault, None)) if fault.kind == FaultKind::Reset => {
                let _ = writer.shutdown(Shutdown::Both);
                return;
            }
            Some((fault, None)) => {
                if !pause(fault.delay, shared) {
                    return;
                }
                match forward(&request, connection, shared) {
                    Some(answer) => answer,
                    None => return,
                }
            }
            None => match forward(&request, connection, shared) {
                Some(answer) => answer,
                None => return,
            },
        };
        if writer.write_all(&answer).is_err() || request.closes() {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Sleeps `delay` unless the proxy stops first; whether it slept it all.
fn pause(delay: Duration, shared: &Shared) -> bool {
    let until = Instant::now() + delay;
    while Instant::now() < until {
        if shared.stopping() {
            return false;
        }
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(50)));
    }
    true
}

/// One HTTP/1.1 request as it came.
struct Request {
    method: String,
    target: String,
    /// Names as sent, in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// The next request on the connection; None at its end or on a request that cannot be read.
    fn read(reader: &mut impl BufRead) -> Option<Request> {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next()?.to_string();
        let target = parts.next()?.to_string();
        let headers = read_headers(reader)?;
        let body = read_body(reader, &headers, false)?;
        Some(Request {
            method,
            target,
            headers,
            body,
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The client asked to close the connection after this call.
    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    /// The EC2 Query `Action`: of the form body, else of the query string.
    fn action(&self) -> Option<String> {
        let form = self
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let from_body = form
            .then(|| form_value(&String::from_utf8_lossy(&self.body), "Action"))
            .flatten();
        from_body.or_else(|| {
            let (_, query) = self.target.split_once('?')?;
            form_value(query, "Action")
        })
    }

    /// The request as sent to the server: the same, on a connection of its own that closes after.
    fn upstream_bytes(&self) -> Vec<u8> {
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.target);
        for (name, value) in &self.headers {
            let skip = [
                "connection",
                "transfer-encoding",
                "content-length",
                "keep-alive",
            ];
            if skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
                continue;
            }
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// Sends `request` to the server and returns its answer, framed for the client's kept-alive
/// connection; None when the server could not be reached or answered nothing whole.
fn forward(request: &Request, connection: u64, shared: &Shared) -> Option<Vec<u8>> {
    let mut upstream = TcpStream::connect((Ipv4Addr::LOCALHOST, shared.upstream_port)).ok()?;
    shared.register(connection, &upstream);
    upstream.set_read_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
    upstream.write_all(&request.upstream_bytes()).ok()?;
    let mut reader = BufReader::new(upstream);
    let mut status_line = String::new();
    if reader.read_line(&mut status_line).ok()? == 0 {
        return None;
    }
    let headers = read_headers(&mut reader)?;
    let no_body = request.method == "HEAD"
        || status_line
            .split_whitespace()
            .nth(1)
            .is_some_and(|s| s.starts_with('1') || s == "204" || s == "304");
    let body = if no_body {
        Vec::new()
    } else {
        read_body(&mut reader, &headers, true)?
    };
    let mut head = status_line.trim_end().to_string();
    head.push_str("\r\n");
    for (name, value) in &headers {
        let skip = [
            "connection",
            "transfer-encoding",
            "content-length",
            "keep-alive",
        ];
        if skip.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            continue;
        }
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut answer = head.into_bytes();
    answer.extend_from_slice(&body);
    Some(answer)
}

/// EC2's error answer: its XML body, with a request ID.
fn error_response(status: u16, code: &str, message: &str) -> Vec<u8> {
    static REQUESTS: AtomicU64 = AtomicU64::new(0);
    let n = REQUESTS.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("00000000-0000-4000-8000-{n:012x}");
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
    );
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml;charset=UTF-8\r\n\
         x-amzn-RequestId: {request_id}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Header lines up to the empty one; None at the end of the stream.
fn read_headers(reader: &mut impl BufRead) -> Option<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            return Some(headers);
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
}

/// A message's body: by `Content-Length`, chunked, or (an answer, `to_close`) up to the end of the
/// stream.
fn read_body(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
    to_close: bool,
) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    let chunked =
        header(headers, "transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            let mut size_line = String::new();
            if reader.read_line(&mut size_line).ok()? == 0 {
                return None;
            }
            let size_text = size_line.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_text, 16).ok()?;
            if size == 0 {
                // Trailers, up to the empty line.
                read_headers(reader)?;
                return Some(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).ok()?;
            let mut end = String::new();
            reader.read_line(&mut end).ok()?;
        }
    }
    match header(headers, "content-length").and_then(|v| v.trim().parse::<u64>().ok()) {
        Some(length) => {
            reader.take(length).read_to_end(&mut body).ok()?;
            (body.len() as u64 == length).then_some(body)
        }
        None if to_close => {
            reader.read_to_end(&mut body).ok()?;
            Some(body)
        }
        None => Some(body),
    }
}

/// The value of `name` in a form-encoded text, decoded.
fn form_value(form: &str, name: &str) -> Option<String> {
    form.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key) == name).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
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

/// FNV-1a of a text: a stable number for an action's name.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64: a small, seedable generator; good enough to spread faults, and no dependency.
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64) -> SplitMix {
        SplitMix(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the EC2 server: answers every call `200` with `ok ACTION` (chunked, as a
    /// server may), and counts the calls it saw.
    struct Upstream {
        port: u16,
        calls: Arc<AtomicU64>,
    }

    impl Upstream {
        fn start() -> Upstream {
            let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let port = listener.local_addr().unwrap().port();
            let calls = Arc::new(AtomicU64::new(0));
            let counted = Arc::clone(&calls);
            // Ends with the test process; it holds nothing but a loopback socket.
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut stream) = stream else { continue };
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let Some(request) = Request::read(&mut reader) else {
                        continue;
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let text = format!("ok {}", request.action().unwrap_or_default());
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{text}\r\n0\r\n\r\n",
                        text.len()
                    );
                }
            });
            Upstream { port, calls }
        }

        fn calls(&self) -> u64 {
            self.calls.load(Ordering::SeqCst)
        }
    }

    /// A client keeping one connection open to the proxy.
    struct Client {
        reader: BufReader<TcpStream>,
        writer: TcpStream,
    }

    impl Client {
        fn connect(proxy: &FaultProxy) -> Client {
            let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, proxy.port())).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            Client {
                writer: stream.try_clone().unwrap(),
                reader: BufReader::new(stream),
            }
        }

        /// Posts a form call of `action`; the status and body answered, or None when the proxy
        /// closed the connection instead.
        fn call(&mut self, action: &str) -> Option<(u16, String)> {
            let body = format!("Action={action}&Version=2016-11-15");
            write!(
                self.writer,
                "POST / HTTP/1.1\r\nHost: ec2\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .ok()?;
            self.answer()
        }

        fn get(&mut self, target: &str) -> Option<(u16, String)> {
            write!(self.writer, "GET {target} HTTP/1.1\r\nHost: ec2\r\n\r\n").ok()?;
            self.answer()
        }

        fn answer(&mut self) -> Option<(u16, String)> {
            let mut status = String::new();
            if self.reader.read_line(&mut status).ok()? == 0 {
                return None;
            }
            let headers = read_headers(&mut self.reader)?;
            let body = read_body(&mut self.reader, &headers, false)?;
            let code = status.split_whitespace().nth(1)?.parse().ok()?;
            Some((code, String::from_utf8(body).unwrap()))
        }
    }

    #[test]
    fn without_faults_calls_are_forwarded_on_a_kept_alive_connection() {
        let upstream = Upstream::start();
        let proxy = FaultProxy::start(upstream.port, 1, FaultPlan::none()).unwrap();
        let mut client = Client::connect(&proxy);
        assert_eq!(
            client.call("DescribeImages"),
            Some((200, "ok DescribeImages".into()))
        );
        assert_eq!(
            client.call("RunInstances"),
            Some((200, "ok RunInstances".into()))
        );
        let counts = proxy.counts();
        assert_eq!((counts.requests, counts.passed), (2, 2));
        assert_eq!(counts.total_faults(), 0);
        assert_eq!(upstream.calls(), 2);
    }

    #[test]
    fn every_error_kind_answers_as_ec2_does() {
        let upstream = Upstream::start();
        let expected = [
            (FaultKind::RequestLimitExceeded, 400, "RequestLimitExceeded"),
            (FaultKind::Throttling, 503, "Throttling"),
            (FaultKind::InternalError, 500, "InternalError"),
            (FaultKind::Unavailable, 503, "Unavailable"),
        ];
        for (kind, status, code) in expected {
            let proxy =
                FaultProxy::start(upstream.port, 7, FaultPlan::always("RunInstances", kind))
                    .unwrap();
            let mut client = Client::connect(&proxy);
            let (got, body) = client.call("RunInstances").unwrap();
            assert_eq!(got, status, "{kind:?}");
            assert!(
                body.starts_with(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error>"
                ),
                "{body}"
            );
            assert!(body.contains(&format!("<Code>{code}</Code>")), "{body}");
            assert!(body.contains("</Errors><RequestID>"), "{body}");
            // Other actions pass, on the same connection.
            assert_eq!(client.call("DescribeInstances").unwrap().0, 200);
            let counts = proxy.counts();
            assert_eq!(counts.faults_of("RunInstances"), 1);
            assert_eq!(counts.faults[kind.name()], 1);
            assert_eq!(counts.actions["DescribeInstances"].requests, 1);
            assert_eq!(counts.passed, 1);
        }
        assert_eq!(upstream.calls(), 4, "no failed call reached the server");
    }

    #[test]
    fn a_reset_closes_the_connection_unanswered_and_the_server_never_sees_the_call() {
        let upstream = Upstream::start();
        let plan = FaultPlan::always("DeleteKeyPair", FaultKind::Reset);
        let proxy = FaultProxy::start(upstream.port, 3, plan).unwrap();
        let mut client = Client::connect(&proxy);
        assert_eq!(client.call("DeleteKeyPair"), None);
        assert_eq!(upstream.calls(), 0);
        let mut again = Client::connect(&proxy);
        assert_eq!(again.call("DescribeKeyPairs").unwrap().0, 200);
        assert_eq!(proxy.counts().faults["reset"], 1);
    }

    #[test]
    fn a_delayed_call_is_forwarded_and_answered() {
        let upstream = Upstream::start();
        let plan = FaultPlan::always("*", FaultKind::Delay).delays(Duration::ZERO, Duration::ZERO);
        let proxy = FaultProxy::start(upstream.port, 3, plan).unwrap();
        let mut client = Client::connect(&proxy);
        assert_eq!(
            client.call("CreateImage"),
            Some((200, "ok CreateImage".into()))
        );
        assert_eq!(upstream.calls(), 1);
        let counts = proxy.counts();
        assert_eq!((counts.faults["delay"], counts.passed), (1, 0));
    }

    #[test]
    fn the_action_may_be_in_the_query_string() {
        let upstream = Upstream::start();
        let plan = FaultPlan::always("DescribeInstances", FaultKind::Unavailable);
        let proxy = FaultProxy::start(upstream.port, 3, plan).unwrap();
        let mut client = Client::connect(&proxy);
        let (status, body) = client
            .get("/?Action=DescribeInstances&InstanceId.1=i-1")
            .unwrap();
        assert_eq!(status, 503, "{body}");
        // A call without an action (the server's own API) is never failed nor counted.
        assert_eq!(client.get("/moto-api/").unwrap().0, 200);
        assert_eq!(proxy.counts().requests, 1);
    }

    #[test]
    fn the_plan_changes_while_the_proxy_runs() {
        let upstream = Upstream::start();
        let plan = FaultPlan::always("*", FaultKind::InternalError);
        let proxy = FaultProxy::start(upstream.port, 3, plan).unwrap();
        let mut client = Client::connect(&proxy);
        assert_eq!(client.call("TerminateInstances").unwrap().0, 500);
        proxy.set_plan(FaultPlan::none());
        assert_eq!(client.call("TerminateInstances").unwrap().0, 200);
        let counts = proxy.counts();
        assert_eq!(counts.actions["TerminateInstances"].requests, 2);
        assert_eq!(counts.faults_of("TerminateInstances"), 1);
    }

    #[test]
    fn a_plan_with_a_budget_fails_the_first_calls_only() {
        let upstream = Upstream::start();
        let plan = FaultPlan::always("StopInstances", FaultKind::Throttling).at_most(2);
        let proxy = FaultProxy::start(upstream.port, 3, plan).unwrap();
        let mut client = Client::connect(&proxy);
        let statuses: Vec<u16> = (0..4)
            .map(|_| client.call("StopInstances").unwrap().0)
            .collect();
        assert_eq!(statuses, [503, 503, 200, 200]);
        proxy.set_plan(FaultPlan::always("*", FaultKind::InternalError).at_most(1));
        assert_eq!(client.call("StopInstances").unwrap().0, 500, "a new budget");
        assert_eq!(client.call("StopInstances").unwrap().0, 200);
    }

    #[test]
    fn a_seed_fails_the_same_calls_whatever_the_order() {
        let upstream = Upstream::start();
        let verdicts = |seed: u64, actions: &[&str]| {
            let proxy = FaultProxy::start(upstream.port, seed, FaultPlan::mixed(0.5)).unwrap();
            let mut out: BTreeMap<(String, usize), bool> = BTreeMap::new();
            let mut nth: BTreeMap<&str, usize> = BTreeMap::new();
            for action in actions {
                let n = nth.entry(action).or_default();
                *n += 1;
                let before = proxy.counts().faults_of(action);
                let _ = proxy.shared.verdict(action);
                out.insert(
                    (action.to_string(), *n),
                    proxy.counts().faults_of(action) > before,
                );
            }
            out
        };
        let mut calls: Vec<&str> = Vec::new();
        for _ in 0..40 {
            calls.extend(["RunInstances", "DescribeImages", "CreateTags"]);
        }
        let first = verdicts(11, &calls);
        calls.reverse();
        assert_eq!(verdicts(11, &calls), first, "same seed, other order");
        assert_ne!(verdicts(12, &calls), first, "another seed");
    }

    #[test]
    fn rates_and_weights_are_kept_over_many_calls() {
        let plan = FaultPlan::none()
            .rate("*", 0.2)
            .rate("CreateImage", 0.0)
            .kind(FaultKind::Reset, 1)
            .kind(FaultKind::Throttling, 3);
        let mut rng = SplitMix::new(5);
        let mut kinds: BTreeMap<FaultKind, u32> = BTreeMap::new();
        for _ in 0..10_000 {
            if let Some(fault) = plan.decide("RunInstances", rng.unit(), rng.unit(), rng.unit()) {
                *kinds.entry(fault.kind).or_default() += 1;
            }
            assert_eq!(plan.decide("CreateImage", 0.0, 0.5, 0.5), None);
        }
        let total: u32 = kinds.values().sum();
        assert!((1800..2200).contains(&total), "{total} faults of 10000");
        let resets = kinds[&FaultKind::Reset];
        assert!((400..600).contains(&resets), "{kinds:?}");
        assert_eq!(kinds.len(), 2);
    }

    #[test]
    fn dropping_the_proxy_closes_its_connections_and_its_port() {
        let upstream = Upstream::start();
        let proxy = FaultProxy::start(upstream.port, 1, FaultPlan::none()).unwrap();
        let port = proxy.port();
        let mut client = Client::connect(&proxy);
        assert_eq!(client.call("DescribeImages").unwrap().0, 200);
        drop(proxy);
        assert_eq!(
            client.call("DescribeImages"),
            None,
            "the connection is closed"
        );
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err());
    }

    #[test]
    fn form_values_are_decoded() {
        assert_eq!(
            form_value("Version=1&Action=Describe%49mages", "Action").as_deref(),
            Some("DescribeImages")
        );
        assert_eq!(form_value("Action=", "Action").as_deref(), Some(""));
        assert_eq!(form_value("A=%E2%9C%93+x%", "A").as_deref(), Some("✓ x%"));
        assert_eq!(form_value("Version=1", "Action"), None);
    }
}
