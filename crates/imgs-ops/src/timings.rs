//! `imgs build --timings`: the reporter notes when each image started, which phases it went
//! through and how it ended; at the end of the run that becomes the HTML report of
//! [`imgs_report::render_timings`], written atomically where `--timings` says (by default under the
//! cache directory, one file per run plus a copy at a stable path, as cargo's `cargo-timings`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use imgs_report::{ImageTiming, PhaseTiming, RunTimings};

use super::events::{Event, phase_message};

/// The file each run writes, under the cache's `timings/` directory.
pub fn run_file_name(run_id: &str) -> String {
    format!("imgs-timing-{run_id}.html")
}

/// The stable copy in the cache directory: the latest run's report, for a bookmark.
pub const LATEST: &str = "imgs-timing.html";

/// What happened to each image, and when (seconds from the run's start).
#[derive(Clone, Debug)]
pub struct Timeline {
    started: Instant,
    started_at: chrono::DateTime<chrono::Utc>,
    /// Plan order, from the `run` event.
    order: Vec<String>,
    images: BTreeMap<String, Entry>,
}

#[derive(Clone, Debug, Default)]
struct Entry {
    status: &'static str,
    start: Option<f64>,
    end: Option<f64>,
    phases: Vec<(String, f64)>,
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline {
            started: Instant::now(),
            started_at: chrono::Utc::now(),
            order: Vec::new(),
            images: BTreeMap::new(),
        }
    }

    /// Starts the clock again: the run began only now (it waited for the workspace lock).
    pub fn restart(&mut self) {
        *self = Timeline::new();
    }

    pub fn record(&mut self, event: &Event<'_>) {
        let now = self.started.elapsed().as_secs_f64();
        self.record_at(event, now);
    }

    fn record_at(&mut self, event: &Event<'_>, now: f64) {
        match event {
            // The run starts once it has the workspace lock: time spent waiting for another
            // command is not this run's.
            Event::Waiting { .. } => {}
            Event::Run { images, .. } => {
                self.order = images.iter().map(|i| i.image.to_string()).collect();
            }
            Event::Started { image, .. } => {
                let entry = self.entry(image);
                entry.status = "running";
                entry.start = Some(now);
            }
            Event::Fresh { image, .. } => {
                let entry = self.entry(image);
                entry.status = "fresh";
                entry.start = Some(now);
                entry.end = Some(now);
            }
            Event::Phase { image, phase } => {
                let Some(key) = self.owner(image) else { return };
                let shown = phase_message(&key, image, phase);
                self.entry(&key).phases.push((shown, now));
            }
            Event::Built { image, .. } | Event::Failed { image, .. } => {
                let entry = self.entry(image);
                entry.status = if matches!(event, Event::Built { .. }) {
                    "built"
                } else {
                    "failed"
                };
                entry.start.get_or_insert(now);
                entry.end = Some(now);
            }
            Event::Skipped { image, .. } => self.entry(image).status = "skipped",
            Event::Output { .. } | Event::Summary { .. } | Event::Published { .. } => {}
        }
    }

    fn entry(&mut self, image: &str) -> &mut Entry {
        self.images.entry(image.to_string()).or_default()
    }

    /// The image a phase belongs to: its name, or `image/build` for a template with several builds.
    fn owner(&self, prefix: &str) -> Option<String> {
        self.images
            .keys()
            .filter(|image| {
                prefix == image.as_str()
                    || prefix
                        .strip_prefix(image.as_str())
                        .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|image| image.len())
            .cloned()
    }

    /// The run as the report shows it; `parents` maps an image to those it is built on.
    pub fn to_run_timings(
        &self,
        run_id: &str,
        parents: &BTreeMap<String, Vec<String>>,
    ) -> RunTimings {
        let total = self.started.elapsed().as_secs_f64();
        self.timings(run_id, parents, total)
    }

    fn timings(
        &self,
        run_id: &str,
        parents: &BTreeMap<String, Vec<String>>,
        total: f64,
    ) -> RunTimings {
        let mut names = self.order.clone();
        names.extend(
            self.images
                .keys()
                .filter(|k| !self.order.contains(k))
                .cloned(),
        );
        let images = names
            .iter()
            .map(|name| {
                let entry = self.images.get(name).cloned().unwrap_or_default();
                // A build still running when the run ended (interrupted) ends with the run.
                let end = entry.end.or(entry.start.map(|_| total));
                let duration = match (entry.start, end) {
                    (Some(start), Some(end)) => end - start,
                    _ => 0.0,
                };
                let phases = entry
                    .phases
                    .iter()
                    .enumerate()
                    .map(|(i, (phase, start))| {
                        let until = entry
                            .phases
                            .get(i + 1)
                            .map(|next| next.1)
                            .or(end)
                            .unwrap_or(*start);
                        PhaseTiming {
                            name: phase.clone(),
                            start: *start,
                            duration: until - start,
                        }
                    })
                    .collect();
                ImageTiming {
                    image: name.clone(),
                    status: match entry.status {
                        "" => "skipped",
                        "running" => "interrupted",
                        other => other,
                    }
                    .to_string(),
                    start: entry.start,
                    duration,
                    phases,
                    parents: parents.get(name).cloned().unwrap_or_default(),
                }
            })
            .collect();
        RunTimings {
            run_id: run_id.to_string(),
            started_at: self
                .started_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            total,
            images,
        }
    }
}

