use std::time::Duration;

use imgs_test_peers::put_server::{PutAnswer, PutServer, PutServerOptions};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;

use super::*;

#[test]
fn endpoints_are_http_urls_with_a_host() {
    assert_eq!(
        endpoint(" https://h.example/images/ ").unwrap().as_str(),
        "https://h.example/images/"
    );
    assert_eq!(
        endpoint("ftp://h/x").unwrap_err(),
        "endpoint `ftp://h/x` is a ftp:// URL, not http:// or https://"
    );
    assert!(endpoint("h/x").unwrap_err().contains("is not a URL"));
    assert!(
        endpoint("http://h/x#frag")
            .unwrap_err()
            .contains("fragment")
    );
    // A password is never shown, not even in the error about it.
    let err = endpoint("ftp://user:hunter2@h/x").unwrap_err();
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn a_files_url_is_the_endpoint_as_a_directory_and_its_path() {
    let url = |e: &str, p: &str| file_url(&endpoint(e).unwrap(), p).map(|u| u.to_string());
    assert_eq!(
        url("http://h/images/base/", "disk.qcow2").unwrap(),
        "http://h/images/base/disk.qcow2"
    );
    // Without a final `/`, the endpoint is still the directory.
    assert_eq!(
        url("http://h/images/base", "disk.qcow2").unwrap(),
        "http://h/images/base/disk.qcow2"
    );
    assert_eq!(url("http://h", "/a/b.txt").unwrap(), "http://h/a/b.txt");
    // Text, not a URL: what a path cannot hold is encoded, `%` included.
    assert_eq!(
        url("http://h/x/", "a b#?%.txt").unwrap(),
        "http://h/x/a%20b%23%3F%25.txt"
    );
    // A query (a signed URL's, say) stays after the path.
    assert_eq!(
        url("https://h/up/?sig=abc", "f.gz").unwrap(),
        "https://h/up/f.gz?sig=abc"
    );
    assert!(url("http://h/x/", "").is_err());
    assert!(url("http://h/x/", "dir/").is_err());
}

#[test]
fn urls_are_shown_without_credentials() {
    let url = Url::parse("https://me:secret@h/a?x=1").unwrap();
    assert_eq!(shown(&url), "https://h/a?x=1");
}

#[test]
fn header_values_are_sensitive_and_errors_do_not_show_them() {
    let (name, value) = header("Authorization", "Bearer abc").unwrap();
    assert_eq!(name, "authorization");
    assert!(value.is_sensitive());
    assert_eq!(format!("{value:?}"), "Sensitive");
    let err = header("X-Bad", "line\nbreak-secret").unwrap_err();
    assert!(!err.contains("secret"), "{err}");
    assert!(header("Bad Name", "v").is_err());
    let upload = Upload {
        headers: vec![(name, value)],
        checksum: None,
        retries: 0,
        retry_delay: Duration::ZERO,
        timeout: Duration::ZERO,
    };
    assert!(!format!("{upload:?}").contains("abc"));
}

#[test]
fn checksum_headers_are_named_after_their_type() {
    assert_eq!(
        ChecksumHeader::default_name(ChecksumType::Sha256),
        "X-Checksum-Sha256"
    );
    assert_eq!(
        ChecksumHeader::default_name(ChecksumType::Md5),
        "X-Checksum-Md5"
    );
}

#[test]
fn retries_are_for_what_may_pass_and_not_for_refusals() {
    let code = |c| StatusCode::from_u16(c).unwrap();
    for c in [408, 429, 500, 502, 503, 504, 507] {
        assert!(retryable(code(c)), "{c}");
    }
    for c in [200, 301, 400, 401, 403, 404, 409, 413, 501, 505] {
        assert!(!retryable(code(c)), "{c}");
    }
    for c in [400, 405, 411, 416, 501] {
        assert!(refuses_range(code(c)), "{c}");
    }
    for c in [401, 403, 500, 503] {
        assert!(!refuses_range(code(c)), "{c}");
    }
}

#[test]
fn the_wait_doubles_up_to_a_minute_and_a_servers_retry_after_can_lengthen_it() {
    let s = Duration::from_secs;
    assert_eq!(backoff(s(1), 1, None), s(1));
    assert_eq!(backoff(s(1), 2, None), s(2));
    assert_eq!(backoff(s(1), 4, None), s(8));
    assert_eq!(backoff(s(1), 10, None), MAX_RETRY_DELAY);
    assert_eq!(backoff(s(1), 1000, None), MAX_RETRY_DELAY);
    assert_eq!(backoff(s(1), 1, Some(s(30))), s(30));
    assert_eq!(backoff(s(4), 1, Some(s(1))), s(4));
    assert_eq!(backoff(s(1), 1, Some(s(3600))), MAX_RETRY_AFTER);
    assert_eq!(retry_after(Some(" 7 ")), Some(s(7)));
    assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
    assert_eq!(retry_after(None), None);
}

#[test]
fn a_part_is_resumed_only_when_the_server_says_it_holds_one_that_can_be_ours() {
    let probe = |status, length, accepts_ranges| Probe {
        status,
        length,
        accepts_ranges,
    };
    assert_eq!(
        resume_at(&probe(200, Some(400), true), 1000, 600),
        Some(400)
    );
    // What was sent bounds what the server can hold of this upload.
    assert_eq!(resume_at(&probe(200, Some(700), true), 1000, 600), None);
    // No ranges said, no part, the whole file or more, no answer: the whole file again.
    assert_eq!(resume_at(&probe(200, Some(400), false), 1000, 600), None);
    assert_eq!(resume_at(&probe(200, Some(0), true), 1000, 600), None);
    assert_eq!(resume_at(&probe(200, Some(1000), true), 1000, 1000), None);
    assert_eq!(resume_at(&probe(404, Some(400), true), 1000, 600), None);
    assert_eq!(resume_at(&probe(200, None, true), 1000, 600), None);
    assert_eq!(content_range(400, 1000), "bytes 400-999/1000");
}

#[test]
fn sizes_and_durations_read_as_people_write_them() {
    assert_eq!(bytes(12), "12 bytes");
    assert_eq!(bytes(1536), "1.5 KiB");
    assert_eq!(bytes(100 << 20), "100.0 MiB");
    assert_eq!(human(Duration::from_millis(250)), "250ms");
    assert_eq!(human(Duration::from_secs(90)), "1m30s");
    assert_eq!(human(Duration::from_secs(60)), "1m");
}

/// `size` bytes of a pattern in a file of a temporary directory, and the directory.
fn file_of(size: usize) -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("disk.img"), &content).unwrap();
    (dir, content)
}

