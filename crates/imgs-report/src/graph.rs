//! Lineage output: a `cargo tree`-like text tree, Graphviz dot, Mermaid and JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use imgs_plan::{Action, ImagePlan, Plan};
use serde_json::{Value, json};

use crate::artifact_summary;
use crate::plan::artifacts_json;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    Text,
    Dot,
    Mermaid,
    Json,
}

/// The part of a plan to draw: `shown` names a subset of `plan.images` (e.g. one image and its ancestors).
pub struct GraphView<'a> {
    pub plan: &'a Plan,
    pub shown: BTreeSet<String>,
    /// Per image, the channels that point at a version of it (`cache/channels/NAME.json`):
    /// `(channel, fingerprint)`.
    pub channels: BTreeMap<String, Vec<(String, String)>>,
}

impl<'a> GraphView<'a> {
    fn nodes(&self) -> impl Iterator<Item = &'a ImagePlan> + '_ {
        self.plan
            .images
            .iter()
            .filter(|i| self.shown.contains(&i.name))
    }

    /// `(parent, child, variable)` for every edge between shown images, in plan order.
    fn edges(&self) -> Vec<(&'a str, &'a str, &'a str)> {
        self.nodes()
            .flat_map(|child| {
                child
                    .parents
                    .iter()
                    .filter(|(_, parent)| self.shown.contains(parent))
                    .map(move |(variable, parent)| {
                        (parent.as_str(), child.name.as_str(), variable.as_str())
                    })
            })
            .collect()
    }

    fn children(&self, name: &str) -> Vec<&'a ImagePlan> {
        self.nodes()
            .filter(|c| c.parents.iter().any(|(_, p)| p == name))
            .collect()
    }
}

pub fn render_graph(view: &GraphView, format: GraphFormat) -> String {
    match format {
        GraphFormat::Text => text(view),
        GraphFormat::Dot => dot(view),
        GraphFormat::Mermaid => mermaid(view),
        GraphFormat::Json => {
            serde_json::to_string_pretty(&json_graph(view)).unwrap_or_default() + "\n"
        }
    }
}

fn status(image: &ImagePlan) -> &'static str {
    if image.action.is_build() {
        "build"
    } else {
        "fresh"
    }
}

