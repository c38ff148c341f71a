//! EC2 clients: credentials found as Packer 1.6.6 finds them — the template's keys, else the
//! environment and the shared files (`shared_credentials_file`, `profile`, and a profile's role with
//! `mfa_code`), else instance metadata — then, with `assume_role`, a role assumed with those; one
//! region per client, and an HTTPS stack on rustls with ring (see the workspace manifest for why not
//! the SDK's default).
//!
//! STS is called on its usual endpoint; the SDK's `AWS_ENDPOINT_URL_STS` (or `AWS_ENDPOINT_URL`)
//! environment variable points it elsewhere, as `custom_endpoint_ec2` does for EC2.

use std::path::PathBuf;

use aws_config::provider_config::ProviderConfig;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::{Credentials, SharedHttpClient};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::credentials::{AssumedRole, ProfileRole};
use crate::retry;

/// `assume_role`: the role the build's credentials assume before anything is called.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AssumeRole {
    pub role_arn: String,
    /// The session's length; STS's 15 minutes when `None`, as Packer asks for. Assumed credentials
    /// are renewed when they run out, so a long build is not cut short.
    pub duration_seconds: Option<i32>,
    pub external_id: Option<String>,
    /// An inline session policy (JSON).
    pub policy: Option<String>,
    pub policy_arns: Vec<String>,
    /// Packer's default is the time in nanoseconds.
    pub session_name: Option<String>,
    pub tags: std::collections::BTreeMap<String, String>,
    pub transitive_tag_keys: Vec<String>,
}

/// Where and as whom EC2 is called: Packer's access settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientSettings {
    pub region: String,
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub token: Option<String>,
    pub profile: Option<String>,
    /// Replaces EC2's endpoint in every region (a local EC2 API server in tests).
    pub custom_endpoint_ec2: Option<String>,
    pub skip_region_validation: bool,
    /// Never ask the instance metadata service for credentials.
    pub skip_metadata_api_check: bool,
    /// Retries after the first attempt of a call that EC2 throttled, answered with a 5xx status,
    /// or whose connection broke or timed out; unset or 0 is Packer's 10 (see
    /// [`ClientSettings::max_attempts`]).
    pub max_retries: Option<u32>,
    pub assume_role: Option<AssumeRole>,
    /// The shared credentials file to read instead of `~/.aws/credentials` (`~/` is the home
    /// directory).
    pub shared_credentials_file: Option<PathBuf>,
    /// The MFA code a profile's role (`role_arn` with `mfa_serial`) is assumed with.
    pub mfa_code: Option<String>,
    /// Accept any TLS certificate from EC2 and STS (an endpoint with a self-signed certificate).
    pub insecure_skip_tls_verify: bool,
    /// Decode the encoded message of an `UnauthorizedOperation` error with STS.
    pub decode_authorization_messages: bool,
}

/// Packer 1.6.6's `max_retries` when the template does not give one (or gives 0): the SDK's 3
/// "regularly gets tripped by users", it says.
pub const PACKER_DEFAULT_RETRIES: u32 = 10;

impl ClientSettings {
    /// Settings for `region` with credentials from the environment and profiles.
    pub fn new(region: impl Into<String>) -> Self {
        ClientSettings {
            region: region.into(),
            ..ClientSettings::default()
        }
    }

    /// How many times a call is tried at most: the first try and `max_retries` retries (Packer's
    /// 10 when unset or 0, as Packer reads it).
    pub fn max_attempts(&self) -> u32 {
        match self.max_retries {
            None | Some(0) => PACKER_DEFAULT_RETRIES + 1,
            Some(retries) => retries.saturating_add(1),
        }
    }

    /// An EC2 client for `region` (the build region or one the AMI is copied to).
    pub async fn client(&self, region: &str) -> Client {
        let shared = self.sdk_config(region).await;
        let mut config = aws_sdk_ec2::config::Builder::from(&shared)
            .retry_partition(retry::own_retry_quota())
            .retry_classifier(retry::refused_certificates_are_final());
        if let Some(endpoint) = &self.custom_endpoint_ec2 {
            config = config.endpoint_url(endpoint_url(endpoint));
        }
        Client::from_conf(config.build())
    }

    /// An STS client for `region`, as the build's credentials (the assumed role's with
    /// `assume_role`).
    pub(crate) async fn sts(&self, region: &str) -> aws_sdk_sts::Client {
        sts_client(&self.sdk_config(region).await)
    }

    /// An IAM client, as the build's credentials (IAM is global; `region` signs the calls).
    pub(crate) async fn iam(&self, region: &str) -> aws_sdk_iam::Client {
        let config = aws_sdk_iam::config::Builder::from(&self.sdk_config(region).await)
            .retry_partition(retry::own_retry_quota())
            .retry_classifier(retry::refused_certificates_are_final());
        aws_sdk_iam::Client::from_conf(config.build())
    }

