//! `imgs build --timings`: one self-contained HTML page (no scripts, no network assets) saying where
//! a run's time went, as cargo's `--timings` report does for crates: a Gantt chart of the images over
//! time, how many built at once, the critical path (the chain of parents that decided when the run
//! could end), and a table with each image's phases.

use std::fmt::Write as _;

/// A finished run, as the timings report needs it. Times are seconds from the run's start.
#[derive(Clone, Debug, PartialEq)]
pub struct RunTimings {
    pub run_id: String,
    /// When the run started, as a person reads it (RFC 3339).
    pub started_at: String,
    /// How long the whole run took.
    pub total: f64,
    /// In plan order.
    pub images: Vec<ImageTiming>,
}

/// One image of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageTiming {
    pub image: String,
    /// `built`, `fresh`, `failed` or `skipped`.
    pub status: String,
    /// When it started (fresh images: when they were found); `None` when it never ran.
    pub start: Option<f64>,
    pub duration: f64,
    /// Its phases in order, each lasting until the next (or the end of the build).
    pub phases: Vec<PhaseTiming>,
    /// The images it is built on.
    pub parents: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PhaseTiming {
    pub name: String,
    pub start: f64,
    pub duration: f64,
}

impl ImageTiming {
    fn end(&self) -> Option<f64> {
        self.start.map(|s| s + self.duration)
    }
}

/// The chain of images that decided when the run could end: the image that finished last, the
/// parent that finished last before it, and so on up. A faster run needs a shorter chain.
#[derive(Clone, Debug, PartialEq)]
pub struct CriticalPath {
    /// Indexes into the run's images, root first.
    pub images: Vec<usize>,
    /// When its last image finished.
    pub end: f64,
    /// Time spent building along it (the rest is waiting for a free job).
    pub busy: f64,
}

/// The critical path of `images`; empty when nothing ran.
pub fn critical_path(images: &[ImageTiming]) -> CriticalPath {
    let last_of = |candidates: &mut dyn Iterator<Item = usize>| {
        // The earliest in plan order wins a tie, so the path is the same on every render.
        candidates
            .filter_map(|i| images[i].end().map(|end| (i, end)))
            .fold(None, |best: Option<(usize, f64)>, (i, end)| match best {
                Some((_, e)) if e >= end => best,
                _ => Some((i, end)),
            })
    };
    let Some((last, end)) = last_of(&mut (0..images.len())) else {
        return CriticalPath {
            images: Vec::new(),
            end: 0.0,
            busy: 0.0,
        };
    };
    let mut path = vec![last];
    let mut current = last;
    // Parents come before children in a DAG, so this ends; the guard is for malformed input.
    while path.len() <= images.len() {
        let parents = &images[current].parents;
        let mut candidates = (0..images.len()).filter(|&i| parents.contains(&images[i].image));
        match last_of(&mut candidates) {
            Some((parent, _)) => {
                path.push(parent);
                current = parent;
            }
            None => break,
        }
    }
    path.reverse();
    let busy = path.iter().map(|&i| images[i].duration).sum();
    CriticalPath {
        images: path,
        end,
        busy,
    }
}

/// How many images were building at each moment: `(time, count)` steps from 0 to the end.
/// Fresh images take no time and are not counted.
pub fn concurrency(run: &RunTimings) -> Vec<(f64, usize)> {
    let mut changes: Vec<(f64, i32)> = Vec::new();
    for image in &run.images {
        if let (Some(start), true) = (image.start, image.duration > 0.0) {
            changes.push((start, 1));
            changes.push((start + image.duration, -1));
        }
    }
    // Ends before starts at the same instant: a child starting as its parent ends is not overlap.
    changes.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut steps = vec![(0.0, 0usize)];
    let mut running: i32 = 0;
    for (time, change) in changes {
        running += change;
        let count = usize::try_from(running).unwrap_or(0);
        match steps.last_mut() {
            Some(last) if last.0 == time => last.1 = count,
            _ => steps.push((time, count)),
        }
    }
    steps
}

const CHART_WIDTH: f64 = 800.0;
const LABEL_WIDTH: f64 = 160.0;
const ROW_HEIGHT: f64 = 22.0;
const GRAPH_HEIGHT: f64 = 100.0;

