//! The fingerprint itself: 32 bytes, shown and stored as lowercase hex.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The blake3 hash of everything that determines an image's artifact (see the crate docs).
///
/// Two builds with the same fingerprint would produce interchangeable artifacts, so a recorded artifact
/// with this fingerprint can be reused instead of building.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// Number of hex characters in [`Fingerprint::short`]: enough to tell records apart in messages.
    pub const SHORT_LEN: usize = 12;

    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The first 12 hex characters, for human-facing output.
    pub fn short(&self) -> String {
        let mut hex = self.to_string();
        hex.truncate(Self::SHORT_LEN);
        hex
    }
}

impl From<blake3::Hash> for Fingerprint {
    fn from(hash: blake3::Hash) -> Self {
        Self(*hash.as_bytes())
    }
}

impl From<Fingerprint> for blake3::Hash {
    fn from(fingerprint: Fingerprint) -> Self {
        blake3::Hash::from_bytes(fingerprint.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(blake3::Hash::from_bytes(self.0).to_hex().as_str())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// Why a string is not a fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseFingerprintError(String);

impl fmt::Display for ParseFingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a fingerprint (expected 64 hex characters)",
            self.0
        )
    }
}

impl std::error::Error for ParseFingerprintError {}

impl FromStr for Fingerprint {
    type Err = ParseFingerprintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hash(s)
            .map(Self::from)
            .ok_or_else(|| ParseFingerprintError(s.to_owned()))
    }
}

/// Parses exactly 64 hex characters (either case) into a hash.
pub(crate) fn parse_hash(s: &str) -> Option<blake3::Hash> {
    if s.len() != 64 {
        return None;
    }
    blake3::Hash::from_hex(s).ok()
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_parse_and_serde_round_trip() {
        let fingerprint = Fingerprint::from(blake3::hash(b"x"));
        let hex = fingerprint.to_string();
        assert_eq!(hex.len(), 64);
        assert_eq!(fingerprint.short(), hex[..12]);
        assert_eq!(hex.parse::<Fingerprint>().unwrap(), fingerprint);
        assert_eq!(
            hex.to_uppercase().parse::<Fingerprint>().unwrap(),
            fingerprint
        );
        let json = serde_json::to_string(&fingerprint).unwrap();
        assert_eq!(json, format!("\"{hex}\""));
        assert_eq!(
            serde_json::from_str::<Fingerprint>(&json).unwrap(),
            fingerprint
        );
    }

    #[test]
    fn rejects_what_is_not_64_hex_characters() {
        for bad in ["", "abc", &"g".repeat(64), &"a".repeat(63), &"a".repeat(65)] {
            let err = bad.parse::<Fingerprint>().unwrap_err();
            assert!(
                err.to_string().contains("expected 64 hex characters"),
                "{err}"
            );
        }
        assert!(serde_json::from_str::<Fingerprint>("\"abc\"").is_err());
    }
}
