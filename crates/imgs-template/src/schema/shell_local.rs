//! `shell-local`, as a provisioner and as a post-processor: runs commands on the machine running imgs.

use super::decoded::{Decoded, known, with_hint};
use super::{IoCheck, SchemaProblem, TypeSchema, ValueType, shell};

/// The same settings whether it runs as a provisioner or as a post-processor.
pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "shell-local",
    keys: &[shell::SCRIPT_KEYS, KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &["execute_command"],
};

/// Scripts must exist, as for `shell`.
pub(super) const IO_CHECKS: &[IoCheck] = shell::IO_CHECKS;

/// Operating systems `only_on` may name (Go's names).
const OPERATING_SYSTEMS: &[&str] = &[
    "darwin", "freebsd", "linux", "openbsd", "solaris", "windows",
];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let first = out.len();
    let command = !c.string("command").is_empty();
    let script = !c.string("script").is_empty();
    let mut scripts = c.list_len("scripts");
    // Unlike `shell`, an `inline` list that is present but empty still counts as "inline given" below.
    let mut inline_given = c.list("inline").is_some();
    let mut inline = c.list_len("inline");

    if !command && inline == 0 && scripts == 0 && !script {
        out.push(c.problem_here("one of command, inline, script and scripts must be specified"));
    }
    let too_many = |key: &str| {
        with_hint(
            c.problem(
                key,
                "only one of command, inline, script and scripts may be specified",
            ),
            "consolidate these options into one",
        )
    };
    if command {
        if inline > 0 || scripts > 0 || script {
            out.push(too_many("command"));
        } else {
            inline_given = true;
            inline = 1;
        }
    }
    if script {
        if scripts > 0 || inline > 0 {
            out.push(too_many("script"));
        } else {
            scripts = 1;
        }
    }
    if scripts > 0 && inline_given {
        out.push(too_many("inline"));
    }

    for os in c.list("only_on").unwrap_or_default() {
        if known(&os) && !OPERATING_SYSTEMS.contains(&os.as_str()) {
            // Packer reports only this problem when it finds one.
            out.truncate(first);
            out.push(with_hint(
                c.problem("only_on", format!("invalid OS `{os}` in only_on")),
                format!("use one of: {}", OPERATING_SYSTEMS.join(", ")),
            ));
            return;
        }
    }

    if c.bool("use_linux_pathing") {
        if scripts > 0 {
            // Packer converts script paths to Windows Subsystem for Linux paths (C:/x -> /mnt/c/x), which
            // fails for every path on a system without drive letters; it reports only that.
            out.truncate(first);
            out.push(with_hint(
                c.problem(
                    "use_linux_pathing",
                    "use_linux_pathing needs Windows script paths (with a drive letter)",
                ),
                "use_linux_pathing is for the Windows Subsystem for Linux; remove it",
            ));
            return;
        }
        if inline > 0 {
            out.push(c.problem(
                "use_linux_pathing",
                "command and inline cannot be used with use_linux_pathing; use script or scripts",
            ));
        }
    }
    shell::check_environment_vars(c, out);
}

/// The rest of the keys Packer 1.6.6 decodes for this type, in its declaration order.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("command", ValueType::String),
    ("execute_command", ValueType::StringList),
    ("inline_shebang", ValueType::String),
    ("only_on", ValueType::StringList),
    ("tempfile_extension", ValueType::String),
    ("use_linux_pathing", ValueType::Bool),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
