//! `windows-shell` (batch scripts run by `cmd`) and `windows-restart` (restart the machine and wait
//! until it is back), over SSH.

use super::decoded::Decoded;
use super::powershell::{REMOTE_KEYS, check_scripts};
use super::shell::{SCRIPT_KEYS, check_environment_vars};
use super::{SchemaProblem, TypeSchema, ValueType};

pub(super) static SHELL: TypeSchema = TypeSchema {
    kind: "windows-shell",
    keys: &[SCRIPT_KEYS, REMOTE_KEYS, SHELL_KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &["execute_command"],
};

pub(super) static SHELL_KEYS: &[(&str, ValueType)] =
    &[("start_retry_timeout", ValueType::Duration)];

/// `windows-shell` requires what `powershell` does of its scripts.
pub(super) fn check_shell(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    check_scripts(c, out);
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
