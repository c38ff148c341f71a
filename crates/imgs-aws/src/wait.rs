//! Polling EC2 until a resource reaches a state: quick first looks (a test server or a fast API answers
//! at once), backing off to a few seconds, giving up after a generous limit, and stopping at once when
//! the build is cancelled.
//!
//! A look whose call failed after all its retries — EC2 throttled it, answered 5xx, or the connection
//! broke — is a look like another, as in Packer's waiters, which look again after any error their
//! acceptors do not name: the wait goes on within its limits. Without `max_attempts`, a few such
//! looks in a row end it too, so a clean-up does not wait its whole time limit on an EC2 that does
//! not answer. Any other error ends the wait at once.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::AwsError;
use crate::error::WaitLimit;

// A short first pause that doubles: a transition that is nearly done (a fast API, or several builds
// waiting on one busy server) costs one short pause, not 200 ms; one that takes tens of seconds, as on
// EC2, still reaches the cap after about 6 s and 7 looks, as many as the old 200 ms × 1.5 took.
const FIRST_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// How long an instance may take to run, stop or terminate (Packer's waiters give 10 minutes).
pub(crate) const INSTANCE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long an AMI may take to become available; copies across regions of large disks are slow.
pub(crate) const IMAGE_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// `aws_polling`: how often a wait looks and how many looks it makes before giving up. Unset, a wait
/// backs off from quick first looks and gives up after a time limit of its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polling {
    /// The same pause between every two looks (`delay_seconds`).
    pub delay: Option<Duration>,
    /// Looks before giving up (`max_attempts`), instead of the wait's time limit.
    pub max_attempts: Option<u32>,
}

/// Looks in a row that may fail before a wait without `max_attempts` gives up; each of them is a
/// call EC2 throttled or failed through all its retries.
pub(crate) const FAILED_LOOKS_IN_A_ROW: u32 = 3;

/// Packer's poll delay when only a timeout is given through the environment.
const PACKER_DEFAULT_DELAY_SECONDS: i64 = 2;

impl Polling {
    /// The template's values; zero is unset, as in Packer.
    pub(crate) fn from_settings(delay_seconds: Option<i64>, max_attempts: Option<i64>) -> Polling {
        Polling {
            delay: delay_seconds.filter(|n| *n != 0).map(seconds),
            max_attempts: max_attempts
                .filter(|n| *n > 0)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        }
    }

