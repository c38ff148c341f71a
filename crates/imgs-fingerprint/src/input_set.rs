//! The set of named inputs an image's fingerprint is computed from, and how two such sets differ.
//!
//! A build record keeps the whole set, not just the fingerprint, so "why will this rebuild?" is answered by
//! comparing the set computed now with the one recorded for the last build.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::fingerprint::parse_hash;
use crate::{Fingerprint, InputKey, SCHEME_VERSION};

/// blake3 key-derivation context for [`InputSet::fingerprint`]; fixed forever so that equal input sets give
/// equal fingerprints on every machine and every imgs version with the same scheme.
const FINGERPRINT_CONTEXT: &str = "imgs 2026-11-25 fingerprint of a named input set";

/// Named inputs, each with its own blake3 hash. Serialized as a JSON object `{ "file:images/app/x.sh": "hex…" }`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InputSet {
    inputs: BTreeMap<InputKey, blake3::Hash>,
}

impl InputSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an input, replacing an earlier hash under the same key.
    pub fn insert(&mut self, key: InputKey, hash: blake3::Hash) {
        self.inputs.insert(key, hash);
    }

    pub fn get(&self, key: &InputKey) -> Option<blake3::Hash> {
        self.inputs.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.inputs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// Inputs in listing order (see [`InputKey`]).
    pub fn iter(
        &self,
    ) -> impl DoubleEndedIterator<Item = (&InputKey, &blake3::Hash)>
    + ExactSizeIterator<Item = (&InputKey, &blake3::Hash)> {
        self.inputs.iter()
    }

    /// blake3 over a canonical encoding of the set.
    ///
    /// The encoding is: the scheme version (u32 little-endian), the number of inputs (u64 LE), then for
    /// each input in byte order of its string key: the key's length (u64 LE), the key's UTF-8 bytes, and
    /// the input's 32-byte hash. Ordering by the stable string form (not by the Rust enum) keeps the
    /// fingerprint independent of how the code happens to declare [`InputKey`]; length prefixes keep
    /// distinct sets from encoding to the same bytes.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut entries: Vec<(String, &blake3::Hash)> = self
            .inputs
            .iter()
            .map(|(key, hash)| (key.to_string(), hash))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));

        let mut hasher = blake3::Hasher::new_derive_key(FINGERPRINT_CONTEXT);
        hasher.update(&SCHEME_VERSION.to_le_bytes());
        hasher.update(&(entries.len() as u64).to_le_bytes());
        for (key, hash) in entries {
            hasher.update(&(key.len() as u64).to_le_bytes());
            hasher.update(key.as_bytes());
            hasher.update(hash.as_bytes());
        }
        hasher.finalize().into()
    }

    /// What changed from `previous` (typically the set recorded for the last build) to `self`, in listing
    /// order. Empty exactly when both sets have the same fingerprint.
    pub fn diff(&self, previous: &InputSet) -> Vec<InputChange> {
        let mut changes = Vec::new();
        let mut now = self.inputs.iter().peekable();
        let mut before = previous.inputs.iter().peekable();
        loop {
            let kind_and_key = match (now.peek(), before.peek()) {
                (None, None) => break,
                (Some((key, _)), None) => {
                    let key = (*key).clone();
                    now.next();
                    Some((ChangeKind::Added, key))
                }
                (None, Some((key, _))) => {
                    let key = (*key).clone();
                    before.next();
                    Some((ChangeKind::Removed, key))
                }
                (Some((key_now, hash_now)), Some((key_before, hash_before))) => {
                    match key_now.cmp(key_before) {
                        std::cmp::Ordering::Less => {
                            let key = (*key_now).clone();
                            now.next();
                            Some((ChangeKind::Added, key))
                        }
                        std::cmp::Ordering::Greater => {
                            let key = (*key_before).clone();
                            before.next();
                            Some((ChangeKind::Removed, key))
                        }
                        std::cmp::Ordering::Equal => {
                            let change = (hash_now != hash_before)
                                .then(|| (ChangeKind::Modified, (*key_now).clone()));
                            now.next();
                            before.next();
                            change
                        }
                    }
                }
            };
            if let Some((kind, key)) = kind_and_key {
                changes.push(InputChange { key, kind });
            }
        }
        changes
    }
}

impl FromIterator<(InputKey, blake3::Hash)> for InputSet {
    fn from_iter<I: IntoIterator<Item = (InputKey, blake3::Hash)>>(iter: I) -> Self {
        Self {
            inputs: iter.into_iter().collect(),
        }
    }
}

