//! Finding images by fingerprint without building anything, for the plan: fast enough to run on
//! every `imgs build` (a no-op run asks about every docker image), so these talk HTTP directly
//! rather than start a `docker` process per question (about 50 ms each here, against about 1 ms).
//!
//! - the local engine: `GET /images/{ref}/json` of the Engine API, over the daemon's unix socket (or
//!   plain TCP) that `DOCKER_HOST` names, `/var/run/docker.sock` by default;
//! - a registry: the distribution API's `GET /v2/{name}/manifests/{tag}` (Docker's schema 2 or OCI
//!   manifest), then the image config blob it names, whose labels say which fingerprint it is.
//!   A registry on loopback is spoken to over plain HTTP (as the daemon does: 127.0.0.0/8 is an
//!   insecure registry by default), any other over HTTPS with the system's roots. Registries that
//!   need a token are not asked (the lookup reports it; the image is then planned from records).

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Where the Docker Engine API answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EngineAddress {
    Unix(PathBuf),
    /// `host:port`, plain HTTP.
    Tcp(String),
}

impl EngineAddress {
    /// From `DOCKER_HOST` as the CLI reads it; `None` for what this lookup does not speak (TLS,
    /// ssh://), where the caller falls back to the CLI.
    pub fn from_env() -> Option<EngineAddress> {
        if std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty()) {
            return None;
        }
        match std::env::var("DOCKER_HOST") {
            Ok(host) if !host.is_empty() => EngineAddress::parse(&host),
            _ => Some(EngineAddress::Unix("/var/run/docker.sock".into())),
        }
    }

    pub fn parse(host: &str) -> Option<EngineAddress> {
        if let Some(path) = host.strip_prefix("unix://") {
            Some(EngineAddress::Unix(path.into()))
        } else {
            host.strip_prefix("tcp://")
                .map(|rest| EngineAddress::Tcp(rest.trim_end_matches('/').to_string()))
        }
    }
}

/// An image as the engine or a registry describes it: what the plan needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundImage {
    /// `sha256:…`: the image ID (its config's digest).
    pub id: String,
    /// The `imgs.fingerprint` label, empty when it has none.
    pub fingerprint: String,
    /// The `imgs.run` label.
    pub run_id: String,
}

impl FoundImage {
    fn from_config(id: String, config: &Value) -> FoundImage {
        let label = |name: &str| {
            config
                .pointer(&format!("/config/Labels/{}", name.replace('/', "~1")))
                .or_else(|| config.pointer(&format!("/Config/Labels/{name}")))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        FoundImage {
            id,
            fingerprint: label("imgs.fingerprint"),
            run_id: label("imgs.run"),
        }
    }
}

/// Why a lookup could not answer.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{0}")]
pub struct LookupError(pub String);

const TIMEOUT: Duration = Duration::from_secs(10);

/// One request on a fresh HTTP/1 connection: (status, body).
async fn get_over<S>(
    stream: S,
    host: &str,
    path: &str,
    accept: &str,
) -> Result<(u16, Bytes, Option<String>), LookupError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| LookupError(e.to_string()))?;
    let driver = tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, host)
        .header(hyper::header::ACCEPT, accept)
        .body(Empty::<Bytes>::new())
        .map_err(|e| LookupError(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| LookupError(e.to_string()))?;
    let status = response.status().as_u16();
    let digest = content_digest(response.headers());
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| LookupError(e.to_string()))?
        .to_bytes();
    driver.abort();
    Ok((status, body, digest))
}

/// `GET path` of the Engine API: (status, body).
/// A registry's `Docker-Content-Digest` header: the digest of the manifest it sent.
fn content_digest(headers: &hyper::HeaderMap) -> Option<String> {
    headers
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn engine_get(
    engine: &EngineAddress,
    path: &str,
) -> Result<(u16, Bytes, Option<String>), LookupError> {
    let call = async {
        match engine {
            EngineAddress::Unix(socket) => {
                let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| {
                    LookupError(format!(
                        "cannot reach the Docker daemon at {}: {e}",
                        socket.display()
                    ))
                })?;
                get_over(stream, "docker", path, "application/json").await
            }
            EngineAddress::Tcp(address) => {
                let stream = tokio::net::TcpStream::connect(address).await.map_err(|e| {
                    LookupError(format!("cannot reach the Docker daemon at {address}: {e}"))
                })?;
                get_over(stream, address, path, "application/json").await
            }
        }
    };
    tokio::time::timeout(TIMEOUT, call)
        .await
        .map_err(|_| LookupError("the Docker daemon did not answer in 10 s".into()))?
}

