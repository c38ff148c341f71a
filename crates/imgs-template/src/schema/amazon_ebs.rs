//! The `amazon-ebs` builder: launches an EC2 instance from a source AMI, provisions it, snapshots it
//! into a new AMI. Checks come from its access, AMI, block device and run configs.

use std::net::IpAddr;

use super::decoded::{Decoded, known, with_hint};
use super::volatile_sample;
use super::{IoCheck, IoCheckKind, SchemaProblem, TypeSchema, ValueType, communicator};
use super::{RefKey, plain};
use crate::references::Expect;

/// The settings that name files the build reads.
pub(super) const REFERENCES: &[RefKey] = &[plain("user_data_file", Expect::File)];

/// Tags are rendered per build with build-time data (`{{ .SourceAMI }}`, ...), so Packer leaves them and
/// the AMI description alone while preparing.
pub(super) static SCHEMA: TypeSchema = TypeSchema {
    kind: "amazon-ebs",
    keys: &[KEYS, communicator::KEYS, super::PACKER_KEYS],
    nested: NESTED,
    deferred: &[
        "ami_description",
        "run_tags",
        "run_tag",
        "run_volume_tags",
        "run_volume_tag",
        "spot_tags",
        "spot_tag",
        "snapshot_tags",
        "snapshot_tag",
        "tags",
        "tag",
    ],
};

pub(super) const IO_CHECKS: &[IoCheck] = &[
    IoCheck {
        key: "vault_aws_engine",
        what: IoCheckKind::Network,
        packer_message: "<error fetching credentials from Vault>",
    },
    IoCheck {
        key: "user_data_file",
        what: IoCheckKind::Exists,
        packer_message: "user_data_file not found: <path>",
    },
    communicator::IO_CHECKS[0],
    communicator::IO_CHECKS[1],
];

pub(super) fn check(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    check_access(c, out);
    check_ami(c, out);
    for key in ["ami_block_device_mappings", "launch_block_device_mappings"] {
        for device in c.objects(key) {
            if let Some(problem) = block_device_problem(&device) {
                out.push(problem);
            }
        }
    }
    check_run(c, out);
    let spot = is_spot(c);
    if spot && (c.trilean("ena_support") == Some(true) || c.bool("sriov_support")) {
        out.push(with_hint(
            c.problem(
                "spot_price",
                "spot instances cannot be modified, which ena_support and sriov_support require",
            ),
            "use a source AMI that already has SR-IOV or ENA enabled and drop those options",
        ));
    }
}

fn is_spot(c: &Decoded) -> bool {
    let price = c.string("spot_price");
    !price.is_empty() && price != "0"
}

fn check_access(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    // Packer asks a Vault server for credentials while it prepares the build, so a template with
    // this key is invalid wherever no Vault answers; imgs does not talk to Vault at all.
    if c.is_set("vault_aws_engine") {
        out.push(with_hint(
            c.problem(
                "vault_aws_engine",
                "`vault_aws_engine` is not supported by imgs",
            ),
            "give AWS credentials through the environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, …), \
             a shared profile (`profile`), or `access_key`/`secret_key` from a sensitive variable",
        ));
    }
    let vault = c.object("vault_aws_engine").is_some_and(|v| {
        ["name", "role_arn", "engine_name", "ttl"]
            .iter()
            .any(|k| !v.string(k).is_empty())
    });
    let access_key = !c.string("access_key").is_empty();
    if vault && access_key {
        out.push(c.problem(
            "access_key",
            "access_key and secret_key must not be set with vault_aws_engine",
        ));
    }
    if access_key == c.string("secret_key").is_empty() {
        let missing = if access_key {
            "secret_key"
        } else {
            "access_key"
        };
        out.push(with_hint(
            c.problem(
                missing,
                "access_key and secret_key must both be set or both be unset",
            ),
            "leave both unset to use the environment or shared credentials file",
        ));
    }
}

