use super::*;
use crate::parse_json;

/// Messages of `check_config` for a configuration, with strings taken as written (no templates).
fn problems(section: Section, kind: &str, json: &str) -> Vec<String> {
    let node = parse_json(json).expect("test JSON parses");
    let raw = |key: &str| node.get(key).and_then(Node::as_str).map(str::to_string);
    check_config(section, kind, &node, &raw)
        .into_iter()
        .map(|p| p.message)
        .collect()
}

fn builder(kind: &str, json: &str) -> Vec<String> {
    problems(Section::Builder, kind, json)
}

const EBS_OK: &str = r#"{
    "type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-0123", "instance_type": "t3.micro",
    "ssh_username": "admin", "ami_name": "base {{timestamp}}"
}"#;

fn ebs_with(extra: &str) -> String {
    format!("{}, {extra}}}", EBS_OK.trim_end().trim_end_matches('}'))
}

#[test]
fn every_supported_type_has_a_schema_and_packer_knows_it() {
    for section in [
        Section::Builder,
        Section::Provisioner,
        Section::PostProcessor,
    ] {
        for kind in supported(section) {
            let schema = lookup(section, kind).expect("supported types have schemas");
            assert_eq!(schema.kind, kind);
            assert!(
                packer_known(section, kind) != is_extension(section, kind),
                "{kind}: a type is either Packer's or an imgs extension"
            );
            assert!(
                schema.deferred.iter().all(|k| schema.find_key(k).is_some()),
                "{kind}"
            );
            // Nested entries are keyed by a dotted path that starts at one of the type's keys.
            let outer = |path: &'static str| path.split('.').next().unwrap_or(path);
            assert!(
                schema
                    .nested
                    .iter()
                    .all(|(k, _)| schema.find_key(outer(k)).is_some()),
                "{kind}"
            );
        }
    }
    assert!(packer_known(Section::Builder, "virtualbox-iso"));
    assert!(lookup(Section::Builder, "virtualbox-iso").is_none());
    assert!(!packer_known(Section::Builder, "virtualbox"));
    assert!(packer_known(Section::PostProcessor, "docker-push"));
    assert!(!packer_known(Section::Provisioner, "manifest"));
    assert!(is_extension(Section::PostProcessor, "upload"));
    assert!(!packer_known(Section::PostProcessor, "upload"));
    assert!(known_type(Section::PostProcessor, "upload"));
    assert!(!known_type(Section::Builder, "upload"));
}

#[test]
fn keys_match_ignoring_case_and_flattened_configs_are_included() {
    let ebs = lookup(Section::Builder, "amazon-ebs").expect("amazon-ebs");
    assert_eq!(
        ebs.find_key("ami_name"),
        Some(("ami_name", ValueType::String))
    );
    assert_eq!(
        ebs.find_key("AMI_Name"),
        Some(("ami_name", ValueType::String))
    );
    assert_eq!(
        ebs.find_key("ssh_timeout"),
        Some(("ssh_timeout", ValueType::Duration))
    );
    assert_eq!(
        ebs.find_key("launch_block_device_mappings").map(|k| k.1),
        Some(ValueType::ObjectList)
    );
    assert!(ebs.find_key("ami_nam").is_none());
    let devices = ebs
        .nested_keys("launch_block_device_mappings")
        .expect("block devices");
    assert!(
        devices
            .iter()
            .any(|(k, t)| *k == "volume_size" && *t == ValueType::Int)
    );
    let filter = ebs
        .nested_keys_at(&["source_ami_filter", "Filter"])
        .expect("filter entries");
    assert_eq!(
        filter,
        [("key", ValueType::String), ("value", ValueType::String)]
    );
    let statement = ebs
        .nested_keys_at(&[
            "temporary_iam_instance_profile_policy_document",
            "Statement",
        ])
        .expect("policy statements");
    assert!(statement.iter().any(|(k, _)| *k == "Action"));
    assert_eq!(
        ebs.nested_keys_at(&["launch_block_device_mappings"]),
        ebs.nested_keys("launch_block_device_mappings")
    );
    assert!(
        ebs.nested_keys_at(&["source_ami_filter", "owners"])
            .is_none()
    );
    assert!(ebs.nested_keys_at(&[]).is_none());
    assert!(ebs.is_deferred("run_tags"));
    assert!(!ebs.is_deferred("ami_name"));
    let qemu = lookup(Section::Builder, "qemu").expect("qemu");
    assert_eq!(
        qemu.find_key("boot_wait").map(|k| k.1),
        Some(ValueType::Duration)
    );
    assert_eq!(
        qemu.find_key("iso_urls").map(|k| k.1),
        Some(ValueType::StringList)
    );
    let shell = lookup(Section::Provisioner, "shell").expect("shell");
    assert_eq!(
        shell.find_key("inline").map(|k| k.1),
        Some(ValueType::StringList)
    );
    assert!(is_ignored_key("type"));
    assert!(is_ignored_key("packer_anything"));
    assert!(!is_ignored_key("name"));
}

