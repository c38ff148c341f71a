use std::collections::BTreeMap;
use std::io::Read as _;
use std::process::Command;

use super::*;

fn never() -> bool {
    false
}

fn disk(size_mib: u64, accelerator: &str) -> QemuDisk {
    QemuDisk {
        name: "disk.qcow2".into(),
        format: "qcow2".into(),
        size_mib,
        accelerator: accelerator.into(),
    }
}

/// Every entry of a box: name, mode, owner (numbers and names), size and content.
#[derive(Debug, PartialEq, Eq)]
struct Listed {
    name: String,
    mode: u32,
    owner: (u64, u64, String, String),
    size: u64,
    content: Vec<u8>,
}

fn listing(path: &Path) -> Vec<Listed> {
    let mut raw = Vec::new();
    File::open(path).unwrap().read_to_end(&mut raw).unwrap();
    let plain = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    };
    let mut archive = tar::Archive::new(plain.as_slice());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            assert!(header.as_gnu().is_some(), "a GNU header");
            assert_eq!(header.entry_type(), tar::EntryType::Regular);
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            Listed {
                name: entry.path().unwrap().display().to_string(),
                mode: header.mode().unwrap(),
                owner: (
                    header.uid().unwrap(),
                    header.gid().unwrap(),
                    header.username().unwrap().unwrap_or_default().to_string(),
                    header.groupname().unwrap().unwrap_or_default().to_string(),
                ),
                size: header.size().unwrap(),
                content,
            }
        })
        .collect()
}