fn check_ami(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let name = c.string("ami_name");
    if name.is_empty() {
        out.push(c.problem("ami_name", "ami_name must be specified"));
    } else {
        // Placeholders of run-dependent actions ({{timestamp}}, ...) are judged by a value of their
        // shape; the text of any other action that did not render is left out.
        let (sample, complete) = volatile_sample::sample(&name);
        if complete && !(3..=128).contains(&sample.len()) {
            out.push(c.problem(
                "ami_name",
                format!(
                    "ami_name must be 3 to 128 characters long, not {}",
                    sample.len()
                ),
            ));
        }
        if sample.bytes().any(|b| !ami_name_byte_allowed(b)) {
            let shown = if sample == name {
                format!("`{name}`")
            } else {
                format!("`{name}` (`{sample}`)")
            };
            out.push(with_hint(
                c.problem(
                    "ami_name",
                    format!("ami_name {shown} contains characters AMI names cannot hold"),
                ),
                "use letters, digits, spaces and ()[]./-'@_ only, or pass the name through `clean_resource_name`",
            ));
        }
    }

    let regions = c.list("ami_regions").unwrap_or_default();
    let region_keys = c.map("region_kms_key_ids");
    for (region, _) in &region_keys {
        if !regions.contains(region) {
            out.push(c.problem(
                "region_kms_key_ids",
                format!("region {region} is in region_kms_key_ids but not in ami_regions"),
            ));
        }
    }
    if !region_keys.is_empty() {
        let mut seen: Vec<&String> = Vec::new();
        for region in &regions {
            if seen.contains(&region) {
                continue;
            }
            seen.push(region);
            if !region_keys.iter().any(|(r, _)| r == region) {
                out.push(c.problem(
                    "ami_regions",
                    format!("region {region} is in ami_regions but not in region_kms_key_ids"),
                ));
            }
        }
    }

    let kms_key_id = c.string("kms_key_id");
    let encrypt_boot = c.trilean("encrypt_boot") == Some(true);
    let empty_region_keys = region_keys.iter().filter(|(_, key)| key.is_empty()).count();
    if c.list_len("ami_users") > 0 {
        if kms_key_id.is_empty() && encrypt_boot {
            out.push(c.problem(
                "ami_users",
                "an AMI encrypted with the default KMS key cannot be shared (ami_users)",
            ));
        }
        for _ in 0..empty_region_keys {
            out.push(c.problem(
                "region_kms_key_ids",
                "an AMI encrypted with the default KMS key cannot be shared with other regions",
            ));
        }
    }
    let mut kms_keys: Vec<&str> = Vec::new();
    if !kms_key_id.is_empty() {
        kms_keys.push(&kms_key_id);
    }
    kms_keys.extend(
        region_keys
            .iter()
            .map(|(_, key)| key.as_str())
            .filter(|key| !key.is_empty()),
    );
    if !kms_keys.is_empty() && !encrypt_boot {
        out.push(with_hint(
            c.problem(
                "encrypt_boot",
                "encrypt_boot must be true when kms_key_id or region_kms_key_ids is set",
            ),
            "set \"encrypt_boot\": true",
        ));
    }
    for key in kms_keys {
        if known(key) && !is_valid_kms_key(key) {
            let at = if key == kms_key_id {
                "kms_key_id"
            } else {
                "region_kms_key_ids"
            };
            out.push(c.problem(at, format!("{key:?} is not a valid KMS key id")));
        }
    }
    if c.list_len("snapshot_users") > 0 {
        if kms_key_id.is_empty() && region_keys.is_empty() && encrypt_boot {
            out.push(c.problem(
                "snapshot_users",
                "a snapshot encrypted with the default KMS key cannot be shared (snapshot_users)",
            ));
        }
        for _ in 0..empty_region_keys {
            out.push(c.problem(
                "region_kms_key_ids",
                "a snapshot encrypted with the default KMS key cannot be shared",
            ));
        }
    }
}

/// AMI names hold ASCII letters and digits and `()[] ./-'@_`.
fn ami_name_byte_allowed(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"()[] ./-'@_".contains(&b)
}

