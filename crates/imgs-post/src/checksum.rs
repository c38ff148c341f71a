//! The `checksum` post-processor: for each checksum type, a checksum file holding a `HEX\tNAME` line
//! (lower-case hex, a tab, the input's file name without its directory) for each input file.
//!
//! As in Packer 1.6.6, lines are appended to a checksum file that already exists, and the resulting
//! artifact is the input files plus the checksum files this run created (a file that existed before
//! is not listed again).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::{BLOCK, Cancelled, PostError, resolve};
use imgs_atomic_file::AtomicFile;

/// Packer's default `output`, rendered per checksum type.
pub const DEFAULT_OUTPUT: &str =
    "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChecksumType {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl ChecksumType {
    pub const ALL: [ChecksumType; 6] = [
        ChecksumType::Md5,
        ChecksumType::Sha1,
        ChecksumType::Sha224,
        ChecksumType::Sha256,
        ChecksumType::Sha384,
        ChecksumType::Sha512,
    ];

    /// The type a template names (`md5`, `sha256`, …); names are case-sensitive as in Packer.
    pub fn parse(name: &str) -> Option<ChecksumType> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            ChecksumType::Md5 => "md5",
            ChecksumType::Sha1 => "sha1",
            ChecksumType::Sha224 => "sha224",
            ChecksumType::Sha256 => "sha256",
            ChecksumType::Sha384 => "sha384",
            ChecksumType::Sha512 => "sha512",
        }
    }
}

/// One running hash of any supported type.
enum Hasher {
    Md5(md5::Context),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    fn new(kind: ChecksumType) -> Hasher {
        match kind {
            ChecksumType::Md5 => Hasher::Md5(md5::Context::new()),
            ChecksumType::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            ChecksumType::Sha224 => Hasher::Sha224(sha2::Sha224::new()),
            ChecksumType::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            ChecksumType::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            ChecksumType::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.consume(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha224(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    fn hex(self) -> String {
        let bytes: Vec<u8> = match self {
            Hasher::Md5(h) => h.finalize().0.to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The lower-case hex digest of a file, read in blocks (a disk image can be many gigabytes).
pub fn hash_file(
    path: &Path,
    kind: ChecksumType,
    cancelled: Cancelled<'_>,
) -> Result<String, PostError> {
    let mut file = File::open(path).map_err(|e| PostError::io("open", path, e))?;
    let mut hasher = Hasher::new(kind);
    let mut block = vec![0u8; BLOCK];
    loop {
        if cancelled() {
            return Err(PostError::Cancelled);
        }
        let n = match file.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(PostError::io("read", path, e)),
        };
        hasher.update(&block[..n]);
    }
    Ok(hasher.hex())
}

/// Where one checksum type's lines go: `output` rendered for that type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChecksumOutput {
    pub kind: ChecksumType,
    /// As rendered; relative paths resolve against the working directory.
    pub path: PathBuf,
}

/// Hashes every input with every type and appends the lines to the outputs (several types may
/// share one output file, as in Packer). Returns the artifact's files: the inputs, then each output
/// file that did not exist before, in the order first written.
pub fn write_checksums(
    outputs: &[ChecksumOutput],
    inputs: &[PathBuf],
    working_dir: &Path,
    cancelled: Cancelled<'_>,
) -> Result<Vec<PathBuf>, PostError> {
    // Every output's full new content is assembled first and each file replaced once at the end,
    // so a failure half-way leaves every checksum file as it was.
    let mut contents: BTreeMap<PathBuf, String> = BTreeMap::new();
    let mut order = Vec::new();
    let mut files = inputs.to_vec();
    for output in outputs {
        let target = resolve(working_dir, &output.path);
        if !contents.contains_key(&target) {
            let existing = match std::fs::read_to_string(&target) {
                Ok(text) => text,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    files.push(output.path.clone());
                    String::new()
                }
                Err(e) => return Err(PostError::io("read the checksum file", &target, e)),
            };
            contents.insert(target.clone(), existing);
            order.push(target.clone());
        }
        for input in inputs {
            let hex = hash_file(&resolve(working_dir, input), output.kind, cancelled)?;
            let name = input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let text = contents.get_mut(&target).expect("inserted above");
            text.push_str(&format!("{hex}\t{name}\n"));
        }
    }
    for target in order {
        let text = &contents[&target];
        let write = || -> std::io::Result<()> {
            let mut out = AtomicFile::create(&target)?;
            out.file().write_all(text.as_bytes())?;
            out.commit()
        };
        write().map_err(|e| PostError::io("write the checksum file", &target, e))?;
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