fn quick(retries: u32) -> Upload {
    Upload {
        headers: vec![header("Authorization", "Bearer s3cr3t-token").unwrap()],
        checksum: Some(ChecksumHeader {
            kind: ChecksumType::Sha256,
            name: HeaderName::from_static("x-checksum-sha256"),
        }),
        retries,
        retry_delay: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
    }
}

/// Sends `disk.img` of `dir` to `server` at `/up/disk.img`; the result and the lines logged.
fn send(
    server: &PutServer,
    dir: &Path,
    upload: &Upload,
) -> (Result<Vec<Sent>, PostError>, Vec<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = Target {
        file: PathBuf::from("disk.img"),
        url: file_url(
            &endpoint(&format!("{}/up/", server.url())).unwrap(),
            "disk.img",
        )
        .unwrap(),
    };
    let mut lines = Vec::new();
    let mut log = |line: &str| lines.push(line.to_string());
    let result = rt.block_on(send_all(
        upload,
        &[target],
        dir,
        &mut log,
        &CancellationToken::new(),
    ));
    (result, lines)
}

#[test]
fn a_file_goes_with_its_headers_and_checksum() {
    let server = PutServer::start(PutServerOptions::default()).unwrap();
    let (dir, content) = file_of(300_000);
    let (result, lines) = send(&server, dir.path(), &quick(0));
    let sent = result.unwrap();
    assert_eq!(sent[0].attempts, 1);
    assert_eq!(sent[0].status, 201);
    assert_eq!(server.file("/up/disk.img").unwrap(), content);
    let put = &server.requests()[0];
    assert_eq!(put.method, "PUT");
    assert_eq!(put.header("authorization"), Some("Bearer s3cr3t-token"));
    assert_eq!(put.header("content-length"), Some("300000"));
    assert_eq!(put.header("content-type"), Some("application/octet-stream"));
    let expected = hash_file(&dir.path().join("disk.img"), ChecksumType::Sha256, &|| {
        false
    })
    .unwrap();
    assert_eq!(put.header("x-checksum-sha256"), Some(expected.as_str()));
    assert_eq!(put.header("content-range"), None);
    assert_eq!(
        lines,
        [
            format!(
                "Uploading disk.img (293.0 KiB) to {}/up/disk.img",
                server.url()
            ),
            format!(
                "Uploaded disk.img to {}/up/disk.img (201 Created)",
                server.url()
            ),
        ]
    );
}

