//! The `file` provisioner: uploads files or directories to the machine, or downloads from it.

use super::decoded::{Decoded, known, with_hint};
use super::{IoCheck, IoCheckKind, SchemaProblem, TypeSchema, ValueType};
use super::{RefKey, plain};
use crate::references::Expect;

/// The settings that name files the build reads (uploads only: see the references module).
pub(super) const REFERENCES: &[RefKey] = &[
    plain("source", Expect::FileOrDirectory),
    plain("sources", Expect::FileOrDirectory),
];

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "file",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &[],
};

/// Sources must exist when uploading, unless `generated` says an earlier step creates them.
pub(super) const IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "source",
        what: IoCheckKind::Exists,
        packer_message: "Bad source '<path>': <error>",
    },
    IoCheck {
        key: "sources",
        what: IoCheckKind::Exists,
        packer_message: "Bad source '<path>': <error>",
    },
];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let direction = c.string("direction");
    if known(&direction) && !matches!(direction.as_str(), "" | "upload" | "download") {
        out.push(with_hint(
            c.problem("direction", format!("direction `{direction}` is invalid")),
            "use `upload` (the default) or `download`",
        ));
    }
    let sources = c.list_len("sources") + usize::from(!c.string("source").is_empty());
    if sources == 0 {
        out.push(c.problem("source", "source must be specified"));
    }
    if c.string("destination").is_empty() {
        out.push(c.problem("destination", "destination must be specified"));
    }
}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order, with embedded configs flattened.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("source", ValueType::String),
    ("sources", ValueType::StringList),
    ("destination", ValueType::String),
    ("direction", ValueType::String),
    ("generated", ValueType::Bool),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
