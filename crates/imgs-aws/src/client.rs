//! EC2 clients: the standard credential chain (environment, profiles, instance metadata) unless the
//! template gives static keys or a profile, one region per client, and an HTTPS stack on rustls with
//! ring (see the workspace manifest for why not the SDK's default).

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::Credentials;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

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
    /// Retries after the first attempt; the SDK's standard mode retries throttling and 5xx errors.
    pub max_retries: Option<u32>,
}

/// Attempts per call when the template does not say: the first and a few retries.
const DEFAULT_ATTEMPTS: u32 = 4;

impl ClientSettings {
    /// Settings for `region` with credentials from the environment and profiles.
    pub fn new(region: impl Into<String>) -> Self {
        ClientSettings {
            region: region.into(),
            ..ClientSettings::default()
        }
    }

    /// An EC2 client for `region` (the build region or one the AMI is copied to).
    pub async fn client(&self, region: &str) -> Client {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let attempts = self.max_retries.map_or(DEFAULT_ATTEMPTS, |r| r + 1);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .http_client(http)
            .retry_config(RetryConfig::standard().with_max_attempts(attempts));
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
        } else if self.skip_metadata_api_check {
            loader = loader.credentials_provider(without_metadata_service(self.profile.as_deref()));
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_ec2::config::Builder::from(&shared);
        if let Some(endpoint) = &self.custom_endpoint_ec2 {
            config = config.endpoint_url(endpoint_url(endpoint));
        }
        Client::from_conf(config.build())
    }
}

/// The environment, then the profile files: the default chain without instance metadata.
fn without_metadata_service(
    profile: Option<&str>,
) -> aws_config::meta::credentials::CredentialsProviderChain {
    let mut files = aws_config::profile::ProfileFileCredentialsProvider::builder();
    if let Some(profile) = profile {
        files = files.profile_name(profile);
    }
    aws_config::meta::credentials::CredentialsProviderChain::first_try(
        "Environment",
        aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
    )
    .or_else("Profile", files.build())
}

/// Packer accepts an endpoint without a scheme and then speaks HTTPS.
fn endpoint_url(endpoint: &str) -> String {
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
    fn endpoint_without_scheme_is_https() {
        assert_eq!(endpoint_url("ec2.example.com"), "https://ec2.example.com");
        assert_eq!(
            endpoint_url("http://127.0.0.1:5000"),
            "http://127.0.0.1:5000"
        );
    }
}
