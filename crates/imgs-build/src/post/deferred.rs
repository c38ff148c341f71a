//! Settings Packer renders only while a post-processor runs (`output` with `{{.ChecksumType}}`,
//! `execute_command` with `{{.Script}}`): the raw text is kept, with an owned copy of the build's
//! rendering context, and rendered later with the data fields the post-processor supplies.

use std::collections::BTreeMap;

use imgs_template::Node;
use imgs_template::interpolate::{Context, Volatile, render};
use indexmap::IndexMap;

/// The build's rendering context, owned so a prepared build can carry it until it runs.
#[derive(Clone, Debug)]
pub(crate) struct Renderer {
    user_variables: IndexMap<String, String>,
    build_name: Option<String>,
    build_type: Option<String>,
    template_dir: String,
    pwd: String,
    volatile: Volatile,
}

impl Renderer {
    pub(crate) fn of(ctx: &Context<'_>) -> Renderer {
        Renderer {
            user_variables: ctx.user_variables.clone(),
            build_name: ctx.build_name.map(str::to_string),
            build_type: ctx.build_type.map(str::to_string),
            template_dir: ctx.template_dir.to_string(),
            pwd: ctx.pwd.to_string(),
            volatile: ctx.volatile.clone(),
        }
    }

    /// `text` rendered with `data` as the fields `.Name` reads.
    pub(crate) fn render(
        &self,
        text: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<String, String> {
        let ctx = Context {
            user_variables: &self.user_variables,
            env: None,
            build_name: self.build_name.as_deref(),
            build_type: self.build_type.as_deref(),
            template_dir: &self.template_dir,
            pwd: &self.pwd,
            data,
            volatile: &self.volatile,
        };
        render(text, &ctx).map(|r| r.text).map_err(|e| e.message)
    }

    /// The data every post-processor offers: the build's name and builder type.
    pub(crate) fn build_data(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                "BuildName".to_string(),
                self.build_name.clone().unwrap_or_default(),
            ),
            (
                "BuilderType".to_string(),
                self.build_type.clone().unwrap_or_default(),
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
