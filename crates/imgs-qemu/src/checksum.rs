//! `iso_checksum` as Packer 1.6.6 reads it: `none`, `TYPE:HEX`, bare hex whose length names the type,
//! or `file:PATH_OR_URL`, a checksum file (GNU `HEX  NAME` or BSD `TYPE (NAME) = HEX` lines) in which
//! the line for the source disk's file name gives the value.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha1::Digest as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChecksumKind {
    Md5,
    Sha1,
    Sha256,
    Sha512,
}

impl ChecksumKind {
    fn from_name(name: &str) -> Option<ChecksumKind> {
        match name.to_ascii_lowercase().as_str() {
            "md5" => Some(ChecksumKind::Md5),
            "sha1" => Some(ChecksumKind::Sha1),
            "sha256" => Some(ChecksumKind::Sha256),
            "sha512" => Some(ChecksumKind::Sha512),
            _ => None,
        }
    }

    /// The type a bare hex value of this many digits must be.
    fn from_hex_len(len: usize) -> Option<ChecksumKind> {
        match len {
            32 => Some(ChecksumKind::Md5),
            40 => Some(ChecksumKind::Sha1),
            64 => Some(ChecksumKind::Sha256),
            128 => Some(ChecksumKind::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ChecksumKind::Md5 => "md5",
            ChecksumKind::Sha1 => "sha1",
            ChecksumKind::Sha256 => "sha256",
            ChecksumKind::Sha512 => "sha512",
        }
    }
}

/// What the source disk is checked against before use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checksum {
    /// `none`: not checked.
    None,
    /// A known value, lower-case hex.
    Value { kind: ChecksumKind, hex: String },
    /// A checksum file, read when the disk is verified.
    File(PathBuf),
}

impl Checksum {
    /// Reads an `iso_checksum` value; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Checksum, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("none") {
            return Ok(Checksum::None);
        }
        if let Some(location) = text.strip_prefix("file:") {
            let path = location.strip_prefix("//").unwrap_or(location);
            if path.is_empty() {
                return Err("`file:` needs the path of a checksum file".to_string());
            }
            if path.contains("://") || location.starts_with("//") && !path.starts_with('/') {
                return Err(
                    "only local checksum files are supported (file:PATH or file:///PATH)".into(),
                );
            }
            return Ok(Checksum::File(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "checksum files over {scheme} are not supported; download it and use file:PATH"
            ));
        }
        let (kind, hex) = match text.split_once(':') {
            Some((name, hex)) => {
                let kind = ChecksumKind::from_name(name)
                    .ok_or_else(|| format!("unsupported checksum type `{name}`"))?;
                (kind, hex)
            }
            None => {
                let kind = ChecksumKind::from_hex_len(text.len()).ok_or_else(|| {
                    format!(
                        "a bare value of {} digits matches no checksum type",
                        text.len()
                    )
                })?;
                (kind, text)
            }
        };
        value(kind, hex)
    }

    /// Checks `disk` (whose file name a checksum file lists). `Ok(())` when it matches or nothing is
    /// to be checked.
    pub fn verify(&self, disk: &Path) -> Result<(), ChecksumError> {
        let (kind, expected) = match self {
            Checksum::None => return Ok(()),
            Checksum::Value { kind, hex } => (*kind, hex.clone()),
            Checksum::File(list) => {
                let text = std::fs::read_to_string(list).map_err(|err| ChecksumError::List {
                    path: list.clone(),
                    reason: err.to_string(),
                })?;
                let name = disk
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                match find_in_list(&text, &name) {
                    Some(Checksum::Value { kind, hex }) => (kind, hex),
                    _ => {
                        return Err(ChecksumError::List {
                            path: list.clone(),
                            reason: format!("no line for `{name}`"),
                        });
                    }
                }
            }
        };
        let actual = digest_file(kind, disk).map_err(|err| ChecksumError::Read {
            path: disk.to_path_buf(),
            reason: err.to_string(),
        })?;
        if actual == expected {
            Ok(())
        } else {
            Err(ChecksumError::Mismatch {
                path: disk.to_path_buf(),
                kind: kind.name(),
                expected,
                actual,
            })
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChecksumError {
    #[error(
        "{kind} checksum of `{}` does not match: expected {expected}, actual {actual}",
        .path.display()
    )]
    Mismatch {
        path: PathBuf,
        kind: &'static str,
        expected: String,
        actual: String,
    },
    #[error("cannot use the checksum file `{}`: {reason}", .path.display())]
    List { path: PathBuf, reason: String },
    #[error("cannot read `{}` to check its checksum: {reason}", .path.display())]
    Read { path: PathBuf, reason: String },
}

fn value(kind: ChecksumKind, hex: &str) -> Result<Checksum, String> {
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the value must be hexadecimal digits".to_string());
    }
    if ChecksumKind::from_hex_len(hex.len()) != Some(kind) {
        return Err(format!(
            "a {} checksum has {} hexadecimal digits, not {}",
            kind.name(),
            hex_len(kind),
            hex.len()
        ));
    }
    Ok(Checksum::Value {
        kind,
        hex: hex.to_ascii_lowercase(),
    })
}

fn hex_len(kind: ChecksumKind) -> usize {
    match kind {
        ChecksumKind::Md5 => 32,
        ChecksumKind::Sha1 => 40,
        ChecksumKind::Sha256 => 64,
        ChecksumKind::Sha512 => 128,
    }
}

