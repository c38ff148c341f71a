//! `salt-masterless`: a local state tree (and pillar, minion config, grains) moved into place on the
//! machine, then `salt-call --local`.

use super::decoded::{Decoded, known, with_hint};
use super::puppet::check_guest_os_type;
use super::{IoCheck, IoCheckKind, SchemaProblem, TypeSchema, ValueType};
use super::{RefKey, plain};
use crate::references::Expect;

pub(super) const REFERENCES: &[RefKey] = &[
    plain("local_state_tree", Expect::Directory),
    plain("local_pillar_roots", Expect::Directory),
    plain("minion_config", Expect::File),
    plain("grains_file", Expect::File),
];

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "salt-masterless",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: &[],
    deferred: &[],
};

pub(super) const IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "local_state_tree",
        what: IoCheckKind::Directory,
        packer_message: "local_state_tree: path '<path>' is invalid: <error>",
    },
    IoCheck {
        key: "local_pillar_roots",
        what: IoCheckKind::Directory,
        packer_message: "local_pillar_roots: path '<path>' is invalid: <error>",
    },
    IoCheck {
        key: "minion_config",
        what: IoCheckKind::File,
        packer_message: "minion_config: path '<path>' is invalid: <error>",
    },
    IoCheck {
        key: "grains_file",
        what: IoCheckKind::File,
        packer_message: "grains_file: path '<path>' is invalid: <error>",
    },
];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    check_guest_os_type(c, out);
    if c.string("local_state_tree").is_empty() {
        out.push(with_hint(
            c.problem("local_state_tree", "local_state_tree cannot be empty"),
            "name the directory of Salt states to apply",
        ));
    }
    for formula in c.list("formulas").unwrap_or_default() {
        if known(&formula) && !is_formula_url(&formula) {
            out.push(with_hint(
                c.problem(
                    "formulas",
                    "Invalid formula URL. Please verify the git URLs also contain a '//' subdir",
                ),
                "write each formula as a git URL ending in `.git//<subdirectory>`",
            ));
            break;
        }
    }
    let remote_roots =
        !c.string("remote_state_tree").is_empty() || !c.string("remote_pillar_roots").is_empty();
    if !c.string("minion_config").is_empty() && remote_roots {
        out.push(c.problem(
            "minion_config",
            "remote_state_tree and remote_pillar_roots only apply when minion_config is not used",
        ));
    }
}

/// Packer's pattern for a formula: `<anything>.git//<subdirectory>[?query]`, where the character
/// before `git` may be anything and the subdirectory is letters, digits, `-` and `_`.
fn is_formula_url(url: &str) -> bool {
    let (path, _query) = url.split_once('?').unwrap_or((url, ""));
    let Some(at) = path.rfind("git//") else {
        return false;
    };
    let subdir = &path[at + "git//".len()..];
    at >= 1
        && !subdir.is_empty()
        && subdir
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Every key Packer 1.6.6 decodes for `salt-masterless`, in its declaration order (`CmdArgs` has no
/// tag of its own, so the decoder takes it as `cmdargs`; Packer overwrites it).
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("skip_bootstrap", ValueType::Bool),
    ("bootstrap_args", ValueType::String),
    ("disable_sudo", ValueType::Bool),
    ("custom_state", ValueType::String),
    ("minion_config", ValueType::String),
    ("grains_file", ValueType::String),
    ("local_state_tree", ValueType::String),
    ("local_pillar_roots", ValueType::String),
    ("remote_state_tree", ValueType::String),
    ("remote_pillar_roots", ValueType::String),
    ("temp_config_dir", ValueType::String),
    ("no_exit_on_failure", ValueType::Bool),
    ("log_level", ValueType::String),
    ("salt_call_args", ValueType::String),
    ("salt_bin_dir", ValueType::String),
    ("cmdargs", ValueType::String),
    ("guest_os_type", ValueType::String),
    ("formulas", ValueType::StringList),
];

#[cfg(test)]
mod tests {
    #[test]
    fn formula_urls_follow_packers_pattern() {
        assert!(super::is_formula_url(
            "https://github.com/x/nginx-formula.git//nginx"
        ));
        assert!(super::is_formula_url("git::https://h/x.git//a_b-c?ref=v1"));
        assert!(!super::is_formula_url(
            "https://github.com/x/nginx-formula.git"
        ));
        assert!(!super::is_formula_url("https://h/x.git//a/b"));
    }
}
