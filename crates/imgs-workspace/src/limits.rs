//! `[workspace.limits]`: how many images may build at once per region and per builder type, by
//! default; `imgs build --max-per-region` and `--max-per-builder` override it.
//!
//! ```toml
//! [workspace.limits]
//! max_per_region = 4                           # images building at once in one EC2 region
//! max_per_builder = { amazon-ebs = 4, qemu = 1 } # images building at once with a build of a type
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use imgs_diagnostic::{Diagnostic, Location};
use serde::Deserialize;
use toml::Spanned;

/// `[workspace.limits]`, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsTable {
    pub max_per_region: Option<Spanned<i64>>,
    #[serde(default)]
    pub max_per_builder: BTreeMap<Spanned<String>, Spanned<i64>>,
}

/// The workspace's limits, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub max_per_region: Option<usize>,
    /// Builder type → at most this many images building with it at once.
    pub max_per_builder: BTreeMap<String, usize>,
}

/// Reads `[workspace.limits]`: every limit a whole number of at least 1, located at its value.
pub(crate) fn read(
    path: &Path,
    text: &str,
    table: &LimitsTable,
) -> Result<Limits, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let mut count = |key: String, value: &Spanned<i64>| match usize::try_from(*value.get_ref()) {
        Ok(n) if n > 0 => Some(n),
        _ => {
            errors.push(
                Diagnostic::error(format!(
                    "`{key}` must be a number of builds of at least 1, not {}",
                    value.get_ref()
                ))
                .at(Location::at(path, text, value.span().start))
                .key(key)
                .hint("leave the limit out for no limit"),
            );
            None
        }
    };
    let max_per_region = table
        .max_per_region
        .as_ref()
        .and_then(|v| count("workspace.limits.max_per_region".into(), v));
    let max_per_builder = table
        .max_per_builder
        .iter()
        .filter_map(|(builder_type, v)| {
            let key = format!(
                "workspace.limits.max_per_builder.{}",
                builder_type.get_ref()
            );
            count(key, v).map(|n| (builder_type.get_ref().clone(), n))
        })
        .collect();
    if errors.is_empty() {
        Ok(Limits {
            max_per_region,
            max_per_builder,
        })
    } else {
        Err(errors)
    }
}