#[test]
fn libvirt_metadata_records_the_size_in_whole_gb_rounded_up_and_the_driver() {
    let sizes: Vec<String> = [0, 1, 1023, 1024, 1025, 1536, 40960]
        .iter()
        .map(|&mib| format!("{mib} MiB -> {} GB", virtual_size_gb(mib)))
        .collect();
    insta::assert_snapshot!(sizes.join("\n"), @r"
    0 MiB -> 0 GB
    1 MiB -> 1 GB
    1023 MiB -> 1 GB
    1024 MiB -> 1 GB
    1025 MiB -> 2 GB
    1536 MiB -> 2 GB
    40960 MiB -> 40 GB
    ");
    let files = [
        PathBuf::from("output-qemu/other.qcow2"),
        PathBuf::from("output-qemu/disk.qcow2"),
    ];
    let tcg = libvirt(&disk(1536, "tcg"), &files).unwrap();
    assert_eq!(
        tcg.metadata,
        "{\"format\":\"qcow2\",\"provider\":\"libvirt\",\"virtual_size\":2}\n"
    );
    assert_eq!(
        tcg.files,
        [("box.img".to_string(), files[1].clone())],
        "the file named after the disk, by its whole name"
    );
    insta::assert_snapshot!(vagrantfile(&tcg.vagrantfile, ""), @r#"

    # The contents below were provided by the Packer Vagrant post-processor

    Vagrant.configure("2") do |config|
      config.vm.provider :libvirt do |libvirt|
        libvirt.driver = "qemu"
      end
    end


    # The contents below (if any) are custom contents provided by the
    # Packer template during image build.
    "#);
    for (accelerator, driver) in [("kvm", "kvm"), ("none", "qemu"), ("hvf", "qemu")] {
        let made = libvirt(&disk(1, accelerator), &files).unwrap();
        assert!(
            made.vagrantfile
                .contains(&format!("libvirt.driver = \"{driver}\"")),
            "{accelerator}"
        );
    }
    let err = libvirt(&disk(1, "xen"), &files).unwrap_err();
    assert_eq!(err.to_string(), "unknown libvirt domain type: xen");
    // A disk name the artifact's files do not end in: no box.img, as in Packer.
    assert!(
        libvirt(&disk(1, "tcg"), &[PathBuf::from("disk.qcow2")])
            .unwrap()
            .files
            .is_empty()
    );
}

#[test]
fn aws_boxes_list_each_regions_ami_in_region_order() {
    let made = aws("us-east-1:ami-1,eu-west-1:ami-2,us-east-1:ami-3").unwrap();
    assert_eq!(made.metadata, "{\"provider\":\"aws\"}\n");
    assert!(made.files.is_empty());
    // Go's text/template keeps the tabs and blank lines of Packer's template.
    assert_eq!(
        made.vagrantfile,
        "\nVagrant.configure(\"2\") do |config|\n  config.vm.provider \"aws\" do |aws|\n    \
         \n\taws.region_config \"eu-west-1\", ami: \"ami-2\"\n\t\
         \n\taws.region_config \"us-east-1\", ami: \"ami-3\"\n\t\
         \n  end\nend\n"
    );
    for bad in ["", "ami-1", "us-east-1:ami-1:x", "us-east-1:ami-1,"] {
        let err = aws(bad).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("poorly formatted artifact ID: {bad}")
        );
    }
}

#[test]
fn compression_levels_are_packers() {
    let table: Vec<String> = [
        None,
        Some(-1),
        Some(0),
        Some(1),
        Some(9),
        Some(10),
        Some(-2),
    ]
    .into_iter()
    .map(|level| format!("{level:?} -> {:?}", compression(level)))
    .collect();
    insta::assert_snapshot!(table.join("\n"), @r#"
    None -> Ok(Some(6))
    Some(-1) -> Ok(Some(6))
    Some(0) -> Ok(None)
    Some(1) -> Ok(Some(1))
    Some(9) -> Ok(Some(9))
    Some(10) -> Err("invalid compression_level 10: use an integer from -1 to 9")
    Some(-2) -> Err("not supported yet: compression_level -2 (Huffman-only compression)")
    "#);
}

#[test]
fn includes_are_overridden_as_packer_overrides_them_except_metadata() {
    let provider = ProviderBox {
        vagrantfile: String::new(),
        metadata: "{}\n".into(),
        files: vec![("box.img".into(), PathBuf::from("out/disk"))],
    };
    let includes = [
        PathBuf::from("a/info.json"),
        PathBuf::from("b/info.json"),
        PathBuf::from("extra/box.img"),
        PathBuf::from("extra/Vagrantfile"),
    ];
    let made = entries(&includes, &provider, "VF".into());
    assert_eq!(
        made,
        BTreeMap::from([
            ("Vagrantfile".to_string(), Entry::Text("VF".into())),
            ("box.img".to_string(), Entry::File("out/disk".into())),
            ("info.json".to_string(), Entry::File("b/info.json".into())),
            ("metadata.json".to_string(), Entry::Text("{}\n".into())),
        ])
    );
    let made = entries(
        &[PathBuf::from("mine/metadata.json")],
        &provider,
        String::new(),
    );
    assert_eq!(
        made["metadata.json"],
        Entry::File("mine/metadata.json".into()),
        "an included metadata.json wins"
    );
}

#[test]
fn a_box_is_a_gzipped_gnu_tar_of_regular_files_owned_by_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("out")).unwrap();
    // Larger than one gzip member of the parallel writer.
    let image: Vec<u8> = (0..(9u32 << 20)).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.path().join("out/disk"), &image).unwrap();
    std::fs::write(dir.path().join("info.json"), "{}").unwrap();
    let provider = libvirt(&disk(3, "tcg"), &[PathBuf::from("out/disk.qcow2")]).unwrap();
    let mut made = entries(&[PathBuf::from("info.json")], &provider, "VF\n".into());
    made.insert("box.img".into(), Entry::File("out/disk".into()));
    let target = PathBuf::from("boxes/x.box");
    let written = write_box(&target, &made, Some(6), dir.path(), &never).unwrap();
    assert_eq!(written, target);
    let listed = listing(&dir.path().join(&target));
    let names: Vec<&str> = listed.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        ["Vagrantfile", "box.img", "info.json", "metadata.json"]
    );
    let owner = Owner::current();
    for entry in &listed {
        assert_eq!(entry.mode, 0o644, "{}", entry.name);
        assert_eq!(entry.owner.0, owner.uid);
        assert_eq!(entry.owner.2, owner.user.clone().unwrap_or_default());
        assert_eq!(entry.size, entry.content.len() as u64);
    }
    assert_eq!(listed[1].content, image);
    assert_eq!(listed[0].content, b"VF\n");

    if let Ok(out) = Command::new("gzip")
        .args(["-t", "boxes/x.box"])
        .current_dir(dir.path())
        .output()
    {
        assert!(out.status.success(), "gzip -t: {out:?}");
    }
    if let Some(vagrant) =
        imgs_test_peers::vagrant::vagrant_for("`vagrant box add` of a box of several gzip members")
    {
        assert_eq!(
            imgs_test_peers::vagrant::box_add(&vagrant, "imgs-members", &dir.path().join(&target)),
            "libvirt"
        );
    }

    // Level 0: a plain tar with the same entries.
    write_box(&target, &made, None, dir.path(), &never).unwrap();
    let raw = std::fs::read(dir.path().join(&target)).unwrap();
    assert!(!raw.starts_with(&[0x1f, 0x8b]));
    assert_eq!(listing(&dir.path().join(&target)), listed);
    if let Ok(out) = Command::new("tar")
        .args(["-tf", "boxes/x.box"])
        .current_dir(dir.path())
        .output()
    {
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "Vagrantfile\nbox.img\ninfo.json\nmetadata.json\n"
        );
    }
}

