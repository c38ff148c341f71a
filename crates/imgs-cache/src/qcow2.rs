//! The one thing prune needs from a qcow2 disk: the name of its backing file.
//!
//! A qcow2 header starts with fixed big-endian fields: the magic `QFI\xfb` (bytes 0..4), the version
//! (4..8), the offset of the backing file name (8..16, 0 when there is none) and its length (16..20). The
//! name is not NUL-terminated, at most 1023 bytes, and when relative it is relative to the directory of the
//! disk that names it. Reading those few bytes avoids starting `qemu-img` once per disk.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

const MAGIC: [u8; 4] = *b"QFI\xfb";
/// Bytes of the header that hold the fields read here.
pub const HEADER_LEN: usize = 20;
/// qemu refuses longer backing file names.
const MAX_NAME_LEN: u32 = 1023;

/// Where a qcow2 header says the backing file name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackingName {
    /// Not a qcow2 file (other formats have no backing file).
    NotQcow2,
    /// A qcow2 disk standing on its own.
    None,
    /// A qcow2 layer: the name is `len` bytes at `offset`.
    At { offset: u64, len: u32 },
}

/// Reads the backing file fields from the first bytes of a file.
pub fn parse_header(header: &[u8]) -> Result<BackingName, String> {
    if header.len() < HEADER_LEN || header[..4] != MAGIC {
        return Ok(BackingName::NotQcow2);
    }
    let version = u32::from_be_bytes(header[4..8].try_into().expect("4 bytes"));
    if !(2..=3).contains(&version) {
        return Err(format!(
            "qcow2 version {version} is not one imgs reads (2 or 3)"
        ));
    }
    let offset = u64::from_be_bytes(header[8..16].try_into().expect("8 bytes"));
    let len = u32::from_be_bytes(header[16..20].try_into().expect("4 bytes"));
    if offset == 0 || len == 0 {
        return Ok(BackingName::None);
    }
    if len > MAX_NAME_LEN {
        return Err(format!(
            "backing file name of {len} bytes (qemu allows {MAX_NAME_LEN})"
        ));
    }
    Ok(BackingName::At { offset, len })
}

/// The backing file of the disk at `path`, resolved against the disk's directory when relative; `None` for
/// a file that is not a qcow2 layer. A name that is not a plain path (`json:{…}`, `nbd://…`) is reported as
/// an error, since which file it uses cannot be told from it.
pub fn backing_file(path: &Path) -> io::Result<Option<PathBuf>> {
    let invalid = |why: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {why}", path.display()),
        )
    };
    let mut file = File::open(path).map_err(|err| with_path(path, err))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    file.by_ref()
        .take(HEADER_LEN as u64)
        .read_to_end(&mut header)
        .map_err(|err| with_path(path, err))?;
    let (offset, len) = match parse_header(&header).map_err(invalid)? {
        BackingName::NotQcow2 | BackingName::None => return Ok(None),
        BackingName::At { offset, len } => (offset, len),
    };
    let mut name = vec![0; len as usize];
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_exact(&mut name))
        .map_err(|err| invalid(format!("cannot read the backing file name: {err}")))?;
    let name = String::from_utf8(name)
        .map_err(|_| invalid("the backing file name is not UTF-8".to_owned()))?;
    if name.starts_with("json:") || name.contains("://") {
        return Err(invalid(format!(
            "backing file `{name}` is not a plain path, so imgs cannot tell which file it uses"
        )));
    }
    let name = Path::new(&name);
    Ok(Some(match path.parent() {
        Some(dir) if name.is_relative() => dir.join(name),
        _ => name.to_path_buf(),
    }))
}

fn with_path(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u32, offset: u64, len: u32) -> Vec<u8> {
        let mut h = MAGIC.to_vec();
        h.extend(version.to_be_bytes());
        h.extend(offset.to_be_bytes());
        h.extend(len.to_be_bytes());
        h
    }

    #[test]
    fn reads_where_the_backing_name_is() {
        assert_eq!(
            parse_header(&header(3, 0x1000, 42)),
            Ok(BackingName::At {
                offset: 0x1000,
                len: 42
            })
        );
        assert_eq!(parse_header(&header(2, 0, 0)), Ok(BackingName::None));
    }

    #[test]
    fn other_files_are_not_qcow2() {
        assert_eq!(parse_header(b""), Ok(BackingName::NotQcow2));
        assert_eq!(parse_header(b"QFI"), Ok(BackingName::NotQcow2));
        assert_eq!(parse_header(&[0; 512]), Ok(BackingName::NotQcow2));
        // The magic alone, cut short.
        assert_eq!(
            parse_header(&header(3, 8, 8)[..12]),
            Ok(BackingName::NotQcow2)
        );
    }

    #[test]
    fn unknown_versions_and_oversized_names_are_errors() {
        assert!(
            parse_header(&header(4, 0x1000, 4))
                .unwrap_err()
                .contains("version 4")
        );
        assert!(
            parse_header(&header(3, 0x1000, 5000))
                .unwrap_err()
                .contains("5000 bytes")
        );
    }
}
