//! The `artifice` post-processor: replaces the artifact with files the template names, so the next
//! post-processor of the chain works on them.

use super::decoded::{Decoded, with_hint};
use super::{SchemaProblem, TypeSchema, ValueType};

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "artifice",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &[],
};

/// Packer's one check: at least one entry in `files` (globs are expanded only when the step runs).
pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    if c.list_len("files") == 0 {
        let problem = if c.is_set("files") {
            c.problem("files", "no files specified in artifice configuration")
        } else {
            c.problem_here("no files specified in artifice configuration")
        };
        out.push(with_hint(
            problem,
            "list the files (or glob patterns) the artifact is made of, e.g. `\"files\": [\"out/app.tar\"]`",
        ));
    }
}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order. (`keep_input_artifact` is
/// also read by the template itself, as for every post-processor.)
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("files", ValueType::StringList),
    ("keep_input_artifact", ValueType::Bool),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
