//! The `vagrant` post-processor's box, laid out as Packer 1.6.6 lays it out: a tar (gzip-compressed
//! unless `compression_level` is 0) of flat entries in byte order of their names —
//!
//! - `Vagrantfile`: Packer's frame around the provider's part and the rendered
//!   `vagrantfile_template` (see [`vagrantfile`]);
//! - `metadata.json`: the provider's metadata as Go's JSON encoder writes a map (keys sorted, no
//!   spaces, a final newline), unless an `include` is named `metadata.json`, which then wins;
//! - the provider's files (libvirt: the disk as `box.img`), and every `include` under its file name
//!   (a later one replaces an earlier one of the same name; `box.img` and `Vagrantfile` replace
//!   includes of theirs).
//!
//! Every entry is a regular file with mode 0644, owned by the user running the build (numbers and
//! names), its times the time of writing — what Packer's copy into a temporary directory gives. imgs
//! streams the disk straight into the box instead of copying it first. gzip runs on every core, as
//! Packer's does, as a series of gzip members (see [`parallel_gzip`]): the bytes differ from
//! Packer's single member, what any gzip reader makes of them does not.
//!
//! Providers: `libvirt` from a qemu disk ([`libvirt`]) and `aws` from AMI IDs ([`aws`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use imgs_atomic_file::AtomicFile;

use crate::{BLOCK, Cancelled, PostError, resolve};

/// Packer's default `output`.
pub const DEFAULT_OUTPUT: &str = "packer_{{ .BuildName }}_{{.Provider}}.box";

/// What Packer's qemu builder tells the libvirt provider about its disk (its artifact's state).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QemuDisk {
    /// The disk's file name (`vm_name`); artifact files ending in `/NAME` become `box.img`.
    pub name: String,
    /// `qcow2` or `raw`.
    pub format: String,
    /// The disk's size in MiB (`disk_size`, or the disk's own virtual size when the build kept it).
    pub size_mib: u64,
    /// The accelerator the guest ran under: `kvm`, `tcg`, `none`, … (libvirt's domain type).
    pub accelerator: String,
}

/// The provider's part of a box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderBox {
    /// The provider's part of the Vagrantfile.
    pub vagrantfile: String,
    /// `metadata.json`, as written.
    pub metadata: String,
    /// Files the provider adds: entry name → the file (relative to the working directory when
    /// relative).
    pub files: Vec<(String, PathBuf)>,
}

/// The libvirt box of a qemu disk: the artifact file named after the disk as `box.img`, metadata with
/// the disk's format and its size in whole GB (rounded up), and the libvirt driver of the
/// accelerator (`kvm` for kvm, `qemu` for tcg, hvf or none).
pub fn libvirt(disk: &QemuDisk, files: &[PathBuf]) -> Result<ProviderBox, PostError> {
    let driver = match disk.accelerator.as_str() {
        "none" | "tcg" | "hvf" => "qemu",
        "kvm" => "kvm",
        other => {
            return Err(PostError::Unsupported(format!(
                "unknown libvirt domain type: {other}"
            )));
        }
    };
    let suffix = format!("/{}", disk.name);
    // Packer copies every match to box.img; the last one stays.
    let image = files
        .iter()
        .rfind(|f| f.to_string_lossy().ends_with(&suffix))
        .map(|f| ("box.img".to_string(), f.clone()));
    Ok(ProviderBox {
        vagrantfile: format!(
            "\nVagrant.configure(\"2\") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    libvirt.driver = \"{driver}\"\n  end\nend\n"
        ),
        metadata: format!(
            "{{\"format\":{},\"provider\":\"libvirt\",\"virtual_size\":{}}}\n",
            json_string(&disk.format),
            virtual_size_gb(disk.size_mib)
        ),
        files: image.into_iter().collect(),
    })
}

/// The size in whole GB (1024 MiB), rounded up, that libvirt metadata records.
pub fn virtual_size_gb(size_mib: u64) -> u64 {
    size_mib.div_ceil(1024)
}

