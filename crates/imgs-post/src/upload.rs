//! The `upload` post-processor, an imgs extension (Packer 1.6.6 has no such type): every file of the
//! artifact it is given is sent to an HTTP(S) server with `PUT`, one after another, each to its own
//! URL (the endpoint joined with the file's rendered `path`).
//!
//! - Every PUT carries the template's headers (their values are never printed: they are usually
//!   credentials), `Content-Length`, `Content-Type: application/octet-stream` unless a header sets
//!   it, and the file's checksum in a header of its own (`X-Checksum-Sha256: <hex>` by default), so
//!   a server can check what arrived.
//! - A failed attempt is tried again after a wait that doubles each time (`retry_delay`, capped at a
//!   minute, or longer when the server's `Retry-After` asks): when the connection could not be made
//!   or broke, when nothing happened for `timeout`, and on 408, 429 and 5xx answers but 501 and 505
//!   (which say the server will never take the request). Other answers fail at once: a 401 does not
//!   get better by asking again. Redirects are not followed (a file's body cannot be sent twice
//!   through one), and fail naming where they point.
//! - Resuming: after an attempt that sent part of a file, the server is asked with `HEAD` what it
//!   holds. A server that kept the part it received answers 2xx with `Accept-Ranges: bytes` and a
//!   `Content-Length` smaller than the file and no larger than what was sent; then only the rest
//!   goes, with `Content-Range: bytes N-LAST/SIZE`, and a `HEAD` afterwards must report the whole
//!   size (else the whole file is sent again). A server that refuses a ranged PUT (400, 405, 411,
//!   416 or 501, as nginx's WebDAV module answers 501) is sent the whole file at once, without
//!   counting a retry, and so is every server that reports no part (nginx keeps a PUT's body in a
//!   temporary file until it is complete, so a broken upload leaves nothing there). Only uploads
//!   started in this run are resumed: a file found on the server before is never taken for a part.

use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};
use tokio_util::sync::CancellationToken;

pub use reqwest::Url;

use crate::checksum::{ChecksumType, hash_file};
use crate::shell_local::Log;
use crate::{PostError, resolve};

/// Each file's URL below the endpoint, by default: its name.
pub const DEFAULT_PATH: &str = "{{ .FileName }}";
/// Attempts after the first one, as Cargo's `net.retry`.
pub const DEFAULT_RETRIES: u32 = 3;
/// The wait before the first retry; it doubles for each further one.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);
/// The longest wait between attempts that imgs chooses itself.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
/// The longest wait a server's `Retry-After` obtains.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// How long a request may make no progress (connecting, sending, awaiting the answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The checksum sent with each file unless `checksum_type` says otherwise.
pub const DEFAULT_CHECKSUM: ChecksumType = ChecksumType::Sha256;
/// A long upload says how far it got this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Files are read and sent in blocks of this size.
const CHUNK: usize = 256 * 1024;
/// At most this much of a refusing server's answer is quoted in the error.
const QUOTED: usize = 300;
const USER_AGENT: &str = concat!("imgs/", env!("CARGO_PKG_VERSION"));

/// How files are sent.
#[derive(Clone)]
pub struct Upload {
    /// The template's headers, values marked sensitive (never shown, not even by `Debug`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub checksum: Option<ChecksumHeader>,
    /// Attempts after the first.
    pub retries: u32,
    /// The wait before the first retry.
    pub retry_delay: Duration,
    /// How long a request may make no progress.
    pub timeout: Duration,
}

/// Settings end up in debug output (a prepared build's); header values must not.
impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("checksum", &self.checksum)
            .field("retries", &self.retries)
            .field("retry_delay", &self.retry_delay)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The checksum sent with each file: its type and the header that carries it (lower-case hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChecksumHeader {
    pub kind: ChecksumType,
    pub name: HeaderName,
}

impl ChecksumHeader {
    /// The header a checksum type goes in by default: `X-Checksum-Sha256`, `X-Checksum-Md5`, …
    /// (the names Artifactory and Nexus read).
    pub fn default_name(kind: ChecksumType) -> String {
        let name = kind.name();
        let mut chars = name.chars();
        let first = chars.next().map(|c| c.to_ascii_uppercase());
        format!("X-Checksum-{}{}", first.unwrap_or_default(), chars.as_str())
    }
}

/// A rendered endpoint as a URL: http or https, with a host, without a fragment.
pub fn endpoint(text: &str) -> Result<Url, String> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|e| format!("endpoint `{text}` is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "endpoint `{}` is a {}:// URL, not http:// or https://",
            shown(&url),
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("endpoint `{}` has no host", shown(&url)));
    }
    if url.fragment().is_some() {
        return Err(format!(
            "endpoint `{}` has a fragment (`#…`), which is never sent to a server",
            shown(&url)
        ));
    }
    Ok(url)
}