#[test]
fn failures_that_may_pass_are_retried_and_a_broken_upload_resumes_where_ranges_are_taken() {
    let server = PutServer::start(PutServerOptions {
        script: vec![
            PutAnswer::Status {
                status: 503,
                retry_after: None,
            },
            PutAnswer::CutAfter(100_000),
        ],
        ranges: true,
    })
    .unwrap();
    let (dir, content) = file_of(300_000);
    let (result, lines) = send(&server, dir.path(), &quick(3));
    let sent = result.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    assert_eq!(sent[0].attempts, 3);
    assert_eq!(sent[0].resumed_at, Some(100_000));
    assert_eq!(server.file("/up/disk.img").unwrap(), content);
    let requests = server.requests();
    let summary: Vec<(String, Option<String>)> = requests
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.header("content-range").map(str::to_string),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            // After every attempt that sent something, the server is asked what it holds: after
            // the 503 nothing, after the broken connection the part it received.
            ("PUT".into(), None),
            ("HEAD".into(), None),
            ("PUT".into(), None),
            ("HEAD".into(), None),
            ("PUT".into(), Some("bytes 100000-299999/300000".into())),
            ("HEAD".into(), None),
        ]
    );
    assert_eq!(requests[4].body_len, 200_000);
    // The whole file's checksum goes with the rest, so the server can check what it assembled.
    assert_eq!(
        requests[4].header("x-checksum-sha256"),
        requests[0].header("x-checksum-sha256")
    );
    let url = format!("{}/up/disk.img", server.url());
    assert!(
        lines[1].starts_with(&format!(
            "PUT {url}: 503 Service Unavailable: scripted 503; retry 1 of 3 in 10ms"
        )),
        "{lines:#?}"
    );
    assert!(
        lines[2].starts_with(&format!("PUT {url}: ")) && lines[2].ends_with("retry 2 of 3 in 20ms"),
        "{lines:#?}"
    );
    assert_eq!(
        lines[3],
        "The server holds 97.7 KiB of 293.0 KiB; sending the rest"
    );
}

#[test]
fn a_server_without_ranges_gets_the_whole_file_again() {
    // As nginx: a ranged PUT would be refused, but the part is not even reported.
    let server = PutServer::start(PutServerOptions {
        script: vec![PutAnswer::CutAfter(100_000)],
        ranges: false,
    })
    .unwrap();
    let (dir, content) = file_of(300_000);
    let (result, lines) = send(&server, dir.path(), &quick(1));
    result.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    assert_eq!(server.file("/up/disk.img").unwrap(), content);
    let methods: Vec<(String, u64)> = server
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.body_len))
        .collect();
    assert_eq!(
        methods,
        [
            ("PUT".into(), 100_000),
            ("HEAD".into(), 0),
            ("PUT".into(), 300_000)
        ]
    );
}

