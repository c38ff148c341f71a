//! How a build run's events look: one reporter turns them into aligned status lines for a person
//! (`--message-format human`) or into one JSON object per line for a program (`--message-format
//! json`; the fields are documented in the README). Builds running at once share the reporter, one
//! whole line at a time.

use std::fmt::Write as _;
use std::sync::Mutex;

use imgs_ops::events::{Event, EventSink, SummaryRow, waiting_message};
use imgs_ops::options::MessageFormat;

use crate::progress::{self, Bars};

/// Where a run's lines go, and how.
enum Sink {
    /// Into a string returned at the end (tests, which compare it): the plain lines.
    Captured(Mutex<String>),
    /// Straight to stdout as they happen, plain (not a terminal, `CI` set, or JSON).
    Plain,
    /// A terminal: status lines above one progress line per running image.
    Terminal(Bars),
}

/// Turns a run's events into what its user sees. Builds running at once share it, one whole line
/// at a time.
pub struct Reporter {
    format: MessageFormat,
    sink: Sink,
    /// Notices for stderr, when captured: the front end puts them into the outcome's stderr.
    notices: Mutex<String>,
}

impl Reporter {
    /// `live`: print as things happen (the binary, where a build takes minutes) rather than into a
    /// string. Live human output on a terminal gets progress bars, with build output behind
    /// `verbose`; everywhere else every line is printed plainly.
    pub fn new(format: MessageFormat, live: bool, verbose: bool) -> Reporter {
        let sink = if !live {
            Sink::Captured(Mutex::new(String::new()))
        } else if format == MessageFormat::Human
            && let Some(target) = progress::terminal()
        {
            Sink::Terminal(Bars::new(target, verbose))
        } else {
            Sink::Plain
        };
        Reporter {
            format,
            sink,
            notices: Mutex::new(String::new()),
        }
    }

