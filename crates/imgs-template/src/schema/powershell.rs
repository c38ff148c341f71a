//! The `powershell` provisioner: scripts run by PowerShell on a Windows machine, over SSH (the WinRM
//! communicator is refused: see the communicator module).

use super::decoded::{Decoded, known, with_hint};
use super::shell::{SCRIPT_KEYS, check_environment_vars};
use super::{SchemaProblem, TypeSchema, ValueType};

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "powershell",
    keys: &[SCRIPT_KEYS, REMOTE_KEYS, KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &["execute_command", "elevated_execute_command"],
};

/// Packer's execution policies by name, in the order of their numbers (`none`, 7, leaves the
/// command without `powershell -executionpolicy`).
pub const EXECUTION_POLICIES: &[&str] = &[
    "bypass",
    "allsigned",
    "default",
    "remotesigned",
    "restricted",
    "undefined",
    "unrestricted",
    "none",
];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    check_scripts(c, out);
    if c.string("elevated_user").is_empty() && !c.string("elevated_password").is_empty() {
        out.push(c.problem(
            "elevated_password",
            "Must supply an 'elevated_user' if 'elevated_password' provided",
        ));
    }
    check_environment_vars(c, out);
    check_execution_policy(c, out);
    let debug_mode = c.int("debug_mode");
    if !(0..=2).contains(&debug_mode) {
        out.push(c.problem(
            "debug_mode",
            format!(
                "{debug_mode} is an invalid Trace level for `debug_mode`; valid values are 0, 1, and 2"
            ),
        ));
    }
}

/// What `powershell` and `windows-shell` require of their scripts, in Packer's words: one of `script`
/// and `scripts`, and either script files or `inline` commands (an empty `inline` list is none).
pub(super) fn check_scripts(c: &Decoded, out: &mut Vec<SchemaProblem>) {
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
}

/// `execution_policy`: a name (exactly as Packer spells it), or a number, which must be at most 7.
fn check_execution_policy(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    if !c.is_set("execution_policy") {
        return;
    }
    let written = c.string("execution_policy");
    if !known(&written) {
        return;
    }
    let problem = match written.trim().parse::<i64>() {
        Ok(n) if n > 7 => Some(
            "Invalid execution policy provided. Please supply one of: \"bypass\", \"allsigned\", \
             \"default\", \"remotesigned\", \"restricted\", \"undefined\", \"unrestricted\", \"none\"."
                .to_string(),
        ),
        Ok(_) => None,
        Err(_) if EXECUTION_POLICIES.contains(&written.as_str()) => None,
        Err(_) => Some(format!(
            "{written} does not belong to ExecutionPolicy values"
        )),
    };
    if let Some(message) = problem {
        out.push(with_hint(
            c.problem("execution_policy", message),
            "use one of bypass, allsigned, default, remotesigned, restricted, undefined, \
             unrestricted or none, in lower case",
        ));
    }
}

/// Packer's `shell.ProvisionerRemoteSpecific`, which `powershell` embeds after the script keys.
pub(super) static REMOTE_KEYS: &[(&str, ValueType)] = &[
    ("binary", ValueType::Bool),
    ("remote_path", ValueType::String),
    ("execute_command", ValueType::String),
];

/// The rest of the keys Packer 1.6.6 decodes for this type, in its declaration order.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("remote_env_var_path", ValueType::String),
    ("elevated_execute_command", ValueType::String),
    ("skip_clean", ValueType::Bool),
    ("start_retry_timeout", ValueType::Duration),
    ("elevated_env_var_format", ValueType::String),
    ("elevated_user", ValueType::String),
    ("elevated_password", ValueType::String),
    // A number, or a policy's name (Packer's decode hook turns the name into its number).
    ("execution_policy", ValueType::Any),
    ("debug_mode", ValueType::Int),
];
