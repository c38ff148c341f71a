//! The `checksum` post-processor: writes checksum files for a build's files.

use super::decoded::{Decoded, known, with_hint};
use super::{SchemaProblem, TypeSchema, ValueType};

/// `output` is rendered per build and checksum type (`{{.ChecksumType}}`); Packer only checks its syntax
/// while preparing.
pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "checksum",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &["output"],
};

const CHECKSUM_TYPES: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    for kind in c.list("checksum_types").unwrap_or_default() {
        if known(&kind) && !CHECKSUM_TYPES.contains(&kind.as_str()) {
            out.push(with_hint(
                c.problem(
                    "checksum_types",
                    format!("unrecognized checksum type `{kind}`"),
                ),
                format!("use one of: {}", CHECKSUM_TYPES.join(", ")),
            ));
        }
    }
}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order, with embedded configs flattened.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("checksum_types", ValueType::StringList),
    ("output", ValueType::String),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