    /// The notices given so far when captured (empty when live: they went to stderr).
    pub fn take_notices(&self) -> String {
        std::mem::take(&mut *self.notices.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Everything emitted so far when captured (empty when live); the bars are removed.
    pub fn take_text(&self) -> String {
        match &self.sink {
            Sink::Captured(text) => {
                std::mem::take(&mut *text.lock().unwrap_or_else(|e| e.into_inner()))
            }
            Sink::Terminal(bars) => {
                bars.clear();
                String::new()
            }
            Sink::Plain => String::new(),
        }
    }
}

impl EventSink for Reporter {
    fn is_live(&self) -> bool {
        !matches!(self.sink, Sink::Captured(_))
    }

    fn emit(&self, event: &Event<'_>) {
        // Waiting for the workspace lock is said on stderr in every format, as cargo says it; a
        // program reading JSON gets the event as well.
        if let Event::Waiting { lock, holder } = event {
            self.notice(&waiting_message(lock, *holder));
            if self.format == MessageFormat::Human {
                return;
            }
        }
        if let Sink::Terminal(bars) = &self.sink {
            bars.show(event);
            return;
        }
        let text = match self.format {
            MessageFormat::Human => human(event),
            MessageFormat::Json => serde_json::to_string(event).expect("events serialize") + "\n",
        };
        if text.is_empty() {
            return;
        }
        match &self.sink {
            Sink::Captured(captured) => captured
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(&text),
            _ => {
                use std::io::Write as _;
                let mut stdout = std::io::stdout().lock();
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
            }
        }
    }

    fn notice(&self, message: &str) {
        match &self.sink {
            Sink::Terminal(bars) => bars.multi().suspend(|| eprintln!("{message}")),
            Sink::Captured(_) => {
                let mut notices = self.notices.lock().unwrap_or_else(|e| e.into_inner());
                notices.push_str(message);
                notices.push('\n');
            }
            Sink::Plain => eprintln!("{message}"),
        }
    }

    fn clear(&self) {
        // Only the drawing: this runs in the Ctrl-C handler, just before the process exits.
        if let Sink::Terminal(bars) = &self.sink {
            let _ = bars.multi().clear();
        }
    }
}

pub(crate) fn status(verb: &str, text: &str) -> String {
    format!("{verb:>12} {text}\n")
}

/// The human form of an event: cargo-style status lines, phases indented under them, build output
/// prefixed by its image.
pub(crate) fn human(event: &Event<'_>) -> String {
    match event {
        // Said on stderr (see `Reporter::emit`).
        Event::Waiting { .. } => String::new(),
        Event::Run { run_id, .. } => status("Run", run_id),
        Event::Fresh {
            image,
            artifact,
            from_remote: true,
            ..
        } => status(
            "Fresh",
            &format!("{image} ({artifact}, fetched from the remote cache)"),
        ),
        Event::Fresh {
            image,
            artifact,
            found_by_tag: false,
            ..
        } => status("Fresh", &format!("{image} ({artifact})")),
        Event::Fresh {
            image,
            artifact,
            found_by_tag: true,
            ..
        } => status(
            "Fresh",
            &format!(
                "{image} ({artifact}, {})",
                imgs_report::found_by_tag_note(artifact)
            ),
        ),
        Event::Started { image, reasons } => {
            status("Building", &format!("{image}: {}", reasons.join(", ")))
        }
        Event::Phase { image, phase } => status("", &format!("{image}: {phase}")),
        Event::Output { image, line } => format!("{image}: {line}\n"),
        Event::Built {
            image,
            artifact,
            seconds,
        } => status("Built", &format!("{image} ({artifact}) in {seconds:.2}s")),
        // The error itself is printed with its hint at the end, on stderr.
        Event::Failed { image, .. } => status("Failed", image),
        Event::Skipped { image, reason } => status("Skipped", &format!("{image}: {reason}")),
        Event::Published { publication } => imgs_ops::publish::render_published(publication),
        Event::Summary {
            run_id,
            built,
            fresh,
            failed,
            skipped,
            seconds,
            images,
        } => {
            let mut out = summary_table(images);
            let plural = |n: usize| if n == 1 { "" } else { "s" };
            let mut counts = format!("{built} image{} built, {fresh} fresh", plural(*built));
            if *failed > 0 {
                let _ = write!(counts, ", {failed} failed");
            }
            if *skipped > 0 {
                let _ = write!(counts, ", {skipped} skipped");
            }
            let verb = if *failed > 0 { "Stopped" } else { "Finished" };
            out.push_str(&status(
                verb,
                &format!("{counts} in {seconds:.2}s (run {run_id})"),
            ));
            out
        }
    }
}

/// Image, status, time, artifact: aligned columns, as `cargo build --timings` prints its table.
fn summary_table(rows: &[SummaryRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let width = rows
        .iter()
        .map(|r| r.image.len())
        .max()
        .unwrap_or(0)
        .max("IMAGE".len());
    let mut out = format!(
        "{:>12} {:<width$}  {:<7}  {:>8}  {}\n",
        "", "IMAGE", "STATUS", "TIME", "ARTIFACT"
    );
    for row in rows {
        let time = row.seconds.map(|s| format!("{s:.2}s")).unwrap_or_default();
        let line = format!(
            "{:>12} {:<width$}  {:<7}  {:>8}  {}",
            "", row.image, row.status, time, row.artifact
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgs_ops::events::PlannedImage;

    fn rows() -> Vec<SummaryRow> {
        let row = |image: &str, status, seconds, artifact: &str| SummaryRow {
            image: image.into(),
            status,
            seconds,
            artifact: artifact.into(),
        };
        vec![
            row("base", "fresh", None, "cache/artifacts/base/base.qcow2"),
            row(
                "hardened",
                "built",
                Some(37.25),
                "cache/artifacts/hardened/hardened.qcow2",
            ),
            row("app-web", "failed", Some(3.5), ""),
            row("app-worker", "skipped", None, ""),
        ]
    }

    #[test]
    fn the_human_summary_is_a_table_then_the_counts() {
        let images = rows();
        let text = human(&Event::Summary {
            run_id: "run-1",
            built: 1,
            fresh: 1,
            failed: 1,
            skipped: 1,
            seconds: 41.0,
            images: &images,
        });
        insta::assert_snapshot!(text);
    }

    #[test]
    fn json_events_are_one_object_per_line_tagged_by_event() {
        let images = rows();
        let reasons = ["never built".to_string()];
        let events = [
            Event::Run {
                run_id: "run-1",
                images: vec![PlannedImage {
                    image: "base",
                    action: "build",
                    reasons: reasons.to_vec(),
                }],
            },
            Event::Started {
                image: "base",
                reasons: &reasons,
            },
            Event::Phase {
                image: "base",
                phase: "waiting for SSH",
            },
            Event::Output {
                image: "base",
                line: "Connected to SSH!",
            },
            Event::Built {
                image: "base",
                artifact: "ami-0123",
                seconds: 1.5,
            },
            Event::Failed {
                image: "app",
                error: "provisioners[0] failed",
                hint: Some("see the output above"),
            },
            Event::Skipped {
                image: "child",
                reason: "`app` was not built",
            },
            Event::Summary {
                run_id: "run-1",
                built: 1,
                fresh: 1,
                failed: 1,
                skipped: 1,
                seconds: 2.0,
                images: &images,
            },
        ];
        let reporter = Reporter::new(MessageFormat::Json, false, false);
        for event in &events {
            reporter.emit(event);
        }
        insta::assert_snapshot!(reporter.take_text());
    }
}
