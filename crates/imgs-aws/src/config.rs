//! The amazon-ebs builder's settings, read the way Packer 1.6.6 reads them: same names, same defaults,
//! the same weak typing. Checks the template validator already makes (name lengths, device mapping
//! shapes, mutually exclusive keys) are not repeated; this reader is about what a build needs. Keys for
//! what imgs does not do yet are refused by name when they ask for something, so a template never builds
//! differently from what it says.

use std::collections::BTreeMap;
use std::path::PathBuf;

use imgs_diagnostic::Diagnostics;
use imgs_settings::{Decoder, KeyRules, Setting, Settings, Value};
use imgs_ssh::SshConfig;

use crate::client::{AssumeRole, ClientSettings};
use crate::regions::is_known_region;
use crate::wait::Polling;

/// Keys this crate reads (the `ssh_*` keys go to [`SshConfig::from_settings`]).
const SUPPORTED: &[&str] = &[
    // Access.
    "access_key",
    "secret_key",
    "token",
    "profile",
    "region",
    "custom_endpoint_ec2",
    "skip_region_validation",
    "skip_metadata_api_check",
    "max_retries",
    "assume_role",
    "shared_credentials_file",
    "mfa_code",
    "insecure_skip_tls_verify",
    "decode_authorization_messages",
    // Packer 1.6.6 reads it but never validates credentials while preparing them, so it changes
    // nothing there either.
    "skip_credential_validation",
    "aws_polling",
    // The source and the machine.
    "source_ami",
    "source_ami_filter",
    "instance_type",
    "availability_zone",
    "ebs_optimized",
    "enable_t2_unlimited",
    "tenancy",
    "subnet_id",
    "subnet_filter",
    "vpc_id",
    "vpc_filter",
    "associate_public_ip_address",
    "security_group_id",
    "security_group_ids",
    "security_group_filter",
    "temporary_security_group_source_cidrs",
    "iam_instance_profile",
    "skip_profile_validation",
    "temporary_iam_instance_profile_policy_document",
    "shutdown_behavior",
    "user_data",
    "user_data_file",
    "run_tags",
    "run_tag",
    "run_volume_tags",
    "run_volume_tag",
    "launch_block_device_mappings",
    "no_ephemeral",
    "disable_stop_instance",
    // Spot instances.
    "spot_price",
    "spot_price_auto_product",
    "spot_instance_types",
    "spot_tags",
    "spot_tag",
    "block_duration_minutes",
    // The image.
    "ami_name",
    "ami_description",
    "ami_virtualization_type",
    "ami_block_device_mappings",
    "ami_regions",
    "ami_users",
    "ami_groups",
    "ami_product_codes",
    "tags",
    "tag",
    "snapshot_tags",
    "snapshot_tag",
    "snapshot_users",
    "snapshot_groups",
    "force_deregister",
    "force_delete_snapshot",
    "encrypt_boot",
    "kms_key_id",
    "region_kms_key_ids",
    "skip_save_build_region",
    "ena_support",
    "sriov_support",
    // The communicator.
    "communicator",
    "ssh_interface",
    "temporary_key_pair_name",
    // EC2's CreateKeyPair makes RSA keys whatever these say, in Packer 1.6.6 too.
    "temporary_key_pair_type",
    "temporary_key_pair_bits",
    "pause_before_connecting",
    // Only read with a WinRM communicator or `ssh_interface: session_manager`, which are refused.
    "windows_password_timeout",
    "pause_before_ssm",
    "session_manager_port",
];

/// Keys Packer 1.6.6's amazon-ebs builder knows that imgs does not implement: an error when set.
/// (`vault_aws_engine` is refused earlier, by validation, with the reason.)
const NOT_SUPPORTED: &[&str] = &["vault_aws_engine"];

