//! The `file` builder: writes one file from inline content or a copied source.

use super::decoded::Decoded;
use super::{RefKey, plain};
use super::{SchemaProblem, TypeSchema, ValueType};
use crate::references::Expect;

/// The settings that name files the build reads.
pub(super) const REFERENCES: &[RefKey] = &[plain("source", Expect::File)];

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "file",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &[],
};

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    if c.string("target").is_empty() {
        out.push(c.problem("target", "target must be specified"));
    }
    if !c.string("content").is_empty() && !c.string("source").is_empty() {
        out.push(c.problem("content", "only one of content and source may be specified"));
    }
}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order, with embedded configs flattened.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("source", ValueType::String),
    ("target", ValueType::String),
    ("content", ValueType::String),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
