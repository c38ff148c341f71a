//! `imgs inspect`: a template's variables, builds, provisioners and post-processors, in the layout of
//! `packer inspect` (Packer 1.6.6), plus the post-processor chains Packer leaves out.

use std::fmt::Write;

use imgs_template::{HclInspection, Template};

/// A template as `packer inspect` prints it; an HCL2 configuration by what it evaluated to for the
/// invocation (`hcl`), as Packer prints HCL2 configurations.
pub fn render_inspect(template: &Template, hcl: Option<&HclInspection>) -> String {
    if let Some(inspection) = hcl {
        return render_hcl_inspect(inspection);
    }
    let mut out = String::new();
    if let Some(description) = template.description.as_deref().filter(|d| !d.is_empty()) {
        let _ = write!(out, "Description:\n\n{description}\n\n");
    }
    let mut variables: Vec<_> = template.variables.values().collect();
    variables.sort_by(|a, b| a.name.cmp(&b.name));
    let required: Vec<_> = variables.iter().filter(|v| v.default.is_none()).collect();
    if !required.is_empty() {
        out.push_str("Required variables:\n\n");
        for v in &required {
            let _ = writeln!(out, "  {}", v.name);
        }
        out.push('\n');
    }
    let optional: Vec<_> = variables.iter().filter(|v| v.default.is_some()).collect();
    out.push_str("Optional variables and their defaults:\n\n");
    if optional.is_empty() {
        out.push_str("  <No optional variables>\n");
    }
    let width = optional.iter().map(|v| v.name.len()).max().unwrap_or(0);
    for v in optional {
        let value = if template.sensitive_variables.contains(&v.name) {
            "<sensitive>"
        } else {
            v.default.as_deref().unwrap_or_default()
        };
        let _ = writeln!(out, "  {}{} = {value}", v.name, padding(&v.name, width));
    }

    out.push_str("\nBuilders:\n\n");
    let mut builders: Vec<_> = template.builders.iter().collect();
    builders.sort_by(|a, b| a.name.cmp(&b.name));
    let width = builders.iter().map(|b| b.name.len()).max().unwrap_or(0);
    if builders.is_empty() {
        out.push_str("  <No builders>\n");
    }
    for b in builders {
        if b.name == b.kind {
            let _ = writeln!(out, "  {}", b.name);
        } else {
            let _ = writeln!(out, "  {}{} ({})", b.name, padding(&b.name, width), b.kind);
        }
    }

    out.push_str("\nProvisioners:\n\n");
    if template.provisioners.is_empty() {
        out.push_str("  <No provisioners>\n");
    }
    for p in &template.provisioners {
        let _ = writeln!(out, "  {}", p.kind);
    }

    out.push_str("\nPost-processors:\n\n");
    if template.post_processors.is_empty() {
        out.push_str("  <No post-processors>\n");
    }
    for chain in &template.post_processors {
        let kinds: Vec<&str> = chain.iter().map(|p| p.kind.as_str()).collect();
        let _ = writeln!(out, "  {}", kinds.join(" -> "));
    }
    out.push_str(
        "\nNote: build names containing user variables or template functions such as `timestamp`\n\
         are processed at build time, so they show here in their raw form.\n",
    );
    out
}

/// The spaces that line a name up with the longest, counted in bytes as Packer counts them. Not
/// Rust's `{:<width$}`, which panics on a width above 65535 (a name that long is valid JSON).
fn padding(name: &str, width: usize) -> String {
    " ".repeat(width.saturating_sub(name.len()))
}

/// `packer inspect` of an HCL2 configuration, in Packer 1.6.6's HCL2 layout: input variables and
/// locals with their values, then each build block.
pub fn render_hcl_inspect(inspection: &HclInspection) -> String {
    let mut out = String::from("Packer Inspect: HCL2 mode\n\n> input-variables:\n\n");
    for (name, value) in &inspection.variables {
        let _ = writeln!(out, "var.{name}: {value}");
    }
    out.push_str("\n> local-variables:\n\n");
    for (name, value) in &inspection.locals {
        let _ = writeln!(out, "local.{name}: {value}");
    }
    out.push_str("\n> builds:\n");
    for (i, build) in inspection.builds.iter().enumerate() {
        match &build.name {
            Some(name) if !name.is_empty() => {
                let _ = write!(out, "\n  > {name}:\n");
            }
            _ => {
                let _ = write!(out, "\n  > <unnamed build {i}>:\n");
            }
        }
        if let Some(description) = build.description.as_deref().filter(|d| !d.is_empty()) {
            let _ = write!(out, "\n  > Description: {description}\n");
        }
        out.push_str("\n    sources:\n");
        if build.sources.is_empty() {
            out.push_str("\n      <no source>\n");
        }
        for source in &build.sources {
            let _ = write!(out, "\n      {source}\n");
        }
        out.push_str("\n    provisioners:\n\n");
        if build.provisioners.is_empty() {
            out.push_str("      <no provisioner>\n");
        }
        for p in &build.provisioners {
            let _ = writeln!(out, "      {p}");
        }
        out.push_str("\n    post-processors:\n");
        if build.post_processors.is_empty() {
            out.push_str("\n      <no post-processor>\n");
        }
        for (i, chain) in build.post_processors.iter().enumerate() {
            let _ = write!(out, "\n      {i}:\n");
            for p in chain {
                let _ = writeln!(out, "        {p}");
            }
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A variable or build name longer than 65535 bytes made `{:<width$}` panic ("Formatting
    /// argument out of range"): found while fixing the same fault in the template functions.
    #[test]
    fn names_of_any_length_line_up() {
        let long = "v".repeat(70_000);
        let text = format!(
            r#"{{"variables": {{"{long}": "1", "b": "2"}},
                "builders": [{{"type": "null", "name": "{long}", "communicator": "none"}},
                             {{"type": "null", "name": "n", "communicator": "none"}}]}}"#
        );
        let template = Template::parse(std::path::Path::new("t.json"), text).unwrap();
        let shown = render_inspect(&template, None);
        assert!(shown.contains(&format!("  b{} = 2\n", " ".repeat(69_999))));
        assert!(shown.contains(&format!("  {long} = 1\n")));
        assert!(shown.contains(&format!("  n{} (null)\n", " ".repeat(69_999))));
    }
}