/// Everything read from an amazon-ebs block's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct EbsConfig {
    /// Region, credentials and endpoint.
    pub client: ClientSettings,
    /// The image to start from: an ID, or a filter resolved at launch.
    pub source: SourceAmi,
    /// Empty when `spot_instance_types` lists the types a spot fleet may pick from.
    pub instance_type: String,
    pub availability_zone: Option<String>,
    pub ebs_optimized: bool,
    /// `enable_t2_unlimited`: launched with unlimited CPU credits.
    pub enable_t2_unlimited: bool,
    /// `default`, `dedicated` or `host`.
    pub tenancy: Option<String>,
    pub subnet_id: Option<String>,
    /// Finds the subnet when `subnet_id` is not given.
    pub subnet_filter: SubnetFilter,
    pub vpc_id: Option<String>,
    /// Finds the VPC when `vpc_id` is not given (EC2 filters, exactly one VPC must match).
    pub vpc_filter: BTreeMap<String, String>,
    /// Finds the security groups when no IDs are given (every group that matches).
    pub security_group_filter: BTreeMap<String, String>,
    /// `None`: the subnet's default.
    pub associate_public_ip_address: Option<bool>,
    /// Given groups; empty means a temporary group opening `ssh_port` to `temporary_sg_source_cidrs`.
    pub security_group_ids: Vec<String>,
    pub temporary_sg_source_cidrs: Vec<String>,
    pub iam_instance_profile: Option<String>,
    /// `skip_profile_validation`: `iam_instance_profile` is not looked up in IAM first.
    pub skip_profile_validation: bool,
    /// `temporary_iam_instance_profile_policy_document` as the JSON Packer sends IAM: the policy of
    /// a role made for the build, in an instance profile of its own.
    pub temporary_iam_policy: Option<String>,
    /// `stop` or `terminate`.
    pub shutdown_behavior: Option<String>,
    pub user_data: Option<String>,
    /// Read when the instance launches.
    pub user_data_file: Option<PathBuf>,
    pub launch_block_device_mappings: Vec<BlockDevice>,
    /// `no_ephemeral`: the instance gets none of the instance-store devices its type may have.
    pub no_ephemeral: bool,
    /// `disable_stop_instance`: something on the instance stops it (a provisioner), imgs only waits.
    pub disable_stop_instance: bool,
    /// A spot instance instead of an on-demand one (`spot_price` set and not "0").
    pub spot: Option<Spot>,
    /// `spot_instance_types`: the types a spot fleet may launch, instead of `instance_type`.
    pub spot_instance_types: Vec<String>,
    /// Deferred templates, like `tags`: the spot request's (its launch template's) tags.
    pub spot_tags: BTreeMap<String, String>,
    /// How often and how many times waits look (`aws_polling`, with Packer's environment
    /// variables).
    pub polling: Polling,
    /// `pause_before_connecting`: connect, wait this long, connect again.
    pub pause_before_connecting: Option<std::time::Duration>,

    /// Already rendered (it may not use build data in Packer either).
    pub ami_name: String,
    /// Deferred templates: keys and values are rendered at build time.
    pub ami_description: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub run_tags: BTreeMap<String, String>,
    pub run_volume_tags: BTreeMap<String, String>,
    pub snapshot_tags: BTreeMap<String, String>,
    pub ami_block_device_mappings: Vec<BlockDevice>,
    /// Regions the AMI is copied to, without the build region, in the order given.
    pub ami_regions: Vec<String>,
    pub ami_users: Vec<String>,
    pub ami_groups: Vec<String>,
    pub ami_product_codes: Vec<String>,
    /// Accounts and groups (`all`) given createVolumePermission on every snapshot of every AMI.
    pub snapshot_users: Vec<String>,
    pub snapshot_groups: Vec<String>,
    /// `ena_support`: set (true or false) on the instance before the AMI is made; `None` leaves it.
    pub ena_support: Option<bool>,
    /// `sriov_support`: SR-IOV (`simple`) set on the instance before the AMI is made.
    pub sriov_support: bool,
    /// `ami_virtualization_type`: only checked against enhanced networking, as in Packer.
    pub ami_virtualization_type: Option<String>,
    /// KMS key per copy region (`region_kms_key_ids`), for `encrypt_boot`.
    pub region_kms_key_ids: BTreeMap<String, String>,
    /// `skip_save_build_region`: the AMI made in the build region is only the source of the
    /// copies, and is removed once they exist.
    pub skip_save_build_region: bool,
    pub force_deregister: bool,
    pub force_delete_snapshot: bool,
    /// `encrypt_boot`: the AMI is an encrypted copy (with `kms_key_id`, else the account's default
    /// key); the unencrypted AMI it was copied from is removed. `None` keeps the source's encryption.
    pub encrypt_boot: Option<bool>,
    pub kms_key_id: Option<String>,

    pub communicator: Communicator,
    pub ssh_interface: SshInterface,
    /// An existing key pair the instance is launched with (`ssh_keypair_name`).
    pub ssh_keypair_name: Option<String>,
    /// The name of the key pair created for this build, `None` when the build uses none of its own
    /// (a given key pair, private key, agent or password).
    pub temporary_key_pair_name: Option<String>,
    /// The `ssh_*` settings as written; the host and key file are filled in once the instance runs.
    pub ssh_settings: Settings,
    /// `ssh_port`, which a temporary security group opens.
    pub ssh_port: u16,
}

/// `subnet_filter`: EC2 filters for the subnet, and how to pick one of several.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubnetFilter {
    pub filters: BTreeMap<String, String>,
    /// The subnet with the most free addresses.
    pub most_free: bool,
    /// Any one of them.
    pub random: bool,
}

/// A spot instance: launched by an EC2 fleet from a launch template, as Packer 1.6.6 does.
#[derive(Clone, Debug, PartialEq)]
pub struct Spot {
    /// The most to pay per hour; `None` for `spot_price: auto` (up to the on-demand price).
    pub max_price: Option<String>,
    /// A spot block of this many minutes (`block_duration_minutes`).
    pub block_duration_minutes: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SourceAmi {
    Id(String),
    Filter(SourceAmiFilter),
}

/// `source_ami_filter`: EC2 filters (a value may list several, comma-separated, as Packer splits them
/// no further: each filter has one value), owners, and whether the newest of several wins.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceAmiFilter {
    pub filters: BTreeMap<String, String>,
    pub owners: Vec<String>,
    pub most_recent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Communicator {
    Ssh,
    /// No connection: nothing is provisioned, the image is made from the source as launched.
    None,
}

/// Which of the instance's addresses SSH connects to (`ssh_interface`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SshInterface {
    /// Packer's default: the public IP, else the private IP, else the DNS names.
    Default,
    PublicIp,
    PrivateIp,
    PublicDns,
    PrivateDns,
}

/// One block device mapping, as Packer's `BlockDevice`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockDevice {
    pub device_name: String,
    pub delete_on_termination: bool,
    pub encrypted: Option<bool>,
    pub iops: Option<i32>,
    pub no_device: bool,
    pub snapshot_id: Option<String>,
    pub throughput: Option<i32>,
    pub virtual_name: Option<String>,
    pub volume_type: Option<String>,
    /// GiB.
    pub volume_size: Option<i32>,
    pub kms_key_id: Option<String>,
}

