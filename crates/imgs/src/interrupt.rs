//! Ctrl-C during `imgs build`: the first press cancels the run (nothing new starts; running builds
//! stop and clean up, then the run ends with exit code 130); the second exits at once, naming the
//! run's `imgs:run` tag so that `imgs gc` can find what the clean-up did not reach.

use std::sync::Arc;

use imgs_ops::events::EventSink;
use imgs_ops::{EXIT_INTERRUPTED, RunControl};

/// Where a run is with Ctrl-C: each press moves it one step, and only forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// No Ctrl-C yet: the run goes on.
    Idle,
    /// One Ctrl-C: nothing new starts, running builds stop and clean up.
    Cancelling,
    /// Two: exit at once, leaving what the clean-up did not reach to `imgs gc`.
    Forced,
}

impl Interrupt {
    pub fn pressed(self) -> Interrupt {
        match self {
            Interrupt::Idle => Interrupt::Cancelling,
            Interrupt::Cancelling | Interrupt::Forced => Interrupt::Forced,
        }
    }
}

/// Listens for SIGINT on `runtime` for the run `control` names, for as long as the runtime lives.
/// Notices go through `events`, so they are printed above the progress lines, not into them. One
/// listener for both presses: a second Ctrl-C that comes while the first is being handled must not be
/// lost (a listener made afterwards would not see it).
pub fn listen(runtime: &tokio::runtime::Runtime, control: &RunControl, events: Arc<dyn EventSink>) {
    let _entered = runtime.enter();
    let Ok(mut interrupts) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    else {
        return;
    };
    let control = control.clone();
    runtime.spawn(async move {
        let mut state = Interrupt::Idle;
        while interrupts.recv().await.is_some() {
            state = state.pressed();
            match state {
                Interrupt::Idle => {}
                Interrupt::Cancelling => {
                    events.notice(
                        "Interrupted: no new builds start; running builds stop and clean up. \
                         Press Ctrl-C again to exit at once.",
                    );
                    control.cancel.cancel();
                }
                Interrupt::Forced => {
                    events.clear();
                    events.notice(&format!(
                        "Exiting without cleaning up. Cloud resources of this run may be left; \
                         they carry the tag imgs:run={}.",
                        control.id
                    ));
                    std::process::exit(i32::from(EXIT_INTERRUPTED));
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_cancels_first_and_forces_on_the_second_press() {
        let once = Interrupt::Idle.pressed();
        assert_eq!(once, Interrupt::Cancelling);
        assert_eq!(once.pressed(), Interrupt::Forced);
        assert_eq!(once.pressed().pressed(), Interrupt::Forced);
    }
}
