//! Credentials from STS, as Packer 1.6.6 gets them: `assume_role` (every option of STS AssumeRole,
//! transitive tag keys included, renewed when the session runs out), a shared profile's role
//! assumed with `mfa_code`, and `decode_authorization_messages` (STS decodes the message of an
//! `UnauthorizedOperation` error).

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{self, ProvideCredentials, error::CredentialsError, future};
use aws_runtime::env_config::file::EnvConfigFiles;
use aws_sdk_ec2::config::SharedHttpClient;
use aws_sdk_sts::error::ProvideErrorMetadata;
use aws_sdk_sts::operation::assume_role::builders::AssumeRoleFluentBuilder;
use aws_sdk_sts::types::{PolicyDescriptorType, Tag};
use aws_types::os_shim_internal::{Env, Fs};

use crate::AwsError;
use crate::client::AssumeRole;

/// STS's session length when none is asked for (aws-sdk-go's, which Packer uses).
const DEFAULT_SESSION: Duration = Duration::from_secs(15 * 60);

/// Credentials of a role, assumed again whenever the SDK finds the last ones expiring.
#[derive(Debug)]
pub(crate) struct AssumedRole {
    request: AssumeRoleFluentBuilder,
    role_arn: String,
}

impl AssumedRole {
    /// `role` assumed through `sts` (whose credentials are the ones the role trusts).
    pub(crate) fn new(sts: &aws_sdk_sts::Client, role: &AssumeRole) -> AssumedRole {
        let session_name = role
            .session_name
            .clone()
            .unwrap_or_else(default_session_name);
        let duration = role
            .duration_seconds
            .unwrap_or(DEFAULT_SESSION.as_secs() as i32);
        let mut request = sts
            .assume_role()
            .role_arn(&role.role_arn)
            .role_session_name(session_name)
            .duration_seconds(duration)
            .set_external_id(role.external_id.clone())
            .set_policy(role.policy.clone());
        for arn in &role.policy_arns {
            request = request.policy_arns(PolicyDescriptorType::builder().arn(arn).build());
        }
        for (key, value) in &role.tags {
            if let Ok(tag) = Tag::builder().key(key).value(value).build() {
                request = request.tags(tag);
            }
        }
        for key in &role.transitive_tag_keys {
            request = request.transitive_tag_keys(key);
        }
        AssumedRole {
            request,
            role_arn: role.role_arn.clone(),
        }
    }

    async fn assume(&self) -> provider::Result {
        assume(self.request.clone(), &self.role_arn, "assume_role").await
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.assume())
    }
}

/// A shared profile's role that asks for MFA (`role_arn` and `mfa_serial`), assumed with the
/// credentials of its `source_profile` and the template's `mfa_code`.
#[derive(Debug)]
pub(crate) struct ProfileRole {
    request: AssumeRoleFluentBuilder,
    role_arn: String,
}

impl ProfileRole {
    /// The role of `profile` (else `AWS_PROFILE`, else `default`) when it names an MFA device;
    /// `None` when it does not, and the default chain reads the profile as usual.
    pub(crate) async fn find(
        profile: Option<&str>,
        files: Option<&EnvConfigFiles>,
        mfa_code: &str,
        region: Region,
        http: &SharedHttpClient,
    ) -> Option<ProfileRole> {
        let files = files.cloned().unwrap_or_default();
        let selected = profile
            .map(str::to_string)
            .or_else(|| std::env::var("AWS_PROFILE").ok())
            .unwrap_or_else(|| "default".to_string());
        let set = aws_config::profile::load(
            &Fs::real(),
            &Env::real(),
            &files,
            Some(selected.clone().into()),
        )
        .await
        .ok()?;
        let section = set.get_profile(&selected)?;
        let role_arn = section.get("role_arn")?.to_string();
        let serial = section.get("mfa_serial")?.to_string();
        let source = section.get("source_profile")?.to_string();
        let base = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .configure(&crate::client::provider_config(Some(region.clone()), http))
            .profile_files(files)
            .profile_name(source)
            .build();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .http_client(http.clone())
            .credentials_provider(base)
            .load()
            .await;
        let duration = section
            .get("duration_seconds")
            .and_then(|d| d.parse::<i32>().ok())
            .unwrap_or(DEFAULT_SESSION.as_secs() as i32);
        let request = crate::client::sts_client(&config)
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name(
                section
                    .get("role_session_name")
                    .map_or_else(default_session_name, str::to_string),
            )
            .duration_seconds(duration)
            .set_external_id(section.get("external_id").map(str::to_string))
            .serial_number(serial)
            .token_code(mfa_code);
        Some(ProfileRole { request, role_arn })
    }
}