const BLOCK_DEVICE_KEYS: &[&str] = &[
    "device_name",
    "delete_on_termination",
    "encrypted",
    "iops",
    "no_device",
    "snapshot_id",
    "throughput",
    "virtual_name",
    "volume_type",
    "volume_size",
    "kms_key_id",
];

const DEFAULT_SSH_PORT: u16 = 22;

impl EbsConfig {
    /// Reads an amazon-ebs builder's settings (rendered, except the keys Packer renders at build time,
    /// its schema's deferred keys: `tags`, `ami_description` and the like, which stay as written and are
    /// rendered with [`crate::RenderDeferred`] and the build's data). Every problem is reported, located where the settings say their values were written.
    pub fn from_settings(settings: &Settings, build_name: &str) -> Result<EbsConfig, Diagnostics> {
        settings.decode(|r| EbsConfig::decode(r, settings, build_name))
    }

    fn decode(r: &mut Decoder<'_>, settings: &Settings, build_name: &str) -> EbsConfig {
        check_keys(r);

        let client = read_client(r);
        let source = read_source(r);
        let spot_instance_types = r.strings("spot_instance_types");
        let instance_type = r.string("instance_type").unwrap_or_else(|| {
            if spot_instance_types.is_empty() {
                r.problem(
                    "instance_type",
                    "either instance_type or spot_instance_types must be specified",
                    "set `instance_type`, for example t3.micro (or `spot_instance_types` for a \
                     spot instance)",
                );
            }
            String::new()
        });
        let ami_name = r.string("ami_name").unwrap_or_else(|| {
            r.problem(
                "ami_name",
                "ami_name must be specified",
                format!("name the AMI build `{build_name}` makes, for example \"{build_name} {{{{timestamp}}}}\""),
            );
            String::new()
        });

        let communicator = match r.string("communicator").as_deref() {
            None | Some("ssh") => Communicator::Ssh,
            Some("none") => Communicator::None,
            Some(other) => {
                r.problem(
                    "communicator",
                    format!("not supported yet: communicator `{other}`"),
                    "imgs reaches EC2 instances over SSH; use ssh or none",
                );
                Communicator::Ssh
            }
        };
        let ssh_interface = match r.string("ssh_interface").as_deref() {
            None => SshInterface::Default,
            Some("public_ip") => SshInterface::PublicIp,
            Some("private_ip") => SshInterface::PrivateIp,
            Some("public_dns") => SshInterface::PublicDns,
            Some("private_dns") => SshInterface::PrivateDns,
            Some("session_manager") => {
                r.problem(
                    "ssh_interface",
                    "ssh_interface `session_manager` is not supported by imgs",
                    "it tunnels SSH through AWS Systems Manager: Amazon's session-manager-plugin \
                     on this machine and an SSM agent on the instance, neither of which imgs \
                     drives; use public_ip, private_ip, public_dns or private_dns",
                );
                SshInterface::Default
            }
            Some(other) => {
                r.problem(
                    "ssh_interface",
                    format!("Unknown interface type: {other}"),
                    "use public_ip, private_ip, public_dns or private_dns",
                );
                SshInterface::Default
            }
        };

        let mut ssh_settings = settings.with_prefix("ssh_");
        ssh_settings
            .object
            .entries
            .retain(|(k, _)| k != "ssh_interface");
        let ssh_keypair_name = r.string("ssh_keypair_name");
        let ssh_port = match communicator {
            Communicator::Ssh => check_ssh(r, &ssh_settings),
            Communicator::None => DEFAULT_SSH_PORT,
        };
        // As Packer: a key pair of the build's own only when nothing else says how to log in.
        let has_own_login = r.string("ssh_private_key_file").is_some()
            || r.string("ssh_password").is_some()
            || ssh_keypair_name.is_some()
            || r.flag("ssh_agent_auth");
        let temporary_key_pair_name = match (communicator, has_own_login) {
            (Communicator::Ssh, false) => Some(
                r.string("temporary_key_pair_name")
                    .unwrap_or_else(|| format!("imgs_{}", uuid::Uuid::new_v4().simple())),
            ),
            _ => None,
        };

        let mut security_group_ids = r.strings("security_group_ids");
        if let Some(id) = r.string("security_group_id") {
            security_group_ids.insert(0, id);
        }
        let mut temporary_sg_source_cidrs = r.strings("temporary_security_group_source_cidrs");
        if temporary_sg_source_cidrs.is_empty() {
            temporary_sg_source_cidrs.push("0.0.0.0/0".into());
        }

        let shutdown_behavior = r.string("shutdown_behavior");
        if let Some(other) = shutdown_behavior
            .as_deref()
            .filter(|b| !matches!(*b, "stop" | "terminate"))
        {
            r.problem(
                "shutdown_behavior",
                format!(
                    "shutdown_behavior only accepts 'stop' or 'terminate' values, not `{other}`"
                ),
                "use stop or terminate",
            );
        }

        let mut ami_regions: Vec<String> = Vec::new();
        for region in r.strings("ami_regions") {
            if region != client.region && !ami_regions.contains(&region) {
                ami_regions.push(region);
            }
        }
        if !client.skip_region_validation {
            for region in &ami_regions {
                if !is_known_region(region) {
                    r.problem(
                        "ami_regions",
                        format!("Invalid region: {region}"),
                        "use an AWS region name such as us-west-2, or set skip_region_validation",
                    );
                }
            }
        }

        // Packer's singular blocks (`tag`, `run_tag`, ...) are copied over their maps, a block's
        // entry winning over the map's.
        let tags = tag_map(r, "tags", "tag", "key");
        let run_tags = tag_map(r, "run_tags", "run_tag", "key");
        let run_volume_tags = tag_map(r, "run_volume_tags", "run_volume_tag", "name");
        let snapshot_tags = tag_map(r, "snapshot_tags", "snapshot_tag", "key");
        let spot_tags = tag_map(r, "spot_tags", "spot_tag", "key");
        let spot = read_spot(r);

        let config = EbsConfig {
            source,
            instance_type,
            availability_zone: r.string("availability_zone"),
            ebs_optimized: r.flag("ebs_optimized"),
            enable_t2_unlimited: r.flag("enable_t2_unlimited"),
            tenancy: r.string("tenancy"),
            subnet_id: r.string("subnet_id"),
            subnet_filter: read_subnet_filter(r),
            vpc_id: r.string("vpc_id"),
            vpc_filter: name_value_filter(r, "vpc_filter"),
            security_group_filter: name_value_filter(r, "security_group_filter"),
            associate_public_ip_address: r.trilean("associate_public_ip_address"),
            security_group_ids,
            temporary_sg_source_cidrs,
            iam_instance_profile: r.string("iam_instance_profile"),
            skip_profile_validation: r.flag("skip_profile_validation"),
            temporary_iam_policy: read_policy_document(r),
            shutdown_behavior,
            user_data: r.string("user_data"),
            user_data_file: r.string("user_data_file").map(PathBuf::from),
            launch_block_device_mappings: block_devices(r, "launch_block_device_mappings"),
            no_ephemeral: r.flag("no_ephemeral"),
            disable_stop_instance: r.flag("disable_stop_instance"),
            spot,
            spot_instance_types,
            spot_tags,
            polling: read_polling(r),
            pause_before_connecting: r.duration("pause_before_connecting"),
            ami_name,
            ami_description: r.string("ami_description"),
            tags,
            run_tags,
            run_volume_tags,
            snapshot_tags,
            ami_block_device_mappings: block_devices(r, "ami_block_device_mappings"),
            ami_regions,
            ami_users: r.strings("ami_users"),
            ami_groups: r.strings("ami_groups"),
            ami_product_codes: r.strings("ami_product_codes"),
            snapshot_users: r.strings("snapshot_users"),
            snapshot_groups: r.strings("snapshot_groups"),
            ena_support: r.trilean("ena_support"),
            sriov_support: r.flag("sriov_support"),
            ami_virtualization_type: r.string("ami_virtualization_type"),
            region_kms_key_ids: r.map("region_kms_key_ids"),
            skip_save_build_region: r.flag("skip_save_build_region"),
            force_deregister: r.flag("force_deregister"),
            force_delete_snapshot: r.flag("force_delete_snapshot"),
            encrypt_boot: r.trilean("encrypt_boot"),
            kms_key_id: r.string("kms_key_id").filter(|k| !k.is_empty()),
            communicator,
            ssh_interface,
            ssh_keypair_name,
            temporary_key_pair_name,
            ssh_settings,
            ssh_port,
            client,
        };
        if config.kms_key_id.is_some() && config.encrypt_boot != Some(true) {
            r.problem(
                "kms_key_id",
                "kms_key_id requires encrypt_boot to be set to true",
                "set `encrypt_boot: true`, or remove `kms_key_id`",
            );
        }
        if config.user_data.is_some() && config.user_data_file.is_some() {
            r.problem(
                "user_data_file",
                "Only one of user_data or user_data_file can be specified.",
                "keep one of the two",
            );
        }
        config
    }
}

