//! The remote cache's S3 calls: small objects (cache records) read and written whole, artifact
//! files streamed from and to disk, never held in memory (qcow2 layers can be gigabytes); files
//! above [`MULTIPART_THRESHOLD`] go up in parts.
//!
//! The client is built as the EC2 client is: credentials from the usual chain (environment,
//! profiles, instance metadata), the same rustls-on-ring HTTPS client and retries. With an
//! endpoint (an S3-compatible server, moto in tests) addressing is path-style, since such servers
//! rarely resolve `bucket.host` names.

use std::path::Path;

use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::{ByteStream, Length};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use tokio::io::AsyncWriteExt as _;

use crate::ClientSettings;

/// Files larger than this are uploaded in parts of [`PART_SIZE`] bytes.
pub const MULTIPART_THRESHOLD: u64 = 64 * 1024 * 1024;
/// S3 wants parts of at least 5 MiB (but the last); 32 MiB keeps a 100 GB disk under S3's 10,000 parts.
const PART_SIZE: u64 = 32 * 1024 * 1024;
/// Retries of one call after the first try: enough for a blip, few enough that an unreachable
/// remote is a quick warning rather than a minute of backoff.
const RETRIES: u32 = 2;

/// Where the remote cache lives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct S3Settings {
    pub bucket: String,
    /// The region; the environment's (`AWS_REGION`, the profile's), else us-east-1, when `None`.
    pub region: Option<String>,
    /// An S3-compatible server in place of AWS's; path-style addressing then.
    pub endpoint: Option<String>,
    /// Keys to sign with instead of the credentials chain (tests and tools; Images.toml has none,
    /// so secrets stay out of the workspace).
    pub static_keys: Option<(String, String)>,
}

/// What went wrong with one S3 call: what was being done, on which key, and S3's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Error(pub String);

impl std::fmt::Display for S3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for S3Error {}

/// One bucket of the remote cache.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
}