/// A KMS key id, alias, key ARN or alias ARN, as EC2's CopyImage accepts them.
fn is_valid_kms_key(key: &str) -> bool {
    fn key_id(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| matches!(b, b'a'..=b'f' | b'0'..=b'9' | b'-'))
    }
    fn alias(s: &str) -> bool {
        s.strip_prefix("alias/").is_some_and(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b))
        })
    }
    fn region(s: &str) -> bool {
        let parts: Vec<&str> = s.split('-').collect();
        let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
        let (first, last) = (parts[0], parts[parts.len() - 1]);
        let middle = &parts[1..parts.len().saturating_sub(1).max(1)];
        parts.len() >= 3
            && first.len() == 2
            && letters(first)
            && last.len() == 1
            && last.bytes().all(|b| b.is_ascii_digit())
            && match middle {
                [word] => letters(word),
                ["gov", word] => letters(word),
                _ => false,
            }
    }
    if key_id(key) || alias(key) {
        return true;
    }
    let Some(rest) = key.strip_prefix("arn:aws") else {
        return false;
    };
    let rest = rest.strip_prefix("-us-gov").unwrap_or(rest);
    let Some(rest) = rest.strip_prefix(":kms:") else {
        return false;
    };
    let Some((region_part, rest)) = rest.split_once(':') else {
        return false;
    };
    if !region_part.is_empty() && !region(region_part) {
        return false;
    }
    let Some((account, resource)) = rest.split_once(':') else {
        return false;
    };
    let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
    account_ok && (resource.strip_prefix("key/").is_some_and(key_id) || alias(resource))
}

/// Packer reports at most one problem per device.
fn block_device_problem(d: &Decoded) -> Option<SchemaProblem> {
    let name = d.string("device_name");
    if name.is_empty() {
        return Some(d.problem(
            "device_name",
            "device_name must be specified for every device in a block device mapping",
        ));
    }
    if !d.string("kms_key_id").is_empty() && d.trilean("encrypted") == Some(false) {
        return Some(d.problem(
            "encrypted",
            format!("device {name} sets kms_key_id, so encrypted must be true"),
        ));
    }
    let volume_type = d.string("volume_type");
    let iops = d.int("iops");
    let size = d.int("volume_size");
    let throughput = d.int("throughput");
    let ratio = match volume_type.as_str() {
        "io1" => Some(50),
        "io2" => Some(500),
        _ => None,
    };
    if let Some(ratio) = ratio.filter(|_| size != 0) {
        if iops / size > ratio {
            return Some(d.problem(
                "iops",
                format!("{name}: at most {ratio} provisioned IOPS per GiB of volume size for {volume_type} volumes"),
            ));
        }
        if !(100..=64000).contains(&iops) {
            return Some(d.problem(
                "iops",
                format!("iops must be between 100 and 64000 for device {name}"),
            ));
        }
    }
    if volume_type == "gp3" {
        if !(125..=1000).contains(&throughput) {
            return Some(d.problem(
                "throughput",
                format!("throughput must be between 125 and 1000 for gp3 device {name}"),
            ));
        }
        if !(3000..=16000).contains(&iops) {
            return Some(d.problem(
                "iops",
                format!("iops must be between 3000 and 16000 for gp3 device {name}"),
            ));
        }
    } else if throughput > 0 {
        return Some(d.problem(
            "throughput",
            format!("throughput can only be set for gp3 volumes (device {name})"),
        ));
    }
    None
}

