//! What can go wrong while building on EC2, each with what to do about it where imgs can tell.

use std::fmt;
use std::time::Duration;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use crate::Resource;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// An EC2 call failed (after the SDK's retries).
    #[error("{action}: {detail}")]
    Api {
        /// What imgs was doing, as Packer says it ("Error launching source instance").
        action: String,
        /// EC2's error code, when it gave one (`InvalidAMIID.NotFound`).
        code: Option<String>,
        detail: String,
    },
    #[error("No AMI was found matching filters: {filters}")]
    NoSourceAmi { filters: String },
    #[error(
        "Your query returned more than one result. Please try a more specific search, or set most_recent to true."
    )]
    SeveralSourceAmis { count: usize },
    #[error("Error: AMI Name: '{name}' is used by an existing AMI: {ami_id}")]
    AmiNameTaken { name: String, ami_id: String },
    /// A resource reached a state it will not come back from (an instance terminated while starting).
    #[error("{what} is {state} instead of {wanted}{}", reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default())]
    UnexpectedState {
        what: String,
        state: String,
        wanted: String,
        reason: Option<String>,
    },
    #[error("timed out after {}s waiting for {what}", waited.as_secs())]
    Timeout { what: String, waited: Duration },
    #[error("cancelled")]
    Cancelled,
    /// A deferred template (tags, description) could not be rendered with the build's data.
    #[error("Error processing {key}: {message}")]
    Render { key: String, message: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    /// The SSH settings with the instance's address filled in are not valid.
    #[error("the SSH settings for the instance are invalid: {0}")]
    Ssh(imgs_diagnostic::Diagnostics),
    /// Clean-up could not remove everything; each entry names the resource and why.
    #[error("could not remove {}", Failures(.0))]
    Leftovers(Vec<(Resource, String)>),
    /// What the template asks for does not match what EC2 holds (a filter that finds no subnet, an
    /// AMI that cannot take enhanced networking).
    #[error("{message}")]
    Mismatch { message: String, hint: String },
    /// An EC2 answer lacked something it always carries (a new instance without an ID).
    #[error("EC2 answered {action} without {missing}")]
    Malformed { action: String, missing: String },
}

struct Failures<'a>(&'a [(Resource, String)]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (resource, why)) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{resource} ({why})")?;
        }
        Ok(())
    }
}

impl AwsError {
    /// What the person running the build can do about it, when imgs can tell.
    pub fn hint(&self) -> Option<String> {
        match self {
            AwsError::Api { code, detail, .. } => api_hint(code.as_deref(), detail),
            AwsError::NoSourceAmi { .. } => Some(
                "check the filters and owners in source_ami_filter against `aws ec2 describe-images`"
                    .into(),
            ),
            AwsError::SeveralSourceAmis { count } => Some(format!(
                "{count} AMIs match; set `most_recent: true` in source_ami_filter to take the newest"
            )),
            AwsError::AmiNameTaken { .. } => Some(
                "change ami_name (add {{timestamp}}), or set force_deregister to replace the existing AMI"
                    .into(),
            ),
            AwsError::Timeout { .. } => {
                Some("EC2 is slow or the resource is stuck; look at it in the console".into())
            }
            AwsError::Mismatch { hint, .. } => Some(hint.clone()),
            AwsError::Leftovers(_) => Some(
                "remove them by hand, or run `imgs gc`, which finds them by their imgs:run tag".into(),
            ),
            AwsError::Render { .. } => Some(
                "build data available here: BuildRegion, SourceAMI, SourceAMIName, SourceAMIOwner, \
                 SourceAMIOwnerName, SourceAMICreationDate, SourceAMITags.NAME"
                    .into(),
            ),
            _ => None,
        }
    }

    /// Wraps an SDK error with what imgs was doing.
    pub(crate) fn api<E, R>(action: impl Into<String>) -> impl FnOnce(SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        move |error| {
            let code = error.code().map(str::to_string);
            let detail = match (error.code(), error.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                _ => causes(&error),
            };
            AwsError::Api {
                action: action.into(),
                code,
                detail,
            }
        }
    }

    /// EC2's error code, for callers that treat "already gone" as success.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            AwsError::Api { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// An error and its causes as one sentence ("dispatch failure: … : request forbidden"), without the
/// SDK's debug dump of the response that `DisplayErrorContext` appends.
fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let part = next.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = next.source();
    }
    text
}

fn api_hint(code: Option<&str>, detail: &str) -> Option<String> {
    let code = code.unwrap_or_default();
    if code.starts_with("AuthFailure")
        || code == "UnrecognizedClientException"
        || code == "InvalidClientTokenId"
        || detail.contains("no credentials")
        || detail.contains("NoCredentials")
    {
        return Some(
            "check the AWS credentials: access_key/secret_key, profile, or the AWS_* environment \
             variables"
                .into(),
        );
    }
    if code == "UnauthorizedOperation" {
        return Some("the credentials lack an IAM permission this call needs".into());
    }
    if code.starts_with("InvalidAMIID") {
        return Some("check source_ami: it must exist in the build region".into());
    }
    if detail.contains("cannot assume role") {
        return Some(
            "check assume_role: the role's trust policy must allow the credentials found, and \
             AWS_ENDPOINT_URL_STS names another STS endpoint"
                .into(),
        );
    }
    if detail.contains("dispatch failure") || detail.contains("connection") {
        return Some(
            "EC2 could not be reached: check the network, region and custom_endpoint_ec2".into(),
        );
    }
    None
}