fn check_keys(r: &mut Decoder<'_>) {
    r.check_keys(&KeyRules {
        what: "amazon-ebs builder",
        known: SUPPORTED,
        not_supported: NOT_SUPPORTED,
        other_prefixes: &["ssh_", "winrm_"],
        only_prefix: None,
    });
    // The WinRM communicator's keys: imgs reaches EC2 instances over SSH only.
    r.refuse_set_keys_with_prefix("winrm_", "amazon-ebs builder");
}

fn read_client(r: &mut Decoder<'_>) -> ClientSettings {
    let region = r.string("region").unwrap_or_else(|| {
        r.problem(
            "region",
            "region must be specified",
            "set `region`, for example us-east-1",
        );
        String::new()
    });
    let skip_region_validation = r.flag("skip_region_validation");
    if !region.is_empty() && !skip_region_validation && !is_known_region(&region) {
        r.problem(
            "region",
            format!("Invalid region: {region}"),
            "use an AWS region name such as us-east-1, or set skip_region_validation for a \
             region imgs does not know yet",
        );
    }
    let access_key = r.string("access_key");
    let secret_key = r.string("secret_key");
    if access_key.is_some() != secret_key.is_some() {
        r.problem(
            if access_key.is_some() {
                "secret_key"
            } else {
                "access_key"
            },
            "access_key and secret_key must both be either set or not set.",
            "give both keys, or neither to use the environment and profiles",
        );
    }
    let max_retries = match r.int("max_retries") {
        None => None,
        Some(n) if (0..=100).contains(&n) => Some(n as u32),
        Some(n) => {
            r.problem(
                "max_retries",
                format!("max_retries {n} is out of range"),
                "give a number of retries from 0 to 100",
            );
            None
        }
    };
    ClientSettings {
        region,
        access_key,
        secret_key,
        token: r.string("token"),
        profile: r.string("profile"),
        custom_endpoint_ec2: r.string("custom_endpoint_ec2"),
        skip_region_validation,
        skip_metadata_api_check: r.flag("skip_metadata_api_check"),
        max_retries,
        assume_role: read_assume_role(r),
        shared_credentials_file: r.string("shared_credentials_file").map(PathBuf::from),
        mfa_code: r.string("mfa_code"),
        insecure_skip_tls_verify: r.flag("insecure_skip_tls_verify"),
        decode_authorization_messages: r.flag("decode_authorization_messages"),
    }
}

