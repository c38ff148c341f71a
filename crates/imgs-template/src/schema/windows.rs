//! `windows-shell` (batch scripts run by `cmd`) and `windows-restart` (restart the machine and wait
//! until it is back), over SSH.

use super::decoded::Decoded;
use super::powershell::REMOTE_KEYS;
use super::shell::{SCRIPT_KEYS, check_environment_vars};
use super::{IoCheck, IoCheckKind, SchemaProblem, TypeSchema, ValueType};

pub(super) static SHELL: TypeSchema = TypeSchema {
    kind: "windows-shell",
    keys: &[SCRIPT_KEYS, REMOTE_KEYS, SHELL_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &["execute_command"],
};

pub(super) static SHELL_KEYS: &[(&str, ValueType)] =
    &[("start_retry_timeout", ValueType::Duration)];

pub(super) const SHELL_IO_CHECKS: &[IoCheck] = &[
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

pub(super) fn check_shell(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let script = !c.string("script").is_empty();
    let scripts = c.list_len("scripts") > 0;
    if script && scripts {
        out.push(c.problem("scripts", "Only one of script or scripts can be specified."));
    }
    let inline = c.list_len("inline") > 0;
    if !script && !scripts && !inline {
        out.push(c.problem_here("Either a script file or inline script must be specified."));
    } else if (script || scripts) && inline {
        out.push(c.problem(
            "inline",
            "Only a script file or an inline script can be specified, not both.",
        ));
    }
    check_environment_vars(c, out);
}

pub(super) static RESTART: TypeSchema = TypeSchema {
    kind: "windows-restart",
    keys: &[RESTART_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &[],
};

pub(super) static RESTART_KEYS: &[(&str, ValueType)] = &[
    ("restart_command", ValueType::String),
    ("restart_check_command", ValueType::String),
    ("restart_timeout", ValueType::Duration),
    ("check_registry", ValueType::Bool),
    ("registry_keys", ValueType::StringList),
];

/// `windows-restart` checks nothing once its keys decode.
pub(super) fn check_restart(_: &Decoded, _: &mut Vec<SchemaProblem>) {}