#[test]
fn a_complete_amazon_ebs_config_has_no_problems() {
    assert_eq!(builder("amazon-ebs", EBS_OK), Vec::<String>::new());
}

#[test]
fn amazon_ebs_requires_name_source_type_and_user() {
    let found = builder("amazon-ebs", r#"{"region": "us-east-1"}"#);
    assert_eq!(
        found,
        [
            "ami_name must be specified",
            "an ssh_username must be specified",
            "source_ami or source_ami_filter must be specified",
            "instance_type or spot_instance_types must be specified",
        ]
    );
}

#[test]
fn amazon_ebs_checks_exclusive_options_and_enumerations() {
    let found = builder(
        "amazon-ebs",
        &ebs_with(
            r#""access_key": "AKIA", "user_data": "x", "user_data_file": "u.sh",
               "ssh_interface": "public", "tenancy": "shared", "shutdown_behavior": "halt",
               "security_group_id": "sg-1", "security_group_ids": ["sg-2"],
               "block_duration_minutes": 90, "spot_instance_types": ["t3.micro"],
               "temporary_security_group_source_cidrs": ["10.0.0.0/8", "10.0.0.0"]"#,
        ),
    );
    assert_eq!(
        found,
        [
            "access_key and secret_key must both be set or both be unset",
            "unknown ssh_interface `public`",
            "specify instance_type or spot_instance_types, not both",
            "block_duration_minutes must be a multiple of 60, not 90",
            "only one of user_data and user_data_file may be specified",
            "only one of security_group_id and security_group_ids may be specified",
            "`10.0.0.0` is not a CIDR block such as 10.0.0.0/8",
            "shutdown_behavior must be `stop` or `terminate`, not `halt`",
            "unknown tenancy `shared`",
        ]
    );
}

#[test]
fn amazon_ebs_ami_name_rules() {
    let found = builder("amazon-ebs", &EBS_OK.replace("base {{timestamp}}", "ab"));
    assert_eq!(found, ["ami_name must be 3 to 128 characters long, not 2"]);
    let found = builder(
        "amazon-ebs",
        &EBS_OK.replace("base {{timestamp}}", "base:1"),
    );
    assert_eq!(
        found,
        ["ami_name `base:1` contains characters AMI names cannot hold"]
    );
    // Only the text outside a template that did not render is judged.
    assert!(builder("amazon-ebs", EBS_OK).is_empty());
    let found = builder(
        "amazon-ebs",
        &EBS_OK.replace("base {{timestamp}}", "base:{{timestamp}}"),
    );
    assert_eq!(
        found,
        [
            "ami_name `base:{{timestamp}}` (`base:1795632356`) contains characters AMI names cannot hold"
        ]
    );
    // Run-dependent actions are judged by a value of their shape.
    let clock = EBS_OK.replace("base {{timestamp}}", r#"base {{isotime \"15:04\"}}"#);
    assert_eq!(builder("amazon-ebs", &clock).len(), 1);
    let long = EBS_OK.replace(
        "base {{timestamp}}",
        &format!("{}{{{{timestamp}}}}", "a".repeat(120)),
    );
    assert_eq!(
        builder("amazon-ebs", &long),
        ["ami_name must be 3 to 128 characters long, not 130"]
    );
}

#[test]
fn amazon_ebs_source_ami_filter_needs_owners() {
    let with_filter = EBS_OK.replace(
        r#""source_ami": "ami-0123""#,
        r#""source_ami_filter": {"filters": {"name": "debian-*"}, "most_recent": true}"#,
    );
    assert_eq!(
        builder("amazon-ebs", &with_filter),
        ["source_ami_filter must declare owners"]
    );
    let with_owner = with_filter.replace(r#""most_recent": true"#, r#""owners": ["136693071363"]"#);
    assert!(builder("amazon-ebs", &with_owner).is_empty());
}

#[test]
fn amazon_ebs_kms_and_sharing_rules() {
    let found = builder("amazon-ebs", &ebs_with(r#""kms_key_id": "not a key""#));
    assert_eq!(
        found,
        [
            "encrypt_boot must be true when kms_key_id or region_kms_key_ids is set",
            "\"not a key\" is not a valid KMS key id"
        ]
    );
    let ok = ebs_with(
        r#""encrypt_boot": "true", "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/12ab-34cd",
           "ami_regions": ["eu-west-1"], "region_kms_key_ids": {"eu-west-1": "alias/imgs"}"#,
    );
    assert!(
        builder("amazon-ebs", &ok).is_empty(),
        "{:?}",
        builder("amazon-ebs", &ok)
    );
    let found = builder(
        "amazon-ebs",
        &ebs_with(r#""encrypt_boot": true, "ami_users": ["123456789012"]"#),
    );
    assert_eq!(
        found,
        ["an AMI encrypted with the default KMS key cannot be shared (ami_users)"]
    );
    let found = builder(
        "amazon-ebs",
        &ebs_with(
            r#""encrypt_boot": true, "ami_regions": ["eu-west-1"], "region_kms_key_ids": {"us-west-2": "alias/x"}"#,
        ),
    );
    assert_eq!(
        found,
        [
            "region us-west-2 is in region_kms_key_ids but not in ami_regions",
            "region eu-west-1 is in ami_regions but not in region_kms_key_ids"
        ]
    );
}

#[test]
fn amazon_ebs_block_devices_report_one_problem_each() {
    let found = builder(
        "amazon-ebs",
        &ebs_with(
            r#""launch_block_device_mappings": [
                {"volume_size": 8},
                {"device_name": "/dev/xvda", "volume_type": "io1", "volume_size": 10, "iops": 1000},
                {"device_name": "/dev/xvdb", "volume_type": "gp3", "volume_size": 10},
                {"device_name": "/dev/xvdc", "volume_type": "gp2", "throughput": 200},
                {"device_name": "/dev/xvdd", "kms_key_id": "alias/x", "encrypted": false},
                {"device_name": "/dev/xvde", "volume_type": "gp3", "throughput": 125, "iops": 3000}
            ]"#,
        ),
    );
    assert_eq!(
        found,
        [
            "device_name must be specified for every device in a block device mapping",
            "/dev/xvda: at most 50 provisioned IOPS per GiB of volume size for io1 volumes",
            "throughput must be between 125 and 1000 for gp3 device /dev/xvdb",
            "throughput can only be set for gp3 volumes (device /dev/xvdc)",
            "device /dev/xvdd sets kms_key_id, so encrypted must be true",
        ]
    );
    let node = parse_json(&ebs_with(
        r#""ami_block_device_mappings": {"volume_size": 8}"#,
    ))
    .expect("json");
    let none = |_: &str| None;
    let problem = check_config(Section::Builder, "amazon-ebs", &node, &none).remove(0);
    assert_eq!(
        problem.key.as_deref(),
        Some("ami_block_device_mappings[0].device_name")
    );
}

#[test]
fn amazon_ebs_keypair_and_spot_rules() {
    let found = builder("amazon-ebs", &ebs_with(r#""ssh_keypair_name": "imgs""#));
    assert_eq!(
        found,
        ["ssh_keypair_name needs ssh_private_key_file or ssh_agent_auth"]
    );
    let found = builder(
        "amazon-ebs",
        &ebs_with(r#""spot_tags": {"a": "b"}, "ena_support": true"#),
    );
    assert_eq!(
        found,
        ["spot_tags can only be set when requesting a spot instance (spot_price)"]
    );
    let found = builder(
        "amazon-ebs",
        &ebs_with(r#""spot_price": "auto", "sriov_support": true"#),
    );
    assert_eq!(
        found,
        ["spot instances cannot be modified, which ena_support and sriov_support require"]
    );
    // `{}` for a list of objects is an empty list, not one empty tag.
    assert!(builder("amazon-ebs", &ebs_with(r#""spot_tag": {}"#)).is_empty());
    let found = builder("amazon-ebs", &ebs_with(r#""enable_t2_unlimited": true"#));
    assert_eq!(
        found,
        ["T2 Unlimited is enabled with a non-T2 instance type: t3.micro"]
    );
}

#[test]
fn communicator_checks() {
    let found = builder("amazon-ebs", &ebs_with(r#""communicator": "telnet""#));
    assert_eq!(found, ["communicator type `telnet` is invalid"]);
    let found = builder(
        "amazon-ebs",
        &ebs_with(
            r#""ssh_file_transfer_method": "rsync", "ssh_bastion_host": "b", "ssh_proxy_host": "p",
               "ssh_local_tunnels": ["8080:localhost"]"#,
        ),
    );
    assert_eq!(
        found,
        [
            "ssh_bastion_password or ssh_bastion_private_key_file must be specified",
            "ssh_file_transfer_method `rsync` is invalid",
            "specify either ssh_bastion_host or ssh_proxy_host, not both",
            "ssh_local_tunnels entry `8080:localhost` is invalid: the forwarding address must be HOST:PORT",
        ]
    );
    let found = builder("amazon-ebs", &ebs_with(r#""communicator": "winrm""#));
    assert_eq!(found, ["winrm_username must be specified"]);
    assert!(builder("amazon-ebs", &ebs_with(r#""communicator": "none""#)).is_empty());
}

#[test]
fn null_builder_needs_host_user_and_one_auth_method() {
    assert!(builder("null", r#"{"communicator": "none"}"#).is_empty());
    assert_eq!(
        builder("null", "{}"),
        [
            "an ssh_username must be specified",
            "ssh_host must be specified: the null builder connects to an existing host",
            "one authentication method must be specified",
        ]
    );
    assert_eq!(
        builder(
            "null",
            r#"{"ssh_host": "h", "ssh_username": "u", "ssh_password": "p", "ssh_agent_auth": "true"}"#
        ),
        ["only one of ssh_agent_auth, ssh_password and ssh_private_key_file may be specified"]
    );
    assert!(
        builder(
            "null",
            r#"{"ssh_host": "h", "ssh_username": "u", "ssh_password": "p"}"#
        )
        .is_empty()
    );
}

#[test]
fn file_builder_needs_target_and_one_input() {
    assert_eq!(
        builder("file", r#"{"content": "x"}"#),
        ["target must be specified"]
    );
    assert_eq!(
        builder("file", r#"{"target": "t", "content": "x", "source": "s"}"#),
        ["only one of content and source may be specified"]
    );
    assert!(builder("file", r#"{"target": "t"}"#).is_empty());
}

const QEMU_OK: &str =
    r#"{"iso_url": "debian.iso", "iso_checksum": "sha256:0123abcd", "ssh_username": "root"}"#;

#[test]
fn qemu_checks() {
    assert!(builder("qemu", QEMU_OK).is_empty());
    assert!(builder("qemu", r#"{"iso_url": "d.qcow2", "iso_checksum": "none", "ssh_username": "root", "disk_image": true, "use_backing_file": true, "disk_size": "20G"}"#).is_empty());
    assert_eq!(
        builder("qemu", r#"{"ssh_username": "root"}"#),
        ["one of iso_url and iso_urls must be specified"]
    );
    assert_eq!(
        builder("qemu", r#"{"iso_url": "d.iso", "ssh_username": "root"}"#),
        ["iso_checksum must be specified"]
    );
    let bad = QEMU_OK.replace(
        r#""ssh_username": "root""#,
        r#""ssh_username": "root", "format": "vmdk", "accelerator": "vbox", "disk_size": "20GB",
           "disk_interface": "sata", "skip_resize_disk": true, "vnc_port_min": 7000,
           "boot_command": ["<enter>"], "disable_vnc": true, "host_port_min": 5000"#,
    );
    assert_eq!(
        builder("qemu", &bad),
        [
            "invalid disk_size `20GB`",
            "a boot command cannot be used when VNC is disabled",
            "host_port_min (5000) must be less than host_port_max (4444)",
            "invalid format `vmdk`: only qcow2 and raw are allowed",
            "skip_resize_disk can only be used when disk_image is true",
            "unrecognized accelerator `vbox`",
            "unrecognized disk interface `sata`",
            "vnc_port_min (7000) must be less than vnc_port_max (6000)",
        ]
    );
}

#[test]
fn qemu_checksums_follow_go_getter() {
    assert!(check_checksum_ok("md5:d41d8cd98f00b204e9800998ecf8427e"));
    assert!(check_checksum_ok("SHA256:abcd"));
    assert!(check_checksum_ok("file:SHA256SUMS"));
    assert!(check_checksum_ok("d41d8cd98f00b204e9800998ecf8427e"));
    assert!(!check_checksum_ok("d41d8cd98f00b204"));
    assert!(!check_checksum_ok("crc32:abcd"));
    assert!(!check_checksum_ok("sha256:xyz"));
}

fn check_checksum_ok(checksum: &str) -> bool {
    let json = QEMU_OK.replace("sha256:0123abcd", checksum);
    builder("qemu", &json).is_empty()
}

fn provisioner(kind: &str, json: &str) -> Vec<String> {
    problems(Section::Provisioner, kind, json)
}

#[test]
fn shell_needs_exactly_one_kind_of_script() {
    assert!(provisioner("shell", r#"{"inline": ["true"]}"#).is_empty());
    assert!(provisioner("shell", r#"{"script": "a.sh"}"#).is_empty());
    assert_eq!(
        provisioner("shell", r#"{"inline": []}"#),
        ["either a script file (script, scripts) or an inline script (inline) must be specified"]
    );
    assert_eq!(
        provisioner(
            "shell",
            r#"{"script": "a.sh", "scripts": ["b.sh"], "inline": ["x"]}"#
        ),
        [
            "only one of script and scripts may be specified",
            "only a script file or an inline script may be specified, not both"
        ]
    );
    assert_eq!(
        provisioner(
            "shell",
            r#"{"inline": "true", "environment_vars": ["A=1", "B", "=2"]}"#
        ),
        [
            "environment variable `B` is not in the form KEY=value",
            "environment variable `=2` is not in the form KEY=value"
        ]
    );
}

#[test]
fn file_provisioner_needs_source_and_destination() {
    assert!(provisioner("file", r#"{"source": "a", "destination": "/tmp/a"}"#).is_empty());
    assert!(provisioner("file", r#"{"sources": ["a", "b"], "destination": "/tmp/"}"#).is_empty());
    assert_eq!(
        provisioner("file", r#"{"direction": "sideways"}"#),
        [
            "direction `sideways` is invalid",
            "source must be specified",
            "destination must be specified"
        ]
    );
}

#[test]
fn shell_local_rules() {
    assert!(provisioner("shell-local", r#"{"command": "echo hi"}"#).is_empty());
    assert!(
        provisioner(
            "shell-local",
            r#"{"inline": ["echo hi"], "only_on": ["linux"]}"#
        )
        .is_empty()
    );
    assert_eq!(
        provisioner("shell-local", "{}"),
        ["one of command, inline, script and scripts must be specified"]
    );
    assert_eq!(
        provisioner("shell-local", r#"{"command": "a", "script": "b.sh"}"#),
        ["only one of command, inline, script and scripts may be specified"]
    );
    assert_eq!(
        provisioner("shell-local", r#"{"scripts": ["a.sh"], "inline": []}"#),
        ["only one of command, inline, script and scripts may be specified"]
    );
    assert_eq!(
        provisioner(
            "shell-local",
            r#"{"command": "", "only_on": ["linux", "plan9"]}"#
        ),
        ["invalid OS `plan9` in only_on"]
    );
    assert_eq!(
        provisioner(
            "shell-local",
            r#"{"script": "a.sh", "use_linux_pathing": true}"#
        ),
        ["use_linux_pathing needs Windows script paths (with a drive letter)"]
    );
    let post = problems(
        Section::PostProcessor,
        "shell-local",
        r#"{"inline": ["x"], "environment_vars": "A"}"#,
    );
    assert_eq!(
        post,
        ["environment variable `A` is not in the form KEY=value"]
    );
}

#[test]
fn ansible_needs_a_playbook_and_a_valid_port() {
    assert!(provisioner("ansible", r#"{"playbook_file": "site.yml"}"#).is_empty());
    assert_eq!(
        provisioner("ansible", r#"{"local_port": "70000"}"#),
        [
            "playbook_file must be specified",
            "local_port 70000 is not a valid port (at most 65535)"
        ]
    );
}

#[test]
fn post_processor_checks() {
    let pp = |kind, json| problems(Section::PostProcessor, kind, json);
    assert!(
        pp(
            "manifest",
            r#"{"output": "manifest.json", "strip_path": true}"#
        )
        .is_empty()
    );
    assert!(pp("compress", r#"{"output": "{{.BuildName}}.tar.gz"}"#).is_empty());
    assert!(pp("checksum", r#"{"checksum_types": ["sha256", "sha512"]}"#).is_empty());
    assert_eq!(
        pp("checksum", r#"{"checksum_types": "sha256,crc32"}"#),
        ["unrecognized checksum type `crc32`"]
    );
}

#[test]
fn upload_checks_its_endpoint_headers_and_checksum() {
    let up = |json| problems(Section::PostProcessor, "upload", json);
    assert!(up(r#"{"endpoint": "http://127.0.0.1:8080/images/{{ .ImageName }}/"}"#).is_empty());
    assert!(
        up(
            r#"{"endpoint": "{{user `url`}}", "headers": {"Authorization": "Bearer x"},
               "checksum_type": "sha512", "checksum_header": "X-Sum", "retries": 0}"#
        )
        .is_empty()
    );
    assert_eq!(up(r#"{"path": "x"}"#), ["endpoint must be specified"]);
    assert_eq!(up(r#"{"endpoint": ""}"#), ["endpoint must be specified"]);
    assert_eq!(
        up(r#"{"endpoint": "ftp://host/dir/"}"#),
        ["endpoint `ftp://host/dir/` is a ftp:// URL, not http:// or https://"]
    );
    assert_eq!(
        up(r#"{"endpoint": "host/dir/"}"#),
        ["endpoint `host/dir/` is not an http:// or https:// URL"]
    );
    assert_eq!(
        up(r#"{"endpoint": "https:///dir"}"#),
        ["endpoint `https:///dir` has no host"]
    );
    assert_eq!(
        up(
            r#"{"endpoint": "http://h/", "headers": {"Bad Name": "v", "Content-Length": "1",
               "X-Two": "a\nb", "x-a": "1", "X-A": "2"}}"#
        ),
        [
            "`Bad Name` is not a header name (it holds ' ')",
            "`Content-Length` is a header imgs sets itself for every PUT",
            "a header value cannot hold a line break or NUL",
            "`X-A` and `x-a` are the same header",
        ]
    );
    assert_eq!(
        up(
            r#"{"endpoint": "http://h/", "checksum_type": "crc32", "checksum_header": "A B", "retries": -1}"#
        ),
        [
            "unrecognized checksum type `crc32`",
            "`A B` is not a header name (it holds ' ')",
            "retries must not be negative",
        ]
    );
}

#[test]
fn rendered_values_are_what_the_checks_read() {
    let node = parse_json(r#"{"target": "{{user `target`}}"}"#).expect("json");
    let empty = |_: &str| Some(String::new());
    let found = check_config(Section::Builder, "file", &node, &empty);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].key.as_deref(), Some("target"));
    assert_eq!(
        found[0].span,
        Some(node.get("target").expect("target").span)
    );
    let rendered = |_: &str| Some("out.txt".to_string());
    assert!(check_config(Section::Builder, "file", &node, &rendered).is_empty());
}

#[test]
fn io_checks_are_listed_for_types_that_touch_files() {
    let keys = |section, kind| {
        io_checks(section, kind)
            .iter()
            .map(|c| c.key)
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(Section::Provisioner, "shell"), ["script", "scripts"]);
    assert!(keys(Section::Provisioner, "ansible").contains(&"playbook_file"));
    assert!(keys(Section::Builder, "qemu").contains(&"output_directory"));
    assert!(keys(Section::Builder, "amazon-ebs").contains(&"user_data_file"));
    assert!(keys(Section::PostProcessor, "manifest").is_empty());
}

#[test]
fn decoded_values_follow_weak_typing() {
    let node = parse_json(
        r#"{"source": true, "sources": [null, 1, "a"], "scripts": "a.sh,b.sh", "generated": "1", "Target": 7}"#,
    )
    .expect("json");
    let none = |_: &str| None;
    assert_eq!(decoded_string(&node, "source", &none).as_deref(), Some("1"));
    assert_eq!(decoded_string(&node, "target", &none).as_deref(), Some("7"));
    assert_eq!(decoded_string(&node, "destination", &none), None);
    assert_eq!(
        decoded_strings(&node, "sources", &none),
        Some(vec![String::new(), "1".into(), "a".into()])
    );
    assert_eq!(
        decoded_strings(&node, "scripts", &none),
        Some(vec!["a.sh".into(), "b.sh".into()])
    );
    assert!(decoded_bool(&node, "generated", &none));
    assert!(!decoded_bool(&node, "missing", &none));
}

#[test]
fn io_checks_apply_only_when_packer_makes_them() {
    let applicable = |section, kind, json: &str| {
        let node = parse_json(json).expect("json");
        let none = |_: &str| None;
        applicable_io_checks(section, kind, &node, &none)
            .into_iter()
            .map(|c| c.key)
            .collect::<Vec<_>>()
    };
    let file = |json| applicable(Section::Provisioner, "file", json);
    assert_eq!(file(r#"{"source": "a", "destination": "/b"}"#), ["source"]);
    assert!(file(r#"{"source": "a", "destination": "/b", "generated": "1"}"#).is_empty());
    assert!(file(r#"{"source": "/a", "destination": "b", "direction": "download"}"#).is_empty());
    let ebs = |json| applicable(Section::Builder, "amazon-ebs", json);
    assert!(ebs(r#"{"ssh_bastion_private_key_file": "k"}"#).is_empty());
    assert_eq!(
        ebs(
            r#"{"ssh_bastion_host": "b", "ssh_bastion_private_key_file": "k", "ssh_private_key_file": "m"}"#
        ),
        ["ssh_private_key_file", "ssh_bastion_private_key_file"]
    );
    assert!(ebs(r#"{"communicator": "winrm", "ssh_private_key_file": "k", "user_data": "x", "user_data_file": "u"}"#).is_empty());
    let ansible = |json| applicable(Section::Provisioner, "ansible", json);
    assert_eq!(
        ansible(r#"{"playbook_file": "p.yml"}"#),
        ["playbook_file", "command", "user"]
    );
    assert_eq!(
        ansible(r#"{"playbook_file": "p.yml", "skip_version_check": true, "user": "u"}"#),
        ["playbook_file"]
    );
    let qemu = |json| applicable(Section::Builder, "qemu", json);
    assert_eq!(
        qemu(r#"{"iso_url": "a", "iso_checksum": "file:SUMS"}"#),
        ["iso_checksum", "output_directory"]
    );
    assert!(qemu(r#"{"iso_url": "a", "iso_checksum": "file:SUMS", "packer_force": true, "iso_skip_cache": true}"#).is_empty());
}
