//! Names of the inputs a fingerprint covers, with a stable string form (`file:images/app/setup.sh`).
//!
//! The string form is what records store and what people read in "why does this rebuild?" output, so it
//! never changes for an existing kind of input; new kinds get new prefixes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One named input of a fingerprint.
///
/// The variant order is the order inputs are listed in (scheme first, parents last); the fingerprint
/// itself does not depend on it (see [`crate::InputSet::fingerprint`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputKey {
    /// The fingerprint scheme version: `scheme`.
    Scheme,
    /// The template, canonicalised: `template`.
    Template,
    /// A selected build, by name and builder type: `build:NAME:TYPE`.
    Build { name: String, kind: String },
    /// A resolved user variable: `var:NAME`.
    Variable(String),
    /// An environment variable the template reads: `env:NAME`.
    Env(String),
    /// A file (or empty directory), relative to the workspace root with `/` separators: `file:RELPATH`.
    File(String),
    /// What an outside input resolved to, from Images.lock: `locked:KIND/REGION/BUILD`
    /// (`locked:source-ami/us-east-1/amazon-ebs`), valued by its spec and resolved value.
    Locked(String),
    /// The fingerprint of a parent image: `parent:NAME`.
    Parent(String),
}

const SCHEME: &str = "scheme";
const TEMPLATE: &str = "template";
const BUILD: &str = "build:";
const VARIABLE: &str = "var:";
const ENV: &str = "env:";
const FILE: &str = "file:";
const PARENT: &str = "parent:";
const LOCKED: &str = "locked:";

impl fmt::Display for InputKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputKey::Scheme => f.write_str(SCHEME),
            InputKey::Template => f.write_str(TEMPLATE),
            InputKey::Build { name, kind } => write!(f, "{BUILD}{name}:{kind}"),
            InputKey::Variable(name) => write!(f, "{VARIABLE}{name}"),
            InputKey::Env(name) => write!(f, "{ENV}{name}"),
            InputKey::File(path) => write!(f, "{FILE}{path}"),
            InputKey::Locked(name) => write!(f, "{LOCKED}{name}"),
            InputKey::Parent(name) => write!(f, "{PARENT}{name}"),
        }
    }
}

/// Why a string is not an input key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseInputKeyError(String);

impl fmt::Display for ParseInputKeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a fingerprint input (expected `scheme`, `template`, `build:NAME:TYPE`, `var:NAME`, \
             `env:NAME`, `file:PATH`, `locked:INPUT` or `parent:NAME`)",
            self.0
        )
    }
}

impl std::error::Error for ParseInputKeyError {}

impl FromStr for InputKey {
    type Err = ParseInputKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ParseInputKeyError(s.to_owned());
        let nonempty = |rest: &str| {
            (!rest.is_empty())
                .then(|| rest.to_owned())
                .ok_or_else(error)
        };
        match s {
            SCHEME => return Ok(InputKey::Scheme),
            TEMPLATE => return Ok(InputKey::Template),
            _ => {}
        }
        if let Some(rest) = s.strip_prefix(BUILD) {
            // Build names are free text and may hold `:`; builder types never do, so split at the last one.
            let (name, kind) = rest.rsplit_once(':').ok_or_else(error)?;
            if name.is_empty() || kind.is_empty() {
                return Err(error());
            }
            return Ok(InputKey::Build {
                name: name.to_owned(),
                kind: kind.to_owned(),
            });
        }
        if let Some(rest) = s.strip_prefix(VARIABLE) {
            return nonempty(rest).map(InputKey::Variable);
        }
        if let Some(rest) = s.strip_prefix(ENV) {
            return nonempty(rest).map(InputKey::Env);
        }
        if let Some(rest) = s.strip_prefix(FILE) {
            return nonempty(rest).map(InputKey::File);
        }
        if let Some(rest) = s.strip_prefix(LOCKED) {
            return nonempty(rest).map(InputKey::Locked);
        }
        if let Some(rest) = s.strip_prefix(PARENT) {
            return nonempty(rest).map(InputKey::Parent);
        }
        Err(error())
    }
}

/// How people read a locked input's name (`source-ami/us-east-1/amazon-ebs`): `source AMI
/// (us-east-1)`; the build is named only when the image has several, which the caller knows.
pub fn locked_label(name: &str) -> String {
    let mut parts = name.splitn(3, '/');
    let kind = parts.next().unwrap_or_default();
    let region = parts.next().unwrap_or_default();
    let kind = match kind {
        "source-ami" => "source AMI",
        "image-digest" => "image digest",
        "iso-checksum" => "ISO checksum",
        other => other,
    };
    if region.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} ({region})")
    }
}

impl Serialize for InputKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InputKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_kinds() -> Vec<InputKey> {
        vec![
            InputKey::Scheme,
            InputKey::Template,
            InputKey::Build {
                name: "qemu:fast".into(),
                kind: "qemu".into(),
            },
            InputKey::Variable("app_version".into()),
            InputKey::Env("HOME".into()),
            InputKey::File("../shared/setup script.sh".into()),
            InputKey::Locked("source-ami/us-east-1/amazon-ebs".into()),
            InputKey::Parent("hardened".into()),
        ]
    }

    #[test]
    fn string_form_is_stable() {
        let shown: Vec<String> = all_kinds().iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "scheme",
                "template",
                "build:qemu:fast:qemu",
                "var:app_version",
                "env:HOME",
                "file:../shared/setup script.sh",
                "locked:source-ami/us-east-1/amazon-ebs",
                "parent:hardened",
            ]
        );
    }

    #[test]
    fn parses_its_own_string_form() {
        for key in all_kinds() {
            assert_eq!(key.to_string().parse::<InputKey>().unwrap(), key);
        }
    }

    #[test]
    fn rejects_unknown_or_empty_keys() {
        for bad in [
            "",
            "schema",
            "var:",
            "file:",
            "build:x",
            "build::qemu",
            "build:x:",
            "blob:x",
            "locked:",
        ] {
            assert!(bad.parse::<InputKey>().is_err(), "{bad}");
        }
    }
}
