//! How EC2 calls are retried, as Packer 1.6.6's SDK retries them: every call up to `max_retries`
//! times (Packer's 10 unless the template says) when EC2 throttles it, answers with a 5xx status,
//! or its connection breaks or times out. The SDK's standard retry strategy does the retrying, with
//! its backoff (a random pause up to 1 s, doubling, at most 20 s); this module takes away what it
//! adds to Packer's rules and gives the rest of the crate the same verdict the SDK reached.

use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::config::retry::{RetryPartition, TokenBucket};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, SharedRetryClassifier,
};

/// A retry quota of the client's own, which never runs out: a call is retried as `max_retries`
/// says, whatever other calls met. The SDK's default quota (a token bucket of 500, 5 or 10 tokens
/// a retry) is shared by every client of a service and region in the process, so once a run's
/// builds (or `imgs gc` after them) had met enough throttling or 5xx answers, the next calls were
/// not retried at all. Packer's SDK retries each request up to `max_retries` times, with nothing
/// shared between requests.
pub(crate) fn own_retry_quota() -> RetryPartition {
    RetryPartition::custom("imgs")
        .token_bucket(TokenBucket::unlimited())
        .build()
}

/// The HTTP statuses the SDK retries (`HttpStatusCodeClassifier`).
const TRANSIENT_STATUSES: [u16; 4] = [500, 502, 503, 504];

/// Whether the SDK's standard strategy retries `error`, as its classifiers judge it: a throttling or
/// transient code (`RequestLimitExceeded`, `Throttling`, ...), a 500, 502, 503 or 504 answer, a
/// timeout, a connection that broke or could not be made, an answer that could not be read — but
/// not a refused certificate. It then retried the call until its attempts ran out.
pub(crate) fn sdk_retries<E: ProvideErrorMetadata>(error: &SdkError<E, HttpResponse>) -> bool {
    match error {
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::DispatchFailure(failure) => {
            let broken = failure.is_io() || failure.is_timeout() || failure.as_other().is_some();
            broken
                && !failure
                    .as_connector_error()
                    .is_some_and(|e| refuses_a_certificate(e))
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            THROTTLING_ERRORS.contains(&code)
                || TRANSIENT_ERRORS.contains(&code)
                || TRANSIENT_STATUSES.contains(&service.raw().status().as_u16())
        }
        _ => false,
    }
}

/// A call whose endpoint presented a certificate this machine refuses is not retried: the
/// certificate will be the same on every try (the SDK counts it as a broken connection).
pub(crate) fn refused_certificates_are_final() -> SharedRetryClassifier {
    SharedRetryClassifier::new(RefusedCertificate)
}

#[derive(Debug)]
struct RefusedCertificate;

impl ClassifyRetry for RefusedCertificate {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(error)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        match error.as_connector_error() {
            Some(connector) if refuses_a_certificate(connector) => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "refused TLS certificate"
    }

    fn priority(&self) -> RetryClassifierPriority {
        // After the SDK's classifier of broken connections, to overrule it.
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Whether `error` or one of its causes is rustls refusing the peer's certificate. An I/O error's
/// payload is not its `source()`, so it is looked into too.
fn refuses_a_certificate(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if matches!(
            error.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_))
        ) {
            return true;
        }
        next = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("connecting failed")]
    struct Connecting(#[source] std::io::Error);

    #[test]
    fn a_refused_certificate_is_found_inside_io_errors() {
        let refused = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, refused);
        assert!(refuses_a_certificate(&Connecting(io)));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!refuses_a_certificate(&Connecting(reset)));
    }
}