fn check_run(c: &Decoded, out: &mut Vec<SchemaProblem>) {
    let comm = communicator::check(c, out);

    let interface = c.string("ssh_interface");
    const INTERFACES: &[&str] = &[
        "public_ip",
        "private_ip",
        "public_dns",
        "private_dns",
        "session_manager",
    ];
    if known(&interface) && !interface.is_empty() && !INTERFACES.contains(&interface.as_str()) {
        out.push(with_hint(
            c.problem(
                "ssh_interface",
                format!("unknown ssh_interface `{interface}`"),
            ),
            format!("use one of: {}", INTERFACES.join(", ")),
        ));
    }
    if interface == "session_manager" {
        if comm == "winrm" {
            out.push(c.problem(
                "ssh_interface",
                "session_manager connectivity needs the ssh communicator, not winrm",
            ));
        }
        if c.string("iam_instance_profile").is_empty()
            && !c.is_set("temporary_iam_instance_profile_policy_document")
        {
            out.push(with_hint(
                c.problem("ssh_interface", "session_manager connectivity needs an instance profile"),
                "set iam_instance_profile (with AmazonSSMManagedInstanceCore) or temporary_iam_instance_profile_policy_document",
            ));
        }
    }

    if !c.string("ssh_keypair_name").is_empty() {
        let key_file = !c.string("ssh_private_key_file").is_empty();
        if comm == "winrm" && c.string("winrm_password").is_empty() && !key_file {
            out.push(c.problem("ssh_private_key_file", "ssh_private_key_file must be set to retrieve the winrm password when ssh_keypair_name is set"));
        } else if !key_file && !c.bool("ssh_agent_auth") {
            out.push(with_hint(
                c.problem(
                    "ssh_keypair_name",
                    "ssh_keypair_name needs ssh_private_key_file or ssh_agent_auth",
                ),
                "set ssh_private_key_file to the key pair's private key",
            ));
        }
    }

    let source_ami = !c.string("source_ami").is_empty();
    let filter = c.object("source_ami_filter");
    let owners = filter.as_ref().map_or(0, |f| f.list_len("owners"));
    let filter_empty = owners == 0
        && filter
            .as_ref()
            .is_none_or(|f| f.map("filters").is_empty() && f.objects("filter").is_empty());
    if !source_ami && filter_empty {
        out.push(c.problem(
            "source_ami",
            "source_ami or source_ami_filter must be specified",
        ));
    } else if !source_ami && owners == 0 {
        out.push(with_hint(
            c.problem("source_ami_filter", "source_ami_filter must declare owners"),
            "add \"owners\": [\"ACCOUNT_ID\"] so an AMI from an unknown account is never picked",
        ));
    }

    let instance_type = c.string("instance_type");
    let spot_types = c.list_len("spot_instance_types");
    if instance_type.is_empty() && spot_types == 0 {
        out.push(c.problem(
            "instance_type",
            "instance_type or spot_instance_types must be specified",
        ));
    }
    if !instance_type.is_empty() && spot_types > 0 {
        out.push(c.problem(
            "spot_instance_types",
            "specify instance_type or spot_instance_types, not both",
        ));
    }
    let block_duration = c.int("block_duration_minutes");
    if block_duration % 60 != 0 {
        out.push(c.problem(
            "block_duration_minutes",
            format!("block_duration_minutes must be a multiple of 60, not {block_duration}"),
        ));
    }
    let spot_tags = c.map_is_set("spot_tags") || !c.objects("spot_tag").is_empty();
    if spot_tags && !is_spot(c) {
        out.push(c.problem(
            "spot_tags",
            "spot_tags can only be set when requesting a spot instance (spot_price)",
        ));
    }
    if !c.string("user_data").is_empty() && !c.string("user_data_file").is_empty() {
        out.push(c.problem(
            "user_data_file",
            "only one of user_data and user_data_file may be specified",
        ));
    }
    if !c.string("security_group_id").is_empty() && c.list_len("security_group_ids") > 0 {
        out.push(c.problem(
            "security_group_ids",
            "only one of security_group_id and security_group_ids may be specified",
        ));
    }
    for cidr in c
        .list("temporary_security_group_source_cidrs")
        .unwrap_or_default()
    {
        if known(&cidr) && !is_cidr(&cidr) {
            out.push(c.problem(
                "temporary_security_group_source_cidrs",
                format!("`{cidr}` is not a CIDR block such as 10.0.0.0/8"),
            ));
        }
    }
    let shutdown = c.string("shutdown_behavior");
    if known(&shutdown) && !matches!(shutdown.as_str(), "" | "stop" | "terminate") {
        out.push(c.problem(
            "shutdown_behavior",
            format!("shutdown_behavior must be `stop` or `terminate`, not `{shutdown}`"),
        ));
    }
    if c.bool("enable_t2_unlimited") {
        if !c.string("spot_price").is_empty() {
            out.push(c.problem(
                "enable_t2_unlimited",
                "T2 Unlimited cannot be used with spot instances",
            ));
        }
        match instance_type.split_once('.') {
            None => out.push(c.problem(
                "instance_type",
                format!("cannot tell the instance family of `{instance_type}`"),
            )),
            Some((family, _)) if family != "t2" => out.push(c.problem(
                "enable_t2_unlimited",
                format!("T2 Unlimited is enabled with a non-T2 instance type: {instance_type}"),
            )),
            Some(_) => {}
        }
    }
    let tenancy = c.string("tenancy");
    if known(&tenancy) && !matches!(tenancy.as_str(), "" | "default" | "dedicated" | "host") {
        out.push(with_hint(
            c.problem("tenancy", format!("unknown tenancy `{tenancy}`")),
            "use `default`, `dedicated` or `host`",
        ));
    }
}