/// The URL of one file: the endpoint's path, as a directory, followed by `path` (text, not
/// URL-encoded: what a URL path cannot hold is percent-encoded here; `/` separates directories).
/// The endpoint's query, if any, is kept.
pub fn file_url(endpoint: &Url, path: &str) -> Result<Url, String> {
    let relative = path.trim_start_matches('/');
    if relative.is_empty() || relative.ends_with('/') {
        return Err(format!(
            "`path` rendered to `{path}`, which names no file below the endpoint"
        ));
    }
    let mut url = endpoint.clone();
    let mut joined = url.path().to_string();
    if !joined.ends_with('/') {
        joined.push('/');
    }
    for byte in relative.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@".contains(&byte) {
            joined.push(byte as char);
        } else {
            joined.push_str(&format!("%{byte:02X}"));
        }
    }
    url.set_path(&joined);
    Ok(url)
}

/// A URL as messages show it: without a user name or password.
pub fn shown(url: &Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// A header a template sets, its value marked sensitive. The error never holds the value.
pub fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("`{name}` is not a header name"))?;
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| format!("the value of header `{name}` cannot be sent"))?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// Whether an answer is worth asking again for: 408, 429, and 5xx but 501 (the method is not
/// implemented) and 505 (the HTTP version is not supported), which will not change.
pub fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429)
        || (status.is_server_error() && !matches!(status.as_u16(), 501 | 505))
}

/// Whether an answer to a ranged PUT says the server does not take ranges (RFC 9110 has an
/// origin server that does not answer 400; nginx answers 501).
pub fn refuses_range(status: StatusCode) -> bool {
    matches!(status.as_u16(), 400 | 405 | 411 | 416 | 501)
}

/// The wait before retry number `retry` (from 1): `delay`, doubled for each further retry, at most
/// [`MAX_RETRY_DELAY`] — or what the server's `Retry-After` asked, when longer (at most
/// [`MAX_RETRY_AFTER`]).
pub fn backoff(delay: Duration, retry: u32, retry_after: Option<Duration>) -> Duration {
    let doubled = delay
        .checked_mul(1u32 << retry.saturating_sub(1).min(20))
        .unwrap_or(MAX_RETRY_DELAY)
        .min(MAX_RETRY_DELAY);
    match retry_after {
        Some(asked) => doubled.max(asked.min(MAX_RETRY_AFTER)),
        None => doubled,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not read).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse().ok().map(Duration::from_secs)
}

/// What a `HEAD` said about a file's URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    pub status: u16,
    /// `Content-Length`, when given.
    pub length: Option<u64>,
    /// `Accept-Ranges: bytes`.
    pub accepts_ranges: bool,
}

/// Where to resume a file of `size` bytes after an attempt that sent its bytes up to `sent_upto`:
/// the length the server holds, when it says it holds a part that could be what was sent (see the
/// module doc); `None` sends the whole file.
pub fn resume_at(probe: &Probe, size: u64, sent_upto: u64) -> Option<u64> {
    let held = probe.length?;
    ((200..300).contains(&probe.status)
        && probe.accepts_ranges
        && held > 0
        && held < size
        && held <= sent_upto)
        .then_some(held)
}

/// The `Content-Range` of the rest of a `size`-byte file from byte `from`.
pub fn content_range(from: u64, size: u64) -> String {
    format!("bytes {from}-{}/{size}", size.saturating_sub(1))
}

/// One file to send: its path as the artifact names it, and its URL.
#[derive(Clone, Debug)]
pub struct Target {
    pub file: PathBuf,
    pub url: Url,
}

/// What sending one file took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub url: Url,
    pub size: u64,
    /// The server's answer to the PUT that completed it.
    pub status: u16,
    /// Attempts made (1 when the first one did it).
    pub attempts: u32,
    /// Where the last PUT started, when it sent only the rest of the file.
    pub resumed_at: Option<u64>,
}

