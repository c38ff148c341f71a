//! Whether a file holds an SSH private key Packer could use: Packer reads `ssh_private_key_file` while
//! preparing the build and rejects files that are not one. Only the PEM framing is checked, which is
//! what tells a key from the wrong file; the key material itself is for the SSH library at build time.

/// PEM block types Go's `ssh.ParseRawPrivateKey` (Packer 1.6.6) understands.
const KEY_TYPES: &[&str] = &[
    "RSA PRIVATE KEY",
    "PRIVATE KEY",
    "EC PRIVATE KEY",
    "DSA PRIVATE KEY",
    "OPENSSH PRIVATE KEY",
];

/// `Ok` if `bytes` hold a PEM-framed private key of a supported type without a passphrase.
pub(crate) fn check_private_key(bytes: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes);
    let Some(kind) = text.lines().find_map(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
    }) else {
        return Err("no key found".to_string());
    };
    if !text.contains(&format!("-----END {kind}-----")) {
        return Err("no key found".to_string());
    }
    if !KEY_TYPES.contains(&kind) {
        return Err(format!("unsupported key type {kind:?}"));
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err("it is protected by a passphrase, which Packer cannot use".to_string());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_keys_from_other_files() {
        let key =
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(check_private_key(key.as_bytes()), Ok(()));
        assert_eq!(
            check_private_key(b"listen 80;\n"),
            Err("no key found".to_string())
        );
        let public = "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----\n";
        assert!(
            check_private_key(public.as_bytes())
                .unwrap_err()
                .starts_with("unsupported key type")
        );
        let encrypted = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nx\n-----END RSA PRIVATE KEY-----\n";
        assert!(check_private_key(encrypted.as_bytes()).is_err());
    }
}