impl ProvideCredentials for ProfileRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(assume(self.request.clone(), &self.role_arn, "mfa_code"))
    }
}

async fn assume(
    request: AssumeRoleFluentBuilder,
    role_arn: &str,
    source: &'static str,
) -> provider::Result {
    let answer = request.send().await.map_err(|error| {
        let why = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            _ => format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&error)
            ),
        };
        CredentialsError::provider_error(CannotAssume {
            role_arn: role_arn.to_string(),
            why,
        })
    })?;
    let credentials = answer.credentials.ok_or_else(|| {
        CredentialsError::provider_error(CannotAssume {
            role_arn: role_arn.to_string(),
            why: "STS answered without credentials".into(),
        })
    })?;
    Ok(Credentials::new(
        credentials.access_key_id,
        credentials.secret_access_key,
        Some(credentials.session_token),
        SystemTime::try_from(credentials.expiration).ok(),
        source,
    ))
}

/// Why a role could not be assumed, as the failed EC2 call reports it.
#[derive(Debug)]
struct CannotAssume {
    role_arn: String,
    why: String,
}

impl fmt::Display for CannotAssume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot assume role {}: {}", self.role_arn, self.why)
    }
}

impl std::error::Error for CannotAssume {}

/// Packer's (aws-sdk-go's) session name: the time in nanoseconds.
fn default_session_name() -> String {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

/// The encoded message of an `UnauthorizedOperation` error: (what comes before it, the message,
/// what follows it).
fn encoded_message(detail: &str) -> Option<(&str, &str, &str)> {
    const MARKER: &str = " encoded authorization failure message: ";
    let lower = detail.to_ascii_lowercase();
    let at = lower.find(MARKER)?;
    let before = &detail[..at];
    let rest = &detail[at + MARKER.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    if end == 0 {
        return None;
    }
    Some((before, &rest[..end], rest[end..].trim_start_matches(' ')))
}

/// With `decode_authorization_messages`: an `UnauthorizedOperation` error whose message STS can
/// decode says what was refused, as Packer shows it; any other error, or one STS cannot decode,
/// stays as it was.
pub(crate) async fn decode_authorization(
    settings: &crate::ClientSettings,
    error: AwsError,
) -> AwsError {
    if !settings.decode_authorization_messages {
        return error;
    }
    let AwsError::Api {
        action,
        code,
        detail,
        retried,
    } = error
    else {
        return error;
    };
    let Some((before, encoded, after)) = encoded_message(&detail)
        .filter(|_| code.as_deref() == Some("UnauthorizedOperation"))
        .map(|(b, e, a)| (b.to_string(), e.to_string(), a.to_string()))
    else {
        return AwsError::Api {
            action,
            code,
            detail,
            retried,
        };
    };
    let sts = settings.sts(&settings.region).await;
    let decoded = sts
        .decode_authorization_message()
        .encoded_message(&encoded)
        .send()
        .await;
    let detail = match decoded.ok().and_then(|d| d.decoded_message) {
        Some(message) => {
            let tail = if after.is_empty() {
                String::new()
            } else {
                format!(" {after}")
            };
            format!("{before} Authorization failure message: '{message}'{tail}")
        }
        None => detail,
    };
    AwsError::Api {
        action,
        code,
        detail,
        retried,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoded_message_is_found_as_packer_finds_it() {
        let detail = "UnauthorizedOperation: You are not authorized to perform this operation. \
                      Encoded authorization failure message: AbC-12_x status code: 403";
        let (before, encoded, after) = encoded_message(detail).unwrap();
        assert_eq!(
            before,
            "UnauthorizedOperation: You are not authorized to perform this operation."
        );
        assert_eq!(encoded, "AbC-12_x");
        assert_eq!(after, "status code: 403");
        assert_eq!(encoded_message("AccessDenied: no"), None);
    }

    #[test]
    fn the_default_session_name_is_a_number() {
        assert!(default_session_name().bytes().all(|b| b.is_ascii_digit()));
    }
}