fn color(status: &str) -> &'static str {
    match status {
        "built" => "#4c9a2a",
        "fresh" => "#8fb3d9",
        "failed" => "#c0392b",
        _ => "#aaaaaa",
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn secs(s: f64) -> String {
    format!("{s:.1}s")
}

/// The report as one HTML page.
pub fn render_timings(run: &RunTimings) -> String {
    let path = critical_path(&run.images);
    let steps = concurrency(run);
    let peak = steps.iter().map(|s| s.1).max().unwrap_or(0);
    let count = |status: &str| run.images.iter().filter(|i| i.status == status).count();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>imgs build timings: run {id}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; margin-top: 1em; }}\n\
         th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}\n\
         td.num {{ text-align: right; }}\n\
         tr.critical td:first-child {{ font-weight: bold; }}\n\
         svg text {{ font-size: 12px; }}\n\
         </style>\n</head>\n<body>\n<h1>imgs build timings</h1>\n",
        id = escape(&run.run_id)
    );
    let _ = writeln!(
        html,
        "<table>\n<tr><th>Run</th><td>{}</td></tr>\n<tr><th>Started</th><td>{}</td></tr>\n\
         <tr><th>Total time</th><td>{}</td></tr>\n\
         <tr><th>Images</th><td>{} built, {} fresh, {} failed, {} skipped</td></tr>\n\
         <tr><th>Most at once</th><td>{peak}</td></tr>\n</table>",
        escape(&run.run_id),
        escape(&run.started_at),
        secs(run.total),
        count("built"),
        count("fresh"),
        count("failed"),
        count("skipped"),
    );

    html.push_str("<h2>Critical path</h2>\n");
    if path.images.is_empty() {
        html.push_str("<p>Nothing ran.</p>\n");
    } else {
        let names: Vec<String> = path
            .images
            .iter()
            .map(|&i| {
                format!(
                    "{} ({})",
                    escape(&run.images[i].image),
                    secs(run.images[i].duration)
                )
            })
            .collect();
        let _ = writeln!(
            html,
            "<p>{}</p>\n<p>Ends at {} of {}; {} of it building along the path (outlined in the \
             chart).</p>",
            names.join(" &rarr; "),
            secs(path.end),
            secs(run.total),
            secs(path.busy),
        );
    }

    html.push_str("<h2>Images over time</h2>\n");
    gantt(&mut html, run, &path);
    html.push_str("<h2>Builds at once</h2>\n");
    concurrency_graph(&mut html, run, &steps, peak);
    html.push_str("<h2>Images</h2>\n");
    table(&mut html, run, &path);
    html.push_str("</body>\n</html>\n");
    html
}

/// Seconds to pixels across the chart; a run of no length still draws.
fn scale(run: &RunTimings) -> f64 {
    if run.total > 0.0 {
        CHART_WIDTH / run.total
    } else {
        0.0
    }
}

fn gantt(html: &mut String, run: &RunTimings, path: &CriticalPath) {
    let scale = scale(run);
    let height = ROW_HEIGHT * run.images.len() as f64 + 20.0;
    let _ = writeln!(
        html,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{height:.0}\">",
        LABEL_WIDTH + CHART_WIDTH + 60.0
    );
    for (row, image) in run.images.iter().enumerate() {
        let y = ROW_HEIGHT * row as f64;
        let _ = writeln!(
            html,
            "<text x=\"0\" y=\"{:.1}\">{}</text>",
            y + 15.0,
            escape(&image.image)
        );
        let Some(start) = image.start else {
            let _ = writeln!(
                html,
                "<text x=\"{LABEL_WIDTH:.1}\" y=\"{:.1}\" fill=\"#888\">{}</text>",
                y + 15.0,
                escape(&image.status)
            );
            continue;
        };
        let x = LABEL_WIDTH + start * scale;
        let width = (image.duration * scale).max(2.0);
        let outline = if path.images.contains(&row) {
            " stroke=\"#000\" stroke-width=\"2\""
        } else {
            ""
        };
        let _ = writeln!(
            html,
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{}\"{outline}>\
             <title>{}: {} at {} for {}</title></rect>",
            y + 2.0,
            ROW_HEIGHT - 4.0,
            color(&image.status),
            escape(&image.image),
            escape(&image.status),
            secs(start),
            secs(image.duration),
        );
        // Phase boundaries as thin lines inside the bar, each phase named in its tooltip.
        for phase in image.phases.iter().skip(1) {
            let _ = writeln!(
                html,
                "<line x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#fff\"><title>{}</title></line>",
                y + 2.0,
                y + ROW_HEIGHT - 2.0,
                escape(&phase.name),
                px = LABEL_WIDTH + phase.start * scale,
            );
        }
        let _ = writeln!(
            html,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + width + 4.0,
            y + 15.0,
            secs(image.duration)
        );
    }
    let _ = writeln!(
        html,
        "<text x=\"{LABEL_WIDTH:.1}\" y=\"{:.1}\">0s</text>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n</svg>",
        height - 4.0,
        LABEL_WIDTH + CHART_WIDTH,
        height - 4.0,
        secs(run.total)
    );
}

