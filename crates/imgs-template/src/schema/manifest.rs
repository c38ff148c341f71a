//! The `manifest` post-processor: records each build's artifacts in a JSON file.

use super::decoded::Decoded;
use super::{SchemaProblem, TypeSchema, ValueType};

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "manifest",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &[],
};

/// Packer's only check is that `output` is a valid template, which interpolation already checks.
pub(super) fn check(_c: &Decoded, _out: &mut Vec<SchemaProblem>) {}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order, with embedded configs flattened.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("output", ValueType::String),
    ("strip_path", ValueType::Bool),
    ("strip_time", ValueType::Bool),
    ("custom_data", ValueType::Map),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
