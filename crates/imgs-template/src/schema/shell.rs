//! The `shell` provisioner: runs inline commands or script files on the machine.

use super::decoded::{Decoded, known};
use super::{IoCheck, IoCheckKind, SchemaProblem, TypeSchema, ValueType};
use super::{RefKey, plain};
use crate::references::Expect;

/// The settings that name files the build reads (shared by `shell-local`).
pub(super) const REFERENCES: &[RefKey] = &[
    plain("script", Expect::File),
    plain("scripts", Expect::File),
];

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "shell",
    keys: &[SCRIPT_KEYS, KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &["execute_command"],
};

pub(super) const IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "script",
        what: IoCheckKind::Exists,
        packer_message: "Bad script '<path>': <error>",
    },
    IoCheck {
        key: "scripts",
        what: IoCheckKind::Exists,
        packer_message: "Bad script '<path>': <error>",
    },
];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let script = !c.string("script").is_empty();
    let scripts = c.list_len("scripts") > 0;
    // An empty `inline` list counts as no inline script.
    let inline = c.list_len("inline") > 0;
    if script && scripts {
        out.push(c.problem("scripts", "only one of script and scripts may be specified"));
    }
    let any_script = script || scripts;
    if !any_script && !inline {
        out.push(c.problem_here(
            "either a script file (script, scripts) or an inline script (inline) must be specified",
        ));
    } else if any_script && inline {
        out.push(c.problem(
            "inline",
            "only a script file or an inline script may be specified, not both",
        ));
    }
    check_environment_vars(c, out);
}

/// `environment_vars` entries must read `KEY=value` with a non-empty key (shell and shell-local).
pub(super) fn check_environment_vars(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    for entry in c.list("environment_vars").unwrap_or_default() {
        if !known(&entry) {
            continue;
        }
        if !matches!(entry.split_once('='), Some((key, _)) if !key.is_empty()) {
            out.push(super::decoded::with_hint(
                c.problem(
                    "environment_vars",
                    format!("environment variable `{entry}` is not in the form KEY=value"),
                ),
                "write each entry as NAME=value",
            ));
        }
    }
}

/// The settings every script-running provisioner embeds (Packer's `shell.Provisioner`), in its
/// declaration order; `shell` and `shell-local` list them first.
pub(super) static SCRIPT_KEYS: &[(&str, ValueType)] = &[
    ("inline", ValueType::StringList),
    ("script", ValueType::String),
    ("scripts", ValueType::StringList),
    ("valid_exit_codes", ValueType::IntList),
    ("environment_vars", ValueType::StringList),
    ("env_var_format", ValueType::String),
];

/// The rest of the keys Packer 1.6.6 decodes for this type, in its declaration order.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("binary", ValueType::Bool),
    ("remote_path", ValueType::String),
    ("execute_command", ValueType::String),
    ("inline_shebang", ValueType::String),
    ("pause_after", ValueType::Duration),
    ("use_env_var_file", ValueType::Bool),
    ("remote_folder", ValueType::String),
    ("remote_file", ValueType::String),
    ("start_retry_timeout", ValueType::Duration),
    ("skip_clean", ValueType::Bool),
    ("expect_disconnect", ValueType::Bool),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