/// Writes `html` to `path` whole or not at all (a report being read is never half a file).
pub fn write_atomically(path: &Path, html: &str) -> Result<(), String> {
    imgs_atomic_file::write_atomically(path, html.as_bytes())
        .map_err(|e| format!("cannot write `{}`: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::super::events::PlannedImage;
    use super::*;

    #[test]
    fn phases_last_until_the_next_and_belong_to_their_image() {
        let mut timeline = Timeline::new();
        let reasons = Vec::new();
        let planned = |image| PlannedImage {
            image,
            action: "build",
            reasons: Vec::new(),
        };
        let events = [
            (
                0.0,
                Event::Run {
                    run_id: "r",
                    images: vec![planned("base"), planned("app"), planned("child")],
                },
            ),
            (
                1.0,
                Event::Started {
                    image: "base",
                    reasons: &reasons,
                },
            ),
            (
                1.0,
                Event::Phase {
                    image: "base",
                    phase: "starting",
                },
            ),
            (
                3.0,
                Event::Phase {
                    image: "base",
                    phase: "provisioning 1/1 (shell)",
                },
            ),
            (
                9.0,
                Event::Built {
                    image: "base",
                    artifact: "a",
                    seconds: 8.0,
                },
            ),
            (
                9.0,
                Event::Started {
                    image: "app",
                    reasons: &reasons,
                },
            ),
            (
                9.5,
                Event::Phase {
                    image: "app/amd64",
                    phase: "starting",
                },
            ),
            (
                12.0,
                Event::Failed {
                    image: "app",
                    error: "e",
                    hint: None,
                },
            ),
            (
                12.0,
                Event::Skipped {
                    image: "child",
                    reason: "`app` was not built",
                },
            ),
        ];
        for (at, event) in &events {
            timeline.record_at(event, *at);
        }
        let parents = BTreeMap::from([
            ("app".to_string(), vec!["base".to_string()]),
            ("child".to_string(), vec!["app".to_string()]),
        ]);
        let run = timeline.timings("r", &parents, 12.5);
        let shown: Vec<String> = run
            .images
            .iter()
            .map(|i| {
                let phases: Vec<String> = i
                    .phases
                    .iter()
                    .map(|p| format!("{}@{}+{}", p.name, p.start, p.duration))
                    .collect();
                format!(
                    "{} {} {:?}+{} [{}] <- {:?}",
                    i.image,
                    i.status,
                    i.start,
                    i.duration,
                    phases.join(", "),
                    i.parents
                )
            })
            .collect();
        insta::assert_snapshot!(shown.join("\n"), @r#"
        base built Some(1.0)+8 [starting@1+2, provisioning 1/1 (shell)@3+6] <- []
        app failed Some(9.0)+3 [amd64: starting@9.5+2.5] <- ["base"]
        child skipped None+0 [] <- ["app"]
        "#);
    }
}