#[test]
fn a_missing_include_fails_before_anything_is_written_and_cancel_stops_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let provider = aws("us-east-1:ami-1").unwrap();
    let made = entries(&[PathBuf::from("nope.txt")], &provider, String::new());
    let err = write_box(Path::new("x.box"), &made, Some(6), dir.path(), &never).unwrap_err();
    assert!(err.to_string().starts_with("cannot read `"), "{err}");
    assert!(!dir.path().join("x.box").exists());

    std::fs::write(dir.path().join("big"), vec![0u8; 4 << 20]).unwrap();
    let made = entries(&[PathBuf::from("big")], &provider, String::new());
    let err = write_box(Path::new("x.box"), &made, Some(1), dir.path(), &|| true).unwrap_err();
    assert!(matches!(err, PostError::Cancelled), "{err}");
    assert!(!dir.path().join("x.box").exists(), "no partial box");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, ["big"]);
}

#[test]
fn a_qcow2_disks_virtual_size_comes_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("d.raw");
    std::fs::write(&raw, vec![0u8; 4096]).unwrap();
    assert_eq!(disk_virtual_size(&raw).unwrap(), 4096);
    let qcow2 = dir.path().join("d.qcow2");
    let created = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&qcow2)
        .arg("1536M")
        .status();
    if created.is_ok_and(|s| s.success()) {
        assert_eq!(disk_virtual_size(&qcow2).unwrap(), 1536 << 20);
    }
}

/// The qemu builder of Packer 1.6.6 with a stand-in for qemu that exits at once (no guest, no
/// communicator), so Packer's own vagrant post-processor boxes a real disk it prepared (copied,
/// resized): imgs boxes the same disk with the same facts, and the boxes hold the same entries,
/// owners, modes and contents.
#[test]
fn the_libvirt_box_is_packers() {
    let Some(packer) =
        imgs_test_peers::packer::packer_for("the libvirt box compared with Packer's")
    else {
        return;
    };
    let dir = tempfile::Builder::new()
        .prefix("imgs-vagrant-")
        .tempdir()
        .unwrap();
    let root = dir.path();
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "src.qcow2", "64M"])
        .current_dir(root)
        .status();
    if !made.is_ok_and(|s| s.success()) {
        imgs_test_peers::packer::skipped("the libvirt box compared with Packer's: no qemu-img");
        return;
    }
    let stand_in = root.join("qemu-stand-in");
    std::fs::write(
        &stand_in,
        "#!/bin/sh\ncase \"$1\" in -version) echo 'QEMU emulator version 7.2.0'; exit 0;; esac\nexit 0\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &stand_in,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(root.join("info.json"), "{\"author\":\"imgs\"}\n").unwrap();
    std::fs::write(root.join("custom.rb"), "# build {{ .BuildName }}\n").unwrap();
    let template = format!(
        r#"{{
  "builders": [{{
    "type": "qemu", "name": "box", "disk_image": true, "iso_url": "src.qcow2", "iso_checksum": "none",
    "qemu_binary": "{}", "communicator": "none", "headless": true, "disable_vnc": true,
    "boot_wait": "0s", "accelerator": "tcg", "disk_size": "1536M", "vm_name": "disk.qcow2"
  }}],
  "post-processors": [{{
    "type": "vagrant", "keep_input_artifact": true, "include": ["info.json"],
    "vagrantfile_template": "custom.rb", "output": "packer.box"
  }}]
}}"#,
        stand_in.display()
    );
    std::fs::write(root.join("t.json"), template).unwrap();
    let out = Command::new(&packer)
        .args(["build", "-color=false", "t.json"])
        .current_dir(root)
        .env("CHECKPOINT_DISABLE", "1")
        .env("PACKER_CACHE_DIR", root.join("packer_cache"))
        .output()
        .unwrap();
    assert!(out.status.success(), "packer build: {out:?}");

    let disk_file = PathBuf::from("output-box/disk.qcow2");
    let size = disk_virtual_size(&root.join(&disk_file)).unwrap();
    assert_eq!(size, 1536 << 20, "Packer resized the disk to disk_size");
    let facts = QemuDisk {
        name: "disk.qcow2".into(),
        format: "qcow2".into(),
        size_mib: size >> 20,
        accelerator: "tcg".into(),
    };
    let provider = libvirt(&facts, std::slice::from_ref(&disk_file)).unwrap();
    // Packer renders the template with the build's data; this one reads only the build name.
    let custom = "# build box\n";
    let made = entries(
        &[PathBuf::from("info.json")],
        &provider,
        vagrantfile(&provider.vagrantfile, custom),
    );
    write_box(Path::new("imgs.box"), &made, Some(6), root, &never).unwrap();

    let ours = listing(&root.join("imgs.box"));
    let theirs = listing(&root.join("packer.box"));
    assert_eq!(ours, theirs);

    if let Some(vagrant) =
        imgs_test_peers::vagrant::vagrant_for("`vagrant box add` of a libvirt box imgs wrote")
    {
        assert_eq!(
            imgs_test_peers::vagrant::box_add(&vagrant, "imgs-libvirt", &root.join("imgs.box")),
            "libvirt"
        );
    }
}
