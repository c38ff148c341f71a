//! What can go wrong while building on EC2, each with what to do about it where imgs can tell.

use std::fmt;
use std::time::Duration;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};

use crate::Resource;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// An EC2 call failed (after the SDK's retries).
    #[error("{action}: {detail}{}", RetriedNote(retried.as_ref()))]
    Api {
        /// What imgs was doing, as Packer says it ("Error launching source instance").
        action: String,
        /// EC2's error code, when it gave one (`InvalidAMIID.NotFound`).
        code: Option<String>,
        detail: String,
        /// Set when the failure was one the SDK retries (throttling, a 5xx answer, a broken
        /// connection): it was retried as often as `max_retries` allows, and failed every time.
        retried: Option<Retried>,
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
    /// A wait gave up: after its looks (`aws_polling`), its time limit, or looks that kept failing.
    #[error("{}", WaitEnded { what, waited: *waited, looks: *looks, limit: *limit, last_failure: last_failure.as_deref() })]
    Timeout {
        what: String,
        waited: Duration,
        /// How many looks it made.
        looks: u32,
        limit: WaitLimit,
        /// The failure of the last look, when it failed (EC2 throttled or failed it after its
        /// retries).
        last_failure: Option<Box<AwsError>>,
    },
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

/// An EC2 call retried until `max_retries` ran out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retried {
    /// The EC2 action (`RunInstances`).
    pub operation: String,
    /// How many times it was tried, once the build's settings are known (see
    /// [`AwsError::counted`]).
    pub attempts: Option<u32>,
}

/// What made a wait give up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitLimit {
    /// Its time limit (no `max_attempts`).
    Time,
    /// `aws_polling`'s `max_attempts` (or `AWS_MAX_ATTEMPTS`, `AWS_TIMEOUT_SECONDS`).
    Looks,
    /// This many looks in a row failed.
    FailedLooks(u32),
}

struct RetriedNote<'a>(Option<&'a Retried>);

impl fmt::Display for RetriedNote<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => Ok(()),
            Some(Retried {
                operation,
                attempts: Some(attempts),
            }) => {
                let retries = attempts.saturating_sub(1);
                let times = if retries == 1 { "time" } else { "times" };
                write!(f, " ({operation} retried {retries} {times})")
            }
            Some(Retried {
                operation,
                attempts: None,
            }) => write!(f, " ({operation} retried as often as max_retries allows)"),
        }
    }
}

struct WaitEnded<'a> {
    what: &'a str,
    waited: Duration,
    looks: u32,
    limit: WaitLimit,
    last_failure: Option<&'a AwsError>,
}

