//! `azure-dtlartifact`: installs Azure DevTest Labs artifacts on a lab's virtual machine through
//! Azure's API. imgs validates it as Packer 1.6.6 does (its `Prepare` only decodes) but does not run
//! it: no builder imgs runs makes an Azure machine.

use super::decoded::Decoded;
use super::{SchemaProblem, TypeSchema, ValueType};

pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "azure-dtlartifact",
    keys: &[KEYS, super::PACKER_KEYS],
    nested: &[
        ("dtl_artifacts", ARTIFACT_KEYS),
        ("dtl_artifacts.parameters", PARAMETER_KEYS),
    ],
    // Packer excludes `execute_command` from rendering, a key this type does not have.
    deferred: &[],
};

/// Packer checks nothing beyond decoding.
pub(super) fn check(_: &Decoded, _: &mut Vec<SchemaProblem>) {}

/// Every key Packer 1.6.6 decodes for `azure-dtlartifact`, in its declaration order (the Azure
/// client settings first, squashed in).
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("cloud_environment_name", ValueType::String),
    ("client_id", ValueType::String),
    ("client_secret", ValueType::String),
    ("client_cert_path", ValueType::String),
    ("client_jwt", ValueType::String),
    ("object_id", ValueType::String),
    ("tenant_id", ValueType::String),
    ("subscription_id", ValueType::String),
    ("use_azure_cli_auth", ValueType::Bool),
    ("dtl_artifacts", ValueType::ObjectList),
    ("lab_name", ValueType::String),
    ("lab_resource_group_name", ValueType::String),
    ("vm_name", ValueType::String),
    ("polling_duration_timeout", ValueType::Duration),
    ("azure_tags", ValueType::Map),
    // Any JSON object.
    ("json", ValueType::Object),
];

static ARTIFACT_KEYS: &[(&str, ValueType)] = &[
    ("artifact_name", ValueType::String),
    ("artifact_id", ValueType::String),
    ("parameters", ValueType::ObjectList),
];

static PARAMETER_KEYS: &[(&str, ValueType)] = &[
    ("name", ValueType::String),
    ("value", ValueType::String),
    ("type", ValueType::String),
];
