//! The `upload` post-processor (an imgs extension, see `imgs_post::upload`): its settings read when
//! the build is prepared, and its run over the artifact it is given, which it passes on unchanged
//! (it keeps its input and insists, as Packer's `checksum` does).
//!
//! `endpoint` is rendered when the build is prepared, with the image's data; `path` once per file
//! when the step runs, with that data and `{{ .FileName }}`:
//!
//! - `ImageName`: the workspace image; for a template built on its own, the template's file name
//!   without `.json` (`.pkr.hcl`), or its directory's name for an HCL2 directory;
//! - `Fingerprint`: the image's fingerprint (64 hex digits), empty for a template built on its own;
//! - `BuildName`, `BuilderType`: as for every post-processor.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use imgs_diagnostic::Diagnostics;
use imgs_post::PostError;
use imgs_post::checksum::ChecksumType;
use imgs_post::upload::{self as http, ChecksumHeader, Target, Upload, Url};
use imgs_provision::Secrets;
use imgs_template::Node;
use imgs_template::schema::upload as rules;
use tokio_util::sync::CancellationToken;

use super::deferred::{Renderer, raw_text};
use super::{Outcome, PostRun};
use crate::Artifact;
use crate::builder::Log;
use crate::prepare::RunLabels;
use crate::settings::Settings;

/// Every key of the type (see imgs-template's spec).
const KEYS: &[&str] = &[
    "endpoint",
    "path",
    "headers",
    "checksum_type",
    "checksum_header",
    "retries",
    "retry_delay",
    "timeout",
    "keep_input_artifact",
];

#[derive(Debug)]
pub(crate) struct UploadStep {
    /// `endpoint`, rendered.
    endpoint: Url,
    /// `path` as written, rendered per file.
    path: String,
    /// The data `path` is rendered with (and `FileName`).
    data: BTreeMap<String, String>,
    upload: Upload,
    renderer: Renderer,
    /// Values no line may show: the build's sensitive variables.
    secrets: Secrets,
}

pub(crate) fn read(
    settings: &Settings<'_>,
    config: &Node,
    renderer: &Renderer,
    labels: &RunLabels,
    secrets: &Secrets,
) -> Result<UploadStep, Diagnostics> {
    let mut problems = settings.unknown_keys("post-processor `upload`", KEYS, &["packer_"]);
    let mut data = renderer.build_data();
    data.insert("ImageName".into(), image_name(labels));
    data.insert(
        "Fingerprint".into(),
        labels.fingerprint.clone().unwrap_or_default(),
    );
    let endpoint = match raw_text(config, "endpoint").filter(|t| !t.trim().is_empty()) {
        None => {
            problems.push(
                settings
                    .error("endpoint", "endpoint must be specified")
                    .hint("set `endpoint` to the http:// or https:// URL the files go under"),
            );
            None
        }
        Some(text) => match renderer.render(&text, &data) {
            Err(why) => {
                problems
                    .push(settings.error("endpoint", format!("cannot render `endpoint`: {why}")));
                None
            }
            Ok(rendered) => match http::endpoint(&rendered) {
                Ok(url) => Some(url),
                Err(why) => {
                    problems.push(settings.error("endpoint", secrets.mask(&why)).hint(
                        "upload sends files with HTTP PUT: write an http:// or https:// URL",
                    ));
                    None
                }
            },
        },
    };
    let path = raw_text(config, "path")
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| http::DEFAULT_PATH.to_string());
    let mut sample = data.clone();
    sample.insert("FileName".into(), "file".into());
    if let Err(why) = renderer.render(&path, &sample) {
        problems.push(settings.error("path", format!("cannot render `path`: {why}")));
    }
    let upload = settings.located.decode(|d| {
        let mut headers = Vec::new();
        for (name, value) in d.map("headers") {
            let problem =
                rules::header_name_problem(&name).or_else(|| rules::header_value_problem(&value));
            match problem.map_or_else(|| http::header(&name, &value), Err) {
                Ok(header) => headers.push(header),
                Err(why) => d.problem(
                    "headers",
                    why,
                    "header names are HTTP tokens and values are one line",
                ),
            }
        }
        let kind = match d.one_of("checksum_type", rules::CHECKSUM_TYPES).as_deref() {
            Some("none") => None,
            Some(name) => ChecksumType::parse(name),
            None => Some(http::DEFAULT_CHECKSUM),
        };
        let checksum = kind.and_then(|kind| {
            let name = d
                .string("checksum_header")
                .unwrap_or_else(|| ChecksumHeader::default_name(kind));
            match rules::header_name_problem(&name)
                .map_or_else(|| http::header(&name, "x").map(|(name, _)| name), Err)
            {
                Ok(name) => Some(ChecksumHeader { kind, name }),
                Err(why) => {
                    d.problem(
                        "checksum_header",
                        why,
                        "name an HTTP header, e.g. `X-Checksum-Sha256`",
                    );
                    None
                }
            }
        });
        let retries = match d.int("retries") {
            None => http::DEFAULT_RETRIES,
            Some(n) => u32::try_from(n).unwrap_or_else(|_| {
                d.problem(
                    "retries",
                    format!("retries must be from 0 to {}, not {n}", u32::MAX),
                    "write 0 to send each file once",
                );
                0
            }),
        };
        let mut duration =
            |key: &str, default: Duration, zero_is_default: bool| match d.go_duration(key) {
                None => default,
                Some(written) => match written.to_std() {
                    Some(d) if d.is_zero() && zero_is_default => default,
                    Some(d) => d,
                    None => {
                        d.problem(
                            key,
                            format!("{key} must not be negative"),
                            "write a duration such as \"1s\" or \"2m\"",
                        );
                        default
                    }
                },
            };
        let retry_delay = duration("retry_delay", http::DEFAULT_RETRY_DELAY, false);
        let timeout = duration("timeout", http::DEFAULT_TIMEOUT, true);
        Upload {
            headers,
            checksum,
            retries,
            retry_delay,
            timeout,
        }
    });
    let upload = upload.map_err(|d| problems.extend(d.0)).ok();
    Diagnostics::check(problems)?;
    Ok(UploadStep {
        endpoint: endpoint.expect("no problem, so an endpoint"),
        path,
        data,
        upload: upload.expect("no problem, so settings"),
        renderer: renderer.clone(),
        secrets: secrets.clone(),
    })
}