/// How one attempt ended.
#[derive(Debug)]
enum Ended {
    Answered {
        status: StatusCode,
        retry_after: Option<Duration>,
        /// Where a redirect points.
        location: Option<String>,
        /// The start of the answer's body, on one line (quoted when the upload fails).
        body: String,
    },
    /// The connection failed or broke; the reason, without the URL.
    Broken(String),
    /// Nothing happened for the timeout.
    Stalled,
}

/// Sends every target, one after another; stops at the first that fails. `log` gets a line per
/// file and per retry; `mask` is applied to everything a server said before it is shown.
pub async fn send_all(
    upload: &Upload,
    targets: &[Target],
    working_dir: &Path,
    log: Log<'_>,
    cancel: &CancellationToken,
) -> Result<Vec<Sent>, PostError> {
    let client = reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(upload.timeout)
        .build()
        .map_err(|e| {
            PostError::Unsupported(format!("cannot make an HTTP client: {}", chain(&e)))
        })?;
    let sender = Sender {
        client,
        upload,
        cancel,
    };
    let mut sent = Vec::new();
    for target in targets {
        sent.push(sender.send(target, working_dir, log).await?);
    }
    Ok(sent)
}

struct Sender<'a> {
    client: reqwest::Client,
    upload: &'a Upload,
    cancel: &'a CancellationToken,
}