fn concurrency_graph(html: &mut String, run: &RunTimings, steps: &[(f64, usize)], peak: usize) {
    let scale = scale(run);
    let unit = if peak > 0 {
        GRAPH_HEIGHT / peak as f64
    } else {
        0.0
    };
    let y = |count: usize| GRAPH_HEIGHT - count as f64 * unit + 5.0;
    let mut points = String::new();
    let mut previous = 0;
    for &(time, count) in steps {
        let x = LABEL_WIDTH + time * scale;
        let _ = write!(points, "{x:.1},{:.1} {x:.1},{:.1} ", y(previous), y(count));
        previous = count;
    }
    let _ = write!(
        points,
        "{:.1},{:.1}",
        LABEL_WIDTH + run.total * scale,
        y(previous)
    );
    let _ = writeln!(
        html,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0}\" height=\"{:.0}\">\n\
         <text x=\"0\" y=\"{:.1}\">{peak} at most</text>\n\
         <line x1=\"{LABEL_WIDTH:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ccc\"/>\n\
         <polyline points=\"{points}\" fill=\"none\" stroke=\"#2a6f9a\" stroke-width=\"2\"/>\n</svg>",
        LABEL_WIDTH + CHART_WIDTH + 60.0,
        GRAPH_HEIGHT + 10.0,
        y(peak) + 12.0,
        LABEL_WIDTH + CHART_WIDTH,
        y(0),
        y(0),
    );
}

fn table(html: &mut String, run: &RunTimings, path: &CriticalPath) {
    html.push_str(
        "<table>\n<tr><th>Image</th><th>Status</th><th>Start</th><th>Duration</th><th>Phases</th></tr>\n",
    );
    for (i, image) in run.images.iter().enumerate() {
        let class = if path.images.contains(&i) {
            " class=\"critical\""
        } else {
            ""
        };
        let phases: Vec<String> = image
            .phases
            .iter()
            .map(|p| format!("{} {}", escape(&p.name), secs(p.duration)))
            .collect();
        let _ = writeln!(
            html,
            "<tr{class}><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            escape(&image.image),
            escape(&image.status),
            image.start.map(secs).unwrap_or_default(),
            image
                .start
                .map(|_| secs(image.duration))
                .unwrap_or_default(),
            phases.join(", "),
        );
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(
        name: &str,
        status: &str,
        start: Option<f64>,
        duration: f64,
        parents: &[&str],
    ) -> ImageTiming {
        ImageTiming {
            image: name.into(),
            status: status.into(),
            start,
            duration,
            phases: Vec::new(),
            parents: parents.iter().map(|p| p.to_string()).collect(),
        }
    }

    /// base → (hardened, tools) → app; app waits for hardened, which ends after tools.
    fn run() -> RunTimings {
        let mut base = image("base", "built", Some(0.0), 40.0, &[]);
        base.phases = vec![
            PhaseTiming {
                name: "starting".into(),
                start: 0.0,
                duration: 1.0,
            },
            PhaseTiming {
                name: "booting".into(),
                start: 1.0,
                duration: 9.0,
            },
            PhaseTiming {
                name: "provisioning 1/1 (shell)".into(),
                start: 10.0,
                duration: 25.0,
            },
            PhaseTiming {
                name: "shutting down".into(),
                start: 35.0,
                duration: 5.0,
            },
        ];
        RunTimings {
            run_id: "run-1".into(),
            started_at: "2026-01-02T03:04:05Z".into(),
            total: 100.0,
            images: vec![
                base,
                image("hardened", "built", Some(40.0), 30.0, &["base"]),
                image("tools", "built", Some(40.0), 10.0, &["base"]),
                image("app", "failed", Some(70.0), 29.5, &["hardened", "tools"]),
                image("app-<worker>", "skipped", None, 0.0, &["app"]),
                image("cached", "fresh", Some(0.2), 0.0, &[]),
            ],
        }
    }

    #[test]
    fn the_critical_path_follows_the_parent_that_finished_last() {
        let run = run();
        let path = critical_path(&run.images);
        let names: Vec<&str> = path
            .images
            .iter()
            .map(|&i| run.images[i].image.as_str())
            .collect();
        assert_eq!(names, ["base", "hardened", "app"]);
        assert_eq!(path.end, 99.5);
        assert_eq!(path.busy, 99.5);
    }

    #[test]
    fn nothing_ran_means_an_empty_critical_path() {
        let images = vec![image("a", "skipped", None, 0.0, &[])];
        assert!(critical_path(&images).images.is_empty());
    }

    #[test]
    fn concurrency_counts_builds_not_fresh_images() {
        let steps = concurrency(&run());
        assert_eq!(
            steps,
            [(0.0, 1), (40.0, 2), (50.0, 1), (70.0, 1), (99.5, 0)]
        );
    }

    #[test]
    fn the_report_is_one_page_with_no_outside_assets() {
        let html = render_timings(&run());
        // Opened from disk, possibly offline: nothing may be fetched.
        assert!(!html.contains("<script"));
        assert!(!html.contains("src="));
        assert!(!html.contains("href="));
        insta::assert_snapshot!(html);
    }
}