impl S3Store {
    /// A client for the bucket. Nothing is called yet: a remote that cannot be reached shows at
    /// the first call.
    pub async fn connect(settings: &S3Settings) -> S3Store {
        let region = match &settings.region {
            Some(region) => region.clone(),
            // The environment, then the profile; not instance metadata, whose timeouts would
            // slow every plan on a machine outside EC2.
            None => {
                use aws_config::meta::region::ProvideRegion as _;
                let from_env =
                    aws_config::environment::region::EnvironmentVariableRegionProvider::new()
                        .region()
                        .await;
                let region = match from_env {
                    Some(region) => Some(region),
                    None => {
                        aws_config::profile::region::ProfileFileRegionProvider::new()
                            .region()
                            .await
                    }
                };
                region
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "us-east-1".to_string())
            }
        };
        let (access_key, secret_key) = settings.static_keys.clone().unzip();
        let client_settings = ClientSettings {
            max_retries: Some(RETRIES),
            access_key,
            secret_key,
            ..ClientSettings::new(region.clone())
        };
        let shared = client_settings.sdk_config(&region).await;
        let mut config = aws_sdk_s3::config::Builder::from(&shared)
            // Checksums only where S3 requires them: a streamed body with a trailing checksum
            // is what some S3-compatible servers do not take; imgs checks files by blake3.
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            );
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint).force_path_style(true);
        }
        S3Store {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
        }
    }

    /// The object at `key` read whole (for small objects: records); `None` when there is none.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, S3Error> {
        let response = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(response) => response,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(self.failed("read", key, &err)),
        };
        let bytes =
            response.body.collect().await.map_err(|e| {
                S3Error(format!("{}: reading the object failed: {e}", self.url(key)))
            })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    /// Writes `bytes` (a record) at `key`.
    pub async fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> Result<(), S3Error> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.failed("write", key, &e))?;
        Ok(())
    }

    /// Uploads the file at `path` to `key`, streamed from disk; in parts when it is large.
    pub async fn put_file(&self, key: &str, path: &Path) -> Result<(), S3Error> {
        let size = tokio::fs::metadata(path)
            .await
            .map_err(|e| S3Error(format!("{}: {e}", path.display())))?
            .len();
        if size <= MULTIPART_THRESHOLD {
            let body = ByteStream::from_path(path)
                .await
                .map_err(|e| S3Error(format!("{}: {e}", path.display())))?;
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(body)
                .send()
                .await
                .map_err(|e| self.failed("upload", key, &e))?;
            return Ok(());
        }
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.failed("start the upload of", key, &e))?;
        let Some(upload_id) = upload.upload_id() else {
            return Err(S3Error(format!(
                "{}: S3 started a multipart upload without an upload ID",
                self.url(key)
            )));
        };
        match self.put_parts(key, path, size, upload_id).await {
            Ok(parts) => {
                let completed = self
                    .client
                    .complete_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .multipart_upload(
                        CompletedMultipartUpload::builder()
                            .set_parts(Some(parts))
                            .build(),
                    )
                    .send()
                    .await;
                match completed {
                    Ok(_) => Ok(()),
                    // A success the SDK cannot read (moto answers with another XML root than
                    // S3's): the object is what counts, so its size is asked for.
                    Err(err)
                        if err.raw_response().is_some_and(|r| r.status().is_success())
                            && self.size_of(key).await == Some(size) =>
                    {
                        Ok(())
                    }
                    Err(err) => Err(self.failed("finish the upload of", key, &err)),
                }
            }
            Err(err) => {
                // Parts of an abandoned upload are billed until aborted.
                let _ = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .send()
                    .await;
                Err(err)
            }
        }
    }

    /// The size of the object at `key`, if it exists.
    async fn size_of(&self, key: &str) -> Option<u64> {
        let head = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        head.content_length().and_then(|n| u64::try_from(n).ok())
    }

    async fn put_parts(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        upload_id: &str,
    ) -> Result<Vec<CompletedPart>, S3Error> {
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < size {
            let length = PART_SIZE.min(size - offset);
            let body = ByteStream::read_from()
                .path(path)
                .offset(offset)
                .length(Length::Exact(length))
                .build()
                .await
                .map_err(|e| S3Error(format!("{}: {e}", path.display())))?;
            let part = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(body)
                .send()
                .await
                .map_err(|e| self.failed(&format!("upload part {number} of"), key, &e))?;
            parts.push(
                CompletedPart::builder()
                    .set_e_tag(part.e_tag().map(str::to_string))
                    .part_number(number)
                    .build(),
            );
            offset += length;
            number += 1;
        }
        Ok(parts)
    }

    /// Streams the object at `key` into a new file at `dest` (which must not exist), flushed to
    /// disk; returns its size. A partial file is removed on failure.
    pub async fn get_file(&self, key: &str, dest: &Path) -> Result<u64, S3Error> {
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.failed("download", key, &e))?;
        let local = |e: std::io::Error| S3Error(format!("{}: {e}", dest.display()));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest)
            .await
            .map_err(local)?;
        // From here the file is this call's: removed if the download does not finish.
        let result = self.write_body(key, response.body, file, dest).await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(dest).await;
        }
        result
    }

    async fn write_body(
        &self,
        key: &str,
        mut body: ByteStream,
        mut file: tokio::fs::File,
        dest: &Path,
    ) -> Result<u64, S3Error> {
        let local = |e: std::io::Error| S3Error(format!("{}: {e}", dest.display()));
        let mut written = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| S3Error(format!("{}: the download broke off: {e}", self.url(key))))?
        {
            file.write_all(&chunk).await.map_err(local)?;
            written += chunk.len() as u64;
        }
        file.sync_all().await.map_err(local)?;
        Ok(written)
    }

    /// Makes the bucket if it does not exist (tests and first use of an S3-compatible server).
    pub async fn ensure_bucket(&self) -> Result<(), S3Error> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        self.client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| {
                S3Error(format!(
                    "cannot create bucket {}: {}",
                    self.bucket,
                    DisplayErrorContext(&e)
                ))
            })?;
        Ok(())
    }

    /// Every key under `prefix` (paged), for tests and listings.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, S3Error> {
        let mut keys = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.failed("list", prefix, &e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_string)),
            );
        }
        Ok(keys)
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// S3's answer, with what was being done: its error code and message when it answered, the
    /// connection's error when it could not be reached.
    fn failed<E, R>(
        &self,
        what: &str,
        key: &str,
        err: &aws_sdk_s3::error::SdkError<E, R>,
    ) -> S3Error
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        let detail = match err.as_service_error() {
            Some(service) if service.code().is_some() => format!(
                "{}: {}",
                service.code().unwrap_or_default(),
                service.message().unwrap_or("no message")
            ),
            // No code: what the SDK could tell (the connection's error, a body it could not read).
            _ => crate::error::causes(err),
        };
        S3Error(format!("cannot {what} {}: {detail}", self.url(key)))
    }
}