/// Go's `net.ParseCIDR`: an IPv4 or IPv6 address, `/`, and a prefix length that fits it.
fn is_cidr(text: &str) -> bool {
    let Some((address, prefix)) = text.split_once('/') else {
        return false;
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return false;
    };
    let bits = if address.is_ipv4() { 32 } else { 128 };
    !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && prefix.parse::<u32>().is_ok_and(|p| p <= bits)
}

/// Every key Packer 1.6.6 decodes for this type, in its declaration order, with embedded configs flattened.
pub(super) static KEYS: &[(&str, ValueType)] = &[
    ("access_key", ValueType::String),
    ("assume_role", ValueType::Object),
    ("custom_endpoint_ec2", ValueType::String),
    ("shared_credentials_file", ValueType::String),
    ("decode_authorization_messages", ValueType::Bool),
    ("insecure_skip_tls_verify", ValueType::Bool),
    ("max_retries", ValueType::Int),
    ("mfa_code", ValueType::String),
    ("profile", ValueType::String),
    ("region", ValueType::String),
    ("secret_key", ValueType::String),
    ("skip_metadata_api_check", ValueType::Bool),
    ("skip_credential_validation", ValueType::Bool),
    ("token", ValueType::String),
    ("vault_aws_engine", ValueType::Object),
    ("aws_polling", ValueType::Object),
    ("ami_name", ValueType::String),
    ("ami_description", ValueType::String),
    ("ami_virtualization_type", ValueType::String),
    ("ami_users", ValueType::StringList),
    ("ami_groups", ValueType::StringList),
    ("ami_product_codes", ValueType::StringList),
    ("ami_regions", ValueType::StringList),
    ("skip_region_validation", ValueType::Bool),
    ("tags", ValueType::Map),
    ("tag", ValueType::ObjectList),
    ("ena_support", ValueType::Bool),
    ("sriov_support", ValueType::Bool),
    ("force_deregister", ValueType::Bool),
    ("force_delete_snapshot", ValueType::Bool),
    ("encrypt_boot", ValueType::Bool),
    ("kms_key_id", ValueType::String),
    ("region_kms_key_ids", ValueType::Map),
    ("skip_save_build_region", ValueType::Bool),
    ("snapshot_tags", ValueType::Map),
    ("snapshot_tag", ValueType::ObjectList),
    ("snapshot_users", ValueType::StringList),
    ("snapshot_groups", ValueType::StringList),
    ("associate_public_ip_address", ValueType::Bool),
    ("availability_zone", ValueType::String),
    ("block_duration_minutes", ValueType::Int),
    ("disable_stop_instance", ValueType::Bool),
    ("ebs_optimized", ValueType::Bool),
    ("enable_t2_unlimited", ValueType::Bool),
    ("iam_instance_profile", ValueType::String),
    ("skip_profile_validation", ValueType::Bool),
    (
        "temporary_iam_instance_profile_policy_document",
        ValueType::Object,
    ),
    ("shutdown_behavior", ValueType::String),
    ("instance_type", ValueType::String),
    ("security_group_filter", ValueType::Object),
    ("run_tags", ValueType::Map),
    ("run_tag", ValueType::ObjectList),
    ("security_group_id", ValueType::String),
    ("security_group_ids", ValueType::StringList),
    ("source_ami", ValueType::String),
    ("source_ami_filter", ValueType::Object),
    ("spot_instance_types", ValueType::StringList),
    ("spot_price", ValueType::String),
    ("spot_price_auto_product", ValueType::String),
    ("spot_tags", ValueType::Map),
    ("spot_tag", ValueType::ObjectList),
    ("subnet_filter", ValueType::Object),
    ("subnet_id", ValueType::String),
    ("tenancy", ValueType::String),
    (
        "temporary_security_group_source_cidrs",
        ValueType::StringList,
    ),
    ("user_data", ValueType::String),
    ("user_data_file", ValueType::String),
    ("vpc_filter", ValueType::Object),
    ("vpc_id", ValueType::String),
    ("windows_password_timeout", ValueType::Duration),
    ("ssh_interface", ValueType::String),
    ("pause_before_ssm", ValueType::Duration),
    ("session_manager_port", ValueType::Int),
    ("ami_block_device_mappings", ValueType::ObjectList),
    ("launch_block_device_mappings", ValueType::ObjectList),
    ("run_volume_tags", ValueType::Map),
    ("run_volume_tag", ValueType::ObjectList),
    ("no_ephemeral", ValueType::Bool),
];

