//! `converge`: module directories uploaded, then `converge apply --local` on the machine.

use super::decoded::{Decoded, with_hint};
use super::{RefKey, SchemaProblem, TypeSchema, ValueType, plain};
use crate::references::Expect;

/// The module directories uploaded (each object's `source`).
pub(super) const REFERENCES: &[RefKey] = &[plain("module_dirs[].source", Expect::FileOrDirectory)];

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "converge",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: &[("module_dirs", MODULE_DIR_KEYS)],
    deferred: &["execute_command", "bootstrap_command"],
};

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    // Packer returns at the first of these.
    if c.string("module").is_empty() {
        out.push(with_hint(
            c.problem(
                "module",
                "Converge requires a module to provision the system",
            ),
            "name the module `converge apply` runs",
        ));
        return;
    }
    for (i, dir) in c.objects("module_dirs").iter().enumerate() {
        if dir.string("source").is_empty() {
            out.push(dir.problem(
                "source",
                format!("Source (\"source\" key) is required in Converge module dir #{i}"),
            ));
            return;
        }
        if dir.string("destination").is_empty() {
            out.push(dir.problem(
                "destination",
                format!(
                    "Destination (\"destination\" key) is required in Converge module dir #{i}"
                ),
            ));
            return;
        }
    }
}

/// Every key Packer 1.6.6 decodes for `converge`, in its declaration order.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("bootstrap", ValueType::Bool),
    ("version", ValueType::String),
    ("bootstrap_command", ValueType::String),
    ("prevent_bootstrap_sudo", ValueType::Bool),
    ("module_dirs", ValueType::ObjectList),
    ("module", ValueType::String),
    ("working_directory", ValueType::String),
    ("params", ValueType::Map),
    ("execute_command", ValueType::String),
    ("prevent_sudo", ValueType::Bool),
];

static MODULE_DIR_KEYS: &[(&str, ValueType)] = &[
    ("source", ValueType::String),
    ("destination", ValueType::String),
    ("exclude", ValueType::StringList),
];