impl fmt::Display for WaitEnded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = self.what;
        let looks = self.looks;
        match self.limit {
            WaitLimit::Time => write!(
                f,
                "timed out after {}s waiting for {what}",
                self.waited.as_secs()
            )?,
            WaitLimit::Looks => write!(f, "gave up waiting for {what} after {looks} looks")?,
            WaitLimit::FailedLooks(failed) => write!(
                f,
                "gave up waiting for {what}: its last {failed} looks failed"
            )?,
        }
        match self.last_failure {
            Some(failure) => write!(f, "; the last look failed: {failure}"),
            None => Ok(()),
        }
    }
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
            AwsError::Api {
                code,
                detail,
                retried,
                ..
            } => api_hint(code.as_deref(), detail, retried.as_ref()),
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
            AwsError::Timeout {
                last_failure: Some(failure),
                ..
            } => Some(match failure.hint() {
                Some(hint) => format!(
                    "{hint}; a wait makes `aws_polling` `max_attempts` looks (or \
                     AWS_MAX_ATTEMPTS), `delay_seconds` (AWS_POLL_DELAY_SECONDS) apart"
                ),
                None => "a wait makes `aws_polling` `max_attempts` looks (or AWS_MAX_ATTEMPTS), \
                         `delay_seconds` (AWS_POLL_DELAY_SECONDS) apart"
                    .into(),
            }),
            AwsError::Timeout { .. } => Some(
                "EC2 is slow or the resource is stuck; look at it in the console; `aws_polling` \
                 (or AWS_MAX_ATTEMPTS, AWS_POLL_DELAY_SECONDS) sets how long a wait looks"
                    .into(),
            ),
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
    pub(crate) fn api<E>(
        action: impl Into<String>,
    ) -> impl FnOnce(SdkError<E, HttpResponse>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        move |error| {
            let code = error.code().map(str::to_string);
            let detail = match (error.code(), error.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                _ => causes(&error),
            };
            let retried = crate::retry::sdk_retries(&error).then(|| Retried {
                operation: operation_name::<E>(),
                attempts: None,
            });
            AwsError::Api {
                action: action.into(),
                code,
                detail,
                retried,
            }
        }
    }

    /// The error with how many times its call was tried filled in: `max_attempts` of the build's
    /// settings, for a call the SDK retried until they ran out (its retries are per call, see
    /// `retry`).
    pub fn counted(self, max_attempts: u32) -> AwsError {
        match self {
            AwsError::Api {
                action,
                code,
                detail,
                retried,
            } => AwsError::Api {
                action,
                code,
                detail,
                retried: retried.map(|r| Retried {
                    attempts: r.attempts.or(Some(max_attempts)),
                    ..r
                }),
            },
            AwsError::Timeout {
                what,
                waited,
                looks,
                limit,
                last_failure,
            } => AwsError::Timeout {
                what,
                waited,
                looks,
                limit,
                last_failure: last_failure.map(|f| Box::new(f.counted(max_attempts))),
            },
            other => other,
        }
    }

    /// Whether this is a call EC2 throttled, answered with a 5xx status, or whose connection broke,
    /// after its retries: a wait may look again.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(
            self,
            AwsError::Api {
                retried: Some(_),
                ..
            }
        )
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
pub(crate) fn causes(error: &(dyn std::error::Error + 'static)) -> String {
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

/// The EC2 action of an SDK operation's error type: `RunInstances` of
/// `aws_sdk_ec2::operation::run_instances::RunInstancesError`. The SDK's errors do not carry their
/// operation's name; the generated types are named after it.
fn operation_name<E>() -> String {
    let path = std::any::type_name::<E>();
    let last = path.rsplit("::").next().unwrap_or(path);
    last.strip_suffix("Error").unwrap_or(last).to_string()
}

fn api_hint(code: Option<&str>, detail: &str, retried: Option<&Retried>) -> Option<String> {
    if let Some(retried) = retried {
        let operation = &retried.operation;
        let tries = match retried.attempts {
            Some(n) => format!("{n} times"),
            None => "as often as max_retries allows".into(),
        };
        let unreachable = detail.contains("dispatch failure")
            && (detail.contains("Connect") || detail.contains("dns error"));
        return Some(if unreachable {
            format!(
                "EC2 could not be reached ({operation} was tried {tries}): check the network, \
                 region and custom_endpoint_ec2"
            )
        } else {
            format!(
                "EC2 throttled or failed {operation} every time it was tried ({tries}): raise \
                 `max_retries` in the builder (10 when unset), or build again later"
            )
        });
    }
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

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::config::http::HttpResponse;
    use aws_sdk_ec2::error::{ErrorMetadata, SdkError};
    use aws_sdk_ec2::operation::run_instances::RunInstancesError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    /// What the SDK gives for an EC2 answer of `status` with `code`.
    fn answered(status: u16, code: &str) -> SdkError<RunInstancesError, HttpResponse> {
        let meta = ErrorMetadata::builder()
            .code(code)
            .message("Request limit exceeded.")
            .build();
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(RunInstancesError::generic(meta), raw)
    }

    #[test]
    fn a_call_ec2_kept_throttling_names_its_action_and_its_retries() {
        let error =
            AwsError::api("Error launching source instance")(answered(400, "RequestLimitExceeded"))
                .counted(11);
        assert_eq!(
            error.to_string(),
            "Error launching source instance: RequestLimitExceeded: Request limit exceeded. \
             (RunInstances retried 10 times)"
        );
        assert_eq!(
            error.hint().unwrap(),
            "EC2 throttled or failed RunInstances every time it was tried (11 times): raise \
             `max_retries` in the builder (10 when unset), or build again later"
        );
        assert!(error.is_transient());
    }

    #[test]
    fn what_the_sdk_retries_is_told_apart_from_what_it_does_not() {
        let transient = |status, code| {
            AwsError::api("Error launching source instance")(answered(status, code)).is_transient()
        };
        assert!(transient(503, "Unavailable"));
        assert!(transient(500, "InternalError"));
        assert!(transient(503, "Throttling"));
        assert!(transient(400, "RequestLimitExceeded"));
        assert!(!transient(400, "InvalidAMIID.NotFound"));
        assert!(!transient(400, "UnauthorizedOperation"));
        let refused = AwsError::api("Error launching source instance")(answered(
            400,
            "InvalidParameterValue",
        ));
        assert_eq!(
            refused.counted(11).to_string(),
            "Error launching source instance: InvalidParameterValue: Request limit exceeded.",
            "nothing said of retries the SDK did not make"
        );
    }

    #[test]
    fn an_operations_name_comes_from_its_error_type() {
        assert_eq!(operation_name::<RunInstancesError>(), "RunInstances");
        assert_eq!(
            operation_name::<aws_sdk_ec2::operation::describe_images::DescribeImagesError>(),
            "DescribeImages"
        );
    }
}