    /// The region, HTTP client, retries and credentials every client of this build shares.
    pub(crate) async fn sdk_config(&self, region: &str) -> SdkConfig {
        let http = self.http_client();
        let attempts = self.max_attempts();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .http_client(http.clone())
            .retry_config(RetryConfig::standard().with_max_attempts(attempts));
        let files = self.profile_files();
        if let Some(files) = &files {
            loader = loader.profile_files(files.clone());
        }
        if let Some(profile) = &self.profile {
            loader = loader.profile_name(profile);
        }
        if let (Some(access), Some(secret)) = (&self.access_key, &self.secret_key) {
            loader = loader.credentials_provider(Credentials::new(
                access,
                secret,
                self.token.clone(),
                None,
                "template",
            ));
        } else if let Some(role) = self.profile_role(region, &http, files.as_ref()).await {
            loader = loader.credentials_provider(role);
        } else if self.skip_metadata_api_check {
            loader = loader.credentials_provider(without_metadata_service(
                self.profile.as_deref(),
                files.as_ref(),
                &provider_config(Some(Region::new(region.to_string())), &http),
            ));
        }
        let shared = loader.load().await;
        match &self.assume_role {
            None => shared,
            Some(role) => {
                let assumed = AssumedRole::new(&sts_client(&shared), role);
                shared
                    .into_builder()
                    .credentials_provider(SharedCredentialsProvider::new(assumed))
                    .build()
            }
        }
    }

    /// `mfa_code` with a profile whose role needs it (`role_arn`, `mfa_serial`, `source_profile`),
    /// unless the environment holds keys (which Packer takes first).
    async fn profile_role(
        &self,
        region: &str,
        http: &SharedHttpClient,
        files: Option<&EnvConfigFiles>,
    ) -> Option<ProfileRole> {
        let code = self.mfa_code.as_deref()?;
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
            return None;
        }
        ProfileRole::find(
            self.profile.as_deref(),
            files,
            code,
            Region::new(region.to_string()),
            http,
        )
        .await
    }

    /// `shared_credentials_file` in place of the default credentials file (the config file stays).
    fn profile_files(&self) -> Option<EnvConfigFiles> {
        let path = self.shared_credentials_file.as_ref()?;
        Some(
            EnvConfigFiles::builder()
                .include_default_config_file(true)
                .with_file(EnvConfigFileKind::Credentials, expand_home(path))
                .build(),
        )
    }

    fn http_client(&self) -> SharedHttpClient {
        if self.insecure_skip_tls_verify {
            return crate::insecure_tls::http_client();
        }
        aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https()
    }
}

/// An STS client on `shared`, retried as the EC2 client is.
pub(crate) fn sts_client(shared: &SdkConfig) -> aws_sdk_sts::Client {
    let config = aws_sdk_sts::config::Builder::from(shared)
        .retry_partition(retry::own_retry_quota())
        .retry_classifier(retry::refused_certificates_are_final());
    aws_sdk_sts::Client::from_conf(config.build())
}

/// The environment, then the profile files: the default chain without instance metadata.
fn without_metadata_service(
    profile: Option<&str>,
    files: Option<&EnvConfigFiles>,
    config: &ProviderConfig,
) -> aws_config::meta::credentials::CredentialsProviderChain {
    let mut from_files =
        aws_config::profile::ProfileFileCredentialsProvider::builder().configure(config);
    if let Some(profile) = profile {
        from_files = from_files.profile_name(profile);
    }
    if let Some(files) = files {
        from_files = from_files.profile_files(files.clone());
    }
    aws_config::meta::credentials::CredentialsProviderChain::first_try(
        "Environment",
        aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else("Profile", from_files.build())
}

/// What a credentials provider built outside the config loader needs to call anything: the
/// region, this build's HTTP client and the SDK's behaviour version.
pub(crate) fn provider_config(region: Option<Region>, http: &SharedHttpClient) -> ProviderConfig {
    ProviderConfig::without_region()
        .with_region(region)
        .with_http_client(http.clone())
        .with_behavior_version(Some(BehaviorVersion::latest()))
}

/// `~/…` in the home directory, as Packer expands the shared credentials file's path.
fn expand_home(path: &std::path::Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// Packer accepts an endpoint without a scheme and then speaks HTTPS.
pub(crate) fn endpoint_url(endpoint: &str) -> String {
    if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("https://{endpoint}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_tried_as_often_as_packer_tries_them() {
        let with = |max_retries| ClientSettings {
            max_retries,
            ..ClientSettings::new("us-east-1")
        };
        assert_eq!(with(None).max_attempts(), 11, "Packer's 10 retries");
        assert_eq!(with(Some(0)).max_attempts(), 11, "0 is unset, as in Packer");
        assert_eq!(with(Some(3)).max_attempts(), 4);
    }

    #[test]
    fn endpoint_without_scheme_is_https() {
        assert_eq!(endpoint_url("ec2.example.com"), "https://ec2.example.com");
        assert_eq!(
            endpoint_url("http://127.0.0.1:5000"),
            "http://127.0.0.1:5000"
        );
    }

    #[test]
    fn the_credentials_file_may_be_under_home() {
        let Some(home) = std::env::var_os("HOME") else {
            return;
        };
        assert_eq!(
            expand_home(std::path::Path::new("~/.aws/build")),
            PathBuf::from(home).join(".aws/build")
        );
        assert_eq!(
            expand_home(std::path::Path::new("/etc/aws")),
            PathBuf::from("/etc/aws")
        );
    }
}