impl Extend<(InputKey, blake3::Hash)> for InputSet {
    fn extend<I: IntoIterator<Item = (InputKey, blake3::Hash)>>(&mut self, iter: I) {
        self.inputs.extend(iter);
    }
}

impl<'a> IntoIterator for &'a InputSet {
    type Item = (&'a InputKey, &'a blake3::Hash);
    type IntoIter = std::collections::btree_map::Iter<'a, InputKey, blake3::Hash>;

    fn into_iter(self) -> Self::IntoIter {
        self.inputs.iter()
    }
}

impl Serialize for InputSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.inputs.len()))?;
        for (key, hash) in &self.inputs {
            map.serialize_entry(&key.to_string(), hash.to_hex().as_str())?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for InputSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InputSetVisitor;

        impl<'de> Visitor<'de> for InputSetVisitor {
            type Value = InputSet;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object mapping input keys to 64-character hex hashes")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<InputSet, A::Error> {
                let mut set = InputSet::new();
                while let Some((key, hex)) =
                    map.next_entry::<InputKey, std::borrow::Cow<'de, str>>()?
                {
                    let hash = parse_hash(&hex).ok_or_else(|| {
                        serde::de::Error::custom(format!(
                            "the hash of input `{key}` is `{hex}`, expected 64 hex characters"
                        ))
                    })?;
                    set.insert(key, hash);
                }
                Ok(set)
            }
        }

        deserializer.deserialize_map(InputSetVisitor)
    }
}

/// How one input differs between two sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// In the new set only.
    Added,
    /// In the previous set only.
    Removed,
    /// In both, with different hashes.
    Modified,
}

/// One reason an image's fingerprint changed. `Display` says it in a sentence, in the manner of
/// "the file `images/app/setup.sh` has changed".
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InputChange {
    pub key: InputKey,
    pub kind: ChangeKind,
}

