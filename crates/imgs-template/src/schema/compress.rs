//! The `compress` post-processor: packs a build's files into one archive.

use super::decoded::Decoded;
use super::{SchemaProblem, TypeSchema, ValueType};

/// `output` is rendered per build (`{{.BuildName}}`, `{{.BuilderType}}`); Packer only checks its syntax
/// while preparing.
pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "compress",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &["output"],
};

/// Packer clamps `compression_level` and infers the format from the file name; nothing it reports
/// remains once `output`'s syntax is checked.
pub(super) fn check(_c: &Decoded, _out: &mut Vec<SchemaProblem>) {}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order, with embedded configs flattened.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("output", ValueType::String),
    ("format", ValueType::String),
    ("compression_level", ValueType::Int),
    ("archive", ValueType::String),
    ("algorithm", ValueType::String),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