/// The local engine's answer for `reference` (an image ID or name): `None` when it has no such
/// image.
pub async fn engine_image(
    engine: &EngineAddress,
    reference: &str,
) -> Result<Option<FoundImage>, LookupError> {
    let path = format!("/images/{}/json", percent_encode(reference, b"/:"));
    let (status, body, _) = engine_get(engine, &path).await?;
    match status {
        200 => {
            let json: Value = serde_json::from_slice(&body)
                .map_err(|e| LookupError(format!("the Docker daemon sent {e}")))?;
            let id = json["Id"].as_str().unwrap_or_default().to_string();
            Ok(Some(FoundImage::from_config(id, &json)))
        }
        404 => Ok(None),
        other => Err(LookupError(format!(
            "the Docker daemon answered {other}: {}",
            String::from_utf8_lossy(&body).trim()
        ))),
    }
}

/// Whether `reference` already names one image for good: `repo@sha256:…` or an image ID.
pub fn is_pinned(reference: &str) -> bool {
    reference.contains("@sha256:") || reference.starts_with("sha256:")
}

/// What the image `reference` (by tag) is now, as a build can start from it for good:
/// `repo@sha256:…` (the digest the engine recorded when it pulled or pushed it from that
/// repository, else the registry's manifest digest), or the image ID `sha256:…` of an image the
/// engine holds that was never in a registry (built or imported here). The registry is asked only
/// about an image the engine does not have (or when the engine is one this lookup cannot speak to).
pub async fn resolve_reference(
    engine: Option<&EngineAddress>,
    reference: &str,
) -> Result<String, LookupError> {
    let repository = strip_tag(reference);
    let wanted = RegistryRef::parse(repository);
    let engine_said = match engine {
        None => "imgs cannot speak to this Docker daemon (DOCKER_HOST)".to_string(),
        Some(engine) => {
            let path = format!("/images/{}/json", percent_encode(reference, b"/:"));
            match engine_get(engine, &path).await {
                Ok((200, body, _)) => {
                    let json: Value = serde_json::from_slice(&body)
                        .map_err(|e| LookupError(format!("the Docker daemon sent {e}")))?;
                    let digests = json["RepoDigests"].as_array().cloned().unwrap_or_default();
                    let same_repository = digests.iter().filter_map(Value::as_str).find_map(|d| {
                        let (repo, digest) = d.split_once('@')?;
                        (RegistryRef::parse(repo) == wanted).then(|| digest.to_string())
                    });
                    return match same_repository {
                        Some(digest) => Ok(format!("{repository}@{digest}")),
                        None => match json["Id"].as_str() {
                            Some(id) if id.starts_with("sha256:") => Ok(id.to_string()),
                            _ => Err(LookupError("the Docker daemon sent no image ID".into())),
                        },
                    };
                }
                Ok((404, _, _)) => "the Docker daemon does not have it".to_string(),
                Ok((status, body, _)) => format!(
                    "the Docker daemon answered {status}: {}",
                    String::from_utf8_lossy(&body).trim()
                ),
                // The build needs this engine as much: asking the registry instead would only
                // lock what the build cannot start from.
                Err(e) => return Err(e),
            }
        }
    };
    let tag = match reference.len() - repository.len() {
        0 => "latest",
        _ => &reference[repository.len() + 1..],
    };
    let path = format!("/v2/{}/manifests/{tag}", wanted.name);
    let registry_said = match registry_get(&wanted, &path, MANIFEST_AND_LIST_TYPES).await {
        Ok((200, _, Some(digest))) if digest.starts_with("sha256:") => {
            return Ok(format!("{repository}@{digest}"));
        }
        Ok((200, _, _)) => format!("{} sent no Docker-Content-Digest", wanted.registry),
        Ok((404, _, _)) => format!("{} has no such tag", wanted.registry),
        Ok((401 | 403, _, _)) => format!(
            "{} asks for credentials; imgs asks registries only anonymously",
            wanted.registry
        ),
        Ok((status, _, _)) => format!("{} answered HTTP {status}", wanted.registry),
        Err(e) => e.0,
    };
    Err(LookupError(format!("{engine_said}; {registry_said}")))
}

/// A container the engine holds (running or not), with its names (`/name`, as the API gives them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundContainer {
    pub id: String,
    pub names: Vec<String>,
}