/// The value a checksum file gives for `name`: GNU lines (`HEX  NAME`, `HEX *NAME`) take their type from
/// the value's length, BSD lines (`SHA256 (NAME) = HEX`) name it. Names match by their last component, as
/// lists often carry a directory (`./disk.qcow2`).
fn find_in_list(text: &str, name: &str) -> Option<Checksum> {
    let same_name = |listed: &str| {
        let listed = listed.trim().trim_start_matches('*');
        listed == name || listed.rsplit('/').next() == Some(name)
    };
    text.lines().find_map(|line| {
        let line = line.trim();
        if let Some((left, hex)) = line.split_once(") = ") {
            let (kind, listed) = left.split_once(" (")?;
            let kind = ChecksumKind::from_name(kind.trim())?;
            return same_name(listed).then(|| value(kind, hex.trim()).ok())?;
        }
        let (hex, listed) = line.split_once(char::is_whitespace)?;
        let kind = ChecksumKind::from_hex_len(hex.len())?;
        same_name(listed).then(|| value(kind, hex).ok())?
    })
}

fn digest_file(kind: ChecksumKind, path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut md5 = md5::Context::new();
    let mut sha1 = sha1::Sha1::new();
    let mut sha256 = sha2::Sha256::new();
    let mut sha512 = sha2::Sha512::new();
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        match kind {
            ChecksumKind::Md5 => md5.consume(chunk),
            ChecksumKind::Sha1 => sha1.update(chunk),
            ChecksumKind::Sha256 => sha256.update(chunk),
            ChecksumKind::Sha512 => sha512.update(chunk),
        }
    }
    Ok(match kind {
        ChecksumKind::Md5 => to_hex(&md5.finalize().0),
        ChecksumKind::Sha1 => to_hex(&sha1.finalize()),
        ChecksumKind::Sha256 => to_hex(&sha256.finalize()),
        ChecksumKind::Sha512 => to_hex(&sha512.finalize()),
    })
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn none_typed_bare_and_file_forms() {
        assert_eq!(Checksum::parse("none"), Ok(Checksum::None));
        let typed = Checksum::parse(&format!("SHA256:{}", SHA256_ABC.to_uppercase())).unwrap();
        assert_eq!(
            typed,
            Checksum::Value {
                kind: ChecksumKind::Sha256,
                hex: SHA256_ABC.into()
            }
        );
        assert_eq!(Checksum::parse(SHA256_ABC), Ok(typed));
        assert!(matches!(
            Checksum::parse("900150983cd24fb0d6963f7d28e17f72"),
            Ok(Checksum::Value {
                kind: ChecksumKind::Md5,
                ..
            })
        ));
        assert_eq!(
            Checksum::parse("file:sums/SHA256SUMS"),
            Ok(Checksum::File("sums/SHA256SUMS".into()))
        );
        assert_eq!(
            Checksum::parse("file:///srv/SHA256SUMS"),
            Ok(Checksum::File("/srv/SHA256SUMS".into()))
        );
    }

    #[test]
    fn bad_values_say_why() {
        assert_eq!(
            Checksum::parse("crc32:deadbeef").unwrap_err(),
            "unsupported checksum type `crc32`"
        );
        assert_eq!(
            Checksum::parse("sha256:abcd").unwrap_err(),
            "a sha256 checksum has 64 hexadecimal digits, not 4"
        );
        assert_eq!(
            Checksum::parse("md5:zz").unwrap_err(),
            "the value must be hexadecimal digits"
        );
        assert_eq!(
            Checksum::parse("abc").unwrap_err(),
            "a bare value of 3 digits matches no checksum type"
        );
        assert!(
            Checksum::parse("file:https://example.com/SUMS")
                .unwrap_err()
                .contains("only local checksum files")
        );
    }

    #[test]
    fn checksum_files_in_gnu_and_bsd_form() {
        let gnu = format!("0123  other.qcow2\n{SHA256_ABC} *./images/disk.qcow2\n");
        assert_eq!(
            find_in_list(&gnu, "disk.qcow2"),
            Some(Checksum::Value {
                kind: ChecksumKind::Sha256,
                hex: SHA256_ABC.into()
            })
        );
        let bsd = format!("SHA256 (disk.qcow2) = {SHA256_ABC}\n");
        assert!(find_in_list(&bsd, "disk.qcow2").is_some());
        assert_eq!(find_in_list(&bsd, "other.qcow2"), None);
    }

    #[test]
    fn verify_reports_expected_and_actual() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("disk.qcow2");
        std::fs::write(&disk, "abc").unwrap();
        for text in [
            format!("sha256:{SHA256_ABC}"),
            "md5:900150983cd24fb0d6963f7d28e17f72".into(),
            "sha1:a9993e364706816aba3e25717850c26c9cd0d89d".into(),
            "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f".into(),
        ] {
            Checksum::parse(&text).unwrap().verify(&disk).unwrap();
        }
        let list = dir.path().join("SHA256SUMS");
        std::fs::write(&list, format!("{SHA256_ABC}  disk.qcow2\n")).unwrap();
        Checksum::File(list).verify(&disk).unwrap();

        let wrong = Checksum::parse(&"0".repeat(64)).unwrap();
        let err = wrong.verify(&disk).unwrap_err();
        assert_eq!(
            err,
            ChecksumError::Mismatch {
                path: disk.clone(),
                kind: "sha256",
                expected: "0".repeat(64),
                actual: SHA256_ABC.into()
            }
        );
    }
}
