//! The `upload` post-processor, an imgs extension (Packer 1.6.6 has no such type): every file of the
//! artifact it is given is sent to an HTTP(S) server with PUT. Its keys are imgs's own; the checks
//! here are the ones that need no I/O and no build data (imgs-build reads the rest when the build is
//! prepared: the endpoint as rendered for the image, the header values as rendered).

use super::decoded::{Decoded, known, with_hint};
use super::{SchemaProblem, TypeSchema, ValueType};

/// `endpoint` and `path` are rendered with the image's data (`{{ .ImageName }}`, `{{ .Fingerprint }}`,
/// and `{{ .FileName }}` for `path`), so only their syntax is checked while validating.
pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "upload",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &["endpoint", "path"],
};

/// The checksum types `checksum_type` takes (those of the `checksum` post-processor), and `none`.
pub const CHECKSUM_TYPES: &[&str] = &[
    "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "none",
];

/// Headers imgs writes itself for every PUT: a template cannot set them.
pub const RESERVED_HEADERS: &[&str] = &[
    "content-length",
    "content-range",
    "host",
    "transfer-encoding",
    "connection",
    "expect",
    "upgrade",
    "te",
    "trailer",
];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let endpoint = c.string("endpoint");
    if endpoint.trim().is_empty() {
        let problem = if c.is_set("endpoint") {
            c.problem("endpoint", "endpoint must be specified")
        } else {
            c.problem_here("endpoint must be specified")
        };
        out.push(with_hint(
            problem,
            "set `endpoint` to the http:// or https:// URL the files go under, e.g. `\"endpoint\": \"https://images.example.com/{{ .ImageName }}/\"`",
        ));
    } else if !endpoint.trim_start().starts_with("{{")
        && let Some(why) = endpoint_scheme_problem(&endpoint)
    {
        out.push(with_hint(
            c.problem("endpoint", why),
            "upload sends files with HTTP PUT: write an http:// or https:// URL",
        ));
    }
    // Each problem at its header when `headers` is one object, else at `headers`.
    let headers = c.object("headers");
    let at = |name: &str, why: String| match &headers {
        Some(object) => object.problem(name, why),
        None => c.problem("headers", why),
    };
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in c.map("headers") {
        if let Some(why) = header_name_problem(&name) {
            let hint = if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                "remove it: imgs writes it from the file it sends"
            } else {
                "header names are HTTP tokens: letters, digits and `-` (e.g. `Authorization`, `X-Api-Key`)"
            };
            out.push(with_hint(at(&name, why), hint));
        } else if let Some(why) = header_value_problem(&value) {
            out.push(with_hint(at(&name, why), "write the value on one line"));
        } else if let Some(first) = seen.iter().find(|s| s.eq_ignore_ascii_case(&name)) {
            out.push(with_hint(
                at(&name, format!("`{name}` and `{first}` are the same header")),
                "keep one of them: HTTP header names ignore case",
            ));
        }
        seen.push(name);
    }
    let kind = c.string("checksum_type");
    if !kind.is_empty() && known(&kind) && !CHECKSUM_TYPES.contains(&kind.as_str()) {
        out.push(with_hint(
            c.problem(
                "checksum_type",
                format!("unrecognized checksum type `{kind}`"),
            ),
            format!("use one of: {}", CHECKSUM_TYPES.join(", ")),
        ));
    }
    let header = c.string("checksum_header");
    if !header.is_empty()
        && known(&header)
        && let Some(why) = header_name_problem(&header)
    {
        out.push(with_hint(
            c.problem("checksum_header", why),
            "name an HTTP header, e.g. `X-Checksum-Sha256`",
        ));
    }
    if c.int("retries") < 0 {
        out.push(with_hint(
            c.problem("retries", "retries must not be negative"),
            "write 0 to send each file once",
        ));
    }
}

/// Why an endpoint written without templates is not an http(s) URL; `None` when it is.
pub fn endpoint_scheme_problem(endpoint: &str) -> Option<String> {
    let text = endpoint.trim();
    let lower = text.to_ascii_lowercase();
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|scheme| lower.strip_prefix(scheme));
    match rest {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            Some(format!("endpoint `{text}` has no host"))
        }
        Some(_) => None,
        None => match text.split_once("://") {
            Some((scheme, _)) => Some(format!(
                "endpoint `{text}` is a {scheme}:// URL, not http:// or https://"
            )),
            None => Some(format!(
                "endpoint `{text}` is not an http:// or https:// URL"
            )),
        },
    }
}

/// Why `name` cannot be a header a template sets; `None` when it can.
pub fn header_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("a header name cannot be empty".into());
    }
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if let Some(bad) = name.chars().find(|&c| !token(c)) {
        return Some(format!("`{name}` is not a header name (it holds {bad:?})"));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Some(format!(
            "`{name}` is a header imgs sets itself for every PUT"
        ));
    }
    None
}

/// Why `value` cannot be sent as a header value; `None` when it can. The value itself is never
/// part of the message: header values may be secrets.
pub fn header_value_problem(value: &str) -> Option<String> {
    value
        .chars()
        .any(|c| c == '\r' || c == '\n' || c == '\0')
        .then(|| "a header value cannot hold a line break or NUL".to_string())
}

/// Every key of the type (imgs's own; `keep_input_artifact` is read by the template, as for every
/// post-processor).
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("endpoint", ValueType::String),
    ("path", ValueType::String),
    ("headers", ValueType::Map),
    ("checksum_type", ValueType::String),
    ("checksum_header", ValueType::String),
    ("retries", ValueType::Int),
    ("retry_delay", ValueType::Duration),
    ("timeout", ValueType::Duration),
    ("keep_input_artifact", ValueType::Bool),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