impl Sender<'_> {
    async fn send(
        &self,
        target: &Target,
        working_dir: &Path,
        log: Log<'_>,
    ) -> Result<Sent, PostError> {
        let path = resolve(working_dir, &target.file);
        let meta = std::fs::metadata(&path).map_err(|e| PostError::io("read", &path, e))?;
        if !meta.is_file() {
            return Err(PostError::Unsupported(format!(
                "upload sends files, and `{}` is not one",
                target.file.display()
            )));
        }
        let size = meta.len();
        let url = shown(&target.url);
        let digest = match &self.upload.checksum {
            Some(checksum) => Some((
                checksum.name.clone(),
                self.digest(&path, checksum.kind).await?,
            )),
            None => None,
        };
        log(&format!(
            "Uploading {} ({}) to {url}",
            target.file.display(),
            bytes(size)
        ));
        let failed = |reason: String, attempts: u32, hint: Option<String>| PostError::Upload {
            url: url.clone(),
            reason: if attempts > 1 {
                format!("{reason} (after {attempts} attempts)")
            } else {
                reason
            },
            hint,
        };
        let mut attempts = 0u32;
        let mut retries = 0u32;
        let mut from = 0u64;
        loop {
            attempts += 1;
            let progress = Progress::new(from);
            let ended = self
                .put(target, &path, size, from, digest.as_ref(), &progress, log)
                .await?;
            let sent_upto = progress.sent_upto();
            let (reason, asked) = match ended {
                Ended::Answered { status, .. } if status.is_success() => {
                    if from > 0 {
                        // A server that ignored Content-Range now holds only the rest.
                        let probe = self.probe(&target.url).await;
                        if probe.as_ref().is_some_and(|p| p.length == Some(size)) {
                            log(&format!(
                                "Uploaded {} to {url} ({status})",
                                target.file.display()
                            ));
                            return Ok(Sent {
                                url: target.url.clone(),
                                size,
                                status: status.as_u16(),
                                attempts,
                                resumed_at: Some(from),
                            });
                        }
                        let held = probe
                            .and_then(|p| p.length)
                            .map_or("no size".to_string(), bytes);
                        log(&format!(
                            "After the resumed upload the server reports {held} of {}; sending the whole file",
                            bytes(size)
                        ));
                        from = 0;
                        (format!("the resumed upload left {held}"), None)
                    } else {
                        log(&format!(
                            "Uploaded {} to {url} ({status})",
                            target.file.display()
                        ));
                        return Ok(Sent {
                            url: target.url.clone(),
                            size,
                            status: status.as_u16(),
                            attempts,
                            resumed_at: None,
                        });
                    }
                }
                Ended::Answered { status, .. } if from > 0 && refuses_range(status) => {
                    log(&format!(
                        "The server refused the ranged PUT ({status}); sending the whole file"
                    ));
                    from = 0;
                    continue;
                }
                Ended::Answered {
                    status,
                    retry_after,
                    location,
                    body,
                } => {
                    let mut reason = status.to_string();
                    if let Some(location) = &location {
                        reason.push_str(&format!(", redirected to {location}"));
                    }
                    if !body.is_empty() {
                        reason.push_str(&format!(": {}", self.masked(&body)));
                    }
                    if !retryable(status) {
                        return Err(failed(reason, attempts, refusal_hint(status)));
                    }
                    (reason, retry_after)
                }
                Ended::Broken(why) => (why, None),
                Ended::Stalled => (
                    format!("no progress for {} (`timeout`)", human(self.upload.timeout)),
                    None,
                ),
            };
            if retries >= self.upload.retries {
                let hint = (self.upload.retries == 0)
                    .then(|| "set `retries` to try again after a failure".to_string());
                return Err(failed(reason, attempts, hint));
            }
            retries += 1;
            let wait = backoff(self.upload.retry_delay, retries, asked);
            log(&format!(
                "PUT {url}: {reason}; retry {retries} of {} in {}",
                self.upload.retries,
                human(wait)
            ));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.cancel.cancelled() => return Err(PostError::Cancelled),
            }
            if sent_upto > 0 {
                // The server may hold part of what was sent.
                let resumable = match self.probe(&target.url).await {
                    Some(probe) => resume_at(&probe, size, sent_upto),
                    None => None,
                };
                from = resumable.unwrap_or(0);
                if from > 0 {
                    log(&format!(
                        "The server holds {} of {}; sending the rest",
                        bytes(from),
                        bytes(size)
                    ));
                }
            }
        }
    }

    /// The file's checksum, hashed on the blocking pool (it stops once the build is cancelled).
    async fn digest(&self, path: &Path, kind: ChecksumType) -> Result<HeaderValue, PostError> {
        let path = path.to_path_buf();
        let token = self.cancel.clone();
        let hex =
            tokio::task::spawn_blocking(move || hash_file(&path, kind, &|| token.is_cancelled()))
                .await
                .unwrap_or(Err(PostError::Cancelled))?;
        Ok(HeaderValue::from_str(&hex).expect("hex is a header value"))
    }

    /// One PUT of the file from byte `from`.
    #[allow(clippy::too_many_arguments)]
    async fn put(
        &self,
        target: &Target,
        path: &Path,
        size: u64,
        from: u64,
        digest: Option<&(HeaderName, HeaderValue)>,
        progress: &Arc<Progress>,
        log: Log<'_>,
    ) -> Result<Ended, PostError> {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| PostError::io("open", path, e))?;
        if from > 0 {
            file.seek(SeekFrom::Start(from))
                .await
                .map_err(|e| PostError::io("read", path, e))?;
        }
        let counted = Arc::clone(progress);
        let body = tokio_util::io::ReaderStream::with_capacity(file.take(size - from), CHUNK).map(
            move |chunk| {
                if let Ok(chunk) = &chunk {
                    counted.advance(chunk.len() as u64);
                }
                chunk
            },
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        for (name, value) in &self.upload.headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Some((name, value)) = digest {
            headers.insert(name.clone(), value.clone());
        }
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size - from));
        if from > 0 {
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&content_range(from, size)).expect("ASCII"),
            );
        }
        let request = self
            .client
            .put(target.url.clone())
            .headers(headers)
            .body(reqwest::Body::wrap_stream(body))
            .send();
        tokio::pin!(request);
        let started = Instant::now();
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        let response = loop {
            tokio::select! {
                result = &mut request => break result,
                () = self.cancel.cancelled() => return Err(PostError::Cancelled),
                _ = ticks.tick() => {
                    let done = progress.sent_upto();
                    log(&format!(
                        "{}: {} of {} sent ({}%) in {}",
                        shown(&target.url),
                        bytes(done),
                        bytes(size),
                        (done * 100).checked_div(size).unwrap_or(100),
                        human(started.elapsed()),
                    ));
                }
                () = tokio::time::sleep(progress.idle_left(self.upload.timeout)) => {
                    if progress.idle_left(self.upload.timeout).is_zero() {
                        return Ok(Ended::Stalled);
                    }
                }
            }
        };
        let response = match response {
            Ok(response) => response,
            Err(e) => return Ok(Ended::Broken(chain(&e.without_url()))),
        };
        let status = response.status();
        let text = |name: header::HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after = retry_after(text(header::RETRY_AFTER).as_deref());
        let location = status
            .is_redirection()
            .then(|| text(header::LOCATION))
            .flatten();
        // A server's own words (S3's XML, a JSON problem, plain text) say why; an HTML error page
        // (nginx's) says no more than the status.
        let quotable = text(header::CONTENT_TYPE)
            .is_none_or(|t| !t.to_ascii_lowercase().starts_with("text/html"));
        // The answer's body: read (so the connection can serve the next file), quoted on failure.
        let body = tokio::time::timeout(self.upload.timeout, response.bytes())
            .await
            .ok()
            .and_then(Result::ok)
            .map(|b| quoted(&b))
            .unwrap_or_default();
        Ok(Ended::Answered {
            status,
            retry_after,
            location,
            body: if status.is_success() || !quotable {
                String::new()
            } else {
                body
            },
        })
    }

    /// `HEAD` of a file's URL with the template's headers; `None` when it brought no answer.
    async fn probe(&self, url: &Url) -> Option<Probe> {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.upload.headers {
            headers.insert(name.clone(), value.clone());
        }
        let request = self.client.head(url.clone()).headers(headers).send();
        let response = tokio::select! {
            r = tokio::time::timeout(self.upload.timeout, request) => r.ok()?.ok()?,
            () = self.cancel.cancelled() => return None,
        };
        let get = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        // Not `content_length()`: a HEAD answer's body is empty whatever its header says.
        Some(Probe {
            status: response.status().as_u16(),
            length: get(header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok()),
            accepts_ranges: get(header::ACCEPT_RANGES)
                .is_some_and(|v| v.split(',').any(|u| u.trim().eq_ignore_ascii_case("bytes"))),
        })
    }

    /// A server's text with the template's header values taken out (a server may echo them).
    fn masked(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (_, value) in &self.upload.headers {
            if let Ok(value) = value.to_str()
                && value.len() >= 4
            {
                text = text.replace(value, "<sensitive>");
            }
        }
        text
    }
}

