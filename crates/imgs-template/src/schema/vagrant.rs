//! The `vagrant` post-processor: turns a builder's artifact into a Vagrant box for the provider that
//! runs it (qemu → `libvirt`, amazon-ebs → `aws`, …).

use super::decoded::{Decoded, known, with_hint};
use super::{IoCheck, IoCheckKind, RefKey, SchemaProblem, TypeSchema, ValueType, plain};
use crate::references::Expect;

/// `output` is rendered when the box is made, with `{{.Provider}}` and `{{.ArtifactId}}`; Packer only
/// checks its syntax while preparing.
pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "vagrant",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &["output"],
};

/// The providers Packer 1.6.6 makes boxes for (the values its builder table maps to), sorted.
pub const PROVIDERS: &[&str] = &[
    "aws",
    "azure",
    "digitalocean",
    "docker",
    "google",
    "hyperv",
    "libvirt",
    "lxc",
    "parallels",
    "scaleway",
    "virtualbox",
    "vmware",
];

/// The files packed into the box. A `vagrantfile_template` the build generates
/// (`vagrantfile_template_generated`) is not an input: it does not exist before the build.
pub(super) const REFERENCES: &[RefKey] = &[
    plain("include", Expect::File),
    plain("vagrantfile_template", Expect::File),
];

/// Packer stats `vagrantfile_template` unless the build generates it.
pub(super) const IO_CHECKS: &[IoCheck] = &[IoCheck {
    key: "vagrantfile_template",
    what: IoCheckKind::Exists,
    packer_message: "vagrantfile_template '<path>' does not exist",
}];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let provider = c.string("provider_override");
    if !provider.is_empty() && known(&provider) && !PROVIDERS.contains(&provider.as_str()) {
        out.push(with_hint(
            c.problem(
                "provider_override",
                format!("the given provider_override `{provider}` is not valid"),
            ),
            format!("choose one of: {}", PROVIDERS.join(", ")),
        ));
    }
}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("compression_level", ValueType::Int),
    ("include", ValueType::StringList),
    ("output", ValueType::String),
    ("override", ValueType::Object),
    ("vagrantfile_template", ValueType::String),
    ("vagrantfile_template_generated", ValueType::Bool),
    ("provider_override", ValueType::String),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[];
