//! A build run on a terminal: one spinner line per running image (`name  phase  elapsed`) over an
//! overall bar, with the status lines printed above them. Build output stays hidden unless `-v`; a
//! failed image's last lines are printed with its `Failed` line, so the reason is still on screen.
//!
//! indicatif draws the lines (and redraws them around printed text), which is what it is kept for.

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use imgs_ops::events::{Event, phase_message};

use crate::report::human;

/// How many of an image's last output lines a failure prints.
pub const FAILURE_TAIL: usize = 40;

/// Where bars can be drawn: stderr when it is a terminal, else stdout when that is; `None` when
/// neither is or `CI` is set (CI logs get plain lines, with no control characters).
pub fn terminal() -> Option<Target> {
    if std::env::var_os("CI").is_some() {
        return None;
    }
    if std::io::stderr().is_terminal() {
        Some(Target::Stderr)
    } else if std::io::stdout().is_terminal() {
        Some(Target::Stdout)
    } else {
        None
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Stderr,
    Stdout,
}

/// The bars of one run.
pub struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
    verbose: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Width of the image column: the longest image name of the plan.
    width: usize,
    running: BTreeMap<String, ProgressBar>,
    /// Each running image's last output lines, for when it fails.
    recent: BTreeMap<String, VecDeque<String>>,
}

impl Bars {
    pub fn new(target: Target, verbose: bool) -> Bars {
        let multi = MultiProgress::with_draw_target(match target {
            Target::Stderr => ProgressDrawTarget::stderr(),
            Target::Stdout => ProgressDrawTarget::stdout(),
        });
        // Added to the terminal when the plan is known: a bar of 0 images would show as full.
        let overall = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        overall.set_style(
            ProgressStyle::with_template("{prefix:>12.cyan.bold} [{bar:30}] {pos}/{len}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        overall.set_prefix("Building");
        Bars {
            multi,
            overall,
            verbose,
            state: Mutex::new(State::default()),
        }
    }

    pub fn multi(&self) -> MultiProgress {
        self.multi.clone()
    }

    /// Shows one event: status lines above the bars, phases on the image's line.
    pub fn show(&self, event: &Event<'_>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::Run { images, .. } => {
                state.width = images.iter().map(|i| i.image.len()).max().unwrap_or(0);
                self.overall.set_length(images.len() as u64);
                self.multi.add(self.overall.clone());
                self.print(&human(event));
            }
            Event::Started { image, .. } => {
                let bar = self
                    .multi
                    .insert_before(&self.overall, ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template(&spinner_template(state.width))
                        .expect("a valid template"),
                );
                bar.set_prefix(image.to_string());
                bar.set_message("starting");
                bar.enable_steady_tick(Duration::from_millis(120));
                state.running.insert(image.to_string(), bar);
                state.recent.insert(image.to_string(), VecDeque::new());
                self.print(&human(event));
            }
            Event::Phase { image, phase } => {
                if let Some((key, bar)) = running_image(&state.running, image) {
                    bar.set_message(phase_message(key, image, phase));
                }
            }
            Event::Output { image, line } => {
                if let Some(key) = running_image(&state.running, image).map(|(k, _)| k.to_string())
                    && let Some(recent) = state.recent.get_mut(&key)
                {
                    if recent.len() == FAILURE_TAIL {
                        recent.pop_front();
                    }
                    recent.push_back(format!("{image}: {line}"));
                }
                if self.verbose {
                    self.print(&human(event));
                }
            }
            Event::Built { image, .. } | Event::Failed { image, .. } => {
                if let Some(bar) = state.running.remove(*image) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                let recent = state.recent.remove(*image).unwrap_or_default();
                let mut text = human(event);
                if matches!(event, Event::Failed { .. }) && !self.verbose {
                    text.push_str(&failure_tail(recent.iter().map(String::as_str)));
                }
                self.overall.inc(1);
                self.print(&text);
            }
            Event::Fresh { .. } | Event::Skipped { .. } => {
                self.overall.inc(1);
                self.print(&human(event));
            }
            // Said on stderr by the reporter, before any bar is drawn.
            Event::Waiting { .. } => {}
            Event::Summary { .. } => {
                drop(state);
                self.clear();
                print_stdout(&human(event));
            }
            // After the summary: the bars are gone.
            Event::Published { .. } => print_stdout(&human(event)),
        }
    }

    /// Prints above the bars: they are taken down, the text written, and they are drawn again.
    fn print(&self, text: &str) {
        if !text.is_empty() {
            self.multi.suspend(|| print_stdout(text));
        }
    }

    /// Takes every bar off the terminal, for the end of the run.
    pub fn clear(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (_, bar) in std::mem::take(&mut state.running) {
            bar.finish_and_clear();
        }
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}

fn print_stdout(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

/// `name  phase  elapsed`, the name padded to the plan's longest so phases line up.
pub fn spinner_template(width: usize) -> String {
    format!("{{spinner:.green}} {{prefix:<{width}}}  {{wide_msg}} {{elapsed:>4}}")
}

/// The running image an output or phase line belongs to: its name, or `image/build` when the
/// template has several builds.
fn running_image<'m>(
    running: &'m BTreeMap<String, ProgressBar>,
    prefix: &str,
) -> Option<(&'m str, &'m ProgressBar)> {
    running
        .iter()
        .filter(|(image, _)| {
            prefix == image.as_str()
                || prefix
                    .strip_prefix(image.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .max_by_key(|(image, _)| image.len())
        .map(|(image, bar)| (image.as_str(), bar))
}

/// A failed image's last output lines, indented under its `Failed` line.
pub fn failure_tail<'a>(lines: impl Iterator<Item = &'a str>) -> String {
    let lines: Vec<&str> = lines.collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut out = format!("{:>12} last {} lines of output:\n", "", lines.len());
    for line in lines {
        out.push_str(&format!("{:>12} | {line}\n", ""));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phase_names_the_build_when_the_template_has_several() {
        assert_eq!(
            phase_message("base", "base", "waiting for SSH"),
            "waiting for SSH"
        );
        assert_eq!(
            phase_message("base", "base/amd64", "creating AMI"),
            "amd64: creating AMI"
        );
    }

    #[test]
    fn output_lines_belong_to_the_longest_running_image_they_start_with() {
        let mut running = BTreeMap::new();
        running.insert("images/a.json".to_string(), ProgressBar::hidden());
        running.insert("app".to_string(), ProgressBar::hidden());
        running.insert("app/web".to_string(), ProgressBar::hidden());
        let key = |prefix| running_image(&running, prefix).map(|(k, _)| k);
        assert_eq!(key("app"), Some("app"));
        assert_eq!(key("app/web"), Some("app/web"));
        assert_eq!(key("app/worker"), Some("app"));
        assert_eq!(key("images/a.json/b"), Some("images/a.json"));
        assert_eq!(key("application"), None);
    }

    #[test]
    fn the_image_line_pads_names_to_the_longest() {
        insta::assert_snapshot!(spinner_template(10), @"{spinner:.green} {prefix:<10}  {wide_msg} {elapsed:>4}");
    }

    #[test]
    fn a_failure_prints_the_last_lines_under_it() {
        let text = failure_tail(["app: + make", "app: make: *** [all] Error 2"].into_iter());
        insta::assert_snapshot!(text, @r"
                     last 2 lines of output:
                     | app: + make
                     | app: make: *** [all] Error 2
        ");
        assert_eq!(failure_tail(std::iter::empty()), "");
    }
}