fn read_source(r: &mut Decoder<'_>) -> SourceAmi {
    if let Some(id) = r.string("source_ami") {
        return SourceAmi::Id(id);
    }
    let has_filter = r.raw("source_ami_filter").is_some_and(|v| {
        !matches!(&v.value, Value::Object(o) if o.entries.is_empty()) && !v.is_zero()
    });
    if !has_filter {
        r.problem(
            "source_ami",
            "A source_ami or source_ami_filter must be specified",
            "set `source_ami` to an AMI ID, or `source_ami_filter` to find one",
        );
        return SourceAmi::Id(String::new());
    }
    r.object("source_ami_filter", |inner| {
        inner.check_keys(&KeyRules {
            what: "source_ami_filter",
            known: &["filters", "owners", "most_recent"],
            ..KeyRules::default()
        });
        let filters = inner.map("filters");
        let owners = inner.strings("owners");
        let most_recent = inner.flag("most_recent");
        if filters.is_empty() && owners.is_empty() {
            inner.problem(
                "filters",
                "a source_ami_filter needs filters or owners",
                "add filters such as {\"name\": \"debian-12-*\"} and owners such as [\"136693071363\"]",
            );
        }
        SourceAmi::Filter(SourceAmiFilter {
            filters,
            owners,
            most_recent,
        })
    })
    .unwrap_or(SourceAmi::Id(String::new()))
}

/// `map_key`'s tags with the entries of Packer's singular block `block_key` (`{"key": …, "value":
/// …}` objects, `{"name": …, "value": …}` for `run_volume_tag`) copied over them.
fn tag_map(
    r: &mut Decoder<'_>,
    map_key: &str,
    block_key: &str,
    name_field: &str,
) -> BTreeMap<String, String> {
    let mut map = r.map(map_key);
    let entries = r.objects(block_key, |d| {
        (
            d.string(name_field).unwrap_or_default(),
            d.string("value").unwrap_or_default(),
        )
    });
    map.extend(entries);
    map
}

/// A `{"filters": {…}, "filter": [{"name": …, "value": …}]}` object as one map of EC2 filters (the
/// list's entries win); empty when absent.
fn name_value_filter(r: &mut Decoder<'_>, key: &str) -> BTreeMap<String, String> {
    r.object(key, filters_of).unwrap_or_default()
}

fn filters_of(f: &mut Decoder<'_>) -> BTreeMap<String, String> {
    let mut filters = f.map("filters");
    let entries = f.objects("filter", |d| {
        (
            d.string("name").unwrap_or_default(),
            d.string("value").unwrap_or_default(),
        )
    });
    filters.extend(entries);
    filters
}

fn read_subnet_filter(r: &mut Decoder<'_>) -> SubnetFilter {
    r.object("subnet_filter", |f| SubnetFilter {
        filters: filters_of(f),
        most_free: f.flag("most_free"),
        random: f.flag("random"),
    })
    .unwrap_or_default()
}

/// `spot_price` (with `block_duration_minutes`): a spot instance unless empty or "0", as Packer.
fn read_spot(r: &mut Decoder<'_>) -> Option<Spot> {
    let price = r.string("spot_price").filter(|p| p != "0")?;
    let block_duration_minutes = r.int("block_duration_minutes").filter(|m| *m != 0);
    Some(Spot {
        max_price: (price != "auto").then_some(price),
        block_duration_minutes,
    })
}

/// `aws_polling`: zero means unset, as in Packer.
fn read_polling(r: &mut Decoder<'_>) -> Polling {
    r.object("aws_polling", |p| {
        let delay_seconds = p.int("delay_seconds").filter(|n| *n != 0);
        let max_attempts = p.int("max_attempts").filter(|n| *n != 0);
        Polling::from_settings(delay_seconds, max_attempts)
    })
    .unwrap_or_default()
}

/// `temporary_iam_instance_profile_policy_document` as Go's `json.Marshal` writes Packer's
/// `PolicyDocument`: its fields in declaration order, absent lists as `null`.
fn read_policy_document(r: &mut Decoder<'_>) -> Option<String> {
    r.object("temporary_iam_instance_profile_policy_document", |d| {
        let text = |v: Option<String>| serde_json::Value::String(v.unwrap_or_default()).to_string();
        let list = |v: Option<Vec<String>>| match v {
            Some(items) => serde_json::Value::from(items).to_string(),
            None => "null".to_string(),
        };
        let statements: Vec<String> = d.objects("Statement", |st| {
            format!(
                "{{\"Effect\":{},\"Action\":{},\"Resource\":{}}}",
                text(st.string("Effect")),
                list(st.strings_if_set("Action")),
                list(st.strings_if_set("Resource")),
            )
        });
        let statement = if d.is_set("Statement") {
            format!("[{}]", statements.join(","))
        } else {
            "null".to_string()
        };
        format!(
            "{{\"Version\":{},\"Statement\":{statement}}}",
            text(d.string("Version"))
        )
    })
}