/// The aws box of an amazon-ebs artifact ID (`region:ami,…`): one `region_config` line per region
/// in region order (the last AMI of a region repeated wins), no files.
pub fn aws(artifact_id: &str) -> Result<ProviderBox, PostError> {
    let mut images = BTreeMap::new();
    for pair in artifact_id.split(',') {
        let parts: Vec<&str> = pair.split(':').collect();
        let [region, ami] = parts.as_slice() else {
            return Err(PostError::Unsupported(format!(
                "poorly formatted artifact ID: {artifact_id}"
            )));
        };
        images.insert(*region, *ami);
    }
    let mut vagrantfile = String::from(
        "\nVagrant.configure(\"2\") do |config|\n  config.vm.provider \"aws\" do |aws|\n    ",
    );
    for (region, ami) in images {
        vagrantfile.push_str(&format!(
            "\n\taws.region_config \"{region}\", ami: \"{ami}\"\n\t"
        ));
    }
    vagrantfile.push_str("\n  end\nend\n");
    Ok(ProviderBox {
        vagrantfile,
        metadata: "{\"provider\":\"aws\"}\n".into(),
        files: Vec::new(),
    })
}

/// The box's `Vagrantfile`: Packer's frame around the provider's part and the custom part (the
/// rendered `vagrantfile_template`, or nothing).
pub fn vagrantfile(provider: &str, custom: &str) -> String {
    format!(
        "\n# The contents below were provided by the Packer Vagrant post-processor\n{provider}\n\n\
         # The contents below (if any) are custom contents provided by the\n\
         # Packer template during image build.\n{custom}\n"
    )
}

/// `compression_level` as Packer's box writer takes it: unset or -1 is gzip's default level, 0 no
/// gzip at all (a plain tar), 1–9 that level; -2 (Huffman-only) is not supported here, anything
/// else is an error (Packer's when the step runs). `Ok(None)` means a plain tar.
pub fn compression(written: Option<i64>) -> Result<Option<u32>, String> {
    match written {
        None | Some(-1) => Ok(Some(6)),
        Some(0) => Ok(None),
        Some(n @ 1..=9) => Ok(Some(n as u32)),
        Some(-2) => {
            Err("not supported yet: compression_level -2 (Huffman-only compression)".into())
        }
        Some(n) => Err(format!(
            "invalid compression_level {n}: use an integer from -1 to 9"
        )),
    }
}

/// One entry of a box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A file's contents (relative paths against the working directory).
    File(PathBuf),
    Text(String),
}

/// The entries of a box, by name, in the order Packer writes them into its directory: includes,
/// the provider's files, `metadata.json` unless an include has that name, then `Vagrantfile`.
pub fn entries(
    includes: &[PathBuf],
    provider: &ProviderBox,
    vagrantfile: String,
) -> BTreeMap<String, Entry> {
    let mut entries = BTreeMap::new();
    for include in includes {
        let name = include
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| include.display().to_string());
        entries.insert(name, Entry::File(include.clone()));
    }
    for (name, file) in &provider.files {
        entries.insert(name.clone(), Entry::File(file.clone()));
    }
    entries
        .entry("metadata.json".to_string())
        .or_insert_with(|| Entry::Text(provider.metadata.clone()));
    entries.insert("Vagrantfile".to_string(), Entry::Text(vagrantfile));
    entries
}