/// `{{ .ImageName }}`: the workspace image, or for a template built on its own (no fingerprint, its
/// path as the image) the template's name.
fn image_name(labels: &RunLabels) -> String {
    if labels.fingerprint.is_some() || labels.image.is_empty() {
        return labels.image.clone();
    }
    let name = Path::new(&labels.image)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.strip_suffix(".pkr.hcl")
        .or_else(|| name.strip_suffix(".json"))
        .unwrap_or(&name)
        .to_string()
}

impl UploadStep {
    /// Sends every file of `input`; the input is the step's artifact.
    pub(super) async fn run(
        &self,
        input: &Artifact,
        run: &PostRun<'_>,
        log: Log<'_>,
        cancel: &CancellationToken,
    ) -> Result<Outcome, PostError> {
        let mask = |e: PostError| match e {
            PostError::Upload { url, reason, hint } => PostError::Upload {
                url: self.secrets.mask(&url),
                reason: self.secrets.mask(&reason),
                hint,
            },
            other => other,
        };
        let mut targets: Vec<Target> = Vec::new();
        for file in &input.files {
            let mut data = self.data.clone();
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            data.insert("FileName".into(), name);
            let path =
                self.renderer
                    .render(&self.path, &data)
                    .map_err(|reason| PostError::Render {
                        key: "path",
                        reason,
                    })?;
            let url = http::file_url(&self.endpoint, &path).map_err(PostError::Unsupported)?;
            if let Some(other) = targets.iter().find(|t| t.url == url) {
                return Err(mask(PostError::Unsupported(format!(
                    "`{}` and `{}` would both go to {}: make `path` tell them apart (e.g. with {{{{ .FileName }}}})",
                    other.file.display(),
                    file.display(),
                    http::shown(&url)
                ))));
            }
            targets.push(Target {
                file: file.clone(),
                url,
            });
        }
        if targets.is_empty() {
            log.line("Nothing to upload: the artifact has no files");
        }
        // The build's log masks sensitive values in every line; errors are masked here (`mask`).
        let mut lines = |line: &str| log.line(line);
        http::send_all(&self.upload, &targets, run.working_dir, &mut lines, cancel)
            .await
            .map_err(mask)?;
        Ok(Outcome {
            artifact: input.clone(),
            keep_input: true,
            force_keep: true,
        })
    }
}
