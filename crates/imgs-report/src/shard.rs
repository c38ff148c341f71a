//! The plan of one shard (`imgs plan --shard K/N [--wave W]`): the shard's images, wave by wave, each
//! with its wave and shard.

use std::collections::BTreeMap;

use imgs_plan::Plan;
use serde_json::json;

/// Which shard a plan is of, and where every image of the workspace runs.
#[derive(Clone, Debug)]
pub struct ShardView<'a> {
    /// The plan, holding only the shard's images.
    pub plan: &'a Plan,
    /// K of K/N (from 1).
    pub shard: usize,
    /// N of K/N.
    pub shards: usize,
    /// `--wave W`: only that wave's images are in the plan.
    pub wave: Option<usize>,
    /// How many waves the workspace has.
    pub waves: usize,
    /// Every image's (wave, shard).
    pub places: &'a BTreeMap<String, (usize, usize)>,
}

impl ShardView<'_> {
    fn place(&self, image: &str) -> (usize, usize) {
        self.places.get(image).copied().unwrap_or((0, 1))
    }

    fn title(&self) -> String {
        let waves = match self.wave {
            Some(w) => format!("wave {w} of 0..{}", self.waves.saturating_sub(1)),
            None => format!(
                "{} wave{}",
                self.waves,
                if self.waves == 1 { "" } else { "s" }
            ),
        };
        format!("Shard {}/{} ({waves})", self.shard, self.shards)
    }
}

/// The plan's lines (as `imgs plan` prints them) under one heading per wave.
///
/// ```text
/// Shard 1/3 (3 waves)
///       Wave 0
///        Build base  1a2b3c4d5e6f  never built
///       Wave 2
///        Build a1    9f8e7d6c5b4a  parent `a` will be rebuilt
/// ...
/// ```
pub fn render_shard_plan(view: &ShardView<'_>) -> String {
    let rendered = crate::render_plan(view.plan);
    let mut lines: Vec<&str> = rendered.lines().collect();
    let total = lines.pop().unwrap_or_default();
    let mut by_wave: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for (image, line) in view.plan.images.iter().zip(lines) {
        by_wave
            .entry(view.place(&image.name).0)
            .or_default()
            .push(line);
    }
    let mut out = format!("{}\n", view.title());
    if by_wave.is_empty() {
        out.push_str("no image of the workspace is in this shard\n");
    }
    for (wave, lines) in by_wave {
        out.push_str(&format!("{:>12} {wave}\n", "Wave"));
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str(total);
    out.push('\n');
    out
}

/// `plan_json` with each image's `wave` and `shard`, and the shard asked for.
pub fn shard_plan_json(view: &ShardView<'_>) -> serde_json::Value {
    let mut value = crate::plan_json(view.plan);
    if let Some(images) = value["images"].as_array_mut() {
        for image in images {
            let name = image["name"].as_str().unwrap_or_default().to_string();
            let (wave, shard) = view.place(&name);
            image["wave"] = json!(wave);
            image["shard"] = json!(shard);
        }
    }
    value["shard"] = json!({ "index": view.shard, "count": view.shards });
    value["wave"] = json!(view.wave);
    value["waves"] = json!(view.waves);
    value
}