/// Every container (running or not) whose name contains `part`.
pub async fn engine_containers(
    engine: &EngineAddress,
    part: &str,
) -> Result<Vec<FoundContainer>, LookupError> {
    let filters = serde_json::json!({ "name": [part] }).to_string();
    let path = format!(
        "/containers/json?all=1&filters={}",
        percent_encode(&filters, b"")
    );
    let (status, body, _) = engine_get(engine, &path).await?;
    if status != 200 {
        return Err(LookupError(format!(
            "the Docker daemon answered {status}: {}",
            String::from_utf8_lossy(&body).trim()
        )));
    }
    let list: Vec<Value> = serde_json::from_slice(&body)
        .map_err(|e| LookupError(format!("the Docker daemon sent {e}")))?;
    Ok(list
        .iter()
        .map(|c| FoundContainer {
            id: c["Id"].as_str().unwrap_or_default().to_string(),
            names: c["Names"]
                .as_array()
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect())
}

/// A pushed image's place: `registry/name:tag` split as the distribution API needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistryRef {
    /// `host[:port]`; Docker Hub is `registry-1.docker.io`.
    pub registry: String,
    /// The repository path (`library/debian` on Docker Hub for `debian`).
    pub name: String,
}

impl RegistryRef {
    /// Parses a repository as `docker tag` takes it (without a tag or digest).
    pub fn parse(repository: &str) -> RegistryRef {
        let repository = strip_tag(repository);
        match repository.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                RegistryRef {
                    registry: first.to_string(),
                    name: rest.to_string(),
                }
            }
            _ => RegistryRef {
                registry: "registry-1.docker.io".into(),
                name: if repository.contains('/') {
                    repository.to_string()
                } else {
                    format!("library/{repository}")
                },
            },
        }
    }

    /// Whether the daemon speaks plain HTTP to it by default (loopback), as the lookup then does.
    pub fn is_loopback(&self) -> bool {
        let host = self
            .registry
            .rsplit_once(':')
            .map_or(self.registry.as_str(), |(h, _)| h);
        host == "localhost" || host.starts_with("127.") || host == "[::1]"
    }
}

/// `repo:tag` without the tag (a `:` after the last `/` is a tag, one before it a port).
pub fn strip_tag(reference: &str) -> &str {
    let reference = reference.split('@').next().unwrap_or(reference);
    match reference.rfind(':') {
        Some(colon) if !reference[colon..].contains('/') => &reference[..colon],
        _ => reference,
    }
}

const MANIFEST_TYPES: &str = "application/vnd.docker.distribution.manifest.v2+json, \
                              application/vnd.oci.image.manifest.v1+json";

/// Also a multi-platform index, whose digest is the one `docker pull` records for a tag.
const MANIFEST_AND_LIST_TYPES: &str = "application/vnd.docker.distribution.manifest.list.v2+json, \
                                       application/vnd.oci.image.index.v1+json, \
                                       application/vnd.docker.distribution.manifest.v2+json, \
                                       application/vnd.oci.image.manifest.v1+json";

/// What `registry` holds under `tag`: `None` when there is no such tag.
pub async fn registry_image(
    at: &RegistryRef,
    tag: &str,
) -> Result<Option<FoundImage>, LookupError> {
    let manifest_path = format!("/v2/{}/manifests/{tag}", at.name);
    let (status, body, _) = registry_get(at, &manifest_path, MANIFEST_TYPES).await?;
    match status {
        200 => {}
        404 => return Ok(None),
        401 | 403 => {
            return Err(LookupError(format!(
                "{} asks for credentials (HTTP {status}); imgs looks up only registries that answer without them",
                at.registry
            )));
        }
        other => {
            return Err(LookupError(format!(
                "{} answered HTTP {other} for {manifest_path}",
                at.registry
            )));
        }
    }
    let manifest: Value = serde_json::from_slice(&body).map_err(|e| {
        LookupError(format!(
            "{} sent a manifest that is not JSON: {e}",
            at.registry
        ))
    })?;
    let Some(digest) = manifest.pointer("/config/digest").and_then(Value::as_str) else {
        return Err(LookupError(format!(
            "{} sent a manifest without a config (a manifest list or schema 1?)",
            at.registry
        )));
    };
    let (status, blob, _) = registry_get(
        at,
        &format!("/v2/{}/blobs/{digest}", at.name),
        "application/json",
    )
    .await?;
    if status != 200 {
        return Err(LookupError(format!(
            "{} answered HTTP {status} for the config blob {digest}",
            at.registry
        )));
    }
    let config: Value = serde_json::from_slice(&blob).map_err(|e| {
        LookupError(format!(
            "{} sent a config that is not JSON: {e}",
            at.registry
        ))
    })?;
    Ok(Some(FoundImage::from_config(digest.to_string(), &config)))
}