    /// What the waits use: the template's values over Packer's environment variables
    /// `AWS_POLL_DELAY_SECONDS` and `AWS_MAX_ATTEMPTS`, and `AWS_TIMEOUT_SECONDS` (looks of the
    /// delay, 2 s unless given, that fit in it) when no number of looks is given.
    pub fn with_environment(&self, env: impl Fn(&str) -> Option<String>) -> Polling {
        let number = |key: &str| env(key)?.trim().parse::<i64>().ok();
        let env_delay = number("AWS_POLL_DELAY_SECONDS");
        let env_attempts = number("AWS_MAX_ATTEMPTS");
        let env_timeout = number("AWS_TIMEOUT_SECONDS");
        let mut delay = self.delay.or(env_delay.map(seconds));
        let max_attempts = match (self.max_attempts, env_attempts, env_timeout) {
            (Some(n), _, _) => Some(n),
            (None, Some(n), _) => Some(u32::try_from(n.max(0)).unwrap_or(u32::MAX)),
            (None, None, Some(timeout)) => {
                let per_look = match delay {
                    Some(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    None => {
                        delay = Some(seconds(PACKER_DEFAULT_DELAY_SECONDS));
                        PACKER_DEFAULT_DELAY_SECONDS
                    }
                };
                let looks = if per_look == 0 {
                    timeout
                } else {
                    timeout / per_look
                };
                Some(u32::try_from(looks.max(0)).unwrap_or(u32::MAX))
            }
            (None, None, None) => None,
        };
        Polling {
            delay,
            max_attempts: max_attempts.filter(|n| *n > 0),
        }
    }
}

fn seconds(n: i64) -> Duration {
    Duration::from_secs(u64::try_from(n).unwrap_or(0))
}

/// What one look found.
pub(crate) enum Poll<T> {
    Done(T),
    NotYet,
}

/// Calls `check` until it says done, fails, the timeout passes or `cancel` fires.
pub(crate) async fn until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    cancel: Option<&CancellationToken>,
    check: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, AwsError>>,
{
    polled(what, timeout, &Polling::default(), cancel, check).await
}

/// [`until`], looking as `polling` says: its delay between looks instead of the backoff, its number
/// of looks instead of `timeout`.
pub(crate) async fn polled<T, F, Fut>(
    what: &str,
    timeout: Duration,
    polling: &Polling,
    cancel: Option<&CancellationToken>,
    mut check: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, AwsError>>,
{
    let started = Instant::now();
    let mut delay = polling.delay.unwrap_or(FIRST_DELAY);
    let mut looks: u32 = 0;
    let mut failed_in_a_row: u32 = 0;
    loop {
        if cancel.is_some_and(CancellationToken::is_cancelled) {
            return Err(AwsError::Cancelled);
        }
        let last_failure = match check().await {
            Ok(Poll::Done(value)) => return Ok(value),
            Ok(Poll::NotYet) => {
                failed_in_a_row = 0;
                None
            }
            Err(error) if error.is_transient() => {
                failed_in_a_row += 1;
                Some(Box::new(error))
            }
            Err(error) => return Err(error),
        };
        looks = looks.saturating_add(1);
        let limit = match polling.max_attempts {
            Some(max) if looks >= max => Some(WaitLimit::Looks),
            Some(_) => None,
            None if failed_in_a_row >= FAILED_LOOKS_IN_A_ROW => {
                Some(WaitLimit::FailedLooks(failed_in_a_row))
            }
            None if started.elapsed() >= timeout => Some(WaitLimit::Time),
            None => None,
        };
        if let Some(limit) = limit {
            return Err(AwsError::Timeout {
                what: what.to_string(),
                waited: started.elapsed(),
                looks,
                limit,
                last_failure,
            });
        }
        let sleep = tokio::time::sleep(delay);
        match cancel {
            Some(cancel) => tokio::select! {
                _ = sleep => {}
                _ = cancel.cancelled() => return Err(AwsError::Cancelled),
            },
            None => sleep.await,
        }
        if polling.delay.is_none() {
            delay = next_delay(delay);
        }
    }
}

fn next_delay(delay: Duration) -> Duration {
    (delay * 2).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_a_cap() {
        let mut delay = FIRST_DELAY;
        let mut seen = vec![delay];
        for _ in 0..12 {
            delay = next_delay(delay);
            seen.push(delay);
        }
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*seen.last().unwrap(), MAX_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_timeout() {
        let result: Result<(), _> = until("nothing", Duration::from_secs(30), None, || async {
            Ok(Poll::NotYet)
        })
        .await;
        assert!(matches!(result, Err(AwsError::Timeout { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn aws_polling_sets_the_delay_and_the_number_of_looks() {
        let polling = Polling::from_settings(Some(7), Some(3));
        let started = Instant::now();
        let mut looks = 0;
        let result: Result<(), _> =
            polled("nothing", Duration::from_secs(1), &polling, None, || {
                looks += 1;
                async { Ok(Poll::NotYet) }
            })
            .await;
        assert!(matches!(result, Err(AwsError::Timeout { .. })));
        assert_eq!(looks, 3, "max_attempts looks, whatever the time limit");
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(14),
            "two pauses of 7 s"
        );
    }

    #[test]
    fn the_template_wins_over_packers_environment_variables() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |key: &str| {
                vars.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
            }
        };
        let none = Polling::default();
        assert_eq!(none.with_environment(env(&[])), Polling::default());
        let from_env = none.with_environment(env(&[
            ("AWS_POLL_DELAY_SECONDS", "5"),
            ("AWS_MAX_ATTEMPTS", "40"),
        ]));
        assert_eq!(from_env.delay, Some(Duration::from_secs(5)));
        assert_eq!(from_env.max_attempts, Some(40));
        let template = Polling::from_settings(Some(1), Some(2));
        assert_eq!(
            template.with_environment(env(&[
                ("AWS_POLL_DELAY_SECONDS", "5"),
                ("AWS_MAX_ATTEMPTS", "40")
            ])),
            template
        );
        // A timeout alone: looks 2 s apart that fit in it.
        let timeout = none.with_environment(env(&[("AWS_TIMEOUT_SECONDS", "60")]));
        assert_eq!(timeout.delay, Some(Duration::from_secs(2)));
        assert_eq!(timeout.max_attempts, Some(30));
    }

    fn throttled() -> AwsError {
        AwsError::Api {
            action: "Error describing instance (i-1)".into(),
            code: Some("RequestLimitExceeded".into()),
            detail: "RequestLimitExceeded: Request limit exceeded.".into(),
            retried: Some(crate::error::Retried {
                operation: "DescribeInstances".into(),
                attempts: None,
            }),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_look_ec2_kept_failing_is_a_look_and_the_wait_goes_on() {
        let polling = Polling::from_settings(Some(1), Some(5));
        let mut looks = 0;
        let result = polled(
            "instance i-1",
            Duration::from_secs(1),
            &polling,
            None,
            || {
                looks += 1;
                let look = looks;
                async move {
                    match look {
                        1 | 2 => Err(throttled()),
                        3 => Ok(Poll::NotYet),
                        _ => Ok(Poll::Done(look)),
                    }
                }
            },
        )
        .await;
        assert_eq!(result.unwrap(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_gives_up_after_its_looks_naming_the_last_failure() {
        let polling = Polling::from_settings(Some(1), Some(3));
        let result: Result<(), _> = polled(
            "instance i-1 to be running",
            Duration::ZERO,
            &polling,
            None,
            || async { Err(throttled()) },
        )
        .await;
        let error = result.unwrap_err().counted(3);
        assert_eq!(
            error.to_string(),
            "gave up waiting for instance i-1 to be running after 3 looks; the last look failed: \
             Error describing instance (i-1): RequestLimitExceeded: Request limit exceeded. \
             (DescribeInstances retried 2 times)"
        );
        assert!(
            error.hint().unwrap().contains("max_retries"),
            "{:?}",
            error.hint()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_number_of_looks_a_few_failed_looks_in_a_row_end_a_wait() {
        let mut looks = 0;
        let result: Result<(), _> = until(
            "security group sg-1 to be deletable",
            Duration::from_secs(3600),
            None,
            || {
                looks += 1;
                async { Err(throttled()) }
            },
        )
        .await;
        assert_eq!(looks, FAILED_LOOKS_IN_A_ROW);
        let error = result.unwrap_err();
        assert!(
            error.to_string().starts_with(
                "gave up waiting for security group sg-1 to be deletable: its last 3 looks failed; \
                 the last look failed: Error describing instance (i-1)"
            ),
            "{error}"
        );
        // Any other error ends a wait at once.
        let mut looks = 0;
        let result: Result<(), _> = until("nothing", Duration::from_secs(3600), None, || {
            looks += 1;
            async {
                Err(AwsError::Api {
                    action: "Error describing instance (i-1)".into(),
                    code: Some("UnauthorizedOperation".into()),
                    detail: "UnauthorizedOperation: no".into(),
                    retried: None,
                })
            }
        })
        .await;
        assert!(result.is_err());
        assert_eq!(looks, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn stops_when_cancelled() {
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        let mut looks = 0;
        let result: Result<(), _> =
            until("nothing", Duration::from_secs(3600), Some(&cancel), || {
                looks += 1;
                if looks == 3 {
                    trigger.cancel();
                }
                async { Ok(Poll::NotYet) }
            })
            .await;
        assert!(matches!(result, Err(AwsError::Cancelled)));
        assert_eq!(looks, 3);
    }
}