/// `assume_role`: a role to assume with the credentials found, when it names one.
fn read_assume_role(r: &mut Decoder<'_>) -> Option<AssumeRole> {
    r.object("assume_role", |a| {
        let role_arn = a.string("role_arn")?;
        let duration_seconds = match a.int("duration_seconds") {
            None | Some(0) => None,
            Some(n) => match i32::try_from(n) {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    a.problem(
                        "duration_seconds",
                        format!("duration_seconds {n} is out of range"),
                        "give the session's length in seconds, from 900 to 43200",
                    );
                    None
                }
            },
        };
        Some(AssumeRole {
            role_arn,
            duration_seconds,
            external_id: a.string("external_id"),
            policy: a.string("policy"),
            policy_arns: a.strings("policy_arns"),
            session_name: a.string("session_name"),
            tags: a.map("tags"),
            transitive_tag_keys: a.strings("transitive_tag_keys"),
        })
    })
    .flatten()
}

/// Checks the SSH settings as the instance will have them, and returns the port to open.
fn check_ssh(r: &mut Decoder<'_>, ssh_settings: &Settings) -> u16 {
    let mut probe = ssh_settings.clone();
    // The host and key are known only once the instance runs: stand-ins let the rest be checked now.
    if probe.object.get("ssh_host").is_none() {
        probe.object.set("ssh_host", Setting::string("192.0.2.1"));
    }
    let has_login = ["ssh_private_key_file", "ssh_password", "ssh_agent_auth"]
        .iter()
        .any(|k| r.string(k).is_some());
    if !has_login {
        probe
            .object
            .set("ssh_private_key_file", Setting::string("temporary-key"));
    }
    match SshConfig::read(&probe) {
        Ok(ssh) => ssh.port,
        Err(problems) => {
            r.extend(problems);
            DEFAULT_SSH_PORT
        }
    }
}

