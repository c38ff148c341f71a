//! Polling EC2 until a resource reaches a state: quick first looks (a test server or a fast API answers
//! at once), backing off to a few seconds, giving up after a generous limit, and stopping at once when
//! the build is cancelled.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::AwsError;

// A short first pause that doubles: a transition that is nearly done (a fast API, or several builds
// waiting on one busy server) costs one short pause, not 200 ms; one that takes tens of seconds, as on
// EC2, still reaches the cap after about 6 s and 7 looks, as many as the old 200 ms × 1.5 took.
const FIRST_DELAY: Duration = Duration::from_millis(50);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// How long an instance may take to run, stop or terminate (Packer's waiters give 10 minutes).
pub(crate) const INSTANCE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long an AMI may take to become available; copies across regions of large disks are slow.
pub(crate) const IMAGE_TIMEOUT: Duration = Duration::from_secs(60 * 60);

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
    mut check: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, AwsError>>,
{
    let started = Instant::now();
    let mut delay = FIRST_DELAY;
    loop {
        if cancel.is_some_and(CancellationToken::is_cancelled) {
            return Err(AwsError::Cancelled);
        }
        if let Poll::Done(value) = check().await? {
            return Ok(value);
        }
        if started.elapsed() >= timeout {
            return Err(AwsError::Timeout {
                what: what.to_string(),
                waited: started.elapsed(),
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
        delay = next_delay(delay);
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
