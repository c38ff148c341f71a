//! Settings Packer renders only while a post-processor runs (`output` with `{{.ChecksumType}}`,
//! `execute_command` with `{{.Script}}`): the raw text is kept, with an owned copy of the build's
//! rendering context, and rendered later with the data fields the post-processor supplies.

use std::collections::BTreeMap;

use imgs_template::Node;
use imgs_template::interpolate::{Context, OwnedContext};

/// The build's rendering context, owned so a prepared build can carry it until it runs.
#[derive(Clone, Debug)]
pub(crate) struct Renderer(OwnedContext);

impl Renderer {
    pub(crate) fn of(ctx: &Context<'_>) -> Renderer {
        Renderer(OwnedContext::of(ctx))
    }

    /// `text` rendered with `data` as the fields `.Name` reads.
    pub(crate) fn render(
        &self,
        text: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<String, String> {
        self.0.render(text, data)
    }

    /// The data every post-processor offers: the build's name and builder type.
    pub(crate) fn build_data(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "BuildName".to_string(),
                self.0.build_name().unwrap_or_default().to_string(),
            ),
            (
                "BuilderType".to_string(),
                self.0.build_type().unwrap_or_default().to_string(),
            ),
        ])
    }
}

/// The text of `key` as written in a block (unrendered); `None` when absent or not a string.
pub(crate) fn raw_text(config: &Node, key: &str) -> Option<String> {
    config
        .members()
        .into_iter()
        .find(|m| m.key == key)
        .and_then(|m| match &m.value.value {
            imgs_template::Value::String(s) => Some(s.clone()),
            _ => None,
        })
}

/// The strings of a list setting as written (unrendered).
pub(crate) fn raw_list(config: &Node, key: &str) -> Option<Vec<String>> {
    config
        .members()
        .into_iter()
        .find(|m| m.key == key)
        .and_then(|m| match &m.value.value {
            imgs_template::Value::Array(items) => Some(
                items
                    .iter()
                    .filter_map(|i| match &i.value {
                        imgs_template::Value::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
            ),
            _ => None,
        })
}
