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

use crate::client::ClientSettings;
use crate::regions::is_known_region;

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
    // The source and the machine.
    "source_ami",
    "source_ami_filter",
    "instance_type",
    "availability_zone",
    "ebs_optimized",
    "subnet_id",
    "vpc_id",
    "associate_public_ip_address",
    "security_group_id",
    "security_group_ids",
    "temporary_security_group_source_cidrs",
    "iam_instance_profile",
    "shutdown_behavior",
    "user_data",
    "user_data_file",
    "run_tags",
    "run_volume_tags",
    "launch_block_device_mappings",
    // The image.
    "ami_name",
    "ami_description",
    "ami_virtualization_type",
    "ami_block_device_mappings",
    "ami_regions",
    "ami_users",
    "ami_groups",
    "tags",
    "snapshot_tags",
    "force_deregister",
    "force_delete_snapshot",
    "encrypt_boot",
    "kms_key_id",
    // The communicator.
    "communicator",
    "ssh_interface",
    "temporary_key_pair_name",
];

/// Keys Packer 1.6.6's amazon-ebs builder knows that imgs does not implement: an error when set.
const NOT_SUPPORTED: &[&str] = &[
    "assume_role",
    "shared_credentials_file",
    "decode_authorization_messages",
    "insecure_skip_tls_verify",
    "mfa_code",
    "skip_credential_validation",
    "vault_aws_engine",
    "aws_polling",
    "ami_product_codes",
    "tag",
    "run_tag",
    "run_volume_tag",
    "snapshot_tag",
    "spot_tags",
    "spot_tag",
    "ena_support",
    "sriov_support",
    "region_kms_key_ids",
    "skip_save_build_region",
    "snapshot_users",
    "snapshot_groups",
    "block_duration_minutes",
    "disable_stop_instance",
    "enable_t2_unlimited",
    "skip_profile_validation",
    "temporary_iam_instance_profile_policy_document",
    "security_group_filter",
    "spot_instance_types",
    "spot_price",
    "spot_price_auto_product",
    "subnet_filter",
    "vpc_filter",
    "tenancy",
    "windows_password_timeout",
    "pause_before_ssm",
    "session_manager_port",
    "no_ephemeral",
    "pause_before_connecting",
    "temporary_key_pair_type",
    "temporary_key_pair_bits",
];

/// Everything read from an amazon-ebs block's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct EbsConfig {
    /// Region, credentials and endpoint.
    pub client: ClientSettings,
    /// The image to start from: an ID, or a filter resolved at launch.
    pub source: SourceAmi,
    pub instance_type: String,
    pub availability_zone: Option<String>,
    pub ebs_optimized: bool,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    /// `None`: the subnet's default.
    pub associate_public_ip_address: Option<bool>,
    /// Given groups; empty means a temporary group opening `ssh_port` to `temporary_sg_source_cidrs`.
    pub security_group_ids: Vec<String>,
    pub temporary_sg_source_cidrs: Vec<String>,
    pub iam_instance_profile: Option<String>,
    /// `stop` or `terminate`.
    pub shutdown_behavior: Option<String>,
    pub user_data: Option<String>,
    /// Read when the instance launches.
    pub user_data_file: Option<PathBuf>,
    pub launch_block_device_mappings: Vec<BlockDevice>,

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
        let instance_type = r.string("instance_type").unwrap_or_else(|| {
            r.problem(
                "instance_type",
                "An instance_type must be specified",
                "set `instance_type`, for example t3.micro",
            );
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
                    "not supported yet: ssh_interface `session_manager`",
                    "use public_ip, private_ip, public_dns or private_dns",
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
        if let Some(kind) = r.string("ami_virtualization_type").filter(|t| t != "hvm") {
            r.problem(
                "ami_virtualization_type",
                format!("not supported yet: ami_virtualization_type `{kind}`"),
                "imgs makes AMIs from an instance, which keeps its source's type; remove the key",
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

        let config = EbsConfig {
            source,
            instance_type,
            availability_zone: r.string("availability_zone"),
            ebs_optimized: r.flag("ebs_optimized"),
            subnet_id: r.string("subnet_id"),
            vpc_id: r.string("vpc_id"),
            associate_public_ip_address: r.trilean("associate_public_ip_address"),
            security_group_ids,
            temporary_sg_source_cidrs,
            iam_instance_profile: r.string("iam_instance_profile"),
            shutdown_behavior,
            user_data: r.string("user_data"),
            user_data_file: r.string("user_data_file").map(PathBuf::from),
            launch_block_device_mappings: block_devices(r, "launch_block_device_mappings"),
            ami_name,
            ami_description: r.string("ami_description"),
            tags: r.map("tags"),
            run_tags: r.map("run_tags"),
            run_volume_tags: r.map("run_volume_tags"),
            snapshot_tags: r.map("snapshot_tags"),
            ami_block_device_mappings: block_devices(r, "ami_block_device_mappings"),
            ami_regions,
            ami_users: r.strings("ami_users"),
            ami_groups: r.strings("ami_groups"),
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
            "region_kms_key_ids": { "us-east-1": "alias/x" },
            "spot_price": "auto",
            "winrm_username": "Administrator",
            "ami_nme": "typo",
            "ena_support": false,
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
