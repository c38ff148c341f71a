//! Each post-processor type's settings, read from its rendered block (and, for settings Packer
//! renders only when it runs, from the text as written).

use imgs_diagnostic::Diagnostics;
use imgs_post::checksum::{ChecksumType, DEFAULT_OUTPUT as CHECKSUM_OUTPUT};
use imgs_template::Node;

use super::deferred::{Renderer, raw_text};
use crate::settings::Settings;

/// Keys Packer sets itself and tolerates in any block.
const PACKER_PREFIX: &[&str] = &["packer_"];

#[derive(Debug)]
pub(crate) struct ChecksumStep {
    pub types: Vec<ChecksumType>,
    /// `output` as written, rendered per type when the step runs.
    pub output: String,
    pub renderer: Renderer,
}

pub(crate) fn checksum(
    settings: &Settings<'_>,
    config: &Node,
    renderer: &Renderer,
) -> Result<ChecksumStep, Diagnostics> {
    let mut problems = settings.unknown_keys(
        "post-processor `checksum`",
        &["checksum_types", "output"],
        PACKER_PREFIX,
    );
    let types = match settings.values.get("checksum_types").map(|(v, _)| v) {
        // Packer's default applies only when the list is absent; an empty list writes nothing.
        None | Some(serde_json::Value::Null) => vec![ChecksumType::Md5],
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|item| {
                let name = item.as_str().unwrap_or_default();
                let kind = ChecksumType::parse(name);
                if kind.is_none() {
                    problems.push(
                        settings
                            .error(
                                "checksum_types",
                                format!("unrecognized checksum type `{name}`"),
                            )
                            .hint(format!(
                                "use one of: {}",
                                ChecksumType::ALL.map(ChecksumType::name).join(", ")
                            )),
                    );
                }
                kind
            })
            .collect(),
        Some(_) => {
            problems.push(
                settings
                    .error(
                        "checksum_types",
                        "`checksum_types` must be a list of strings",
                    )
                    .hint("e.g. `\"checksum_types\": [\"sha256\"]`"),
            );
            Vec::new()
        }
    };
    let output = raw_text(config, "output")
        .filter(|o| !o.is_empty())
        .unwrap_or_else(|| CHECKSUM_OUTPUT.to_string());
    if problems.is_empty() {
        Ok(ChecksumStep {
            types,
            output,
            renderer: renderer.clone(),
        })
    } else {
        Err(Diagnostics(problems))
    }
}