async fn registry_get(
    at: &RegistryRef,
    path: &str,
    accept: &str,
) -> Result<(u16, Bytes, Option<String>), LookupError> {
    let call = async {
        if at.is_loopback() {
            let stream = tokio::net::TcpStream::connect(&at.registry)
                .await
                .map_err(|e| LookupError(format!("cannot reach {}: {e}", at.registry)))?;
            get_over(stream, &at.registry, path, accept).await
        } else {
            https_get(&format!("https://{}{path}", at.registry), accept).await
        }
    };
    tokio::time::timeout(TIMEOUT, call)
        .await
        .map_err(|_| LookupError(format!("{} did not answer in 10 s", at.registry)))?
}

async fn https_get(url: &str, accept: &str) -> Result<(u16, Bytes, Option<String>), LookupError> {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| LookupError(format!("no TLS roots on this machine: {e}")))?
        .https_only()
        .enable_http1()
        .build();
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    let request = hyper::Request::get(url)
        .header(hyper::header::ACCEPT, accept)
        .body(Empty::<Bytes>::new())
        .map_err(|e| LookupError(e.to_string()))?;
    let response = client
        .request(request)
        .await
        .map_err(|e| LookupError(format!("{url}: {e}")))?;
    let status = response.status().as_u16();
    let digest = content_digest(response.headers());
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| LookupError(e.to_string()))?
        .to_bytes();
    Ok((status, body, digest))
}

/// `text` with every byte but the unreserved ones and `kept` percent-escaped: a path keeps `/` and
/// `:` (image references have them), a query value keeps nothing.
fn percent_encode(text: &str, kept: &[u8]) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || kept.contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_values_read_as_the_cli_reads_them() {
        assert_eq!(
            EngineAddress::parse("unix:///tmp/d.sock"),
            Some(EngineAddress::Unix("/tmp/d.sock".into()))
        );
        assert_eq!(
            EngineAddress::parse("tcp://127.0.0.1:2375"),
            Some(EngineAddress::Tcp("127.0.0.1:2375".into()))
        );
        assert_eq!(EngineAddress::parse("ssh://me@host"), None);
    }

    #[test]
    fn repositories_split_into_registry_and_name() {
        let local = RegistryRef::parse("127.0.0.1:5000/team/app:1.2");
        assert_eq!(local.registry, "127.0.0.1:5000");
        assert_eq!(local.name, "team/app");
        assert!(local.is_loopback());
        let hub = RegistryRef::parse("debian");
        assert_eq!(hub.registry, "registry-1.docker.io");
        assert_eq!(hub.name, "library/debian");
        assert!(!hub.is_loopback());
        assert_eq!(RegistryRef::parse("me/app").name, "me/app");
        assert_eq!(RegistryRef::parse("localhost/app").registry, "localhost");
    }

    #[test]
    fn digests_and_image_ids_are_pinned_tags_are_not() {
        assert!(is_pinned("debian@sha256:0123"));
        assert!(is_pinned("127.0.0.1:5000/app@sha256:0123"));
        assert!(is_pinned("sha256:0123"));
        assert!(!is_pinned("debian:bookworm"));
        assert!(!is_pinned("127.0.0.1:5000/app"));
    }

    #[test]
    fn tags_and_digests_are_stripped_but_ports_stay() {
        assert_eq!(strip_tag("127.0.0.1:5000/app:1"), "127.0.0.1:5000/app");
        assert_eq!(strip_tag("127.0.0.1:5000/app"), "127.0.0.1:5000/app");
        assert_eq!(strip_tag("app@sha256:abc"), "app");
    }

    #[test]
    fn labels_are_read_from_engine_and_registry_configs() {
        let engine =
            serde_json::json!({"Config": {"Labels": {"imgs.fingerprint": "f", "imgs.run": "r"}}});
        let found = FoundImage::from_config("sha256:1".into(), &engine);
        assert_eq!(
            (found.fingerprint.as_str(), found.run_id.as_str()),
            ("f", "r")
        );
        let registry = serde_json::json!({"config": {"Labels": {"imgs.fingerprint": "g"}}});
        assert_eq!(
            FoundImage::from_config("x".into(), &registry).fingerprint,
            "g"
        );
    }
}