/// Writes the box `target` (relative to `working_dir` when relative; its directory is created) from
/// `entries`, gzip-compressed at `level` or a plain tar when `None`; returns `target` as given.
pub fn write_box(
    target: &Path,
    entries: &BTreeMap<String, Entry>,
    level: Option<u32>,
    working_dir: &Path,
    cancelled: Cancelled<'_>,
) -> Result<PathBuf, PostError> {
    let full_target = resolve(working_dir, target);
    let written = |e: io::Error| PostError::io("write the box", &full_target, e);
    // Every source is opened before anything is written, so a missing include fails at once.
    let mut opened = Vec::new();
    for (name, entry) in entries {
        let source = match entry {
            Entry::Text(text) => Source::Text(text.as_bytes()),
            Entry::File(path) => {
                let full = resolve(working_dir, path);
                let file = File::open(&full).map_err(|e| PostError::io("read", &full, e))?;
                let meta = file
                    .metadata()
                    .map_err(|e| PostError::io("read", &full, e))?;
                if !meta.is_file() {
                    return Err(PostError::Io {
                        action: "put into the box",
                        path: full.display().to_string(),
                        reason: "it is not a file".into(),
                    });
                }
                Source::File(file, meta.len())
            }
        };
        opened.push((name.as_str(), source));
    }
    let owner = Owner::current();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut out = AtomicFile::create(&full_target).map_err(written)?;
    let file = out.file().try_clone().map_err(written)?;
    let sink = match level {
        Some(level) => Sink::Gzip(parallel_gzip::Writer::new(
            BufWriter::new(file),
            flate2::Compression::new(level),
        )),
        None => Sink::Plain(BufWriter::new(file)),
    };
    let mut tar = tar::Builder::new(sink);
    for (name, source) in opened {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_uid(owner.uid);
        header.set_gid(owner.gid);
        header.set_mtime(now);
        if let Some(gnu) = header.as_gnu_mut() {
            gnu.set_atime(now);
            gnu.set_ctime(now);
        }
        if let Some(user) = &owner.user {
            header.set_username(user).map_err(written)?;
        }
        if let Some(group) = &owner.group {
            header.set_groupname(group).map_err(written)?;
        }
        let appended = match source {
            Source::Text(bytes) => {
                header.set_size(bytes.len() as u64);
                tar.append_data(&mut header, name, bytes)
            }
            Source::File(file, len) => {
                header.set_size(len);
                tar.append_data(&mut header, name, Checked { file, cancelled })
            }
        };
        appended.map_err(|e| {
            if cancelled() {
                PostError::Cancelled
            } else {
                PostError::Io {
                    action: "add to the box",
                    path: name.to_string(),
                    reason: e.to_string(),
                }
            }
        })?;
    }
    tar.into_inner()
        .and_then(Sink::finish)
        .and_then(|mut w| w.flush())
        .map_err(written)?;
    out.commit().map_err(written)?;
    Ok(target.to_path_buf())
}

/// The box file: a plain tar, or gzip over it.
enum Sink {
    Plain(BufWriter<File>),
    Gzip(parallel_gzip::Writer<BufWriter<File>>),
}

impl Sink {
    fn finish(self) -> io::Result<BufWriter<File>> {
        match self {
            Sink::Plain(w) => Ok(w),
            Sink::Gzip(w) => w.finish(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
        }
    }
}

enum Source<'a> {
    Text(&'a [u8]),
    File(File, u64),
}

/// A file being read into the box, that stops with an error once the build is cancelled.
struct Checked<'a> {
    file: File,
    cancelled: Cancelled<'a>,
}

impl Read for Checked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if (self.cancelled)() {
            return Err(io::Error::other("cancelled"));
        }
        let len = buf.len().min(BLOCK);
        self.file.read(&mut buf[..len])
    }
}

/// The user running the build, as tar headers record it.
struct Owner {
    uid: u64,
    gid: u64,
    user: Option<String>,
    group: Option<String>,
}

impl Owner {
    fn current() -> Owner {
        // SAFETY: geteuid and getegid cannot fail and touch no memory of ours.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        Owner {
            uid: uid.into(),
            gid: gid.into(),
            user: user_name(uid),
            group: group_name(gid),
        }
    }
}

fn user_name(uid: libc::uid_t) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill in.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, and `buf` outlives the use of `entry`'s strings.
    let status =
        unsafe { libc::getpwuid_r(uid, &mut entry, buf.as_mut_ptr(), buf.len(), &mut found) };
    if status != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: getpwuid_r succeeded, so pw_name points to a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

fn group_name(gid: libc::gid_t) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero group is a valid value for getgrgid_r to fill in.
    let mut entry: libc::group = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call, and `buf` outlives the use of `entry`'s strings.
    let status =
        unsafe { libc::getgrgid_r(gid, &mut entry, buf.as_mut_ptr(), buf.len(), &mut found) };
    if status != 0 || found.is_null() || entry.gr_name.is_null() {
        return None;
    }
    // SAFETY: getgrgid_r succeeded, so gr_name points to a NUL-terminated string in `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.gr_name) };
    Some(name.to_string_lossy().into_owned())
}

/// A JSON string as Go's encoder writes it (with its HTML escapes).
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The virtual size of a disk in bytes: a qcow2's from its header, anything else's file length.
pub fn disk_virtual_size(path: &Path) -> io::Result<u64> {
    let mut file = File::open(path)?;
    let mut header = [0u8; 32];
    let len = file.metadata()?.len();
    if len >= 32 {
        file.read_exact(&mut header)?;
        if header[..4] == *b"QFI\xfb" {
            return Ok(u64::from_be_bytes(
                header[24..32].try_into().expect("8 bytes"),
            ));
        }
    }
    Ok(len)
}

mod parallel_gzip;

#[cfg(test)]
mod tests;