/// Keys of the objects (or of each object in a list) that some keys hold.
/// A `{"key": ..., "value": ...}` entry: the `tag` blocks and `source_ami_filter`'s `filter`.
const KEY_VALUE: &[(&str, ValueType)] = &[("key", ValueType::String), ("value", ValueType::String)];

/// A `{"name": ..., "value": ...}` entry: `run_volume_tag` and the network filters' `filter`.
const NAME_VALUE: &[(&str, ValueType)] =
    &[("name", ValueType::String), ("value", ValueType::String)];

/// One block device mapping: the same shape at launch (`launch_block_device_mappings`) and in the AMI
/// (`ami_block_device_mappings`).
const BLOCK_DEVICE: &[(&str, ValueType)] = &[
    ("delete_on_termination", ValueType::Bool),
    ("device_name", ValueType::String),
    ("encrypted", ValueType::Bool),
    ("iops", ValueType::Int),
    ("no_device", ValueType::Bool),
    ("snapshot_id", ValueType::String),
    ("throughput", ValueType::Int),
    ("virtual_name", ValueType::String),
    ("volume_type", ValueType::String),
    ("volume_size", ValueType::Int),
    ("kms_key_id", ValueType::String),
];

pub(super) static NESTED: &[(&str, &[(&str, ValueType)])] = &[
    (
        "assume_role",
        &[
            ("role_arn", ValueType::String),
            ("duration_seconds", ValueType::Int),
            ("external_id", ValueType::String),
            ("policy", ValueType::String),
            ("policy_arns", ValueType::StringList),
            ("session_name", ValueType::String),
            ("tags", ValueType::Map),
            ("transitive_tag_keys", ValueType::StringList),
        ],
    ),
    (
        "vault_aws_engine",
        &[
            ("name", ValueType::String),
            ("role_arn", ValueType::String),
            ("ttl", ValueType::String),
            ("engine_name", ValueType::String),
        ],
    ),
    (
        "aws_polling",
        &[
            ("max_attempts", ValueType::Int),
            ("delay_seconds", ValueType::Int),
        ],
    ),
    ("tag", KEY_VALUE),
    ("snapshot_tag", KEY_VALUE),
    (
        "temporary_iam_instance_profile_policy_document",
        &[
            ("Version", ValueType::String),
            ("Statement", ValueType::ObjectList),
        ],
    ),
    (
        "security_group_filter",
        &[
            ("filters", ValueType::Map),
            ("filter", ValueType::ObjectList),
        ],
    ),
    ("run_tag", KEY_VALUE),
    (
        "source_ami_filter",
        &[
            ("filters", ValueType::Map),
            ("filter", ValueType::ObjectList),
            ("owners", ValueType::StringList),
            ("most_recent", ValueType::Bool),
        ],
    ),
    ("spot_tag", KEY_VALUE),
    (
        "subnet_filter",
        &[
            ("filters", ValueType::Map),
            ("filter", ValueType::ObjectList),
            ("most_free", ValueType::Bool),
            ("random", ValueType::Bool),
        ],
    ),
    (
        "vpc_filter",
        &[
            ("filters", ValueType::Map),
            ("filter", ValueType::ObjectList),
        ],
    ),
    ("ami_block_device_mappings", BLOCK_DEVICE),
    ("launch_block_device_mappings", BLOCK_DEVICE),
    ("run_volume_tag", NAME_VALUE),
    // Objects inside those objects, by dotted path.
    (
        "temporary_iam_instance_profile_policy_document.Statement",
        &[
            ("Effect", ValueType::String),
            ("Action", ValueType::StringList),
            ("Resource", ValueType::StringList),
        ],
    ),
    ("security_group_filter.filter", NAME_VALUE),
    ("source_ami_filter.filter", KEY_VALUE),
    ("subnet_filter.filter", NAME_VALUE),
    ("vpc_filter.filter", NAME_VALUE),
];