#[test]
fn a_refused_ranged_put_sends_the_whole_file_without_counting_a_retry() {
    // A server that reports a part and ranges, yet refuses the ranged PUT (501, as nginx).
    let server = PutServer::start(PutServerOptions {
        script: vec![
            PutAnswer::CutAfter(100_000),
            PutAnswer::Status {
                status: 501,
                retry_after: None,
            },
        ],
        ranges: true,
    })
    .unwrap();
    let (dir, content) = file_of(300_000);
    let (result, lines) = send(&server, dir.path(), &quick(1));
    result.unwrap_or_else(|e| panic!("{e}\n{lines:#?}"));
    assert_eq!(server.file("/up/disk.img").unwrap(), content);
    assert!(
        lines.iter().any(|l| l
            == "The server refused the ranged PUT (501 Not Implemented); sending the whole file"),
        "{lines:#?}"
    );
}

#[test]
fn refusals_fail_at_once_naming_the_url_and_status_without_secrets() {
    let server = PutServer::start(PutServerOptions {
        script: vec![PutAnswer::Status {
            status: 401,
            retry_after: None,
        }],
        ranges: false,
    })
    .unwrap();
    let (dir, _) = file_of(10);
    let (result, _) = send(&server, dir.path(), &quick(3));
    let err = result.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "PUT {}/up/disk.img failed: 401 Unauthorized: scripted 401",
            server.url()
        )
    );
    assert!(err.hint().unwrap().contains("credentials"));
    assert_eq!(server.requests().len(), 1, "a 401 is not retried");
}

#[test]
fn retries_end_and_the_error_says_how_many_attempts_were_made() {
    let busy = PutAnswer::Status {
        status: 503,
        retry_after: Some(0),
    };
    let server = PutServer::start(PutServerOptions {
        script: vec![busy.clone(), busy.clone(), busy],
        ranges: false,
    })
    .unwrap();
    let (dir, _) = file_of(10);
    let (result, _) = send(&server, dir.path(), &quick(2));
    assert_eq!(
        result.unwrap_err().to_string(),
        format!(
            "PUT {}/up/disk.img failed: 503 Service Unavailable: scripted 503 (after 3 attempts)",
            server.url()
        )
    );
}

#[test]
fn a_server_that_never_answers_is_given_up_on_after_the_timeout() {
    // A listener that accepts and then says nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let (dir, _) = file_of(10);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let upload = Upload {
        timeout: Duration::from_millis(300),
        ..quick(0)
    };
    let target = Target {
        file: PathBuf::from("disk.img"),
        url: Url::parse(&format!("http://127.0.0.1:{port}/disk.img")).unwrap(),
    };
    let started = std::time::Instant::now();
    let result = rt.block_on(send_all(
        &upload,
        &[target],
        dir.path(),
        &mut |_: &str| {},
        &CancellationToken::new(),
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = result.unwrap_err().to_string();
    assert!(err.ends_with("no progress for 300ms (`timeout`)"), "{err}");
}

#[test]
fn a_connection_refused_is_retried_then_reported() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (dir, _) = file_of(10);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let target = Target {
        file: PathBuf::from("disk.img"),
        url: Url::parse(&format!("http://127.0.0.1:{port}/disk.img")).unwrap(),
    };
    let mut lines = Vec::new();
    let result = rt.block_on(send_all(
        &quick(1),
        &[target],
        dir.path(),
        &mut |l: &str| lines.push(l.to_string()),
        &CancellationToken::new(),
    ));
    let err = result.unwrap_err().to_string();
    assert!(err.contains("(after 2 attempts)"), "{err}");
    assert!(err.to_lowercase().contains("connect"), "{err}");
    assert!(
        lines.iter().any(|l| l.contains("retry 1 of 1")),
        "{lines:#?}"
    );
}