impl fmt::Display for InputChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ChangeKind::{Added, Modified, Removed};
        match (&self.key, self.kind) {
            (InputKey::Scheme, Modified) => {
                f.write_str("the fingerprint scheme has changed (imgs was upgraded)")
            }
            (InputKey::Scheme, Added) => f.write_str("the fingerprint scheme is now recorded"),
            (InputKey::Scheme, Removed) => {
                f.write_str("the fingerprint scheme is no longer recorded")
            }
            (InputKey::Template, Modified) => f.write_str("the template has changed"),
            (InputKey::Template, Added) => f.write_str("the template is now an input"),
            (InputKey::Template, Removed) => f.write_str("the template is no longer an input"),
            (InputKey::Build { name, kind }, Added) => {
                write!(f, "the build `{name}` ({kind}) is new")
            }
            (InputKey::Build { name, kind }, Removed) => {
                write!(f, "the build `{name}` ({kind}) was removed")
            }
            (InputKey::Build { name, kind }, Modified) => {
                write!(f, "the build `{name}` ({kind}) has changed")
            }
            (InputKey::Variable(name), Added) => write!(f, "the variable `{name}` is new"),
            (InputKey::Variable(name), Removed) => write!(f, "the variable `{name}` was removed"),
            (InputKey::Variable(name), Modified) => write!(f, "the variable `{name}` has changed"),
            (InputKey::Env(name), Added) => {
                write!(f, "the environment variable `{name}` is now read")
            }
            (InputKey::Env(name), Removed) => {
                write!(f, "the environment variable `{name}` is no longer read")
            }
            (InputKey::Env(name), Modified) => {
                write!(f, "the environment variable `{name}` has changed")
            }
            (InputKey::File(path), Added) => write!(f, "the file `{path}` is new"),
            (InputKey::File(path), Removed) => write!(f, "the file `{path}` is no longer an input"),
            (InputKey::File(path), Modified) => write!(f, "the file `{path}` has changed"),
            (InputKey::Locked(name), Added) => {
                write!(f, "the locked {} is new", crate::locked_label(name))
            }
            (InputKey::Locked(name), Removed) => {
                write!(
                    f,
                    "the locked {} is no longer an input",
                    crate::locked_label(name)
                )
            }
            (InputKey::Locked(name), Modified) => {
                write!(f, "the locked {} has changed", crate::locked_label(name))
            }
            (InputKey::Parent(name), Added) => write!(f, "the parent image `{name}` is new"),
            (InputKey::Parent(name), Removed) => write!(f, "the parent image `{name}` was removed"),
            (InputKey::Parent(name), Modified) => {
                write!(f, "the parent image `{name}` has a new fingerprint")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(text: &str) -> blake3::Hash {
        blake3::hash(text.as_bytes())
    }

    fn sample() -> InputSet {
        [
            (InputKey::Scheme, hash("1")),
            (InputKey::Template, hash("{}")),
            (
                InputKey::Build {
                    name: "qemu".into(),
                    kind: "qemu".into(),
                },
                hash("qemu"),
            ),
            (InputKey::Variable("app_version".into()), hash("1.4.2")),
            (
                InputKey::File("images/app/setup.sh".into()),
                hash("#!/bin/sh"),
            ),
            (InputKey::Parent("base".into()), hash("base")),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn fingerprint_ignores_insertion_order() {
        let forward = sample();
        let backward: InputSet = sample()
            .iter()
            .rev()
            .map(|(k, h)| (k.clone(), *h))
            .collect();
        assert_eq!(forward.fingerprint(), backward.fingerprint());
    }

    #[test]
    fn fingerprint_depends_on_keys_and_hashes() {
        let base = sample().fingerprint();
        let mut other_hash = sample();
        other_hash.insert(InputKey::Variable("app_version".into()), hash("1.4.3"));
        assert_ne!(other_hash.fingerprint(), base);

        // Same hash under another name is a different input.
        let renamed: InputSet = sample()
            .iter()
            .map(|(k, h)| match k {
                InputKey::Variable(_) => (InputKey::Env("app_version".into()), *h),
                _ => (k.clone(), *h),
            })
            .collect();
        assert_ne!(renamed.fingerprint(), base);
    }

    #[test]
    fn fingerprint_of_known_sets_is_stable() {
        // Pinned: a change here invalidates every recorded cache entry and needs a SCHEME_VERSION bump.
        insta::assert_snapshot!(
            "fingerprint_of_empty_set",
            InputSet::new().fingerprint().to_string()
        );
        insta::assert_snapshot!(
            "fingerprint_of_sample_set",
            sample().fingerprint().to_string()
        );
    }

    #[test]
    fn diff_names_added_removed_and_modified_inputs_in_order() {
        let previous = sample();
        let mut now = sample();
        now.insert(
            InputKey::File("images/app/setup.sh".into()),
            hash("#!/bin/bash"),
        );
        now.insert(InputKey::Env("HOME".into()), hash("/root"));
        let mut without_parent: InputSet = now
            .iter()
            .filter(|(k, _)| !matches!(k, InputKey::Parent(_)))
            .map(|(k, h)| (k.clone(), *h))
            .collect();
        without_parent.insert(InputKey::Parent("hardened".into()), hash("h"));

        let changes = without_parent.diff(&previous);
        let sentences: Vec<String> = changes.iter().map(ToString::to_string).collect();
        insta::assert_snapshot!("diff_sentences", sentences.join("\n"));
        assert!(previous.diff(&previous).is_empty());
    }

    #[test]
    fn every_change_reads_as_a_sentence() {
        let keys = [
            InputKey::Scheme,
            InputKey::Template,
            InputKey::Build {
                name: "amazon-ebs".into(),
                kind: "amazon-ebs".into(),
            },
            InputKey::Variable("region".into()),
            InputKey::Env("AWS_PROFILE".into()),
            InputKey::File("images/app/files/motd".into()),
            InputKey::Parent("hardened".into()),
        ];
        let mut lines = Vec::new();
        for key in keys {
            for kind in [ChangeKind::Added, ChangeKind::Removed, ChangeKind::Modified] {
                lines.push(
                    InputChange {
                        key: key.clone(),
                        kind,
                    }
                    .to_string(),
                );
            }
        }
        insta::assert_snapshot!("every_change_sentence", lines.join("\n"));
    }

    #[test]
    fn serializes_as_an_object_of_hex_hashes_and_back() {
        let set = sample();
        let json = serde_json::to_string_pretty(&set).unwrap();
        insta::assert_snapshot!("input_set_json", json);
        let back: InputSet = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
    }

    #[test]
    fn rejects_bad_keys_and_hashes_with_a_reason() {
        let bad_key = serde_json::from_str::<InputSet>(r#"{"blob:x": "00"}"#).unwrap_err();
        assert!(
            bad_key
                .to_string()
                .contains("`blob:x` is not a fingerprint input"),
            "{bad_key}"
        );
        let bad_hash = serde_json::from_str::<InputSet>(r#"{"var:x": "00"}"#).unwrap_err();
        assert!(
            bad_hash
                .to_string()
                .contains("the hash of input `var:x` is `00`"),
            "{bad_hash}"
        );
    }
}