/// Bytes sent so far in one attempt, and when the attempt last made progress.
struct Progress {
    /// Where the attempt started in the file.
    from: u64,
    sent: AtomicU64,
    started: Instant,
    /// Milliseconds after `started` of the last progress.
    last: AtomicU64,
}

impl Progress {
    fn new(from: u64) -> Arc<Progress> {
        Arc::new(Progress {
            from,
            sent: AtomicU64::new(0),
            started: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    fn advance(&self, n: u64) {
        self.sent.fetch_add(n, Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as u64;
        self.last.store(now, Ordering::Relaxed);
    }

    /// The end of what this attempt sent, as an offset in the file.
    fn sent_upto(&self) -> u64 {
        self.from + self.sent.load(Ordering::Relaxed)
    }

    /// How long until the attempt has gone `timeout` without progress (zero: it has).
    fn idle_left(&self, timeout: Duration) -> Duration {
        let last = Duration::from_millis(self.last.load(Ordering::Relaxed));
        (last + timeout).saturating_sub(self.started.elapsed())
    }
}

/// A hint for an answer that will not change by asking again.
fn refusal_hint(status: StatusCode) -> Option<String> {
    Some(match status.as_u16() {
        401 | 407 => "the server wants credentials: give them in `headers`, e.g. `Authorization`".into(),
        403 => "the server refused these credentials or this path: check `headers`, `endpoint` and `path`".into(),
        404 | 409 => "the server has no place for this path: check `endpoint` and `path` (a WebDAV server may need its directories made first)".into(),
        405 | 501 => "the server does not take PUT at this URL: check `endpoint`".into(),
        413 => "the file is larger than the server accepts".into(),
        300..=399 => "point `endpoint` at the URL the server redirects to".into(),
        _ => return None,
    })
}

/// The start of a body, on one line.
fn quoted(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(QUOTED * 4)]);
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut line = words.join(" ");
    if line.chars().count() > QUOTED {
        line = line.chars().take(QUOTED).collect::<String>() + "…";
    }
    line
}

/// An error and its causes, as one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A size as people read it: bytes up to a KiB, then KiB, MiB, GiB with one decimal.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration as a template writes one: `1s`, `1m30s`, `250ms`.
fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    let secs = d.as_secs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
mod tests;
