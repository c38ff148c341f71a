//! What a build run tells its user, as events. The front end renders them (the `imgs` binary: aligned
//! status lines, progress bars on a terminal, or one JSON object per line; the fields are documented
//! in the README); builds running at once emit them one whole event at a time.

use serde::Serialize;

use crate::workspace_lock::{Holder, held_by};

/// One thing that happened in a run.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    /// Another imgs command holds the workspace lock (`lock`, the file): this run waits for it,
    /// then plans afresh. `holder` is who holds it, when it said so.
    Waiting {
        lock: &'a str,
        holder: Option<&'a Holder>,
    },
    /// The run started: its ID, and for each image of the plan whether it will be built and why.
    Run {
        run_id: &'a str,
        images: Vec<PlannedImage<'a>>,
    },
    /// An image is fresh: its recorded artifact is used.
    Fresh {
        image: &'a str,
        artifact: &'a str,
        /// No local record: EC2 had an AMI tagged with the image's fingerprint (built elsewhere).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        found_by_tag: bool,
        /// No local record: the remote cache had it, and its files were fetched.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        from_remote: bool,
    },
    /// An image's build started.
    Started {
        image: &'a str,
        reasons: &'a [String],
    },
    /// A build entered a phase ("waiting for SSH", "provisioning 2/3 (shell)"); it lasts until the
    /// image's next phase or its end.
    Phase { image: &'a str, phase: &'a str },
    /// A line of a build's output (builder, provisioners, post-processors).
    Output { image: &'a str, line: &'a str },
    /// An image was built and recorded.
    Built {
        image: &'a str,
        artifact: &'a str,
        seconds: f64,
    },
    /// An image's build failed.
    Failed {
        image: &'a str,
        error: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        hint: Option<&'a str>,
    },
    /// An image was not built, and why.
    Skipped { image: &'a str, reason: &'a str },
    /// After the summary of a run with `--channel`: what publishing each image to the channel did.
    Published {
        #[serde(flatten)]
        publication: &'a crate::publish::ChannelPublication,
    },
    /// The run ended.
    Summary {
        run_id: &'a str,
        built: usize,
        fresh: usize,
        failed: usize,
        skipped: usize,
        seconds: f64,
        images: &'a [SummaryRow],
    },
}

#[derive(Debug, Serialize)]
pub struct PlannedImage<'a> {
    pub image: &'a str,
    /// `build` or `fresh`.
    pub action: &'static str,
    pub reasons: Vec<String>,
}

/// One image's line in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct SummaryRow {
    pub image: String,
    /// `built`, `fresh`, `failed` or `skipped`.
    pub status: &'static str,
    /// How long its build took; `None` when it did not run.
    pub seconds: Option<f64>,
    /// What it made (or had): a file, an AMI, an ID; empty when nothing.
    pub artifact: String,
}

/// Where a run's events go.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: &Event<'_>);

    /// Whether a person watches the run as it happens (in the binary: Ctrl-C is theirs to press).
    fn is_live(&self) -> bool;

    /// Prints a message on stderr without tearing what is drawn there.
    fn notice(&self, message: &str);

    /// Removes what is drawn, before the process exits without unwinding.
    fn clear(&self);
}

/// What a run waiting for the workspace lock says on stderr, as cargo says it.
pub fn waiting_message(lock: &str, holder: Option<&Holder>) -> String {
    format!(
        "{:>12} waiting for file lock on `{lock}`, held by {}; --no-wait fails instead of waiting",
        "Blocking",
        held_by(holder)
    )
}

/// The phase as an image's line shows it, naming the build when the template has several.
pub fn phase_message(image: &str, prefix: &str, phase: &str) -> String {
    match prefix
        .strip_prefix(image)
        .and_then(|rest| rest.strip_prefix('/'))
    {
        Some(build) => format!("{build}: {phase}"),
        None => phase.to_string(),
    }
}