/// `fresh: ARTIFACT` or `build: REASONS`, `build (packer): REASONS` when the installed `packer`
/// builds it.
fn detail(plan: &Plan, image: &ImagePlan) -> String {
    let by = if image.uses_packer() { " (packer)" } else { "" };
    match &image.action {
        Action::Fresh { record, .. } => match plan.revoked.get(&image.name) {
            // `imgs revoke`: what it stands on is said first, since builds on it now fail.
            Some(revoked) => format!("revoked ({}): {}", revoked.reason, artifact_summary(record)),
            None => format!("fresh{by}: {}", artifact_summary(record)),
        },
        Action::Build { reasons } => {
            format!(
                "build{by}: {}",
                reasons
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

/// A tree per root, children indented under parents. An image with several parents appears under each;
/// after its first appearance it is marked `(*)` and its subtree is not repeated, as `cargo tree` does.
fn text(view: &GraphView) -> String {
    let mut out = String::new();
    let mut printed = BTreeSet::new();
    let shown_parent = |i: &ImagePlan| i.parents.iter().any(|(_, p)| view.shown.contains(p));
    for root in view.nodes().filter(|i| !shown_parent(i)) {
        text_node(view, root, "", None, &mut printed, &mut out);
    }
    out
}

fn text_node(
    view: &GraphView,
    image: &ImagePlan,
    prefix: &str,
    branch: Option<bool>,
    printed: &mut BTreeSet<String>,
    out: &mut String,
) {
    let connector = match branch {
        None => "",
        Some(true) => "└── ",
        Some(false) => "├── ",
    };
    let repeated = !printed.insert(image.name.clone());
    if repeated {
        let _ = writeln!(out, "{prefix}{connector}{} (*)", image.name);
        return;
    }
    let _ = writeln!(
        out,
        "{prefix}{connector}{} [{}] {}",
        image.name,
        image.fingerprint.short(),
        detail(view.plan, image) + &channel_note(view, image)
    );
    let child_prefix = match branch {
        None => prefix.to_string(),
        Some(true) => format!("{prefix}    "),
        Some(false) => format!("{prefix}│   "),
    };
    let children = view.children(&image.name);
    for (i, child) in children.iter().enumerate() {
        text_node(
            view,
            child,
            &child_prefix,
            Some(i + 1 == children.len()),
            printed,
            out,
        );
    }
}

/// ` (channels: dev; prod at 1a2b3c4d5e6f)`: the channels pointing at the image's current version,
/// then those pointing at another one; empty when none does.
fn channel_note(view: &GraphView, image: &ImagePlan) -> String {
    let Some(channels) = view.channels.get(&image.name).filter(|c| !c.is_empty()) else {
        return String::new();
    };
    let current = image.fingerprint.to_string();
    let here: Vec<&str> = channels
        .iter()
        .filter(|(_, fp)| *fp == current)
        .map(|(channel, _)| channel.as_str())
        .collect();
    let mut parts = Vec::new();
    if !here.is_empty() {
        parts.push(here.join(", "));
    }
    for (channel, fp) in channels.iter().filter(|(_, fp)| *fp != current) {
        parts.push(format!("{channel} at {}", &fp[..fp.len().min(12)]));
    }
    let noun = if channels.len() == 1 {
        "channel"
    } else {
        "channels"
    };
    format!(" ({noun}: {})", parts.join("; "))
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn fill(image: &ImagePlan) -> &'static str {
    if image.action.is_build() {
        "#fff3cd"
    } else {
        "#d4edda"
    }
}

fn dot(view: &GraphView) -> String {
    let mut out = String::from(
        "digraph images {\n    rankdir=TB;\n    node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];\n    edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for image in view.nodes() {
        let _ = writeln!(
            out,
            "    \"{}\" [label=\"{}\\n{}\", fillcolor=\"{}\"];",
            escape(&image.name),
            escape(&image.name),
            escape(&detail(view.plan, image)),
            fill(image)
        );
    }
    for (parent, child, variable) in view.edges() {
        let _ = writeln!(
            out,
            "    \"{}\" -> \"{}\" [label=\"{}\"];",
            escape(parent),
            escape(child),
            escape(variable)
        );
    }
    out.push_str("}\n");
    out
}

/// Mermaid flowchart. Node ids are positional (`i0`, `i1`, …) because image names may contain characters
/// Mermaid reads as syntax (`-`, `.`); the names are in the quoted labels.
fn mermaid(view: &GraphView) -> String {
    let names: Vec<&str> = view.nodes().map(|i| i.name.as_str()).collect();
    let id = |name: &str| format!("i{}", names.iter().position(|n| *n == name).unwrap_or(0));
    let label = |s: &str| s.replace('"', "#quot;");
    let mut out = String::from("flowchart TD\n");
    for image in view.nodes() {
        let _ = writeln!(
            out,
            "    {}[\"{}<br/>{}\"]",
            id(&image.name),
            label(&image.name),
            label(&detail(view.plan, image))
        );
    }
    for (parent, child, variable) in view.edges() {
        let _ = writeln!(
            out,
            "    {} -->|{}| {}",
            id(parent),
            label(variable),
            id(child)
        );
    }
    out.push_str("    classDef fresh fill:#d4edda,stroke:#2e7d32\n    classDef build fill:#fff3cd,stroke:#b26a00\n");
    for image in view.nodes() {
        let _ = writeln!(out, "    class {} {}", id(&image.name), status(image));
    }
    out
}

fn json_graph(view: &GraphView) -> Value {
    let nodes: Vec<Value> = view
        .nodes()
        .map(|image| {
            let mut v = json!({
                "name": image.name,
                "status": status(image),
                "fingerprint": image.fingerprint.to_string(),
                "engines": image.engines,
            });
            match &image.action {
                Action::Fresh { record, .. } => {
                    v["artifacts"] = artifacts_json(record);
                    if let Some(revoked) = view.plan.revoked.get(&image.name) {
                        v["revoked"] = json!(revoked);
                    }
                    if let Some(channels) = view.channels.get(&image.name) {
                        v["channels"] = channels
                            .iter()
                            .map(|(channel, fp)| (channel.clone(), json!(fp)))
                            .collect::<serde_json::Map<_, _>>()
                            .into();
                    }
                }
                Action::Build { reasons } => {
                    v["reasons"] = reasons.iter().map(|r| json!(r.to_string())).collect();
                }
            }
            v
        })
        .collect();
    let edges: Vec<Value> = view
        .edges()
        .into_iter()
        .map(|(parent, child, variable)| json!({"from": parent, "to": child, "variable": variable}))
        .collect();
    json!({"nodes": nodes, "edges": edges})
}