fn block_devices(r: &mut Decoder<'_>, key: &str) -> Vec<BlockDevice> {
    r.objects(key, |d| {
        d.check_keys(&KeyRules {
            what: "block device",
            known: BLOCK_DEVICE_KEYS,
            ..KeyRules::default()
        });
        let small = |d: &mut Decoder<'_>, k: &str| -> Option<i32> {
            let n = d.int(k)?;
            match i32::try_from(n) {
                Ok(n) if n > 0 => Some(n),
                Ok(0) => None,
                _ => {
                    d.problem(
                        k,
                        format!("{k} {n} is out of range"),
                        "give a positive number",
                    );
                    None
                }
            }
        };
        let device = BlockDevice {
            device_name: d.string("device_name").unwrap_or_default(),
            delete_on_termination: d.flag("delete_on_termination"),
            encrypted: d.trilean("encrypted"),
            iops: small(d, "iops"),
            no_device: d.flag("no_device"),
            snapshot_id: d.string("snapshot_id"),
            throughput: small(d, "throughput"),
            virtual_name: d.string("virtual_name"),
            volume_type: d.string("volume_type"),
            volume_size: small(d, "volume_size"),
            kms_key_id: d.string("kms_key_id"),
        };
        if device.device_name.is_empty() {
            d.problem(
                "device_name",
                "The `device_name` must be specified for every device in the block device mapping.",
                "name the device, for example /dev/xvda",
            );
        }
        device
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn from(map: &BTreeMap<String, Value>, name: &str) -> Result<EbsConfig, Diagnostics> {
        EbsConfig::from_settings(&Settings::from_json_map(map), name)
    }

    fn with(extra: Value) -> BTreeMap<String, Value> {
        let mut all: BTreeMap<String, Value> = serde_json::from_value(json!({
            "type": "amazon-ebs",
            "region": "us-east-1",
            "source_ami": "ami-760aaa0f",
            "instance_type": "t3.micro",
            "ami_name": "app",
            "ssh_username": "ec2-user",
        }))
        .unwrap();
        all.extend(serde_json::from_value::<BTreeMap<String, Value>>(extra).unwrap());
        all
    }

    fn read(extra: Value) -> EbsConfig {
        from(&with(extra), "app").unwrap_or_else(|p| panic!("{p}"))
    }

    fn errors(extra: Value) -> String {
        from(&with(extra), "app")
            .expect_err("settings should be refused")
            .to_string()
    }

    #[test]
    fn defaults_follow_packer() {
        let config = read(json!({}));
        assert_eq!(config.source, SourceAmi::Id("ami-760aaa0f".into()));
        assert_eq!(config.communicator, Communicator::Ssh);
        assert_eq!(config.ssh_interface, SshInterface::Default);
        assert_eq!(config.ssh_port, 22);
        assert_eq!(config.temporary_sg_source_cidrs, ["0.0.0.0/0"]);
        assert!(config.security_group_ids.is_empty());
        let temporary = config.temporary_key_pair_name.unwrap();
        assert!(temporary.starts_with("imgs_"), "{temporary}");
        assert_eq!(config.client.region, "us-east-1");
        assert_eq!(config.client.max_retries, None);
    }

    #[test]
    fn weak_typing_and_lists() {
        let config = read(json!({
            "ssh_port": "2222",
            "associate_public_ip_address": "true",
            "ami_regions": "eu-west-1",
            "ami_users": ["123456789012"],
            "security_group_id": "sg-1",
            "security_group_ids": ["sg-2"],
            "force_deregister": "1",
            "tags": {"Version": 3, "Name": "{{ .SourceAMIName }}"},
            "launch_block_device_mappings": [
                {"device_name": "/dev/xvda", "volume_size": "20", "delete_on_termination": true}
            ],
        }));
        assert_eq!(config.ssh_port, 2222);
        assert_eq!(config.associate_public_ip_address, Some(true));
        assert_eq!(config.ami_regions, ["eu-west-1"]);
        assert_eq!(config.security_group_ids, ["sg-1", "sg-2"]);
        assert!(config.force_deregister);
        assert_eq!(config.tags["Version"], "3");
        assert_eq!(config.tags["Name"], "{{ .SourceAMIName }}");
        assert_eq!(config.launch_block_device_mappings[0].volume_size, Some(20));
        assert!(config.launch_block_device_mappings[0].delete_on_termination);
    }

    #[test]
    fn the_build_region_is_not_copied_to() {
        let config = read(json!({"ami_regions": ["us-east-1", "eu-west-1", "eu-west-1"]}));
        assert_eq!(config.ami_regions, ["eu-west-1"]);
    }

    #[test]
    fn a_given_login_means_no_temporary_key_pair() {
        for login in [
            json!({"ssh_keypair_name": "team", "ssh_private_key_file": "id_rsa"}),
            json!({"ssh_private_key_file": "id_rsa"}),
            json!({"ssh_password": "secret"}),
            json!({"ssh_agent_auth": true}),
            json!({"communicator": "none"}),
        ] {
            let config = read(login.clone());
            assert_eq!(config.temporary_key_pair_name, None, "{login}");
        }
        let named = read(json!({"temporary_key_pair_name": "mine"}));
        assert_eq!(named.temporary_key_pair_name.as_deref(), Some("mine"));
    }

    #[test]
    fn source_ami_filter_is_read() {
        let config = read(json!({
            "source_ami": "",
            "source_ami_filter": {
                "filters": {"name": "debian-12-*", "virtualization-type": "hvm"},
                "owners": ["136693071363"],
                "most_recent": true,
            },
        }));
        let SourceAmi::Filter(filter) = config.source else {
            panic!("expected a filter");
        };
        assert_eq!(filter.filters["name"], "debian-12-*");
        assert_eq!(filter.owners, ["136693071363"]);
        assert!(filter.most_recent);
    }

    #[test]
    fn missing_required_settings() {
        let mut settings = with(json!({}));
        for key in ["region", "source_ami", "instance_type", "ami_name"] {
            settings.remove(key);
        }
        let problems = from(&settings, "app").unwrap_err();
        insta::assert_snapshot!(problems.to_string());
    }

    #[test]
    fn unsupported_and_unknown_keys() {
        insta::assert_snapshot!(errors(json!({
            "winrm_username": "Administrator",
            "ami_nme": "typo",
            "communicator": "winrm",
            "ssh_interface": "session_manager",
        })));
    }

    #[test]
    fn invalid_values() {
        insta::assert_snapshot!(errors(json!({
            "region": "us-east-9",
            "ami_regions": ["eu-west-1", "mars-north-1"],
            "shutdown_behavior": "hibernate",
            "ssh_interface": "ipv6",
            "access_key": "AKIA",
            "user_data": "#!/bin/sh",
            "user_data_file": "boot.sh",
            "force_deregister": "maybe",
            "max_retries": "many",
            "tags": ["Name"],
        })));
    }

    #[test]
    fn bad_filters_and_block_devices() {
        insta::assert_snapshot!(errors(json!({
            "source_ami": "",
            "source_ami_filter": {"filter": {"name": "x"}, "most_recent": "yes"},
            "ami_block_device_mappings": [
                {"volume_size": 10, "volume_typ": "gp3"},
                "sdb"
            ],
        })));
    }

    #[test]
    fn singular_tag_blocks_are_copied_over_their_maps() {
        let config = read(json!({
            "tags": {"Name": "app", "Team": "web"},
            "tag": [{"key": "Team", "value": "platform"}, {"key": "Tier", "value": "1"}],
            "run_tag": {"key": "Purpose", "value": "build"},
            "run_volume_tags": {"Kind": "root"},
            "run_volume_tag": [{"name": "Kind", "value": "scratch"}],
            "snapshot_tag": [{"key": "Backup", "value": "no"}],
            "spot_price": "auto",
            "spot_tag": [{"key": "Spot", "value": "{{ .SourceAMI }}"}],
        }));
        let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            config.tags,
            map(&[("Name", "app"), ("Team", "platform"), ("Tier", "1")])
        );
        assert_eq!(config.run_tags, map(&[("Purpose", "build")]));
        assert_eq!(config.run_volume_tags, map(&[("Kind", "scratch")]));
        assert_eq!(config.snapshot_tags, map(&[("Backup", "no")]));
        assert_eq!(config.spot_tags, map(&[("Spot", "{{ .SourceAMI }}")]));
    }

    #[test]
    fn spot_price_makes_a_spot_instance_unless_zero() {
        assert_eq!(read(json!({})).spot, None);
        assert_eq!(read(json!({"spot_price": "0"})).spot, None);
        let auto = read(json!({"spot_price": "auto"})).spot.unwrap();
        assert_eq!(auto.max_price, None, "up to the on-demand price");
        let priced = read(json!({
            "spot_price": "0.05",
            "block_duration_minutes": 120,
            "spot_price_auto_product": "Linux/UNIX",
        }))
        .spot
        .unwrap();
        assert_eq!(priced.max_price.as_deref(), Some("0.05"));
        assert_eq!(priced.block_duration_minutes, Some(120));
        let mut settings = with(json!({
            "spot_price": "auto",
            "spot_instance_types": ["t3.small", "t3a.small"],
        }));
        settings.remove("instance_type");
        let fleet = from(&settings, "app").unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(fleet.instance_type, "");
        assert_eq!(fleet.spot_instance_types, ["t3.small", "t3a.small"]);
    }

    #[test]
    fn network_filters_merge_their_two_spellings() {
        let config = read(json!({
            "vpc_filter": {"filters": {"tag:Name": "build", "isDefault": "false"}},
            "subnet_filter": {
                "filters": {"tag:Tier": "private"},
                "filter": [{"name": "tag:Tier", "value": "public"}],
                "most_free": true,
            },
            "security_group_filter": {"filter": {"name": "group-name", "value": "ssh"}},
        }));
        assert_eq!(config.vpc_filter.len(), 2);
        assert_eq!(config.subnet_filter.filters["tag:Tier"], "public");
        assert!(config.subnet_filter.most_free && !config.subnet_filter.random);
        assert_eq!(config.security_group_filter["group-name"], "ssh");
    }

    #[test]
    fn image_attributes_and_instance_options_are_read() {
        let config = read(json!({
            "snapshot_users": "111122223333,444455556666",
            "snapshot_groups": ["all"],
            "ami_product_codes": ["abc123"],
            "ena_support": "true",
            "sriov_support": true,
            "region_kms_key_ids": {"eu-west-1": "alias/eu"},
            "skip_save_build_region": true,
            "disable_stop_instance": true,
            "enable_t2_unlimited": true,
            "tenancy": "dedicated",
            "no_ephemeral": true,
            "aws_polling": {"delay_seconds": 5, "max_attempts": "40"},
            "pause_before_connecting": "2s",
            "temporary_key_pair_type": "ed25519",
            "skip_profile_validation": true,
            "skip_credential_validation": true,
            "windows_password_timeout": "5m",
        }));
        assert_eq!(config.snapshot_users, ["111122223333", "444455556666"]);
        assert_eq!(config.snapshot_groups, ["all"]);
        assert_eq!(config.ami_product_codes, ["abc123"]);
        assert_eq!(config.ena_support, Some(true));
        assert!(config.sriov_support && config.skip_save_build_region);
        assert!(config.disable_stop_instance && config.enable_t2_unlimited && config.no_ephemeral);
        assert_eq!(config.region_kms_key_ids["eu-west-1"], "alias/eu");
        assert_eq!(config.tenancy.as_deref(), Some("dedicated"));
        assert_eq!(
            config.polling,
            Polling {
                delay: Some(std::time::Duration::from_secs(5)),
                max_attempts: Some(40),
            }
        );
        assert_eq!(
            config.pause_before_connecting,
            Some(std::time::Duration::from_secs(2))
        );
        assert_eq!(read(json!({"ena_support": false})).ena_support, Some(false));
        assert_eq!(read(json!({})).ena_support, None);
    }

    #[test]
    fn the_temporary_policy_is_the_json_packer_sends() {
        let config = read(json!({
            "temporary_iam_instance_profile_policy_document": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject,s3:ListBucket", "Resource": ["*"]}],
            },
        }));
        assert_eq!(
            config.temporary_iam_policy.as_deref(),
            Some(
                r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["*"]}]}"#
            )
        );
        let empty = read(json!({"temporary_iam_instance_profile_policy_document": {}}));
        assert_eq!(
            empty.temporary_iam_policy.as_deref(),
            Some(r#"{"Version":"","Statement":null}"#)
        );
        assert_eq!(read(json!({})).temporary_iam_policy, None);
    }

    #[test]
    fn access_settings_are_read() {
        let config = read(json!({
            "assume_role": {
                "role_arn": "arn:aws:iam::123456789012:role/builder",
                "duration_seconds": 3600,
                "external_id": "imgs",
                "policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
                "session_name": "build",
                "tags": {"Project": "images"},
                "transitive_tag_keys": ["Project"],
            },
            "shared_credentials_file": "~/.aws/build-credentials",
            "mfa_code": "123456",
            "insecure_skip_tls_verify": true,
            "decode_authorization_messages": true,
        }));
        let role = config.client.assume_role.unwrap();
        assert_eq!(role.role_arn, "arn:aws:iam::123456789012:role/builder");
        assert_eq!(role.duration_seconds, Some(3600));
        assert_eq!(role.external_id.as_deref(), Some("imgs"));
        assert_eq!(role.tags["Project"], "images");
        assert_eq!(role.transitive_tag_keys, ["Project"]);
        assert_eq!(
            config.client.shared_credentials_file,
            Some(PathBuf::from("~/.aws/build-credentials"))
        );
        assert_eq!(config.client.mfa_code.as_deref(), Some("123456"));
        assert!(config.client.insecure_skip_tls_verify);
        assert!(config.client.decode_authorization_messages);
        // A block without a role assumes nothing, as in Packer.
        let none = read(json!({"assume_role": {"session_name": "x"}}));
        assert_eq!(none.client.assume_role, None);
    }

    #[test]
    fn skip_region_validation_allows_any_region() {
        let config = read(json!({
            "region": "xx-test-1",
            "ami_regions": ["yy-test-2"],
            "skip_region_validation": true,
        }));
        assert_eq!(config.client.region, "xx-test-1");
        assert_eq!(config.ami_regions, ["yy-test-2"]);
    }

    #[test]
    fn ssh_settings_are_checked_with_the_ssh_reader() {
        insta::assert_snapshot!(errors(json!({"ssh_username": "", "ssh_port": "ssh"})));
    }
}
